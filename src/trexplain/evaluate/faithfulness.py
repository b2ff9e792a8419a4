"""`evaluate`: curves and AOPC for many explanations, every perturbed input in one batched run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from trexplain.errors import InputError
from trexplain.evaluate import aopc
from trexplain.evaluate.curves import CURVES, FRACTIONS, Curve, curve_removals, delta_af
from trexplain.evaluate.removal import Request, ranks, target_probabilities
from trexplain.explanation import Explanation
from trexplain.layout import group_scores
from trexplain.models.adapter import ModelAdapter
from trexplain.perturb import STRATEGIES, Level, Strategy, features


@dataclass(frozen=True)
class EvaluationResult:
    """Faithfulness of one explanation for one target class. `completeness_error` is the error of the
    method's identity check of kind `identity` (None: it has none); `predicted` is the model's class for the text."""

    text: str
    method: str
    target: str
    strategy: str
    level: str
    probability: float
    curves: dict[str, Curve]
    aopc_comprehensiveness: float
    aopc_sufficiency: float
    completeness_error: float | None = None
    seconds: float | None = None
    identity: str | None = None
    predicted: str | None = None

    @property
    def delta_af(self) -> float:
        return delta_af(self.curves)

    def to_dict(self) -> dict[str, Any]:
        """Stable JSON form (keys documented in the README)."""
        return {
            "text": self.text,
            "method": self.method,
            "target": self.target,
            "strategy": self.strategy,
            "level": self.level,
            "probability": self.probability,
            "curves": {name: curve.to_dict() for name, curve in self.curves.items()},
            "aopc_comprehensiveness": self.aopc_comprehensiveness,
            "aopc_sufficiency": self.aopc_sufficiency,
            "delta_af": self.delta_af,
            "completeness_error": self.completeness_error,
            "identity": self.identity,
            "predicted": self.predicted,
            "seconds": self.seconds,
        }


@dataclass
class Evaluation:
    """Results in input order (explanation by explanation, target by target) and the model rows they cost.

    `requested`: curve and bin points asked for; `needed`: distinct removal sets per explanation, summed
    (the minimum if each explanation ran alone); `forward_rows`: rows actually run (shared across methods).
    """

    results: list[EvaluationResult]
    requested: int = 0
    needed: int = 0
    forward_rows: int = 0
    explanations: int = 0


def evaluate(
    adapter: ModelAdapter,
    explanations: Sequence[Explanation],
    *,
    strategy: Strategy = "delete",
    level: Level = "word",
    fractions: Sequence[float] = FRACTIONS,
    bins: Sequence[float] = aopc.BINS,
    batch_size: int = 64,
) -> Evaluation:
    """MoRF/LeRF/insertion curves and AOPC for every target of every explanation.

    Features (words by default, all subwords together; or tokens) are ranked by the explanation's summed
    token scores for that target; special tokens are never removed.
    """
    if strategy not in STRATEGIES:
        raise InputError(f"unknown removal strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    if not explanations:
        raise InputError("nothing to evaluate: give at least one explanation")
    windowed = next((e for e in explanations if e.diagnostics.get("windows", 1) > 1), None)
    if windowed is not None:
        raise InputError(
            f"the explanation by {windowed.method} of {windowed.text[:40]!r} spans {windowed.diagnostics['windows']} "
            "windows; removal curves need one model input per text: evaluate texts that fit the model"
        )
    texts = list(dict.fromkeys(_source(e) for e in explanations))
    truncate = any(e.diagnostics.get("truncated_tokens") for e in explanations)
    batch = adapter.encode(texts, truncate=truncate)
    row_of = {text: row for row, text in enumerate(texts)}
    feature_sets = [features(batch, row, level).to(batch.inputs.input_ids.device) for row in range(len(texts))]
    requests, layouts = [], []
    for e in explanations:
        row = row_of[_source(e)]
        if tuple(batch.tokens[row]) != e.tokens:
            raise InputError(
                f"the explanation by {e.method} of {e.text[:40]!r} has other tokens than {adapter.name} gives; "
                "evaluate it with the model that made it (or load it with trexplain.evaluate.load_scores)"
            )
        feats = feature_sets[row].double()
        ids = torch.where(feats.bool().any(0), feats.argmax(0), -1).tolist()  # the feature of every token
        for k, target in enumerate(e.targets):
            feature_scores = group_scores(e.scores[k], ids, feats.shape[0])
            rank = ranks(torch.from_numpy(feature_scores).to(feats.device))
            sets = {"full": torch.zeros(1, len(rank), dtype=torch.bool, device=feats.device)}
            sets.update(curve_removals(rank, fractions))
            sets.update(aopc.aopc_removals(rank, bins))
            layout, start = {}, 0
            for name, removed in sets.items():
                layout[name] = slice(start, start + removed.shape[0])
                start += removed.shape[0]
            token_masks = (torch.cat(list(sets.values())).double() @ feats) > 0
            requests.append(Request(row, target, token_masks))
            layouts.append((e, k, layout))
    probs = target_probabilities(adapter, batch, requests, strategy, batch_size)
    results = [
        evaluation_result(e, k, layout, values, strategy, level, fractions)
        for (e, k, layout), values in zip(layouts, probs.values, strict=True)
    ]
    return Evaluation(results, probs.requested, probs.distinct, probs.forward_rows, len(explanations))


def _source(e: Explanation) -> str | tuple[str, ...]:
    """What to encode again for `e`: its text, or the two texts of a sentence pair."""
    return getattr(e.layout, "source", None) or e.text


def evaluation_result(
    e: Explanation,
    k: int,
    layout: dict[str, slice],
    values: torch.Tensor,
    strategy: str,
    level: str,
    fractions: Sequence[float],
    text: str | None = None,
) -> EvaluationResult:
    """Target row k's result from the probabilities `values` of its removal sets (`layout` names their rows):
    the curves, both AOPCs and the identity error; `text` names the input (default: the explanation's text)."""
    values = values.cpu()
    p_full = float(values[layout["full"]][0])
    curves = {
        name: Curve(tuple(float(f) for f in fractions), tuple(float(v) for v in values[layout[name]]))
        for name in CURVES
    }
    return EvaluationResult(
        text=e.text if text is None else text,
        method=e.method,
        target=e.labels[e.targets[k]],
        strategy=strategy,
        level=level,
        probability=p_full,
        curves=curves,
        aopc_comprehensiveness=aopc.comprehensiveness(p_full, values[layout["comprehensiveness"]]),
        aopc_sufficiency=aopc.sufficiency(p_full, values[layout["sufficiency"]]),
        completeness_error=completeness_error(e, k),
        seconds=e.diagnostics.get("seconds"),
        identity=None if e.diagnostics.identity is None else e.diagnostics.identity.kind,
        predicted=e.predicted_label,
    )


def completeness_error(e: Explanation, k: int = 0) -> float | None:
    """The error of the explanation's identity check for target row k (IG's completeness, LRP's conservation,
    KernelSHAP's efficiency; see `trexplain.diagnostics`), or None where the method has none."""
    identity = e.diagnostics.identity
    return None if identity is None else identity.error_for(k)
