"""`trexplain evaluate` (faithfulness table per method, verdict) and `trexplain compare` (models side by side)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from trexplain.cli.common import (
    InputOpt,
    ModelOpt,
    ParamOpt,
    PickleOpt,
    TargetOpt,
    TruncateOpt,
    app,
    fail,
    parse_params,
    parse_target,
    read_inputs,
)
from trexplain.errors import InputError, TrexplainError
from trexplain.methods.base import DEFAULT_METHOD
from trexplain.viz.terminal import comparison_view, evaluation_view

MethodOpt = Annotated[
    list[str] | None,
    typer.Option("--method", help="Method name (repeatable); default: every registered method cheap enough."),
]
StrategyOpt = Annotated[str, typer.Option(help="How words are removed: delete, mask, unk or pad.")]
LevelOpt = Annotated[str, typer.Option(help="Remove whole words (word) or single subword tokens (token).")]
SeedOpt = Annotated[int, typer.Option(help="Seed of the random-scores floor (and the sanity check).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the JSON result to stdout.")]


@app.command()
def evaluate(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to explain and evaluate.")] = None,
    input_file: InputOpt = None,
    model: ModelOpt = "demo",
    method: MethodOpt = None,
    scores: Annotated[
        list[Path] | None, typer.Option("--scores", help="JSON/JSONL of scores made elsewhere (repeatable).")
    ] = None,
    target: TargetOpt = "predicted",
    strategy: StrategyOpt = "delete",
    level: LevelOpt = "word",
    seed: SeedOpt = 0,
    param: ParamOpt = None,
    sanity: Annotated[bool, typer.Option(help="Also run the cascading randomisation check per method.")] = False,
    independent: Annotated[
        bool, typer.Option("--independent", help="With --sanity: randomise one part at a time, not cumulatively.")
    ] = False,
    as_json: JsonOpt = False,
    truncate: TruncateOpt = False,
    allow_pickle: PickleOpt = False,
) -> None:
    """How far to trust each method on this model: AOPC, ΔA^F, a random floor, and a verdict."""
    try:
        from trexplain.evaluate import load_scores
        from trexplain.models.loading import load_model
        from trexplain.study import study

        adapter = load_model(model, allow_pickle=allow_pickle)
        external = [e for path in scores or [] for e in load_scores(path, adapter)]
        items = read_inputs(texts, input_file) if (texts or input_file or not external) else []
        params = parse_params(param or [])
        names = list(method or [])
        if params and not names:
            raise InputError("--param applies to the methods named with --method; name them")
        if independent and not sanity:
            raise InputError("--independent chooses the variant of --sanity; add --sanity")
        result = study(
            items,
            adapter,
            names or None,
            target=parse_target(target),
            params={name: params for name in names},
            evaluate=True,
            sanity=sanity,
            independent=independent,
            external=external,
            strategy=strategy,
            level=level,
            seed=seed,
            truncate=truncate,
        )
        out = result.table.to_dict()
        checks = [c.to_dict() for c in result.sanity]
        if as_json:
            if sanity:
                out["sanity"] = checks
            sys.stdout.write(json.dumps(out, indent=2) + "\n")
        else:
            Console().print(evaluation_view(out, checks), highlight=False)
    except TrexplainError as exc:
        fail(exc)


@app.command()
def compare(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to run through both models.")] = None,
    input_file: InputOpt = None,
    model: Annotated[list[str], typer.Option("--model", "-m", help="Model folder or 'demo' (give two or more).")] = [],  # noqa: B006
    method: MethodOpt = None,
    target: TargetOpt = "predicted",
    strategy: StrategyOpt = "delete",
    level: LevelOpt = "word",
    seed: SeedOpt = 0,
    top: Annotated[int, typer.Option(help="Top words shown per model.")] = 5,
    as_json: JsonOpt = False,
    truncate: TruncateOpt = False,
    allow_pickle: PickleOpt = False,
) -> None:
    """Two models on the same texts: predictions, top words, agreement (the first --method, default cp-lrp),
    and each model's metric table."""
    try:
        from trexplain.evaluate import compare_models
        from trexplain.models.loading import load_model

        if len(model) < 2:
            raise InputError("compare needs two models: --model A --model B")
        items = read_inputs(texts, input_file)
        adapters = [load_model(m, allow_pickle=allow_pickle) for m in model]
        result = compare_models(
            adapters,
            items,
            method=(method or [DEFAULT_METHOD])[0],
            methods=method,
            target=parse_target(target),
            strategy=strategy,
            level=level,
            seed=seed,
            top=top,
            truncate=truncate,
        ).to_dict()
        if as_json:
            sys.stdout.write(json.dumps(result, indent=2) + "\n")
            return
        Console().print(comparison_view(result), highlight=False)
    except TrexplainError as exc:
        fail(exc)
