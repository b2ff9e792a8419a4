"""`trexplain report`: one self-contained HTML file (and optional figures) for one or many texts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from trexplain.cli.common import InputOpt, ModelOpt, app, fail, parse_params, read_inputs
from trexplain.errors import TrexplainError
from trexplain.methods.base import DEFAULT_METHOD


@app.command()
def report(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to explain.")] = None,
    input_file: InputOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")] = Path("report.html"),
    model: ModelOpt = "demo",
    method: Annotated[
        list[str] | None, typer.Option("--method", help="Method name (repeatable); see `trexplain methods`.")
    ] = None,
    target: Annotated[
        str, typer.Option(help="predicted, all, or a label name (comma-separated for several).")
    ] = "predicted",
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Method parameter NAME=VALUE (repeatable).")
    ] = None,
    evaluate: Annotated[
        bool, typer.Option("--evaluate", help="Add perturbation curves, AOPC and the method table.")
    ] = False,
    attention: Annotated[
        int, typer.Option(help="Attention maps for the first N texts (0: none); at most 128 tokens each.")
    ] = 20,
    png: Annotated[Path | None, typer.Option(help="Also write PNG figures into this folder.")] = None,
    svg: Annotated[Path | None, typer.Option(help="Also write SVG figures into this folder.")] = None,
    title: Annotated[str | None, typer.Option(help="Title of the page.")] = None,
    truncate: Annotated[bool, typer.Option(help="Truncate over-long texts (recorded) instead of failing.")] = False,
    allow_pickle: Annotated[
        bool, typer.Option(help="Allow pickle weights (pytorch_model.bin) from a trusted source.")
    ] = False,
    batch_size: Annotated[int, typer.Option(help="Texts per batch.")] = 16,
) -> None:
    """Write one self-contained HTML report: prediction, explanations, attention, curves, model card."""
    try:
        from trexplain.models.loading import load_model
        from trexplain.report.run import make_report, write_report

        items = read_inputs(texts, input_file)
        adapter = load_model(model, allow_pickle=allow_pickle)
        target_spec: Any = target.split(",") if "," in target else target
        payload = make_report(
            items,
            adapter,
            method or [DEFAULT_METHOD],
            target=target_spec,
            params=parse_params(param or []),
            evaluate=evaluate,
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
