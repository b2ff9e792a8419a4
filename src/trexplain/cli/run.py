"""`trexplain run`: explain a whole input file into a resumable folder of Parquet shards (see docs/runs.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trexplain.cli.common import (
    BatchSizeOpt,
    Command,
    MethodOptions,
    ModelOptions,
    QuietOpt,
    TextColumnOpt,
    TruncateOpt,
    app,
    flag,
    guarded,
    say,
    with_blocks,
)


@app.command(cls=Command)
@with_blocks
def run(
    input_file: Annotated[
        Path, typer.Option("--input", "-i", help=".txt, .csv, .tsv, .jsonl or .parquet file of texts (streamed).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The run folder (created; an existing run resumes).")],
    *,
    loading: ModelOptions,
    chosen: MethodOptions,
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
    quiet: QuietOpt = False,
) -> None:
    """Explain every text of --input into --out: Parquet shards + manifest.json; rerun to resume."""
    with guarded(quiet):
        from trexplain.runs import run_dataset

        summary = run_dataset(
            input_file,
            out,
            model=loading.model,
            methods=chosen.methods(),
            target=chosen.target_spec(),
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
            **loading.load_keywords(),
        )
        say(summary.line())
        if rationale_column is not None:
            from trexplain.runs.summary import plausibility_text

            typer.echo(plausibility_text(out))
