"""Saliency and gradient×input at the embedding-module output (see `ModelAdapter` for why there)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trexplain.methods.autograd import target_gradients
from trexplain.methods.base import Attribution, Method, Targets, register
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch


def _embedding_gradients(adapter: ModelAdapter, batch: Batch, targets: Targets):
    embeddings = adapter.embed(batch.inputs).requires_grad_(True)
    logits = adapter.forward(batch.inputs, embeddings=embeddings).logits
    chosen = targets(logits.detach())
    (grads,) = target_gradients(logits, chosen, [embeddings])
    return embeddings.detach(), grads, logits.detach(), chosen


@register
@dataclass
class Saliency(Method):
    """L2 norm of the target logit's gradient w.r.t. each token's embedding (unsigned)."""

    name = "saliency"
    summary = "gradient L2 norm per token (unsigned, 1 forward + 1 backward per target)"
    signed = False

    def attribute(self, adapter: ModelAdapter, batch: Batch, targets: Targets) -> Attribution:
        _, grads, logits, chosen = _embedding_gradients(adapter, batch, targets)
        return Attribution(grads.norm(dim=-1), logits, chosen)


@register
@dataclass
class GradientXInput(Method):
    """Σ_d e_td · ∂f_c/∂e_td: first-order Taylor share of each token (signed, not conservative)."""

    name = "gxi"
    summary = "gradient × input, summed over the hidden size (signed, 1 forward + 1 backward per target)"

    def attribute(self, adapter: ModelAdapter, batch: Batch, targets: Targets) -> Attribution:
        embeddings, grads, logits, chosen = _embedding_gradients(adapter, batch, targets)
        scores = torch.einsum("btd,bktd->bkt", embeddings, grads)
        return Attribution(scores, logits, chosen)
