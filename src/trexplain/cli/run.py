"""`trexplain run`: explain a whole input file into a resumable folder of Parquet shards (see docs/runs.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trexplain.cli.common import (
    BatchSizeOpt,
    Command,
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
    flag,
    guarded,
    parse_params,
    parse_target,
    say,
)
from trexplain.methods.base import DEFAULT_METHOD


@app.command(cls=Command)
def run(
    input_file: Annotated[
        Path, typer.Option("--input", "-i", help=".txt, .csv, .tsv, .jsonl or .parquet file of texts (streamed).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The run folder (created; an existing run resumes).")],
    model: ModelOpt = "demo",
    method: MethodsOpt = None,
    target: TargetOpt = "predicted",
    param: ParamOpt = None,
    text_column: TextColumnOpt = None,
    id_column: Annotated[
        str | None, typer.Option(help="Column/field with each text's unique id (default: a hash of the text).")
    ] = None,
    rationale_column: Annotated[
        str | None,
        typer.Option(help="Column/field with human rationales (word indices or [start, end] spans): plausibility."),
    ] = None,
    evaluate: Annotated[
        bool, flag("--evaluate", "Add per-row AOPC comprehensiveness/sufficiency and identity error.")
    ] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Explain only the first N texts of the input.")] = None,
    batch_size: BatchSizeOpt = 16,
    shard_size: Annotated[int, typer.Option(min=1, help="Input rows per Parquet shard.")] = 256,
    workers: Annotated[int, typer.Option(min=1, help="Processes (local) or actors (ray), one model each.")] = 1,
    backend: Annotated[str, typer.Option(help="local (processes on this machine) or ray (needs trexplain[ray]).")] = (
        "local"
    ),
    ray_address: Annotated[
        str | None, typer.Option(help="Address of a running Ray cluster (default: start Ray on this machine).")
    ] = None,
    truncate: TruncateOpt = False,
    allow_pickle: PickleOpt = False,
    allow_missing_weights: MissingWeightsOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Explain every text of --input into --out: Parquet shards + manifest.json; rerun to resume."""
    with guarded(quiet):
        from trexplain.runs import run_dataset

        names = method or [DEFAULT_METHOD]
        params = parse_params(param or [])
        summary = run_dataset(
            input_file,
            out,
            model=model,
            methods=names,
            target=parse_target(target),
            params={name: params for name in names} if params else None,
            evaluate=evaluate,
            truncate=truncate,
            text_column=text_column,
            id_column=id_column,
            rationale_column=rationale_column,
            limit=limit,
            batch_size=batch_size,
            shard_size=shard_size,
            workers=workers,
            backend=backend,
            ray_address=ray_address,
            allow_pickle=allow_pickle,
            allow_missing_weights=allow_missing_weights,
        )
        say(summary.line())
        if rationale_column is not None:
            from trexplain.runs.summary import plausibility_text

            typer.echo(plausibility_text(out))
