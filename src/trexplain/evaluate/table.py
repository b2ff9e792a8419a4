"""The per-method faithfulness table: means over texts, a seeded random-scores floor, a ranking and a verdict.

Methods are ranked by AOPC comprehensiveness − sufficiency (both in probability units, or for a contrast
target "A vs B" in logit differences: how much the top features matter when removed, minus how much is lost
when only they are kept), ties by ΔA^F. Each row carries the standard error of that margin over its texts ×
targets. Rows are grouped by whether the explained class was the model's prediction ("predicted", with a
contrast) or not ("other"); the verdict is about the predicted class, needs at least `MIN_TEXTS` texts, and
names every method within one paired standard error of the best as tied with it. A method "beats random" when
its per-text margin over the random scores is positive by more than one standard error (paired by text and
target).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from trexplain.api import explain_methods
from trexplain.diagnostics import identity_phrase
from trexplain.errors import InputError
from trexplain.evaluate.faithfulness import Evaluation, EvaluationResult, evaluate
from trexplain.explanation import Explanation
from trexplain.methods.base import TargetSpec, available_methods
from trexplain.models.contrast import LOGIT_DIFFERENCE
from trexplain.models.protocol import Adapter
from trexplain.perturb import Level

RANDOM = "random"
MIN_TEXTS = 5  # fewest texts (of the predicted class) for a verdict; below it the table shows numbers only
PREDICTED, OTHER = "predicted", "other"
# Most texts a method of each cost class is run on by default (see `Method.cost`); "fitted" methods (amortized)
# need a fitted explainer named by the user, so they are never run by default.
MAX_TEXTS: Mapping[str, float] = {"single-pass": math.inf, "multi-pass": 200, "sampling": 20, "fitted": 0}


def text_limit(method: type) -> float:
    """Most texts a default evaluation runs `method` on, from its `cost` hint (unknown hints: as multi-pass)."""
    return MAX_TEXTS.get(getattr(method, "cost", "single-pass"), MAX_TEXTS["multi-pass"])


def default_methods(n_texts: int) -> list[str]:
    """Registered methods cheap enough for `n_texts` texts, judged by each method's `cost` hint."""
    return [name for name, cls in available_methods().items() if n_texts <= text_limit(cls)]


def random_explanations(
    explanations: Sequence[Explanation], seed: int = 0, key: Callable[[Explanation], str] = lambda e: e.text
) -> list[Explanation]:
    """One explanation per distinct input (by `key`: the text, or the modality's `name` of it) with
    standard-normal scores at every position (seeded; special tokens 0)."""
    firsts: dict[str, Explanation] = {}
    for e in explanations:
        firsts.setdefault(key(e), e)
    out = []
    for i, e in enumerate(firsts.values()):
        rng = np.random.default_rng([seed, i])
        scores = rng.standard_normal(e.scores.shape) * ~np.array(e.special)
        out.append(replace(e, scores=scores, method=RANDOM, params={"seed": seed}, diagnostics={}, layer_scores=None))
    return out


def classes_of(result: EvaluationResult) -> str:
    """The result's class group: "predicted" for the model's predicted class (or when that is unknown) and for a
    contrast "A vs B" (the one output asked about), else "other"."""
    asked = result.predicted is None or result.target == result.predicted or result.scale == LOGIT_DIFFERENCE
    return PREDICTED if asked else OTHER


def summarise(results: Sequence[EvaluationResult]) -> list[dict[str, Any]]:
    """One row per method and class group (predicted class first, then the other classes), best first
    within each group; `rank`, `n`, `se` and `tied_with_best` are within the group."""
    rows: list[dict[str, Any]] = []
    for classes in (PREDICTED, OTHER):
        group = [r for r in results if classes_of(r) == classes]
        if group:
            rows += _ranked(group, classes)
    return rows


def _ranked(results: Sequence[EvaluationResult], classes: str) -> list[dict[str, Any]]:
    """The rows of one class group, best first, each flagged when within one paired SE of the best."""
    groups: dict[str, list[EvaluationResult]] = {}
    for r in results:
        groups.setdefault(r.method, []).append(r)
    rows = [_row(method, group, classes) for method, group in groups.items()]
    rows.sort(key=lambda row: (-row["margin"], -row["delta_af"]))
    best = _best(rows, results)
    for row in rows:
        row["tied_with_best"] = None if best is None else tied(groups[best], groups[row["method"]])
    return [{"rank": i + 1, **row} for i, row in enumerate(rows)]


def _row(method: str, group: Sequence[EvaluationResult], classes: str) -> dict[str, Any]:
    margins = [_margin(r) for r in group]
    kinds = Counter(r.identity for r in group if r.identity is not None)
    return {
        "method": method,
        "classes": classes,
        "comprehensiveness": _mean([r.aopc_comprehensiveness for r in group]),
        "sufficiency": _mean([r.aopc_sufficiency for r in group]),
        "margin": _mean(margins),
        "se": standard_error(margins),
        "delta_af": _mean([r.delta_af for r in group]),
        "completeness_error": _mean([r.completeness_error for r in group]),
        "identity": kinds.most_common(1)[0][0] if kinds else None,
        "seconds": _mean([r.seconds for r in group]),
        "n": len(group),
    }


def _best(rows: Sequence[Mapping[str, Any]], results: Sequence[EvaluationResult]) -> str | None:
    """The method the verdict would trust: the best-ranked one that beats random, else the best-ranked one."""
    methods = [row["method"] for row in rows if row["method"] != RANDOM]
    return next((m for m in methods if beats_random(results, m)), methods[0] if methods else None)


def standard_error(values: Sequence[float]) -> float | None:
    """Standard error of the mean (sample standard deviation ÷ √n); None for fewer than two values."""
    if len(values) < 2:
        return None
    return float(np.std(values, ddof=1) / math.sqrt(len(values)))


def paired_differences(a: Sequence[EvaluationResult], b: Sequence[EvaluationResult]) -> np.ndarray:
    """Margin of `a` minus margin of `b` on every (text, target) both explain (repeated texts in order)."""
    left, right = _keyed(a), _keyed(b)
    return np.array([left[key] - right[key] for key in left if key in right])


def tied(best: Sequence[EvaluationResult], other: Sequence[EvaluationResult]) -> bool | None:
    """Whether `other`'s margin is within one paired standard error of `best`'s (True for `best` itself);
    None with fewer than two paired results."""
    if best is other:
        return True
    diffs = paired_differences(best, other)
    se = standard_error(diffs)
    return None if se is None else bool(abs(diffs.mean()) <= se)


def beats_random(results: Sequence[EvaluationResult], method: str) -> bool:
    """Whether `method`'s comprehensiveness − sufficiency exceeds the random floor's by more than one SE."""
    floor = {(r.text, r.target): _margin(r) for r in results if r.method == RANDOM}
    diffs = np.array(
        [_margin(r) - floor[(r.text, r.target)] for r in results if r.method == method and (r.text, r.target) in floor]
    )
    if len(diffs) == 0:
        return False
    return bool(diffs.mean() > (standard_error(diffs) or 0.0))


def verdict(
    rows: Sequence[Mapping[str, Any]], results: Sequence[EvaluationResult], model: str, unit: str = "texts"
) -> str:
    """One line: which method(s) to trust for this model's predicted class, and why; none below `MIN_TEXTS`."""
    classes = PREDICTED if any(row["classes"] == PREDICTED for row in rows) else OTHER
    own = [row for row in rows if row["classes"] == classes]
    scoped = [r for r in results if classes_of(r) == classes]
    floor = next((row for row in own if row["method"] == RANDOM), None)
    methods = [row for row in own if row["method"] != RANDOM]
    if not methods or floor is None:
        return "nothing to compare: evaluate at least one method next to the random floor"
    texts = len({r.text for r in scoped})
    if texts < MIN_TEXTS:
        return f"not enough {unit} to rank methods: {texts} given, need ≥ {MIN_TEXTS}"
    trusted = [row for row in methods if beats_random(scoped, row["method"])]
    weak = [row["method"] for row in methods if row not in trusted]
    if not trusted:
        return (
            f"trust none on {model}: no method beats random scores by more than one standard error (best "
            f"{methods[0]['method']}: comprehensiveness − sufficiency {_pm(methods[0])} vs {floor['margin']:.3f} "
            "for random)"
        )
    best, *rest = trusted
    named = [best, *(row for row in rest if row["tied_with_best"])]
    if len(named) == 1:
        line = (
            f"trust {best['method']} on {model}: highest comprehensiveness − sufficiency above the random floor "
            f"({_pm(best)} vs {floor['margin']:.3f}, n = {best['n']}), ΔA^F {best['delta_af']:+.3f}"
        )
    else:
        names = [row["method"] for row in named]
        margins = ", ".join(f"{row['method']} {_pm(row)}" for row in named)
        line = (
            f"trust {', '.join(names[:-1])} or {names[-1]} on {model} (tied within one standard error): "
            f"comprehensiveness − sufficiency {margins} vs {floor['margin']:.3f} for random (n = {best['n']})"
        )
    explained: set[str] = set()
    for row in named:
        if row["identity"] is not None and row["completeness_error"] is not None:
            phrase = identity_phrase(row["identity"], row["completeness_error"], row["identity"] not in explained)
            explained.add(row["identity"])
            line += f", {phrase}" if len(named) == 1 else f", {row['method']}: {phrase}"
    if classes == PREDICTED and len(own) < len(rows):
        line += "; for the predicted class (rows marked 'other' rank the other classes)"
    elif classes == OTHER:
        line += "; for classes the model did not predict (no explained class was its prediction)"
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


def left_out_for_cost(n_texts: int) -> dict[str, str]:
    """Registered methods a default evaluation of `n_texts` inputs leaves out for their cost, with the reason
    and how to run them anyway."""
    out = {}
    for name, cls in available_methods().items():
        limit = text_limit(cls)
        if n_texts > limit:
            out[name] = (
                f"left out: {cls.cost} methods run on at most {limit:g} texts by default and {n_texts} were given; "
                f"name it (--method {name}, or methods=[..., {name!r}]) to run it anyway"
            )
    return out


def faithfulness_table(
    adapter: Adapter,
    texts: Sequence[Any],
    methods: Sequence[str] | None = None,
    *,
    target: TargetSpec = "predicted",
    strategy: str | None = None,
    level: Level | None = None,
    seed: int = 0,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    external: Sequence[Explanation] = (),
    batch_size: int = 16,
    eval_batch_size: int = 64,
    truncate: bool = False,
) -> FaithfulnessTable:
    """Explain `texts` (or images) with each method (default: all cheap enough, leaving out those this model
    cannot run), evaluate all of them with the random floor in one batched run, and rank. `external`
    explanations (e.g. from `load_scores`) join the table."""
    items = adapter.modality.read(texts)
    adapter.modality.strategy(strategy)  # a removal strategy the model's inputs lack fails before any work
    explicit = methods is not None
    names = list(methods) if explicit else default_methods(len(items))
    too_costly = {} if explicit else left_out_for_cost(len(items))
    done, failed = explain_methods(
        items,
        adapter,
        names if items else [],
        explicit=explicit,
        target=target,
        params=params,
        batch_size=batch_size,
        truncate=truncate,
    )
    explanations = [done[name][i] for i in range(len(items)) for name in done]
    return rank_explanations(
        adapter,
        [*explanations, *external],
        target=target,
        strategy=strategy,
        level=level,
        seed=seed,
        eval_batch_size=eval_batch_size,
        skipped={**too_costly, **failed},
    )


def rank_explanations(
    adapter: Adapter,
    explanations: Sequence[Explanation],
    *,
    target: TargetSpec = "predicted",
    strategy: str | None = None,
    level: Level | None = None,
    seed: int = 0,
    eval_batch_size: int = 64,
    skipped: Mapping[str, str] | None = None,
) -> FaithfulnessTable:
    """Evaluate explanations already made (every method, plus a seeded random floor, in one batched run)
    and rank their methods with a verdict; the rows add the mean areas the modality names
    (`Modality.table_areas`, e.g. Chefer's perturbation AUCs for images)."""
    modality = adapter.modality
    if not explanations:
        raise InputError(f"no method could explain these {modality.unit}; pass --method explicitly to see why")
    explanations = [*explanations, *random_explanations(explanations, seed, key=modality.name)]
    evaluation = evaluate(adapter, explanations, strategy=strategy, level=level, batch_size=eval_batch_size)
    rows = summarise(evaluation.results)
    for row in rows:
        group = [r for r in evaluation.results if r.method == row["method"] and classes_of(r) == row["classes"]]
        for column, curve in modality.table_areas.items():
            row[column] = float(np.mean([r.curves[curve].area for r in group]))
    first = evaluation.results[0]
    return FaithfulnessTable(
        model=adapter.name,
        target=target if isinstance(target, str) else ",".join(map(str, target)),
        strategy=first.strategy,
        level=first.level,
        rows=rows,
        verdict=verdict(rows, evaluation.results, adapter.name, unit=modality.unit),
        evaluation=evaluation,
        skipped=dict(skipped or {}),
    )


def _margin(r: EvaluationResult) -> float:
    return r.aopc_comprehensiveness - r.aopc_sufficiency


def _keyed(results: Sequence[EvaluationResult]) -> dict[tuple[str, str, int], float]:
    """Margins by (text, target, occurrence), so a text given twice pairs with itself in order."""
    seen: Counter[tuple[str, str]] = Counter()
    out = {}
    for r in results:
        out[(r.text, r.target, seen[(r.text, r.target)])] = _margin(r)
        seen[(r.text, r.target)] += 1
    return out


def _pm(row: Mapping[str, Any]) -> str:
    """The row's margin with its standard error, e.g. "0.219 ± 0.012"."""
    return f"{row['margin']:.3f}" if row["se"] is None else f"{row['margin']:.3f} ± {row['se']:.3f}"


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None
