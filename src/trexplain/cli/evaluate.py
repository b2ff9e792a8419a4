"""`trexplain evaluate` (faithfulness table per method, verdict) and `trexplain compare` (models side by side)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

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
        from trexplain.evaluate import faithfulness_table, load_scores, model_randomization
        from trexplain.models.loading import load_model

        adapter = load_model(model, allow_pickle=allow_pickle)
        external = [e for path in scores or [] for e in load_scores(path, adapter)]
        items = read_inputs(texts, input_file) if (texts or input_file or not external) else []
        params = parse_params(param or [])
        names = list(method or [])
        if params and not names:
            raise InputError("--param applies to the methods named with --method; name them")
        if independent and not sanity:
            raise InputError("--independent chooses the variant of --sanity; add --sanity")
        spec = parse_target(target)
        table = faithfulness_table(
            adapter,
            items,
            names or (None if items else []),
            target=spec,
            strategy=strategy,
            level=level,
            seed=seed,
            params={name: params for name in names},
            external=external,
            truncate=truncate,
        )
        checks = []
        if sanity and items:
            not_methods = {"random"} | {e.method for e in external}
            chosen = names or [row["method"] for row in table.rows if row["method"] not in not_methods]
            checks = [
                model_randomization(
                    adapter, items, name, independent=independent, target=spec, seed=seed, **(params if names else {})
                )
                for name in chosen
            ]
        if as_json:
            out = table.to_dict()
            if sanity:
                out["sanity"] = [c.to_dict() for c in checks]
            sys.stdout.write(json.dumps(out, indent=2) + "\n")
        else:
            console = Console()
            console.print(metric_table(table.to_dict()))
            for name, reason in table.skipped.items():
                console.print(f"[dim]skipped {name}: {reason}[/]", highlight=False)
            for check in checks:
                console.print(sanity_line(check.to_dict()), highlight=False)
            console.print(f"[bold]verdict:[/] {table.verdict}", highlight=False)
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
        console = Console()
        for entry in result["texts"]:
            console.print(f"[bold]{entry['text']}[/]", highlight=False)
            for side in entry["models"]:
                words = ", ".join(f"{w['word']} {w['score']:+.2f}" for w in side["top_words"])
                console.print(
                    f"  {side['model']}: {side['prediction']} ({side['probability']:.2f}); top words: {words}",
                    highlight=False,
                )
            rho = entry["spearman"]
            console.print(f"  agreement (Spearman ρ, {result['method']}): {'–' if rho is None else f'{rho:+.2f}'}")
        agreement = result["agreement"]
        console.print(f"mean agreement: {'–' if agreement is None else f'{agreement:+.2f}'}\n")
        for table in result["tables"]:
            console.print(metric_table(table))
            console.print(f"[bold]verdict:[/] {table['verdict']}\n", highlight=False)
    except TrexplainError as exc:
        fail(exc)


def metric_table(table: dict[str, Any]) -> Table:
    """The ranked rows of a faithfulness table for the terminal."""
    out = Table(
        title=f"{table['model']} · {table['texts']} text(s) · target {table['target']} · "
        f"{table['strategy']} {table['level']}s",
        title_justify="left",
    )
    for column in ("#", "method", "AOPC comp ↑", "suff ↓", "ΔA^F ↑", "compl. err", "ms/expl", "n"):
        out.add_column(column, justify="left" if column == "method" else "right")
    for row in table["rows"]:
        style = "dim" if row["method"] == "random" else None
        out.add_row(
            str(row["rank"]),
            row["method"],
            f"{row['comprehensiveness']:+.3f}",
            f"{row['sufficiency']:+.3f}",
            f"{row['delta_af']:+.3f}",
            "–" if row["completeness_error"] is None else f"{row['completeness_error']:.2g}",
            "–" if row["seconds"] is None else f"{row['seconds'] * 1000:.1f}",
            str(row["n"]),
            style=style,
        )
    return out


def sanity_line(check: dict[str, Any]) -> str:
    steps = " → ".join(f"{s['step']} {s['spearman']:+.2f}" for s in check["steps"])
    status = "[bold red]FLAGGED: maps do not change with the model[/]" if check["flagged"] else "ok"
    return f"sanity ({check['mode']}) {check['method']}: {status} (Spearman after randomising: {steps})"
