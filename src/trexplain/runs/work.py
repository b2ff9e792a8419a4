"""One window of input rows → one shard table: explain (and evaluate) its texts in batches, add the run columns.

Every backend calls `explain_window` with the same windows and settings, so their shards are equal row
for row. Windows are cut by input row (`row // shard_size`) and batches from each window's start, so the
batches, and therefore the numbers, do not depend on the backend or on how many workers run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from trexplain.errors import RunMismatchError
from trexplain.evaluate.faithfulness import evaluate
from trexplain.explanation import Explanation
from trexplain.models.protocol import Adapter
from trexplain.progress import reporting
from trexplain.runs.reader import Row
from trexplain.runs.shards import shard_table
from trexplain.study import StudyOptions, run_study


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
    """How each window is explained: the study options (methods with their parameters, target, truncation,
    batch sizes), whether to add per-row evaluation and rationales, and the weights the run is bound to (their
    hash and hub commit, written into every shard)."""

    options: StudyOptions
    evaluate: bool = False
    rationales: bool = False
    weights_sha256: str | None = None
    model_revision: str | None = None


def explain_window(
    adapter: Adapter, settings: Settings, window: Window, advance: Callable[[int], None] | None = None
) -> pa.Table:
    """The shard table of a window: its texts × methods (text-major), with ids, rows and the run columns."""
    from trexplain.evaluate.plausibility import rationale_words

    loaded = getattr(adapter, "model_revision", None)
    if loaded != settings.model_revision:  # a worker that loaded another commit must not write into this run
        raise RunMismatchError(
            f"this worker loaded model_revision {loaded!r}, the run is bound to {settings.model_revision!r}; "
            "make that revision available here (e.g. `hf download ORG/NAME --revision REV`) or give a new --out folder"
        )
    explanations: list[Explanation] = []
    columns: dict[str, list] = {"id": [], "row": []}
    if settings.rationales:
        columns["rationale"] = []
    if settings.evaluate:
        columns.update(comprehensiveness=[], sufficiency=[], identity_error=[])
    rows = window.rows
    size = settings.options.batch_size
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        with reporting(None):  # the run shows one bar for the whole dataset, not one per batch
            done = run_study([r.text for r in chunk], adapter, settings.options)
            batch = done.explanations
            if settings.evaluate:
                _add_evaluation(adapter, batch, columns, settings.options.eval_batch_size)
        for row, group in zip(chunk, done.per_input, strict=True):
            for e in group:
                columns["id"].append(row.id)
                columns["row"].append(row.row)
                if settings.rationales:
                    columns["rationale"].append(None if row.rationale is None else rationale_words(e, row.rationale))
        explanations.extend(batch)
        if advance is not None:
            advance(len(chunk))
    return shard_table(explanations, columns, len(rows), settings.weights_sha256, settings.model_revision)


def _add_evaluation(adapter: Adapter, batch: Sequence[Explanation], columns: dict[str, list], size: int) -> None:
    """Per explanation, one AOPC comprehensiveness, sufficiency and identity error per target."""
    results = iter(evaluate(adapter, batch, batch_size=size).results)  # explanation by explanation, target by target
    for e in batch:
        found = [next(results) for _ in e.targets]
        columns["comprehensiveness"].append([r.aopc_comprehensiveness for r in found])
        columns["sufficiency"].append([r.aopc_sufficiency for r in found])
        columns["identity_error"].append([r.completeness_error for r in found])
