"""`evaluate`: curves and AOPC for many explanations, every perturbed input in one batched run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from trexplain.errors import InputError
from trexplain.evaluate import aopc
from trexplain.evaluate.curves import CURVES, FRACTIONS, Curve, curve_removals, delta_af
from trexplain.evaluate.removal import feature_count, ranks, top_removed
from trexplain.explanation import Explanation
from trexplain.layout import group_scores
from trexplain.models.contrast import PROBABILITY, output_scale, output_values
from trexplain.models.modalities.base import Modality, check_kind
from trexplain.models.protocol import Adapter
from trexplain.perturb import Level, features


@dataclass(frozen=True)
class EvaluationResult:
    """Faithfulness of one explanation for one target class. `completeness_error` is the error of the
    method's identity check of kind `identity` (None: it has none); `predicted` is the model's class for the text.
    `scale` is what `probability` and the curves measure: the head's probability, or for a contrast target
    ("A vs B", `models.contrast`) the logit difference A − B."""

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
    scale: str = PROBABILITY

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
            "scale": self.scale,
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
    adapter: Adapter,
    explanations: Sequence[Explanation],
    *,
    strategy: str | None = None,
    level: Level | None = None,
    fractions: Sequence[float] = FRACTIONS,
    bins: Sequence[float] = aopc.BINS,
    batch_size: int = 64,
) -> Evaluation:
    """MoRF/LeRF/insertion curves (and the modality's own, e.g. Chefer's perturbation curves for images) and
    AOPC for every target of every explanation, whatever the modality.

    Features (the modality's groups by default: words, all subwords together, or image patches; or tokens) are
    ranked by the explanation's summed position scores for that target and removed by `strategy` (default:
    the modality's); special tokens are never removed. Each result names its input by `modality.name`. Curves
    follow the head's probability of the target, or for a contrast target ("A vs B") the logit difference A − B.
    """
    modality = adapter.modality
    strategy, level = modality.strategy(strategy), modality.level(level)
    if not explanations:
        raise InputError("nothing to evaluate: give at least one explanation")
    for e in explanations:
        check_kind(e, modality)
    batch, rows = modality.rebuild(adapter, explanations)
    feature_sets = [features(batch, row, level).to(batch.feature_ids.device) for row in range(len(batch))]
    removed: dict[int, list[torch.Tensor]] = {}
    plans, needed = [], 0
    for e, row in zip(explanations, rows, strict=True):
        feats = feature_sets[row].double()
        ids = torch.where(feats.bool().any(0), feats.argmax(0), -1).tolist()  # the feature of every position
        for k, target in enumerate(e.targets):
            feature_scores = group_scores(e.scores[k], ids, feats.shape[0])
            sets = removal_sets(ranks(torch.from_numpy(feature_scores).to(feats.device)), fractions, bins, modality)
            layout, start = {}, sum(len(r) for r in removed.get(row, []))
            for name, chosen in sets.items():
                layout[name] = slice(start, start + chosen.shape[0])
                start += chosen.shape[0]
            masks = (torch.cat(list(sets.values())).double() @ feats) > 0
            needed += int(torch.unique(masks.to(torch.uint8), dim=0).shape[0])
            removed.setdefault(row, []).append(masks)
            plans.append((e, k, target, row, layout))
    parts = [(row, torch.cat(sets)) for row, sets in removed.items()]
    pooled = modality.removal_logits(adapter, batch, parts, strategy, batch_size)
    logits = {row: out.double().cpu() for (row, _), out in zip(parts, pooled.logits, strict=True)}
    results = [
        evaluation_result(
            e,
            k,
            layout,
            output_values(logits[row], e.labels, target, adapter.problem),
            strategy,
            level,
            fractions,
            modality.name(e),
            modality.curves,
        )
        for e, k, target, row, layout in plans
    ]
    requested = sum(len(sets) for _, sets in parts)
    return Evaluation(results, requested, needed, pooled.rows_run, len(explanations))


def removal_sets(
    rank: torch.Tensor, fractions: Sequence[float], bins: Sequence[float], modality: Modality
) -> dict[str, torch.Tensor]:
    """Bool removal sets over the features, by name: the full input, the standard curves, the modality's own
    curves (most or least relevant first) and the AOPC bins."""
    sets = {"full": torch.zeros(1, len(rank), dtype=torch.bool, device=rank.device)}
    sets.update(curve_removals(rank, fractions))
    for name, (end, points) in modality.curves.items():
        counts = [feature_count(f, len(rank)) for f in points]
        sets[name] = top_removed(rank if end == "top" else len(rank) - 1 - rank, counts)
    sets.update(aopc.aopc_removals(rank, bins))
    return sets


def evaluation_result(
    e: Explanation,
    k: int,
    layout: dict[str, slice],
    values: torch.Tensor,
    strategy: str,
    level: str,
    fractions: Sequence[float],
    text: str | None = None,
    extra: Mapping[str, tuple[str, Sequence[float]]] | None = None,
) -> EvaluationResult:
    """Target row k's result from the values (`output_values`) of its removal sets (`layout` names their rows):
    the curves (the standard ones at `fractions`, and `extra` ones at their own), both AOPCs and the identity
    error; `text` names the input (default: the explanation's text)."""
    values = values.cpu()
    p_full = float(values[layout["full"]][0])
    points = {name: fractions for name in CURVES} | {name: at for name, (_, at) in (extra or {}).items()}
    curves = {
        name: Curve(tuple(float(f) for f in at), tuple(float(v) for v in values[layout[name]]))
        for name, at in points.items()
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
        scale=output_scale(e.labels, e.targets[k]),
    )


def completeness_error(e: Explanation, k: int = 0) -> float | None:
    """The error of the explanation's identity check for target row k (IG's completeness, LRP's conservation,
    KernelSHAP's efficiency; see `trexplain.diagnostics`), or None where the method has none."""
    identity = e.diagnostics.identity
    return None if identity is None else identity.error_for(k)
