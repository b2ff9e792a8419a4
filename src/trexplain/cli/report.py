"""`trexplain report`: one self-contained HTML file (and optional figures) for one or many texts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trexplain.cli.common import (
    BatchSizeOpt,
    Command,
    InputOptions,
    MethodOptions,
    ModelOptions,
    QuietOpt,
    TruncateOpt,
    app,
    check_outputs,
    flag,
    guarded,
    image_model,
    model_given,
    say,
    warn_if_paths,
    with_blocks,
    written,
)
from trexplain.errors import InputError
from trexplain.viz.payload import ATTENTION_MAX_TOKENS


@app.command(cls=Command)
@with_blocks
def report(
    ctx: typer.Context,
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to explain.")] = None,
    *,
    inputs: InputOptions,
    run_folder: Annotated[
        Path | None, typer.Option("--run", help="A `trexplain run` folder: its dataset views and a sample of texts.")
    ] = None,
    sample: Annotated[int, typer.Option(min=1, help="With --run: texts sampled into the report (seeded).")] = 200,
    min_count: Annotated[
        int, typer.Option(min=2, help="With --run: fewest texts holding a word for it to be ranked per class.")
    ] = 3,
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")] = Path("report.html"),
    loading: ModelOptions,
    chosen: MethodOptions,
    evaluate: Annotated[bool, flag("--evaluate", "Add perturbation curves, AOPC and the method table.")] = False,
    sanity: Annotated[
        bool, flag("--sanity", "Add the cascading randomisation check of each method (on the first 10 texts).")
    ] = False,
    attention: Annotated[
        int,
        typer.Option(
            min=0, help=f"Attention maps for the first N texts (0: none); at most {ATTENTION_MAX_TOKENS} tokens each."
        ),
    ] = 20,
    png: Annotated[Path | None, typer.Option(help="Also write PNG figures into this folder.")] = None,
    svg: Annotated[Path | None, typer.Option(help="Also write SVG figures into this folder.")] = None,
    title: Annotated[str | None, typer.Option(help="Title of the page.")] = None,
    truncate: TruncateOpt = False,
    batch_size: BatchSizeOpt = 16,
    quiet: QuietOpt = False,
) -> None:
    """Write one self-contained HTML report: prediction, explanations, attention, curves, model card."""
    with guarded(quiet):
        from trexplain.report.run import make_report, write_report

        images = inputs.images(texts)
        check_outputs(
            {"--out": out, "--png": png, "--svg": svg},
            [inputs.input_file, *(images or [])],
            folders=("--png", "--svg"),
        )
        if run_folder is not None:
            from trexplain.report.run import run_report

            if texts or inputs.input_file or images:
                raise InputError("--run reports on a run folder; drop the texts, --image and --input")
            payload = run_report(run_folder, sample=sample, title=title, min_count=min_count)
            written(write_report(payload, out), len(payload["texts"]), "texts")
            return
        items = images or inputs.texts(texts)
        params = chosen.shared_params()
        methods = [m.name for m in chosen.methods()]  # checked before the model loads
        adapter = loading.load(image_model(loading.model, images, given=model_given(ctx)))
        warn_if_paths(adapter, texts)
        common = {
            "target": chosen.target_spec(),
            "params": params,
            "evaluate": evaluate,
            "sanity": sanity,
            "batch_size": batch_size,
            "title": title,
        }
        payload = make_report(items, adapter, methods, attention_texts=attention, truncate=truncate, **common)
        written(write_report(payload, out), len(items), "images" if images else "texts")
        for folder, fmt in ((png, "png"), (svg, "svg")):
            if folder is not None:
                from trexplain.viz.figures import write_figures
                from trexplain.viz.image import write_overlays

                files = (write_overlays if images else write_figures)(payload, folder, fmt)
                say(f"wrote {len(files)} {fmt.upper()} figures to {folder}")
