"""The typer app and what every command shares: input reading, parameter parsing, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from trexplain.errors import InputError, TrexplainError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Explain transformer classifiers.")
stderr = Console(stderr=True)

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Local model folder, or 'demo' (the bundled default).")]
InputOpt = Annotated[
    Path | None, typer.Option("--input", "-i", help=".txt (one per line), .csv (text column) or .jsonl")
]
MethodsOpt = Annotated[
    list[str] | None, typer.Option("--method", help="Method name (repeatable); see `trexplain methods`.")
]
TargetOpt = Annotated[str, typer.Option(help="predicted, all, or a label name (comma-separated for several).")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", "-p", help="Method parameter NAME=VALUE (repeatable).")]
PickleOpt = Annotated[bool, typer.Option(help="Allow pickle weights (pytorch_model.bin) from a trusted source.")]
TruncateOpt = Annotated[bool, typer.Option(help="Truncate over-long texts (recorded) instead of failing.")]
BatchSizeOpt = Annotated[int, typer.Option(help="Texts per batch.")]


def parse_target(target: str) -> Any:
    """`--target` value: one spec, or a list for comma-separated labels."""
    return target.split(",") if "," in target else target


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """`--param NAME=VALUE` pairs as a dict; values parse as JSON where they can (numbers, booleans)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--param {pair!r}: write it as NAME=VALUE, e.g. --param steps=32")
        try:
            params[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            params[key.replace("-", "_")] = value
    return params


def read_inputs(texts: list[str] | None, input_file: Path | None) -> list[str]:
    from trexplain.inputs import read_texts

    if texts and input_file:
        raise InputError("give texts as arguments or --input FILE, not both")
    if input_file:
        return read_texts(input_file)
    if not texts:
        raise InputError("no text given; pass TEXT arguments or --input FILE")
    return texts


def fail(exc: TrexplainError) -> None:
    stderr.print(f"[bold red]error:[/] {exc}", highlight=False)
    raise typer.Exit(code=2)
