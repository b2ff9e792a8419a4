"""Gradients of selected logits, one backward per target column, shared by gradient-based methods."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def target_gradients(logits: Tensor, targets: Tensor, inputs: Sequence[Tensor]) -> list[Tensor]:
    """∂ logits[b, targets[b, k]] / ∂ input for each input: tensors of shape [batch, K, *input.shape[1:]].

    Rows are independent (no batch-mixing layers), so one backward per target column serves the whole batch.
    """
    k_total = targets.shape[1]
    grads: list[list[Tensor]] = [[] for _ in inputs]
    for k in range(k_total):
        selected = logits.gather(1, targets[:, k : k + 1]).sum()
        parts = torch.autograd.grad(selected, list(inputs), retain_graph=k < k_total - 1, allow_unused=True)
        for i, (part, tensor) in enumerate(zip(parts, inputs, strict=True)):
            grads[i].append(torch.zeros_like(tensor) if part is None else part)
    return [torch.stack(g, dim=1) for g in grads]
