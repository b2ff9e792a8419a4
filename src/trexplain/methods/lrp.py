"""CP-LRP and AttnLRP: input × gradient under LRP rules, one forward and one backward for all targets.

Relevance is read at the embedding-module output (see `ModelAdapter`) and at the input of every block
(`layer_scores`) from the same backward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from trexplain.diagnostics import TARGET, Diagnostics, Identity
from trexplain.errors import MethodError
from trexplain.methods.autograd import target_gradients
from trexplain.methods.base import Attribution, Method, Targets, register
from trexplain.methods.lrp_attention import AttentionRule
from trexplain.methods.lrp_families import GateRule
from trexplain.methods.lrp_rules import IdentityRule, LayerNormRule, LinearRule, RMSNormRule, Rule, lrp_rules
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch
from trexplain.models.capture import every_block


def lrp_attribution(
    adapter: ModelAdapter,
    batch: Batch,
    targets: Targets,
    rules: Sequence[Rule],
    gradients: Callable[[Tensor, Tensor, Sequence[Tensor]], list[Tensor]] = target_gradients,
) -> Attribution:
    """Relevance = embedding output ⊙ gradient under `rules`, per target, plus the same at every block input.

    `gradients` computes the per-target gradients (default: one batched backward for all targets).
    """
    embeddings = adapter.embed(batch.inputs).requires_grad_(True)
    sites = every_block("block_input", len(adapter.layers))
    with adapter.session(), lrp_rules(adapter, rules):  # the rules patch the model: hold its lock throughout
        out = adapter.forward(batch.inputs, embeddings=embeddings, capture=sites)
    logits, hidden = out.logits, [out.captured[site] for site in sites]
    chosen = targets(logits.detach())
    grads = gradients(logits, chosen, [embeddings, *hidden])
    scores = torch.einsum("btd,bktd->bkt", embeddings.detach(), grads[0])
    layer_scores = None
    if hidden:
        per_layer = [torch.einsum("btd,bktd->bkt", h.detach(), g) for h, g in zip(hidden, grads[1:], strict=True)]
        layer_scores = torch.stack(per_layer, dim=1)
    logits = logits.detach()
    return Attribution(scores.detach(), logits, chosen, layer_scores, _diagnostics(scores, logits, chosen))


MEANINGS = {
    "logit": "the target logit LRP distributes",
    "relevance_sum": "sum of the token relevances",
    "conservation": "relevance sum ÷ logit (1 = everything conserved; biases take the rest)",
}
"""What the diagnostics of both LRP methods mean."""


def _diagnostics(scores: Tensor, logits: Tensor, targets: Tensor) -> list[Diagnostics]:
    """Per text and target: the logit, the relevance sum and their ratio (1 = conserved); the conservation
    identity compares the sum with the logit."""
    target_logits = logits.gather(1, targets)
    totals = scores.sum(-1)
    ratio = totals / torch.where(target_logits == 0, torch.full_like(target_logits, float("nan")), target_logits)
    out = []
    for row in range(scores.shape[0]):
        values = {"logit": target_logits[row], "relevance_sum": totals[row], "conservation": ratio[row]}
        identity = Identity.between("conservation", totals[row].tolist(), target_logits[row].tolist())
        out.append(Diagnostics(values, dict.fromkeys(values, TARGET), identity))
    return out


def cp_lrp_rules(detach_mean: bool = False, gamma: float = 0.0) -> list[Rule]:
    """CP-LRP (Ali et al. 2022): AH rule, LN rule (σ only), identity rule on activations; LRP-0 on linear
    layers (the paper's setting) or the γ-rule; gated feed-forwards' gates held constant, like attention."""
    return [
        AttentionRule("hold"),
        GateRule("hold"),
        LayerNormRule(detach_mean),
        RMSNormRule(),
        IdentityRule(),
        LinearRule(gamma=gamma),
    ]


def attnlrp_rules(epsilon: float = 0.0, gamma: float = 0.0) -> list[Rule]:
    """AttnLRP (Achtibat et al. 2024): uniform rule on both attention matmuls, softmax gradient kept, LN and
    identity rules as in CP-LRP, ε/γ-rule on linear layers (0, 0: plain gradient × input, as LXT's efficient
    mode); uniform rule on gated feed-forwards' products."""
    return [
        AttentionRule("uniform"),
        GateRule("uniform"),
        LayerNormRule(),
        RMSNormRule(),
        IdentityRule(),
        LinearRule(epsilon, gamma),
    ]


@register
@dataclass
class CPLRP(Method):
    """Conservative propagation (Ali et al., ICML 2022): attention probabilities and LayerNorm σ held constant.

    With zero biases the relevances sum exactly to the target logit; biases absorb the rest (see diagnostics).
    """

    gamma: float = 0.0
    """γ of the γ-rule on linear layers (ρ(w) = w + γ·w⁺); 0 = LRP-0 as in the paper, still conservative."""

    name = "cp-lrp"
    layer_site = "block input"
    identity = "conservation"
    meanings = MEANINGS
    summary = "conservative LRP: attention and LayerNorm σ held constant (signed, 1 fwd + 1 bwd)"

    def __post_init__(self) -> None:
        if not self.gamma >= 0:
            raise MethodError(f"cp-lrp: gamma must be ≥ 0, got {self.gamma}")

    def attribute(self, adapter: ModelAdapter, batch: Batch, targets: Targets) -> Attribution:
        return lrp_attribution(adapter, batch, targets, cp_lrp_rules(gamma=self.gamma))


@register
@dataclass
class AttnLRP(Method):
    """AttnLRP (Achtibat et al., ICML 2024): uniform rule on the attention matmuls, softmax gradient kept.

    Not exactly conservative by design (the softmax rule absorbs relevance); the ratio is in the diagnostics.
    """

    epsilon: float = 0.0
    """ε of the ε-rule on linear layers; 0 = LRP-0 (plain gradient through them), larger values damp weak paths."""
    gamma: float = 0.0
    """γ of the γ-rule on linear layers (ρ(w) = w + γ·w⁺), favouring positive contributions; 0 = off."""

    name = "attnlrp"
    layer_site = "block input"
    identity = "conservation"
    meanings = MEANINGS
    summary = "AttnLRP: halved gradients through attention matmuls, LN/identity rules (signed, 1 fwd + 1 bwd)"

    def __post_init__(self) -> None:
        if not (self.epsilon >= 0 and self.gamma >= 0):
            raise MethodError(f"attnlrp: epsilon and gamma must be ≥ 0, got {self.epsilon} and {self.gamma}")

    def attribute(self, adapter: ModelAdapter, batch: Batch, targets: Targets) -> Attribution:
        return lrp_attribution(adapter, batch, targets, attnlrp_rules(self.epsilon, self.gamma))
