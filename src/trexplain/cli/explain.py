"""`trexplain explain` and `trexplain methods`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from trexplain.cli.common import (
    STDOUT,
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
    warn_if_paths,
    with_blocks,
    written,
)
from trexplain.errors import InputError
from trexplain.methods.base import DEFAULT_METHOD
from trexplain.viz.terminal import show


@app.command(cls=Command)
@with_blocks
def explain(
    ctx: typer.Context,
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to explain.")] = None,
    *,
    inputs: InputOptions,
    loading: ModelOptions,
    chosen: MethodOptions,
    as_json: Annotated[bool, flag("--json", "Print JSON to stdout: one object for one text, else a list.")] = False,
    jsonl: Annotated[
        Path | None, typer.Option(help="Write one JSON object per text (a line each) to this file; - for stdout.")
    ] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write a self-contained HTML page.")] = None,
    truncate: TruncateOpt = False,
    text2: Annotated[
        list[str] | None,
        typer.Option("--text2", help="Second text of a sentence pair (NLI hypothesis), once per TEXT argument."),
    ] = None,
    pair_column: Annotated[
        str | None,
        typer.Option(help="The --input column or field holding each row's second text (sentence pairs)."),
    ] = None,
    windows: Annotated[
        bool, flag("--windows", "Explain long texts in overlapping windows; token scores averaged over windows.")
    ] = False,
    stride: Annotated[
        int | None, typer.Option(help="With --windows: tokens between window starts (default: half a window).")
    ] = None,
    batch_size: BatchSizeOpt = 16,
    quiet: QuietOpt = False,
) -> None:
    """Explain why the model predicts what it does for each text (or image, with --image)."""
    with guarded(quiet):
        from trexplain.io import atomic_file, write_text
        from trexplain.study import StudyOptions, run_study

        to_stdout = jsonl == STDOUT
        if as_json and to_stdout:
            raise InputError("--json and --jsonl - both write to stdout; choose one")
        images = inputs.images(texts)
        check_outputs(
            {"--jsonl": None if to_stdout else jsonl, "--html": html_out}, [inputs.input_file, *(images or [])]
        )
        items = images or _paired(inputs.texts(texts), text2, pair_column, inputs.input_file)
        options = StudyOptions(
            tuple(chosen.methods()),
            target=chosen.target_spec(),
            batch_size=batch_size,
            truncate=truncate,
            windows=windows,
            stride=stride,
        )
        adapter = loading.load(image_model(loading.model, images, given=model_given(ctx)))
        warn_if_paths(adapter, texts)
        result = run_study(items, adapter, options)
        records = result.records()
        lines = (json.dumps(r) + "\n" for r in records)
        if to_stdout:
            sys.stdout.writelines(lines)
        elif jsonl:
            with atomic_file(jsonl, what="--jsonl") as handle:
                handle.writelines(lines)
            written(jsonl, len(records), "records")
        if html_out:
            from trexplain.viz.html import page

            write_text(html_out, page(result.explanations, title=f"trexplain · {adapter.name}"), what="--html")
            written(html_out, len(records), "images" if images else "texts")
        if as_json:
            sys.stdout.write(json.dumps(records if len(records) > 1 else records[0], indent=2) + "\n")
        elif not jsonl and not html_out:
            from trexplain.viz.terminal import render_all

            show(render_all(result.explanations))


def _paired(
    items: list[str], text2: list[str] | None, pair_column: str | None, input_file: Path | None
) -> list[str] | list[tuple[str, str]]:
    """The texts, or (first, second) sentence pairs from `--text2` (one per argument) or `--pair-column`."""
    from trexplain.inputs import check_text, read_texts

    if text2 and pair_column:
        raise InputError("give the second texts with --text2 or --pair-column, not both")
    if text2:
        if input_file is not None or len(text2) != len(items):
            raise InputError(
                f"--text2 pairs with TEXT arguments one to one: got {len(items)} text(s) and {len(text2)} --text2; "
                "for a file use --pair-column"
            )
        return list(zip(items, [check_text(t, f"--text2 {i + 1}") for i, t in enumerate(text2)], strict=True))
    if pair_column is None:
        return items
    if input_file is None:
        raise InputError("--pair-column names a column of the --input file; give --input FILE (or use --text2)")
    seconds = read_texts(input_file, pair_column)
    if len(seconds) != len(items):
        raise InputError(f"{input_file}: {len(items)} texts but {len(seconds)} in --pair-column {pair_column!r}")
    return list(zip(items, seconds, strict=True))


@app.command(cls=Command)
def methods() -> None:
    """List the registered attribution methods."""
    from rich.table import Table

    from trexplain.methods import available_methods

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column("method", style="bold", no_wrap=True)
    table.add_column("summary", overflow="fold")
    for name, cls in available_methods().items():
        table.add_row(name + (" (default)" if name == DEFAULT_METHOD else ""), cls.summary)
    show(table)
