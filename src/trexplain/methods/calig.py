"""CA-LIG (reconstructed): layer IG at every block input fused with class-specific attention gradients.

Split from `integrated` because it adds its own stage after the path integral: attention gradients, fusion, rollout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import Tensor

from trexplain.errors import InputError, MethodError
from trexplain.methods.attention import query_rows
from trexplain.methods.autograd import target_gradients
from trexplain.methods.base import Attribution, Targets, register
from trexplain.methods.integrated import PathMethod, record_layers, require_layers, typed
from trexplain.methods.paths import Endpoints
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch

Fusion = Literal["additive", "multiplicative"]
Aggregation = Literal["rollout", "mean"]
Context = Literal["cls", "mean"]
FUSIONS: tuple[str, ...] = get_args(Fusion)
AGGREGATIONS: tuple[str, ...] = get_args(Aggregation)
CONTEXTS: tuple[str, ...] = get_args(Context)


@register
@dataclass
class ContextAwareLayerIG(PathMethod):
    """CA-LIG (reconstructed, docs/methods.md D): per-block layer IG fused with class-specific attention gradients.

    s^(l) = layer IG at block l's input (as `layer-ig`); a^(l)_t = E_h(∇A^(l) ⊙ A^(l))[query, t] with the
    [CLS] query (`context="cls"`) or the mean over real queries (`"mean"`), signed. Fusion: additive
    F = (1−λ)·s/‖s‖₁ + λ·a/‖a‖₁, or multiplicative F = s·(1 + λ·a/max|a|). Final scores:
    `aggregation="rollout"` R = (1/L) Σ_l F^(l) M^(l−1)⋯M^(0) with M = row-normalised (I + Ḡ),
    Ḡ = row-normalised E_h(∇A ⊙ A)^+ (each layer's total is kept); `"mean"` R = (1/L) Σ_l F^(l).
    The paper has no public code; this is our reconstruction from its abstract and summaries.
    """

    name = "ca-lig"
    layer_site = "block input"
    cost = "multi-pass"
    summary = "CA-LIG (reconstructed): layer IG fused with attention gradients, relevance rollout over layers"
    lam: float = 0.5
    fusion: Fusion = "additive"
    aggregation: Aggregation = "rollout"
    context: Context = "cls"

    needs_attentions = True

    def __post_init__(self) -> None:
        super().__post_init__()
        for value, allowed, what in (
            (self.fusion, FUSIONS, "fusion"),
            (self.aggregation, AGGREGATIONS, "aggregation"),
            (self.context, CONTEXTS, "context"),
        ):
            if value not in allowed:
                raise MethodError(f"unknown {what} {value!r}; use one of {', '.join(allowed)}")
        if not 0.0 <= self.lam <= 1.0:
            raise MethodError(f"lam (the fusion weight λ) must lie in [0, 1], got {self.lam}")

    def sites(self, adapter: ModelAdapter) -> list[int]:
        require_layers(adapter, self.name)
        return list(range(len(adapter.layers)))

    def attribute(self, adapter: ModelAdapter, batch: Batch, targets: Targets) -> Attribution:
        scores, ends, chosen, diagnostics = self.integrate(adapter, batch, targets)
        layer_ig = torch.stack([scores[s] for s in range(len(adapter.layers))], dim=1)
        record_layers(diagnostics, layer_ig, ends, chosen)
        graphs = attention_gradients(ends, chosen)
        pooled = adapter.pooled_positions(batch.inputs)
        context = context_scores(graphs, batch.inputs.attention_mask, self.context, pooled)
        fused = fuse(layer_ig, context, self.lam, self.fusion)
        final = rollout(fused, graphs) if self.aggregation == "rollout" else fused.mean(1)
        for entry in diagnostics:
            entry["reconstructed"] = True
        return Attribution(final.detach(), ends.logits.detach(), chosen, fused.detach(), typed(diagnostics, False))


def attention_gradients(ends: Endpoints, chosen: Tensor) -> Tensor:
    """E_h(∇A^(l) ⊙ A^(l)) per layer and target: [B, L, K, T, T] (signed; rows are queries)."""
    if ends.attentions is None:
        raise InputError("attention probabilities were not collected")
    count = len(chosen)
    grads = target_gradients(ends.logits, chosen, list(ends.attentions))
    maps = [(g[:count] * a[:count].detach().unsqueeze(1)).mean(2) for g, a in zip(grads, ends.attentions, strict=True)]
    return torch.stack(maps, 1)


def context_scores(graphs: Tensor, attention_mask: Tensor, context: str, pooled: Tensor | None = None) -> Tensor:
    """a^(l)_t [B, L, K, T]: the pooled query's row of each graph (`pooled` positions, [B]: the [CLS] token, a
    decoder's last real token; 0 when None), or the mean over real queries."""
    if context == "cls":
        return graphs[..., 0, :] if pooled is None else query_rows(graphs, pooled)
    mask = attention_mask.to(graphs.dtype)[:, None, None, :, None]
    return (graphs * mask).sum(-2) / mask.sum(-2)


def fuse(layer_ig: Tensor, context: Tensor, lam: float, fusion: str) -> Tensor:
    """Per-layer fused maps F^(l) [B, L, K, T] (see `ContextAwareLayerIG`)."""
    tiny = torch.finfo(layer_ig.dtype).tiny
    if fusion == "additive":
        s = layer_ig / layer_ig.abs().sum(-1, keepdim=True).clamp_min(tiny)
        a = context / context.abs().sum(-1, keepdim=True).clamp_min(tiny)
        return (1 - lam) * s + lam * a
    return layer_ig * (1 + lam * context / context.abs().amax(-1, keepdim=True).clamp_min(tiny))


def rollout(fused: Tensor, graphs: Tensor) -> Tensor:
    """(1/L) Σ_l F^(l) M^(l−1)⋯M^(0): each layer's relevance carried down to the input tokens."""
    positive = graphs.clamp_min(0)
    positive = positive / positive.sum(-1, keepdim=True).clamp_min(torch.finfo(graphs.dtype).tiny)
    eye = torch.eye(graphs.shape[-1], dtype=graphs.dtype, device=graphs.device)
    mixing = eye + positive
    mixing = mixing / mixing.sum(-1, keepdim=True)
    total = fused[:, -1]
    for layer in range(fused.shape[1] - 2, -1, -1):
        total = torch.einsum("bkt,bkts->bks", total, mixing[:, layer]) + fused[:, layer]
    return total / fused.shape[1]
