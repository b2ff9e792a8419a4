"""`load_run`: a run folder's shards read back as explanations, one Arrow table, or a pandas DataFrame."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from trexplain.arrow import from_arrow
from trexplain.errors import InputError
from trexplain.explanation import Explanation
from trexplain.runs.manifest import read_manifest
from trexplain.runs.shards import REVISION_KEY, finished

As = Literal["explanations", "arrow", "pandas"]


def shard_tables(folder: str | os.PathLike[str], columns: Sequence[str] | None = None) -> Iterator[pa.Table]:
    """The run's shard tables one at a time, in input order (what streaming readers such as the summary use)."""
    path = Path(folder)
    read_manifest(path)
    for shard in finished(path):
        yield pq.read_table(path / shard.name, columns=list(columns) if columns else None)


def load_run(folder: str | os.PathLike[str], as_: As = "explanations") -> list[Explanation] | pa.Table | Any:
    """Every explanation of a run in input order (text-major, methods in run order): as `Explanation`s (with the
    shard's `model_revision`), as one Arrow table (the core schema plus `id`, `row` and the run columns) or as a
    pandas DataFrame."""
    if as_ not in ("explanations", "arrow", "pandas"):
        raise InputError(f"as_ must be 'explanations', 'arrow' or 'pandas', not {as_!r}")
    tables = list(shard_tables(folder))
    if not tables:
        raise InputError(f"{folder} has no finished shards yet; run `trexplain run` into it first")
    if as_ == "explanations":
        return [e for table in tables for e in _with_revision(from_arrow(table), table)]
    table = pa.concat_tables(tables, promote_options="default")
    return table if as_ == "arrow" else table.to_pandas()


def _with_revision(explanations: list[Explanation], table: pa.Table) -> list[Explanation]:
    """The shard's explanations with the hub commit its metadata names (`Explanation.model_revision`)."""
    revision = (table.schema.metadata or {}).get(REVISION_KEY)
    if revision is None:
        return explanations
    return [e.replace(model_revision=revision.decode()) for e in explanations]
