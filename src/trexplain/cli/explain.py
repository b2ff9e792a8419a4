"""`trexplain explain` and `trexplain methods`."""

from __future__ import annotations

import json
import sys
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
def explain(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to explain.")] = None,
    input_file: InputOpt = None,
    model: ModelOpt = "demo",
    method: MethodsOpt = None,
    target: TargetOpt = "predicted",
    param: ParamOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (one object per text) to stdout.")] = False,
    jsonl: Annotated[Path | None, typer.Option(help="Write one JSON object per text to this file.")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write a self-contained HTML page.")] = None,
    truncate: TruncateOpt = False,
    allow_pickle: PickleOpt = False,
    batch_size: BatchSizeOpt = 16,
) -> None:
    """Explain why the model predicts what it does for each text."""
    try:
        from trexplain.models.loading import load_model
        from trexplain.study import study

        items = read_inputs(texts, input_file)
        params = parse_params(param or [])
        names = list(method or [DEFAULT_METHOD])
        adapter = load_model(model, allow_pickle=allow_pickle)
        result = study(
            items,
            adapter,
            names,
            target=parse_target(target),
            params={name: params for name in names},
            batch_size=batch_size,
            truncate=truncate,
            progress=len(items) > batch_size and not as_json,
        )
        records = result.records()
        if jsonl:
            jsonl.write_text("".join(json.dumps(r) + "\n" for r in records))
        if html_out:
            from trexplain.viz.html import page

            html_out.write_text(page(result.explanations, title=f"trexplain · {adapter.name}"))
        if as_json:
            sys.stdout.write(json.dumps(records if len(records) > 1 else records[0], indent=2) + "\n")
        elif not jsonl and not html_out:
            from trexplain.viz.terminal import render_all

            Console().print(render_all(result.explanations))
    except TrexplainError as exc:
        fail(exc)


@app.command()
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
