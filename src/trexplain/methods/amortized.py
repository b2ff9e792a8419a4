"""`amortized`: scores predicted by a fitted explainer (`trexplain amortize fit`) at about one forward pass.

The explainer folder is the method's one required parameter. Its network reads the frozen model's hidden
states and predicts every player's score for every class; with a KernelSHAP teacher the scores are normalised
so that base value + Σ scores = f(x) exactly. Each explanation says how far to trust it: the Mahalanobis
distance of the text's hidden states to the training texts', the threshold above which a text is flagged as
unlike them, and the explainer's held-out agreement with its teacher.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trexplain.diagnostics import TARGET, Diagnostics, Identity
from trexplain.errors import MethodError
from trexplain.methods.amortization.explainer import load_explainer
from trexplain.methods.base import Attribution, Method, Targets, register
from trexplain.methods.coalitions import spread
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch


@register
@dataclass
class Amortized(Method):
    """A fitted amortized explainer (`explainer`: its folder) imitating a teacher such as KernelSHAP."""

    name = "amortized"
    summary = "a fitted explainer predicts a teacher's scores (e.g. KernelSHAP) at one forward pass"
    cost = "fitted"
    explainer: str | None = None

    def attribute(self, adapter: ModelAdapter, batch: Batch, targets: Targets) -> Attribution:
        if self.explainer is None:
            raise MethodError(
                "amortized needs a fitted explainer: pass explainer=DIR (CLI: --param explainer=DIR); "
                "fit one with `trexplain amortize fit`"
            )
        fitted = load_explainer(self.explainer)
        fitted.check_model(adapter)
        found = fitted.predict(adapter, batch)
        chosen = targets(found.logits)
        scores = torch.zeros(len(batch), chosen.shape[1], batch.inputs.input_ids.shape[1], dtype=torch.float64)
        diagnostics = []
        threshold = fitted.ood.threshold
        for row, (values, feats) in enumerate(zip(found.scores, found.maps, strict=True)):
            picked = chosen[row].cpu()
            scores[row, :, : batch.lengths[row]] = spread(values[:, picked].T, feats.cpu())
            distance = float(found.distance[row])
            full, base = found.logits[row, picked].double(), found.base[row, picked].double()
            total = base + values[:, picked].sum(0)
            identity = Identity.between("efficiency", total.tolist(), full.tolist()) if fitted.is_efficient else None
            values_ = {
                "teacher": fitted.meta["teacher"],
                "ood_distance": distance,
                "ood_threshold": threshold,
                "in_distribution": distance <= threshold,
                "trust": trust_line(distance, threshold, fitted.meta.get("validation", {})),
                "base_value": base.tolist(),
                "full_value": full.tolist(),
                "base_plus_sum": total.tolist(),
                "raw_gap": found.gap[row, picked].tolist(),
            }
            axes = dict.fromkeys(("base_value", "full_value", "base_plus_sum", "raw_gap"), TARGET)
            diagnostics.append(Diagnostics(values_, axes, identity))
        return Attribution(scores.float(), found.logits, chosen.to(found.logits.device), diagnostics=diagnostics)


def trust_line(distance: float, threshold: float, validation: dict) -> str:
    """One line on how far to trust a prediction: in or out of the training distribution, and the held-out
    agreement with the teacher measured when the explainer was fitted."""
    agreement = validation.get("spearman")
    measured = f"; held-out Spearman with the teacher {agreement:.2f}" if isinstance(agreement, float) else ""
    if distance <= threshold:
        return f"like the training texts (distance {distance:.3g} ≤ {threshold:.3g}){measured}"
    return (
        f"UNLIKE the training texts (distance {distance:.3g} > {threshold:.3g}): the scores are extrapolated; "
        "check with the teacher method"
    )
