"""The per-method faithfulness table: means over texts, a seeded random-scores floor, a ranking and a verdict.

Methods are ranked by AOPC comprehensiveness − sufficiency (both in probability units: how much the top
features matter when removed, minus how much is lost when only they are kept), ties by ΔA^F.
A method "beats random" when its per-text margin over the random scores is positive by more than one
standard error (paired by text and target).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from trexplain.errors import InputError
from trexplain.evaluate.faithfulness import Evaluation, EvaluationResult, evaluate
from trexplain.explanation import Explanation
from trexplain.methods.base import TargetSpec, available_methods
from trexplain.models.adapter import ModelAdapter
from trexplain.perturb import Level, Strategy

RANDOM = "random"
# Most texts a method of each cost class is run on by default (see `Method.cost`).
MAX_TEXTS: Mapping[str, float] = {"single-pass": math.inf, "multi-pass": 200, "sampling": 20}


def default_methods(n_texts: int) -> list[str]:
    """Registered methods cheap enough for `n_texts` texts, judged by each method's `cost` hint."""
    return [
        name
        for name, cls in available_methods().items()
        if n_texts <= MAX_TEXTS.get(getattr(cls, "cost", "single-pass"), MAX_TEXTS["multi-pass"])
    ]


def random_explanations(explanations: Sequence[Explanation], seed: int = 0) -> list[Explanation]:
    """One explanation per distinct text with standard-normal token scores (seeded; special tokens 0)."""
    firsts: dict[str, Explanation] = {}
    for e in explanations:
        firsts.setdefault(e.text, e)
    out = []
    for i, e in enumerate(firsts.values()):
        rng = np.random.default_rng([seed, i])
        scores = rng.standard_normal(e.scores.shape) * ~np.array(e.special)
        out.append(replace(e, scores=scores, method=RANDOM, params={"seed": seed}, diagnostics={}, layer_scores=None))
    return out


def summarise(results: Sequence[EvaluationResult]) -> list[dict[str, Any]]:
    """One row per method (means over texts and targets), best first."""
    groups: dict[str, list[EvaluationResult]] = {}
    for r in results:
        groups.setdefault(r.method, []).append(r)
    rows = [
        {
            "method": method,
            "comprehensiveness": _mean([r.aopc_comprehensiveness for r in group]),
            "sufficiency": _mean([r.aopc_sufficiency for r in group]),
            "delta_af": _mean([r.delta_af for r in group]),
            "completeness_error": _mean([r.completeness_error for r in group]),
            "seconds": _mean([r.seconds for r in group]),
            "n": len(group),
        }
        for method, group in groups.items()
    ]
    rows.sort(key=lambda row: (-(row["comprehensiveness"] - row["sufficiency"]), -row["delta_af"]))
    return [{"rank": i + 1, **row} for i, row in enumerate(rows)]


def beats_random(results: Sequence[EvaluationResult], method: str) -> bool:
    """Whether `method`'s comprehensiveness − sufficiency exceeds the random floor's by more than one SE."""
    floor = {(r.text, r.target): _margin(r) for r in results if r.method == RANDOM}
    diffs = np.array(
        [_margin(r) - floor[(r.text, r.target)] for r in results if r.method == method and (r.text, r.target) in floor]
    )
    if len(diffs) == 0:
        return False
    se = diffs.std(ddof=1) / math.sqrt(len(diffs)) if len(diffs) > 1 else 0.0
    return bool(diffs.mean() > se)


def verdict(rows: Sequence[Mapping[str, Any]], results: Sequence[EvaluationResult], model: str) -> str:
    """One line: which method to trust for this model, and why."""
    floor = next((row for row in rows if row["method"] == RANDOM), None)
    methods = [row for row in rows if row["method"] != RANDOM]
    if not methods or floor is None:
        return "nothing to compare: evaluate at least one method next to the random floor"
    margin = floor["comprehensiveness"] - floor["sufficiency"]
    trusted = [row for row in methods if beats_random(results, row["method"])]
    weak = [row["method"] for row in methods if row not in trusted]
    if not trusted:
        best = methods[0]
        return (
            f"trust none on {model}: no method beats random scores (best {best['method']}: comprehensiveness − "
            f"sufficiency {best['comprehensiveness'] - best['sufficiency']:.3f} vs {margin:.3f} for random)"
        )
    best = trusted[0]
    line = (
        f"trust {best['method']} on {model}: highest comprehensiveness − sufficiency above the random floor "
        f"({best['comprehensiveness'] - best['sufficiency']:.3f} vs {margin:.3f}), ΔA^F {best['delta_af']:+.3f}"
    )
    if best["completeness_error"] is not None:
        line += f", completeness error {best['completeness_error']:.2g}"
    if weak:
        line += f"; not clearly above random: {', '.join(weak)}"
    return line


@dataclass
class FaithfulnessTable:
    """Rows (ranked, random floor included), the verdict, and every per-explanation result behind them."""

    model: str
    target: str
    strategy: str
    level: str
    rows: list[dict[str, Any]]
    verdict: str
    evaluation: Evaluation
    skipped: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Stable JSON form: settings, `rows`, `verdict`, `skipped` methods and per-explanation `results`."""
        return {
            "model": self.model,
            "target": self.target,
            "strategy": self.strategy,
            "level": self.level,
            "texts": len({r.text for r in self.evaluation.results}),
            "rows": self.rows,
            "verdict": self.verdict,
            "skipped": self.skipped,
            "forward_rows": self.evaluation.forward_rows,
            "results": [r.to_dict() for r in self.evaluation.results],
        }


def faithfulness_table(
    adapter: ModelAdapter,
    texts: Sequence[str],
    methods: Sequence[str] | None = None,
    *,
    target: TargetSpec = "predicted",
    strategy: Strategy = "delete",
    level: Level = "word",
    seed: int = 0,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    external: Sequence[Explanation] = (),
    batch_size: int = 16,
    eval_batch_size: int = 64,
    truncate: bool = False,
) -> FaithfulnessTable:
    """Explain `texts` with each method (default: all cheap enough), evaluate all of them with the random
    floor in one batched run, and rank. `external` explanations (e.g. from `load_scores`) join the table."""
    from trexplain.api import explain_methods

    texts = [texts] if isinstance(texts, str) else list(texts)
    names = list(methods) if methods is not None else default_methods(len(texts))
    done, skipped = explain_methods(
        texts,
        adapter,
        names,
        explicit=bool(methods),
        target=target,
        params=params,
        batch_size=batch_size,
        truncate=truncate,
    )
    explanations = [e for found in done.values() for e in found]
    return rank_explanations(
        adapter,
        [*explanations, *external],
        target=target,
        strategy=strategy,
        level=level,
        seed=seed,
        eval_batch_size=eval_batch_size,
        skipped=skipped,
    )


def rank_explanations(
    adapter: ModelAdapter,
    explanations: Sequence[Explanation],
    *,
    target: TargetSpec = "predicted",
    strategy: Strategy = "delete",
    level: Level = "word",
    seed: int = 0,
    eval_batch_size: int = 64,
    skipped: Mapping[str, str] | None = None,
) -> FaithfulnessTable:
    """Evaluate explanations already made (every method, plus a seeded random floor, in one batched run)
    and rank their methods with a verdict."""
    if not explanations:
        raise InputError("no method could explain these texts; pass --method explicitly to see why")
    explanations = [*explanations, *random_explanations(explanations, seed)]
    evaluation = evaluate(adapter, explanations, strategy=strategy, level=level, batch_size=eval_batch_size)
    rows = summarise(evaluation.results)
    return FaithfulnessTable(
        model=adapter.name,
        target=target if isinstance(target, str) else ",".join(map(str, target)),
        strategy=strategy,
        level=level,
        rows=rows,
        verdict=verdict(rows, evaluation.results, adapter.name),
        evaluation=evaluation,
        skipped=dict(skipped or {}),
    )


def _margin(r: EvaluationResult) -> float:
    return r.aopc_comprehensiveness - r.aopc_sufficiency


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None
