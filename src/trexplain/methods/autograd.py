"""Gradients of selected logits for several target columns from one graph, shared by gradient methods."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def target_gradients(logits: Tensor, targets: Tensor, inputs: Sequence[Tensor], chunk: int = 8) -> list[Tensor]:
    """∂ logits[b, targets[b, k]] / ∂ input, [batch, K, *input.shape[1:]], one batched backward per `chunk` targets.

    Rows are independent (no batch-mixing layers), so one seed per target column serves the whole batch. The
    one-hot seeds go through a vectorised backward (`is_grads_batched`, vmap over the backward): the same
    gradients as separate backward passes with one pass's per-operation overhead; `chunk` bounds the memory.
    """
    k_total = targets.shape[1]
    seeds = torch.zeros(k_total, *logits.shape, dtype=logits.dtype, device=logits.device)
    seeds.scatter_(2, targets.T.unsqueeze(-1), 1.0)
    parts: list[list[Tensor]] = [[] for _ in inputs]
    for start in range(0, k_total, chunk):
        group = seeds[start : start + chunk]
        batched = len(group) > 1
        grads = torch.autograd.grad(
            logits,
            list(inputs),
            group if batched else group[0],
            retain_graph=start + chunk < k_total,
            is_grads_batched=batched,
            allow_unused=True,
        )
        for i, (grad, tensor) in enumerate(zip(grads, inputs, strict=True)):
            if grad is None:
                grad = torch.zeros(len(group), *tensor.shape, dtype=tensor.dtype, device=tensor.device)
            parts[i].append(grad if batched else grad.unsqueeze(0))
    return [torch.cat(p).transpose(0, 1) for p in parts]
