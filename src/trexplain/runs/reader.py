"""Stream a dataset's texts in order, each with its id (and human rationale, if any), without holding the file.

.txt/.csv/.tsv/.jsonl go through `trexplain.inputs.iter_records` (the same checks as everywhere else);
.parquet is read one record batch at a time with pyarrow. The id is the `--id-column` value (a string or a
whole number, unique: a repeat is an `InputError`), or else `text_id(text)`: the first 16 hex digits of the
SHA-256 of the text's UTF-8 bytes, so the same text always gets the same id. Repeated texts then share an id:
the first is kept and the later ones are counted in `RowReader.duplicates` (and reported), not explained twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trexplain.errors import InputError
from trexplain.inputs import SUFFIXES, TEXT_COLUMN, check_text, iter_records

FORMATS = (*SUFFIXES, ".parquet")
ID_DIGITS = 16  # 64 bits of SHA-256: a collision among a million texts has odds of about 3e-8


def text_id(text: str) -> str:
    """The stable id of a text without an id column: the first 16 hex digits of SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:ID_DIGITS]


@dataclass(frozen=True)
class Row:
    """One input text: its position among the file's texts (0-based), id, text and raw rationale (or None)."""

    row: int
    id: str
    text: str
    rationale: Any = None


class RowReader:
    """Iterate the `Row`s of a file once, in file order, up to `limit` texts; repeats of a hashed text are
    skipped and counted in `duplicates`; repeated ids from an id column are an `InputError`."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        text_column: str | None = None,
        id_column: str | None = None,
        rationale_column: str | None = None,
        limit: int | None = None,
        parquet_batch: int = 1024,
    ) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in FORMATS:
            raise InputError(f"{self.path}: unsupported file type {suffix or '(none)'}; use {', '.join(FORMATS)}")
        if limit is not None and limit < 1:
            raise InputError(f"limit must be at least 1, got {limit}")
        self.text_column, self.id_column, self.rationale_column = text_column, id_column, rationale_column
        self.limit, self.parquet_batch = limit, parquet_batch
        self.duplicates = 0
        self.rows = 0
        self.truncated = False  # stopped by `limit` with texts left

    def __iter__(self) -> Iterator[Row]:
        seen: dict[str, int] = {}  # ids of an id column, with their text's number (for the error)
        hashed: set[int] = set()  # hashed ids as 64-bit ints: about 60 bytes a text
        for number, (where, text, extras) in enumerate(self._records()):
            if self.limit is not None and number >= self.limit:
                self.truncated = True
                return
            self.rows = number + 1
            if self.id_column is None:
                key = text_id(text)
                if int(key, 16) in hashed:
                    self.duplicates += 1
                    continue
                hashed.add(int(key, 16))
            else:
                key = _id_value(extras[self.id_column], where, self.id_column)
                if key in seen:
                    raise InputError(
                        f"{where}: id {key!r} was already used by text {seen[key] + 1}; ids in "
                        f"{self.id_column!r} must be unique (or drop --id-column to id texts by their hash)"
                    )
                seen[key] = number
            rationale = None
            if self.rationale_column is not None:
                rationale = parse_rationale(extras[self.rationale_column], where, self.rationale_column)
            yield Row(number, key, text, rationale)

    def _records(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        extras = [c for c in (self.id_column, self.rationale_column) if c is not None]
        if self.path.suffix.lower() == ".parquet":
            yield from _parquet(self.path, self.text_column or TEXT_COLUMN, extras, self.parquet_batch)
            return
        for line, text, values in iter_records(self.path, self.text_column, extras):
            yield f"{self.path}:{line}", text, values


def _parquet(path: Path, column: str, extras: list[str], batch_size: int) -> Iterator[tuple[str, str, dict]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"{path}: cannot read it as Parquet ({exc}); give a Parquet file") from exc
    names = handle.schema_arrow.names
    for name in (column, *extras):
        if name not in names:
            raise InputError(f"{path}: no column {name!r} (columns: {', '.join(names)}); name one the file has")
    number = 0
    with handle:
        for batch in handle.iter_batches(batch_size=batch_size, columns=[column, *extras]):
            values = {name: batch.column(name).to_pylist() for name in (column, *extras)}
            for i, text in enumerate(values[column]):
                number += 1
                where = f"{path}: row {number}"
                if not isinstance(text, str) or not text.strip():
                    raise InputError(f"{where}: the text is {'missing' if text is None else 'empty'}; fill it in")
                yield where, check_text(text, where), {name: values[name][i] for name in extras}
    if not number:
        raise InputError(f"{path} has no rows; give a file with at least one text")


def _id_value(value: Any, where: str, column: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(f"{where}: the id in {column!r} is {value!r}; ids are strings or whole numbers")
    key = str(value)
    if not key.strip():
        raise InputError(f"{where}: the id in {column!r} is empty; give every text an id")
    return key


def parse_rationale(value: Any, where: str, column: str) -> dict[str, list] | None:
    """A rationale cell as `{"words": [i, ...]}` (indices of whitespace-separated words) or `{"spans": [[start,
    end], ...]}` (character spans, end exclusive); None or an empty cell: no rationale for this text."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):  # CSV/TSV cells hold JSON
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{where}: the rationale in {column!r} is not JSON ({exc.msg}); write e.g. [0, 3]"
            ) from exc
    if not isinstance(value, list):
        raise InputError(f"{where}: the rationale in {column!r} is {value!r}; give a list of word indices or spans")
    if all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        return {"words": sorted(set(value))}
    if all(
        isinstance(v, (list, tuple))
        and len(v) == 2
        and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
        and 0 <= v[0] < v[1]
        for v in value
    ):
        return {"spans": sorted([int(a), int(b)] for a, b in value)}
    raise InputError(
        f"{where}: the rationale in {column!r} is {value!r}; give word indices (e.g. [0, 3]) or character "
        "spans [start, end) with start < end (e.g. [[0, 5], [10, 14]])"
    )
