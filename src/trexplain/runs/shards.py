"""Parquet shards of a run: the core Arrow schema (`trexplain.arrow.to_arrow`) plus the run's own columns,
written atomically under deterministic names.

A shard holds the explanations of one window of input rows, named by its first and last input row:
`rows-000000000-000000255.parquet`. It is written to a temporary `.NAME.tmp-PID-XXXX` beside it, flushed to
disk and renamed (`trexplain.io.atomic_file`), so a shard file is whole or absent; readers look only at
`rows-*.parquet` names, and `clean_temporaries` removes the temporaries that killed runs left behind.

Columns added to the core schema: `id` (string), `row` (input row, int64); `rationale` (the human rationale
as model-word indices, when the run has a rationale column); with `--evaluate`, per target of the row:
`comprehensiveness`, `sufficiency` (AOPC, probability units) and `identity_error` (null where the method has
no identity).

Each shard's schema metadata names the weights that wrote it: `trexplain.weights_sha256` and, for a hub model,
`trexplain.model_revision` (the commit); `check_weights` refuses a folder whose shards came from other weights.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from trexplain.arrow import to_arrow
from trexplain.errors import InputError, RunMismatchError
from trexplain.explanation import Explanation
from trexplain.io import TEMP_TAG, atomic_file

PREFIX, SUFFIX = "rows-", ".parquet"
_NAME = re.compile(r"rows-(\d{9})-(\d{9})\.parquet")
_TEMP = re.compile(r"\.rows-\d{9}-\d{9}\.parquet" + re.escape(TEMP_TAG) + r"(\d+)-")
_FLOATS = pa.list_(pa.float64())
RUN_COLUMNS: dict[str, pa.DataType] = {
    "id": pa.string(),
    "row": pa.int64(),
    "rationale": pa.list_(pa.int32()),
    "comprehensiveness": _FLOATS,
    "sufficiency": _FLOATS,
    "identity_error": _FLOATS,
}
TEXTS_KEY = b"trexplain.texts"
REVISION_KEY, WEIGHTS_KEY = b"trexplain.model_revision", b"trexplain.weights_sha256"


def shard_name(first: int, last: int) -> str:
    """The file name of the shard of input rows `first`..`last` (inclusive)."""
    return f"{PREFIX}{first:09d}-{last:09d}{SUFFIX}"


@dataclass(frozen=True)
class ShardInfo:
    """A finished shard: file name, first and last input row, texts and explanations (rows) it holds, and the
    weights that wrote it (None in shards written before shards recorded them)."""

    name: str
    first: int
    last: int
    texts: int
    explanations: int
    weights_sha256: str | None = None
    model_revision: str | None = None

    def to_dict(self) -> dict[str, int | str | None]:
        return {
            "name": self.name,
            "first": self.first,
            "last": self.last,
            "texts": self.texts,
            "explanations": self.explanations,
            "weights_sha256": self.weights_sha256,
            "model_revision": self.model_revision,
        }

    @classmethod
    def of(cls, name: str, first: int, last: int, metadata: dict | None, rows: int) -> ShardInfo:
        """The info of a shard from its schema metadata and row count."""
        meta = metadata or {}
        weights, revision = meta.get(WEIGHTS_KEY), meta.get(REVISION_KEY)
        return cls(
            name,
            first,
            last,
            int(meta.get(TEXTS_KEY, rows)),
            rows,
            None if weights is None else weights.decode(),
            None if revision is None else revision.decode(),
        )


def shard_table(
    explanations: Sequence[Explanation],
    columns: dict[str, Sequence],
    texts: int,
    weights_sha256: str | None = None,
    model_revision: str | None = None,
) -> pa.Table:
    """The core table of `explanations` with the run columns in `columns` (one value per explanation), its
    metadata naming the texts it holds and the weights (hash, hub commit) that explained them."""
    table = to_arrow(explanations)
    for name, values in columns.items():
        table = table.append_column(pa.field(name, RUN_COLUMNS[name]), pa.array(list(values), RUN_COLUMNS[name]))
    meta = {**(table.schema.metadata or {}), TEXTS_KEY: str(texts).encode()}
    for key, value in ((WEIGHTS_KEY, weights_sha256), (REVISION_KEY, model_revision)):
        if value is not None:
            meta[key] = value.encode()
    return table.replace_schema_metadata(meta)


def write_shard(folder: Path, first: int, last: int, table: pa.Table) -> ShardInfo:
    """Write one shard atomically and durably (flushed, renamed, folder flushed) before returning."""
    name = shard_name(first, last)
    with atomic_file(folder / name, "wb") as handle:
        pq.write_table(table, handle)
    return ShardInfo.of(name, first, last, table.schema.metadata, table.num_rows)


def finished(folder: Path) -> list[ShardInfo]:
    """The folder's finished shards in input order (temporaries and other files are not shards)."""
    out = []
    for entry in sorted(os.listdir(folder)):
        found = _NAME.fullmatch(entry)
        if not found:
            continue
        try:
            meta = pq.read_metadata(folder / entry)
        except (OSError, pa.ArrowInvalid) as exc:
            raise InputError(f"{folder / entry}: not a readable shard ({exc}); delete it and rerun to redo it") from exc
        out.append(ShardInfo.of(entry, int(found.group(1)), int(found.group(2)), meta.metadata, meta.num_rows))
    return out


def check_weights(folder: Path, shards: Sequence[ShardInfo], weights_sha256: str, model_revision: str | None) -> None:
    """Every shard that names its weights was written by these (`weights_sha256`, hub commit `model_revision`),
    else a `RunMismatchError` naming the shard and the fix: a folder never mixes two models' shards."""
    for shard in shards:
        stated = (shard.weights_sha256, shard.model_revision)
        if shard.weights_sha256 is not None and stated != (weights_sha256, model_revision):
            raise RunMismatchError(
                f"{folder / shard.name} was written by other weights (model_revision {shard.model_revision!r}, "
                f"weights_sha256 {shard.weights_sha256[:12]}…) than this run loads (model_revision "
                f"{model_revision!r}, weights_sha256 {weights_sha256[:12]}…); rerun with the model revision that "
                "wrote it, delete the shards of the other weights to redo them, or give a new --out folder"
            )


def done_ids(folder: Path, shards: Sequence[ShardInfo]) -> set[str]:
    """Every id already in a finished shard (only the `id` column is read)."""
    out: set[str] = set()
    for shard in shards:
        out.update(pq.read_table(folder / shard.name, columns=["id"]).column("id").to_pylist())
    return out


def clean_temporaries(folder: Path) -> list[Path]:
    """Remove the shard temporaries of processes no longer alive (a killed run's partial write)."""
    removed = []
    for entry in os.listdir(folder):
        found = _TEMP.match(entry)
        if found and not _alive(int(found.group(1))):
            (folder / entry).unlink(missing_ok=True)
            removed.append(folder / entry)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
