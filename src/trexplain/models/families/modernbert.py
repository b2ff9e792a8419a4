"""ModernBERT: a gated feed-forward `Wo(act(x₁) · x₂)` (`hold` holds the gate x₂ constant, so the product is
linear in act(x₁) and conservative; `uniform`, AttnLRP's rule for a product, halves the gradient into both factors),
and an eager softmax computed in float32."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from trexplain.models.families.base import Family, LrpAdaptation, PatchedForward
from trexplain.models.families.gradients import halve_gradient, no_dropout


def modernbert_mlp(module: nn.Module, mode: str, hidden_states: Tensor) -> Tensor:
    """`ModernBertMLP.forward` (transformers 5) with the gate rule on `act(input) · gate`."""
    no_dropout(module, module.drop)
    value, gate = module.Wi(hidden_states).chunk(2, dim=-1)
    activated = module.act(value)
    if mode == "hold":
        gate = gate.detach()
    product = activated * gate
    if mode == "uniform":
        product = halve_gradient(product)
    return module.Wo(module.drop(product))


MODERNBERT = Family(
    "modernbert",
    ("modernbert",),
    "model.embeddings",
    "model.layers",
    "attn",
    False,
    False,
    "mlp",
    lrp=LrpAdaptation(gate=PatchedForward("ModernBertMLP", modernbert_mlp, path="mlp"), softmax_dtype=torch.float32),
    head="classifier",
)
FAMILIES = (MODERNBERT,)
