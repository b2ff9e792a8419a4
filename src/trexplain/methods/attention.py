"""Attention-based scores: raw last-layer attention, rollout (Abnar & Zuidema) and gradient-weighted
rollout (Chefer et al., ICCV 2021). They read the softmax probabilities the eager attention returns.

All three score token j by what the token the head reads takes from it: the classification token (position 0) of an
encoder, the last real token of a decoder (`ModelAdapter.pooled_positions`). Padding never changes a text's scores:
masked keys get probability exactly 0, so no path from the pooled token reaches a pad.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from trexplain.methods.base import Attribution, Method, Targets, register
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch


def rollout_steps(head_means: Sequence[Tensor]) -> Tensor:
    """Rollout after each layer: [B, L, T, T] with entry l = Â_l ⋯ Â_1, Â = ½(A + I) (row-stochastic)."""
    eye = torch.eye(head_means[0].shape[-1], dtype=head_means[0].dtype, device=head_means[0].device)
    joint = eye.expand_as(head_means[0])
    steps = []
    for mean in head_means:
        joint = (0.5 * (mean + eye)) @ joint
        steps.append(joint)
    return torch.stack(steps, dim=1)


def relevance_map(attention: Tensor, gradient: Tensor) -> Tensor:
    """Ā = E_h(∇A ⊙ A)^+ of one layer: [B, H, T, T] attention and its gradient → [B, T, T]."""
    return (gradient * attention).clamp(min=0).mean(dim=1)


def query_rows(matrices: Tensor, positions: Tensor) -> Tensor:
    """Row `positions[b]` of each text b's [T, T] matrices: [B, ..., T, T] → [B, ..., T]."""
    rows = torch.arange(matrices.shape[0], device=matrices.device)
    return matrices.movedim(-2, 1)[rows, positions.to(matrices.device)]


def gradient_rollout(maps: Sequence[Tensor], positions: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Chefer ICCV 2021 rule R ← R + Ā R from R₀ = I, with `maps[l]` = Ā of layer l as [B, K, T, T].

    Returns the final R [B, K, T, T] and its row of the pooled token (`positions`, [B]; 0 when None) after each
    layer [B, K, L, T] (only rows are kept per layer, so memory stays one R). With all maps zero, R stays the
    identity.
    """
    tokens = maps[0].shape[-1]
    where = torch.zeros(maps[0].shape[0], dtype=torch.long) if positions is None else positions
    relevance = torch.eye(tokens, dtype=maps[0].dtype, device=maps[0].device).expand_as(maps[0])
    rows = []
    for weighted in maps:
        relevance = relevance + weighted @ relevance
        rows.append(query_rows(relevance, where))
    return relevance, torch.stack(rows, dim=2)


def _per_target(rows: Tensor, k: int) -> Tensor:
    """Class-agnostic [B, T] (or [B, L, T]) repeated for each of the K targets."""
    return rows.unsqueeze(-2).expand(*rows.shape[:-1], k, rows.shape[-1]).contiguous()


@register
@dataclass
class RawAttention(Method):
    """Last-layer attention of the pooled token (an encoder's classification token, a decoder's last real token),
    averaged over heads (class-agnostic baseline)."""

    name = "attention"
    layer_site = "block attention"
    summary = "last-layer attention of [CLS] averaged over heads (unsigned, class-agnostic, 1 forward)"
    signed = False

    def attribute(self, adapter: ModelAdapter, batch: Batch, targets: Targets) -> Attribution:
        logits, attentions = adapter.attention_probabilities(batch.inputs)
        chosen = targets(logits)
        pooled = adapter.pooled_positions(batch.inputs)
        rows = torch.stack([query_rows(a.mean(dim=1), pooled) for a in attentions], dim=1)  # [B, L, T]
        k = chosen.shape[1]
        return Attribution(_per_target(rows[:, -1], k), logits, chosen, layer_scores=_per_target(rows, k))


@register
@dataclass
class Rollout(Method):
    """Attention rollout: product of ½(E_h A + I) over layers, row of the pooled token.

    `layer_scores[:, l]` is the rollout up to layer l + 1; the final scores sum to 1 over the tokens.
    """

    name = "rollout"
    layer_site = "after block"
    summary = "attention rollout, Abnar & Zuidema 2020 (unsigned, class-agnostic, 1 forward)"
    signed = False

    def attribute(self, adapter: ModelAdapter, batch: Batch, targets: Targets) -> Attribution:
        logits, attentions = adapter.attention_probabilities(batch.inputs)
        chosen = targets(logits)
        steps = query_rows(rollout_steps([a.mean(dim=1) for a in attentions]), adapter.pooled_positions(batch.inputs))
        k = chosen.shape[1]
        return Attribution(_per_target(steps[:, -1], k), logits, chosen, layer_scores=_per_target(steps, k))


@register
@dataclass
class GradientRollout(Method):
    """Gradient-weighted rollout (Chefer et al., ICCV 2021): class-specific through ∂f_c/∂A.

    Scores are the pooled token's row of R (its own entry is kept: it is at least 1 and special tokens are left out
    of rankings anyway). `layer_scores[:, l]` is that row of R after layer l + 1.
    """

    name = "grad-rollout"
    layer_site = "after block"
    summary = "gradient-weighted attention rollout, Chefer et al. ICCV 2021 (unsigned, 1 fwd + 1 bwd per target)"
    signed = False

    def attribute(self, adapter: ModelAdapter, batch: Batch, targets: Targets) -> Attribution:
        logits, attentions = adapter.attention_probabilities(batch.inputs, grad=True)
        chosen = targets(logits.detach())
        # One backward per target, reducing each layer's gradient to Ā at once: keeping every target's
        # [B, H, T, T] gradients (as `target_gradients` would) costs K times the attention memory.
        maps: list[list[Tensor]] = [[] for _ in attentions]
        count = chosen.shape[1]
        for k in range(count):
            selected = logits.gather(1, chosen[:, k : k + 1]).sum()
            gradients = torch.autograd.grad(selected, attentions, retain_graph=k < count - 1)
            for per_layer, attention, gradient in zip(maps, attentions, gradients, strict=True):
                per_layer.append(relevance_map(attention.detach(), gradient))
        pooled = adapter.pooled_positions(batch.inputs)
        _, rows = gradient_rollout([torch.stack(m, dim=1) for m in maps], pooled)  # rows: [B, K, L, T]
        return Attribution(rows[:, :, -1], logits.detach(), chosen, layer_scores=rows.transpose(1, 2).contiguous())
