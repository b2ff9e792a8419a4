"""`trexplain evaluate` (faithfulness table per method, verdict) and `trexplain compare` (models side by side)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from trexplain.cli.common import (
    Command,
    InputOpt,
    InputOptions,
    LoadOptions,
    MethodOptions,
    MethodsOpt,
    ModelOptions,
    QuietOpt,
    TargetOpt,
    TextColumnOpt,
    TruncateOpt,
    app,
    check_outputs,
    flag,
    guarded,
    image_model,
    model_given,
    parse_target,
    read_inputs,
    say,
    warn_if_paths,
    with_blocks,
    written,
)
from trexplain.errors import InputError
from trexplain.methods.base import DEFAULT_METHOD
from trexplain.viz.terminal import comparison_view, evaluation_view, show

if TYPE_CHECKING:
    from trexplain.models.protocol import Adapter
    from trexplain.study import Study

StrategyOpt = Annotated[
    str | None,
    typer.Option(
        help="How features are removed. Texts: delete (default), mask, unk or pad; image patches: mean (default), "
        "blur or black."
    ),
]
LevelOpt = Annotated[
    str | None,
    typer.Option(help="What is removed. Texts: whole words (word, default) or subword tokens (token); images: patch."),
]
SeedOpt = Annotated[int, typer.Option(help="Seed of the random-scores floor (and the sanity check).")]
JsonOpt = Annotated[bool, flag("--json", "Print the JSON result to stdout.")]


@app.command(cls=Command)
@with_blocks
def evaluate(
    ctx: typer.Context,
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to explain and evaluate.")] = None,
    *,
    inputs: InputOptions,
    loading: ModelOptions,
    chosen: MethodOptions,
    scores: Annotated[
        list[Path] | None, typer.Option("--scores", help="JSON/JSONL of scores made elsewhere (repeatable).")
    ] = None,
    strategy: StrategyOpt = None,
    level: LevelOpt = None,
    seed: SeedOpt = 0,
    sanity: Annotated[bool, flag("--sanity", "Also run the cascading randomisation check per method.")] = False,
    independent: Annotated[
        bool, flag("--independent", "With --sanity: randomise one part at a time, not cumulatively.")
    ] = False,
    as_json: JsonOpt = False,
    truncate: TruncateOpt = False,
    sanity_method: Annotated[
        list[str] | None, typer.Option("--sanity-method", help="With --sanity: check only this method (repeatable).")
    ] = None,
    png: Annotated[
        Path | None, typer.Option(help="Also write each text's removal-curve figure (every method, random floor) here.")
    ] = None,
    svg: Annotated[Path | None, typer.Option(help="The same figures as SVG, into this folder.")] = None,
    quiet: QuietOpt = False,
) -> None:
    """How far to trust each method on this model: AOPC, ΔA^F, a random floor, and a verdict."""
    with guarded(quiet):
        from trexplain.evaluate import load_scores
        from trexplain.study import StudyOptions, run_study

        images = inputs.images(texts)
        check_outputs({"--png": png, "--svg": svg}, [inputs.input_file, *(images or [])], folders=("--png", "--svg"))
        if images and scores:
            raise InputError("--scores reads text explanations; evaluate images with --image alone")
        items = images or (inputs.texts(texts) if (texts or inputs.input_file or not scores) else [])
        methods = chosen.methods(default=())
        options = StudyOptions(
            tuple(methods) if methods else None,
            target=chosen.target_spec(),
            evaluate=True,
            sanity=sanity,
            sanity_methods=sanity_method or None,
            independent=independent,
            strategy=strategy,
            level=level,
            seed=seed,
            truncate=truncate,
        )
        adapter = loading.load(image_model(loading.model, images, given=model_given(ctx)))
        warn_if_paths(adapter, texts)
        external = [e for path in scores or [] for e in load_scores(path, adapter)]
        result = run_study(items, adapter, options, external)
        out = result.table.to_dict()
        for folder, fmt in ((png, "png"), (svg, "svg")):
            if folder is not None:
                say(f"wrote {len(curve_figures(result, adapter, folder, fmt))} {fmt.upper()} figures to {folder}")
        checks = [c.to_dict() for c in result.sanity]
        if as_json:
            if sanity:
                out["sanity"] = checks
            sys.stdout.write(json.dumps(out, indent=2) + "\n")
        else:
            show(evaluation_view(out, checks))


@app.command(cls=Command)
@with_blocks
def compare(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to run through both models.")] = None,
    *,
    input_file: InputOpt = None,
    text_column: TextColumnOpt = None,
    model: Annotated[list[str], typer.Option("--model", "-m", help="Model folder or 'demo' (give two or more).")] = [],  # noqa: B006
    method: MethodsOpt = None,
    target: TargetOpt = "predicted",
    strategy: StrategyOpt = None,
    level: LevelOpt = None,
    seed: SeedOpt = 0,
    top: Annotated[int, typer.Option(min=1, help="Top words shown per model.")] = 5,
    as_json: JsonOpt = False,
    html_out: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Write a self-contained HTML page of the models side by side: every --method, one colour scale "
            "per text and method, agreement.",
        ),
    ] = None,
    truncate: TruncateOpt = False,
    loading: LoadOptions,
    quiet: QuietOpt = False,
) -> None:
    """Two models on the same texts: predictions, top words, agreement (Spearman ρ, top-k overlap, labels) per
    --method (the first is the compared one, default cp-lrp), base values, and each model's metric table."""
    with guarded(quiet):
        from trexplain.checks import methods
        from trexplain.evaluate import compare_models

        if len(model) < 2:
            raise InputError("compare needs two models: --model A --model B")
        check_outputs({"--html": html_out}, [input_file])
        items = read_inputs(texts, input_file, text_column)
        chosen = (method or [DEFAULT_METHOD])[0]
        methods(method or [chosen])  # checked before the models load
        adapters = [loading.load(m) for m in model]
        comparison = compare_models(
            adapters,
            items,
            method=chosen,
            methods=method,
            target=parse_target(target),
            strategy=strategy,
            level=level,
            seed=seed,
            top=top,
            truncate=truncate,
        )
        result = comparison.to_dict()
        if html_out:
            from trexplain.io import write_text
            from trexplain.viz.html import render
            from trexplain.viz.payload import comparison_payload

            shown = list(comparison.by_method[0])
            title = f"trexplain compare · {' vs '.join(comparison.models)} · {', '.join(shown)}"
            write_text(html_out, render(comparison_payload(comparison, title=title)), what="--html")
            count = len(items) * len(comparison.models) * len(shown)
            written(html_out, count, "explanations")
        if as_json:
            sys.stdout.write(json.dumps(result, indent=2) + "\n")
            return
        show(comparison_view(result))


def curve_figures(result: Study, adapter: Adapter, folder: Path, fmt: str) -> list[Path]:
    """Each evaluated text's removal-curve figure per class (every method and the random floor) into `folder`."""
    from trexplain.report.run import evaluation_per_text
    from trexplain.viz.figures import write_figures
    from trexplain.viz.payload import build_payload

    explained = [group for group in result.per_input if group]
    evaluation = evaluation_per_text(result.table, explained, key=adapter.modality.name)
    return write_figures(build_payload(explained, evaluation=evaluation), folder, fmt, kinds=("curves",))
