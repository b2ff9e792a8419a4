"""Path baselines: the embedding output a path integral starts from (pad, mask, zero, a text, or a tensor).

Kept apart from the path engine so every path method builds its baseline the same way.
"""

from __future__ import annotations

import torch
from torch import Tensor

from trexplain.errors import MethodError
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch

BASELINES: tuple[str, ...] = ("pad", "mask", "zero")


def baseline_embeddings(adapter: ModelAdapter, batch: Batch, baseline: str | Tensor) -> Tensor:
    """Embedding output of the baseline: special tokens and padding kept, every other token replaced.

    `pad`/`mask` replace the token ids (positions and token types unchanged, so RoBERTa-family position
    embeddings never move); `zero` sets those tokens' embedding vectors to 0; any other string is a text
    whose tokens fill the replaceable positions in order (pad ids after it ends, cut where it is longer).
    A tensor is the baseline's embedding output itself, used as given except at padding.
    """
    inputs, movable = batch.inputs, batch.maskable
    if isinstance(baseline, Tensor):
        return _tensor_baseline(adapter, batch, baseline)
    if baseline == "zero":
        return adapter.embed(inputs) * (~movable).unsqueeze(-1)
    if baseline in ("pad", "mask"):
        replacement = adapter.pad_token_id if baseline == "pad" else adapter.mask_token_id
        if replacement is None:
            raise MethodError(f"the tokenizer of {adapter.name} has no mask token; use baseline='pad' or 'zero'")
        ids = torch.where(movable, torch.full_like(inputs.input_ids, int(replacement)), inputs.input_ids)
    else:
        tokens = adapter.tokenize(baseline, add_special_tokens=False)["input_ids"]
        if not tokens:
            raise MethodError(f"baseline text {baseline!r} has no tokens; use {', '.join(BASELINES)} or a real text")
        tokens = torch.tensor(tokens, device=inputs.input_ids.device)
        rank = movable.long().cumsum(1) - 1
        filled = torch.where(rank < len(tokens), tokens[rank.clamp(0, len(tokens) - 1)], adapter.pad_token_id)
        ids = torch.where(movable, filled, inputs.input_ids)
    return adapter.embed(inputs.with_ids(ids))


def _tensor_baseline(adapter: ModelAdapter, batch: Batch, baseline: Tensor) -> Tensor:
    """A user's embedding-output baseline, [T, d] (every text) or [B, T, d], checked against the batch."""
    real = adapter.embed(batch.inputs)
    if baseline.dim() == 2:
        baseline = baseline.unsqueeze(0).expand_as(real) if baseline.shape == real.shape[1:] else baseline
    if baseline.shape != real.shape:
        raise MethodError(
            f"baseline tensor of shape {tuple(baseline.shape)} does not fit these inputs: pass the embedding "
            f"output's shape {tuple(real.shape)} (or {tuple(real.shape[1:])} for every text), e.g. built from "
            "adapter.embed(adapter.encode(texts).inputs)"
        )
    padding = ~batch.inputs.attention_mask.bool().unsqueeze(-1)
    return torch.where(padding, real, baseline.to(real))
