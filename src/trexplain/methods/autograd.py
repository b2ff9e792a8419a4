"""Gradients of selected logits for several target columns from one graph, shared by gradient methods."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def target_gradients(logits: Tensor, targets: Tensor, inputs: Sequence[Tensor]) -> list[Tensor]:
    """∂ logits[b, targets[b, k]] / ∂ input for each input: tensors of shape [batch, K, *input.shape[1:]].

    Rows are independent (no batch-mixing layers), so one seed per target column serves the whole batch.
    Several columns go through one vectorised backward (`is_grads_batched`), about 1.5× one backward on
    CPU instead of K×.
    """
    k_total = targets.shape[1]
    seeds = torch.zeros(k_total, *logits.shape, dtype=logits.dtype, device=logits.device)
    seeds.scatter_(2, targets.T.unsqueeze(2), 1.0)
    if k_total == 1:
        parts = torch.autograd.grad(logits, list(inputs), grad_outputs=seeds[0], allow_unused=True)
        parts = [None if p is None else p.unsqueeze(0) for p in parts]
    else:
        parts = torch.autograd.grad(logits, list(inputs), grad_outputs=seeds, is_grads_batched=True, allow_unused=True)
    return [
        (torch.zeros(k_total, *t.shape, dtype=t.dtype, device=t.device) if p is None else p).transpose(0, 1)
        for p, t in zip(parts, inputs, strict=True)
    ]
