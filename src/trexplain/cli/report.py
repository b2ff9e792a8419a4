"""`trexplain report`: one self-contained HTML file (and optional figures) for one or many texts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from trexplain.cli.common import (
    BatchSizeOpt,
    InputOpt,
    MethodsOpt,
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
from trexplain.errors import TrexplainError
from trexplain.methods.base import DEFAULT_METHOD


@app.command()
def report(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to explain.")] = None,
    input_file: InputOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")] = Path("report.html"),
    model: ModelOpt = "demo",
    method: MethodsOpt = None,
    target: TargetOpt = "predicted",
    param: ParamOpt = None,
    evaluate: Annotated[
        bool, typer.Option("--evaluate", help="Add perturbation curves, AOPC and the method table.")
    ] = False,
    sanity: Annotated[
        bool,
        typer.Option("--sanity", help="Add the cascading randomisation check of each method (on the first 10 texts)."),
    ] = False,
    attention: Annotated[
        int, typer.Option(help="Attention maps for the first N texts (0: none); at most 128 tokens each.")
    ] = 20,
    png: Annotated[Path | None, typer.Option(help="Also write PNG figures into this folder.")] = None,
    svg: Annotated[Path | None, typer.Option(help="Also write SVG figures into this folder.")] = None,
    title: Annotated[str | None, typer.Option(help="Title of the page.")] = None,
    truncate: TruncateOpt = False,
    allow_pickle: PickleOpt = False,
    batch_size: BatchSizeOpt = 16,
) -> None:
    """Write one self-contained HTML report: prediction, explanations, attention, curves, model card."""
    try:
        from trexplain.models.loading import load_model
        from trexplain.report.run import make_report, write_report

        items = read_inputs(texts, input_file)
        adapter = load_model(model, allow_pickle=allow_pickle)
        payload = make_report(
            items,
            adapter,
            method or [DEFAULT_METHOD],
            target=parse_target(target),
            params=parse_params(param or []),
            evaluate=evaluate,
            sanity=sanity,
            attention_texts=attention,
            batch_size=batch_size,
            truncate=truncate,
            title=title,
            progress=len(items) > batch_size,
        )
        console = Console(stderr=True)
        path = write_report(payload, out)
        console.print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {len(items)} texts)", highlight=False)
        for folder, fmt in ((png, "png"), (svg, "svg")):
            if folder is not None:
                from trexplain.viz.figures import write_figures

                files = write_figures(payload, folder, fmt)
                console.print(f"wrote {len(files)} {fmt.upper()} figures to {folder}", highlight=False)
    except TrexplainError as exc:
        fail(exc)
