"""Explanations as Arrow tables and Parquet files: one row per explanation, typed columns, exact round trip.

Dataset runs write thousands of explanations; a typed columnar table stores them compactly and lets pandas,
polars or DuckDB query scores and text without trexplain, and `from_arrow(to_arrow(xs)) == xs` exactly
(float32 scores bit for bit, NaN in diagnostics kept). `SCHEMA` is versioned by `SCHEMA_VERSION`, both in its
metadata and in a `schema_version` column. Heterogeneous values (params, diagnostics and their axes) are
JSON strings.

Columns shared by every layout come first; then each layout kind has its own nullable columns
(`LAYOUT_COLUMNS[kind]`, declared by its modality: `Modality.arrow_columns`), null in the rows of other
kinds, named after the fields of its layout's `to_dict`; a new modality's columns add to them. A kind may
reuse a column of the same name and type (e.g. `special`).
Reading needs the shared columns and those of the kinds present, in any order; other columns are ignored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from trexplain.errors import InputError, TargetError
from trexplain.explanation import SCHEMA_VERSION, Explanation
from trexplain.io import atomic_file
from trexplain.models.modalities import MODALITIES

__all__ = ["LAYOUT_COLUMNS", "SCHEMA", "from_arrow", "from_parquet", "to_arrow", "to_parquet"]

_FLOATS = pa.list_(pa.float32())
_SPANS = pa.list_(pa.list_(pa.int32(), 2))

BASE_COLUMNS: tuple[pa.Field, ...] = (
    pa.field("schema_version", pa.int16(), nullable=False),
    pa.field("layout", pa.string(), nullable=False),
    pa.field("model", pa.string(), nullable=False),
    pa.field("method", pa.string(), nullable=False),
    pa.field("labels", pa.list_(pa.string()), nullable=False),
    pa.field("logits", _FLOATS, nullable=False),
    pa.field("targets", pa.list_(pa.int32()), nullable=False),
    pa.field("scores", pa.list_(_FLOATS), nullable=False),  # [targets][positions]
    pa.field("layer_scores", pa.list_(pa.list_(_FLOATS))),  # [layers][targets][positions] or null
    pa.field("params", pa.string(), nullable=False),  # JSON
    pa.field("diagnostics", pa.string(), nullable=False),  # JSON, NaN allowed
    pa.field("diagnostic_axes", pa.string(), nullable=False),  # JSON
)

LAYOUT_COLUMNS: Mapping[str, tuple[pa.Field, ...]] = {kind: m.arrow_columns for kind, m in MODALITIES.items()}
"""Each modality's layout columns (`Modality.arrow_columns`), by layout kind."""
OPTIONAL_COLUMNS = frozenset({"segments", "segmenter"})
"""Layout columns added after schema 2's first tables: read as null when a table lacks them."""

_LAYOUT_FIELDS = {f.name: f for fields in LAYOUT_COLUMNS.values() for f in fields}

SCHEMA: pa.Schema = pa.schema(
    [*BASE_COLUMNS, *_LAYOUT_FIELDS.values()],
    metadata={"schema_version": str(SCHEMA_VERSION), "producer": "trexplain"},
)


# ------------------------------------------------------------------------------------------------ writing
def _nested(arrays: Sequence[np.ndarray | None], ndim: int) -> pa.Array:
    """Nested float32 lists of n-d arrays (null for None), from one flat buffer and per-level offsets."""
    shapes = np.array([(0,) * ndim if a is None else a.shape for a in arrays], dtype=np.int64).reshape(-1, ndim)
    present = [a.ravel() for a in arrays if a is not None]
    out: pa.Array = pa.array(np.concatenate(present) if present else np.empty(0, np.float32), pa.float32())
    for depth in reversed(range(ndim)):
        lengths = np.repeat(shapes[:, depth], np.prod(shapes[:, :depth], axis=1))
        offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]), pa.int32())
        mask = pa.array([a is None for a in arrays], pa.bool_()) if depth == 0 else None
        out = pa.ListArray.from_arrays(offsets, out, mask=mask)
    return out


def to_arrow(explanations: Sequence[Explanation]) -> pa.Table:
    """A table with `SCHEMA`, one row per explanation; `from_arrow` gives them back exactly."""
    xs = list(explanations)
    for x in xs:
        if not isinstance(x, Explanation):
            raise InputError(f"to_arrow takes Explanations, not {type(x).__name__}")
        if x.layout.kind not in LAYOUT_COLUMNS:
            raise InputError(
                f"no Arrow columns for layout {x.layout.kind!r}; declare them in its modality's arrow_columns"
            )
    layouts = [x.layout.to_dict() for x in xs]
    owned = {kind: {f.name for f in fields} for kind, fields in LAYOUT_COLUMNS.items()}
    try:
        columns = {
            "schema_version": pa.array([SCHEMA_VERSION] * len(xs), pa.int16()),
            "layout": pa.array([x.layout.kind for x in xs], pa.string()),
            "model": pa.array([x.model for x in xs], pa.string()),
            "method": pa.array([x.method for x in xs], pa.string()),
            "labels": pa.array([list(x.labels) for x in xs], pa.list_(pa.string())),
            "logits": _nested([x.logits for x in xs], 1),
            "targets": pa.array([list(x.targets) for x in xs], pa.list_(pa.int32())),
            "scores": _nested([x.scores for x in xs], 2),
            "layer_scores": _nested([x.layer_scores for x in xs], 3),
            "params": pa.array([json.dumps(dict(x.params), allow_nan=True) for x in xs], pa.string()),
            "diagnostics": pa.array([json.dumps(x.diagnostics.to_dict(), allow_nan=True) for x in xs], pa.string()),
            "diagnostic_axes": pa.array([json.dumps(x.diagnostics.axes_dict()) for x in xs], pa.string()),
            **{
                name: pa.array([d.get(name) if name in owned[d["layout"]] else None for d in layouts], field.type)
                for name, field in _LAYOUT_FIELDS.items()
            },
        }
    except UnicodeEncodeError as exc:
        raise InputError(
            f"an explanation holds a string that is not valid Unicode ({exc}); Arrow stores UTF-8: "
            "replace lone surrogates (e.g. text.encode('utf-8', 'replace').decode())"
        ) from exc
    return pa.Table.from_arrays([columns[f.name] for f in SCHEMA], schema=SCHEMA)


def to_parquet(explanations: Sequence[Explanation], path: str | os.PathLike[str]) -> Path:
    """Write `to_arrow(explanations)` to a Parquet file atomically: a failed write leaves no file behind and
    an existing file at `path` untouched."""
    table = to_arrow(explanations)
    with atomic_file(path, "wb") as handle:
        pq.write_table(table, handle)
    return Path(path)


# ------------------------------------------------------------------------------------------------ reading
def _unnest(column: pa.ChunkedArray, ndim: int, name: str) -> list[np.ndarray | None]:
    """The n-d float32 array of every row of a nested list column (None for nulls); ragged rows are errors."""
    array = column.combine_chunks()
    valid = array.is_valid().to_numpy(zero_copy_only=False)
    offsets = []
    level = array
    for depth in range(ndim):
        if depth and level.null_count:
            raise InputError(f"column {name!r} has null inner lists; write it with trexplain.arrow.to_arrow")
        offsets.append(level.offsets.to_numpy())
        level = level.values
    if level.null_count:
        raise InputError(f"column {name!r} has null values; write it with trexplain.arrow.to_arrow")
    flat = level.to_numpy(zero_copy_only=False)
    out: list[np.ndarray | None] = []
    for row in range(len(array)):
        if not valid[row]:
            out.append(None)
            continue
        start, stop, shape = row, row + 1, []
        for level_offsets in offsets:
            lengths = np.diff(level_offsets[start : stop + 1])
            if lengths.size and (lengths != lengths[0]).any():
                raise InputError(f"column {name!r} row {row} is ragged; each row must be a rectangular array")
            shape.append(int(lengths[0]) if lengths.size else 0)
            start, stop = int(level_offsets[start]), int(level_offsets[stop])
        out.append(flat[start:stop].reshape(shape))
    return out


def _json_column(column: pa.ChunkedArray, name: str) -> list[Any]:
    out = []
    for row, text in enumerate(column.to_pylist()):
        try:
            out.append(json.loads(text))
        except json.JSONDecodeError as exc:
            raise InputError(f"column {name!r} row {row} is not JSON ({exc}); it holds a JSON string per row") from exc
    return out


def _checked_columns(table: pa.Table, fields: Sequence[pa.Field]) -> dict[str, pa.ChunkedArray]:
    """The named columns, cast to their `SCHEMA` type where they differ; typed errors for what cannot be read."""
    missing = [f.name for f in fields if f.name not in table.column_names]
    if missing:
        raise InputError(
            f"this table lacks the column(s) {', '.join(missing)}; write explanation tables with trexplain's to_arrow"
        )
    out = {}
    for field in fields:
        column = table.column(field.name)
        if column.type != field.type:
            try:
                column = column.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise InputError(
                    f"column {field.name!r} is {column.type}, which does not read as {field.type}"
                ) from exc
        if not field.nullable and column.null_count:
            raise InputError(f"column {field.name!r} has {column.null_count} null(s); every row needs a value")
        out[field.name] = column
    return out


def _check_version(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise InputError(
            f"this table has schema_version {version} ({where}); this trexplain reads up to {SCHEMA_VERSION}: "
            "upgrade trexplain"
        )


def from_arrow(table: pa.Table) -> list[Explanation]:
    """The explanations of a table written by `to_arrow` (columns in any order, extra columns ignored)."""
    if not isinstance(table, pa.Table):
        raise InputError(f"from_arrow takes a pyarrow.Table, not {type(table).__name__}")
    stated = (table.schema.metadata or {}).get(b"schema_version")
    if stated is not None:
        if not stated.isdigit():
            raise InputError(f"schema metadata has schema_version {stated!r}, not a number; write it with to_arrow")
        _check_version(int(stated), "schema metadata")
    base = _checked_columns(table, BASE_COLUMNS)
    versions = base["schema_version"].to_pylist()
    if versions:
        _check_version(max(versions), "column schema_version")
    kinds = base["layout"].to_pylist()
    unknown = sorted(set(kinds) - set(LAYOUT_COLUMNS))
    if unknown:
        raise InputError(
            f"unknown layout {', '.join(map(repr, unknown))}; this trexplain reads {', '.join(LAYOUT_COLUMNS)}: "
            "upgrade trexplain"
        )
    present = {
        kind: [f.name for f in LAYOUT_COLUMNS[kind] if f.name in table.column_names or f.name not in OPTIONAL_COLUMNS]
        for kind in dict.fromkeys(kinds)
    }
    needed = {name: _LAYOUT_FIELDS[name] for names in present.values() for name in names}
    layout_values = {name: c.to_pylist() for name, c in _checked_columns(table, list(needed.values())).items()}
    plain = {name: base[name].to_pylist() for name in ("model", "method", "labels", "targets")}
    tensors = {
        name: _unnest(base[name], ndim, name) for name, ndim in (("logits", 1), ("scores", 2), ("layer_scores", 3))
    }
    texts = {name: _json_column(base[name], name) for name in ("params", "diagnostics", "diagnostic_axes")}
    shared = {**plain, **tensors, **texts}
    out = []
    for row, kind in enumerate(kinds):
        record = {
            "schema_version": versions[row],
            "layout": kind,
            **{name: layout_values[name][row] for name in present[kind]},
            **{name: values[row] for name, values in shared.items()},
        }
        try:
            out.append(Explanation.from_dict(record))
        except (InputError, TargetError) as exc:
            raise type(exc)(f"row {row}: {exc}") from exc
    return out


def from_parquet(path: str | os.PathLike[str]) -> list[Explanation]:
    """The explanations of a Parquet file written by `to_parquet`."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(
            f"cannot read {os.fspath(path)!r} as Parquet ({exc}); give a file written by to_parquet"
        ) from exc
    return from_arrow(table)
