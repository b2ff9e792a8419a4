"""`trexplain explain` and `trexplain methods`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from trexplain.cli.common import (
    STDOUT,
    BatchSizeOpt,
    Command,
    ImageOpt,
    InputOpt,
    MethodsOpt,
    MissingWeightsOpt,
    ModelOpt,
    ParamOpt,
    PickleOpt,
    QuietOpt,
    TargetOpt,
    TextColumnOpt,
    TruncateOpt,
    app,
    check_methods,
    check_outputs,
    flag,
    guarded,
    image_inputs,
    image_model,
    parse_params,
    parse_target,
    read_inputs,
    written,
)
from trexplain.errors import InputError
from trexplain.methods.base import DEFAULT_METHOD


@app.command(cls=Command)
def explain(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to explain.")] = None,
    input_file: InputOpt = None,
    image: ImageOpt = None,
    text_column: TextColumnOpt = None,
    model: ModelOpt = "demo",
    method: MethodsOpt = None,
    target: TargetOpt = "predicted",
    param: ParamOpt = None,
    as_json: Annotated[bool, flag("--json", "Print JSON to stdout: one object for one text, else a list.")] = False,
    jsonl: Annotated[
        Path | None, typer.Option(help="Write one JSON object per text (a line each) to this file; - for stdout.")
    ] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write a self-contained HTML page.")] = None,
    truncate: TruncateOpt = False,
    allow_pickle: PickleOpt = False,
    batch_size: BatchSizeOpt = 16,
    allow_missing_weights: MissingWeightsOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Explain why the model predicts what it does for each text (or image, with --image)."""
    with guarded(quiet):
        from trexplain.io import atomic_file, write_text
        from trexplain.models.loading import load_model
        from trexplain.study import study

        to_stdout = jsonl == STDOUT
        if as_json and to_stdout:
            raise InputError("--json and --jsonl - both write to stdout; choose one")
        images = image_inputs(image, input_file, texts)
        check_outputs({"--jsonl": None if to_stdout else jsonl, "--html": html_out}, [input_file, *(images or [])])
        items = images or read_inputs(texts, input_file, text_column)
        model = image_model(model, images)
        params = parse_params(param or [])
        names = list(method or [DEFAULT_METHOD])
        check_methods(names, params)
        adapter = load_model(model, allow_pickle=allow_pickle, allow_missing_weights=allow_missing_weights)
        result = study(
            items,
            adapter,
            names,
            target=parse_target(target),
            params={name: params for name in names},
            batch_size=batch_size,
            truncate=truncate,
        )
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

            Console().print(render_all(result.explanations))


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
    Console().print(table)
