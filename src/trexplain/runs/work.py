"""One window of input rows → one shard table: explain (and evaluate) its texts in batches, add the run columns.

Every backend calls `explain_window` with the same windows and settings, so their shards are equal row
for row. Windows are cut by input row (`row // shard_size`) and batches from each window's start, so the
batches, and therefore the numbers, do not depend on the backend or on how many workers run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from trexplain.evaluate.faithfulness import evaluate
from trexplain.explanation import Explanation
from trexplain.models.protocol import Adapter
from trexplain.progress import reporting
from trexplain.runs.reader import Row
from trexplain.runs.shards import shard_table


@dataclass(frozen=True)
class Window:
    """The rows of one shard still to explain (in input order; ids not yet in any finished shard)."""

    index: int
    rows: tuple[Row, ...]

    @property
    def first(self) -> int:
        return self.rows[0].row

    @property
    def last(self) -> int:
        return self.rows[-1].row

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "rows": [[r.row, r.id, r.text, r.rationale] for r in self.rows]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Window:
        return cls(int(data["index"]), tuple(Row(int(a), str(b), str(c), d) for a, b, c, d in data["rows"]))


@dataclass(frozen=True)
class Settings:
    """How each window is explained: methods and their parameters, target, evaluation, batching."""

    methods: tuple[str, ...]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    target: Any = "predicted"
    evaluate: bool = False
    truncate: bool = False
    rationales: bool = False
    batch_size: int = 16
    eval_batch_size: int = 64


def explain_window(
    adapter: Adapter, settings: Settings, window: Window, advance: Callable[[int], None] | None = None
) -> pa.Table:
    """The shard table of a window: its texts × methods (text-major), with ids, rows and the run columns."""
    from trexplain.evaluate.plausibility import rationale_words
    from trexplain.study import study

    explanations: list[Explanation] = []
    columns: dict[str, list] = {"id": [], "row": []}
    if settings.rationales:
        columns["rationale"] = []
    if settings.evaluate:
        columns.update(comprehensiveness=[], sufficiency=[], identity_error=[])
    rows = window.rows
    for start in range(0, len(rows), settings.batch_size):
        chunk = rows[start : start + settings.batch_size]
        with reporting(None):  # the run shows one bar for the whole dataset, not one per batch
            done = study(
                [r.text for r in chunk],
                adapter,
                list(settings.methods),
                target=settings.target,
                params=settings.params,
                batch_size=settings.batch_size,
                truncate=settings.truncate,
            )
            batch = done.explanations
            if settings.evaluate:
                _add_evaluation(adapter, batch, columns, settings.eval_batch_size)
        for row, group in zip(chunk, done.per_input, strict=True):
            for e in group:
                columns["id"].append(row.id)
                columns["row"].append(row.row)
                if settings.rationales:
                    columns["rationale"].append(None if row.rationale is None else rationale_words(e, row.rationale))
        explanations.extend(batch)
        if advance is not None:
            advance(len(chunk))
    return shard_table(explanations, columns, len(rows))


def _add_evaluation(adapter: Adapter, batch: Sequence[Explanation], columns: dict[str, list], size: int) -> None:
    """Per explanation, one AOPC comprehensiveness, sufficiency and identity error per target."""
    results = iter(evaluate(adapter, batch, batch_size=size).results)  # explanation by explanation, target by target
    for e in batch:
        found = [next(results) for _ in e.targets]
        columns["comprehensiveness"].append([r.aopc_comprehensiveness for r in found])
        columns["sufficiency"].append([r.aopc_sufficiency for r in found])
        columns["identity_error"].append([r.completeness_error for r in found])
