"""First-order (HotFlip) estimates that order a word's candidate replacements, likely flips first.

One forward + backward of the current text gives g_t = ∂ (±log p_class)/∂ e_t at every token's input
embedding e_t (the token-embedding table's output; log p from the head, `models.heads.log_outputs`).
Replacing the tokens P of a word by a candidate of pieces C moves the objective by about
ḡ · Σ_{i∈C} e_i − Σ_{t∈P} g_t · e_t, with ḡ the mean of g over P (HotFlip's g · (e_c − e_w) for one token
each); deleting it, by about −Σ_{t∈P} g_t · e_t.
The estimate only reorders candidates: every candidate is still scored by the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from trexplain.models.adapter import ModelAdapter
from trexplain.models.heads import log_outputs, problem_for
from trexplain.probe.edits import embedding_table, token_embedding_module


@dataclass(frozen=True)
class Gradient:
    """One text's token character `offsets`, `special` flags, token embeddings [T, H] and the gradient of
    the objective (raise it) with respect to them [T, H]."""

    offsets: tuple[tuple[int, int], ...]
    special: tuple[bool, ...]
    embeddings: Tensor
    grads: Tensor


def gradient(adapter: ModelAdapter, text: str, cls: int, sign: float) -> Gradient:
    """∂ (sign · log p(cls))/∂ token embeddings of `text`: one forward and one backward of the model."""
    batch = adapter.encode([text])
    leaf: list[Tensor] = []

    def hook(_module: torch.nn.Module, _inputs: object, output: Tensor) -> Tensor:
        x = output.detach().requires_grad_(True)
        leaf.append(x)
        return x

    with adapter.session():  # the hook is the model's while it is registered: hold the lock throughout
        handle = token_embedding_module(adapter).register_forward_hook(hook)
        try:
            with torch.enable_grad():
                logits = adapter.forward(batch.inputs).logits
                objective = sign * log_outputs(logits.float(), problem_for(adapter))[0, cls]
                (grads,) = torch.autograd.grad(objective, leaf[0])
        finally:
            handle.remove()
    layout = batch.layouts[0]
    return Gradient(
        tuple(layout.offsets),
        tuple(bool(s) for s in layout.special),
        leaf[0][0].detach().float().cpu(),
        grads[0].float().cpu(),
    )


def estimates(adapter: ModelAdapter, grad: Gradient, start: int, end: int, candidates: Sequence[str]) -> list[float]:
    """The first-order change of the objective when the word at characters [start, end) of the gradient's
    text becomes each candidate ("" deletes it); 0 for all when no token covers the word."""
    positions = [t for t, (s, e) in enumerate(grad.offsets) if not grad.special[t] and s < end and start < e and s < e]
    if not positions:
        return [0.0] * len(candidates)
    g = grad.grads[positions]
    mean = g.mean(0)
    current = float((g * grad.embeddings[positions]).sum())
    weights = embedding_table(adapter).weights
    out = []
    for candidate in candidates:
        ids = adapter.tokenize(candidate, add_special_tokens=False)["input_ids"] if candidate else []
        if not ids:
            out.append(-current)
            continue
        out.append(float(mean @ weights[ids].float().sum(0)) - current)
    return out


def by_estimate(adapter: ModelAdapter, grad: Gradient, start: int, end: int, candidates: list[str]) -> list[str]:
    """The candidates, highest estimated gain first (ties keep the sources' order)."""
    gains = estimates(adapter, grad, start, end, candidates)
    order = sorted(range(len(candidates)), key=lambda i: (-gains[i], i))
    return [candidates[i] for i in order]
