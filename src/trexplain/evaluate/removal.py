"""Target probabilities of many removal sets at once: deduplicated per text, sorted by length, run in full batches.

Every metric here (curves, AOPC) asks "what is p(target) once these features are gone?" for a list of
feature sets. All those sets, for all explanations of all texts, are collected first; identical sets of
the same text run once; the rest go through `adapter.logits` in chunks of similar length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch, ModelInputs
from trexplain.perturb import Strategy, remove


def feature_count(fraction: float, n: int) -> int:
    """How many of `n` features a fraction means: ceil(fraction·n), at least 1 when fraction > 0, at most n.

    Rounding up keeps small bins meaningful on short texts: 1 % of a 12-word tweet is its top word, not nothing.
    """
    if fraction <= 0:
        return 0
    return min(n, max(1, math.ceil(fraction * n - 1e-9)))


def ranks(feature_scores: Tensor) -> Tensor:
    """Rank of each feature, 0 = highest score; ties keep text order (stable), so results are reproducible."""
    order = torch.sort(feature_scores, descending=True, stable=True).indices
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order), device=order.device)
    return rank


def top_removed(rank: Tensor, counts: list[int]) -> Tensor:
    """Bool [len(counts), features]: the `c` highest-ranked features removed, for each c."""
    return rank.unsqueeze(0) < torch.tensor(counts, device=rank.device).unsqueeze(1)


def all_but_top_removed(rank: Tensor, counts: list[int]) -> Tensor:
    """Bool [len(counts), features]: everything except the `c` highest-ranked features removed, for each c."""
    return ~top_removed(rank, counts)


@dataclass
class Request:
    """Removal sets for one text row of a batch, read out as the probability of class `target`."""

    row: int
    target: int
    removed: Tensor  # bool [sets, tokens] over the real tokens of that text


@dataclass
class Probabilities:
    """One probability vector per request, and what it cost in model rows: sets asked for, sets distinct
    within each request (summed), rows actually run (distinct per text, across requests)."""

    values: list[Tensor]
    requested: int
    distinct: int
    forward_rows: int


def target_probabilities(
    adapter: ModelAdapter,
    batch: Batch,
    requests: list[Request],
    strategy: Strategy = "delete",
    batch_size: int = 64,
) -> Probabilities:
    """p(target) after each removal set of each request; identical sets of one text are run once."""
    by_row: dict[int, list[int]] = {}
    for i, request in enumerate(requests):
        by_row.setdefault(request.row, []).append(i)
    parts: list[ModelInputs] = []
    where: list[Tensor] = [torch.empty(0, dtype=torch.long)] * len(requests)
    offset = 0
    for row, members in by_row.items():
        masks = torch.cat([requests[i].removed for i in members]).to(torch.uint8)
        unique, inverse = torch.unique(masks, dim=0, return_inverse=True)
        parts.append(remove(adapter, batch, row, unique.bool(), strategy))
        start = 0
        for i in members:
            size = requests[i].removed.shape[0]
            where[i] = inverse[start : start + size] + offset
            start += size
        offset += unique.shape[0]
    probs = _run(adapter, parts, batch_size).double().softmax(-1)
    values = [probs[where[i], r.target] for i, r in enumerate(requests)]
    distinct = sum(int(torch.unique(r.removed.to(torch.uint8), dim=0).shape[0]) for r in requests)
    return Probabilities(values, sum(r.removed.shape[0] for r in requests), distinct, offset)


def _run(adapter: ModelAdapter, parts: list[ModelInputs], batch_size: int) -> Tensor:
    """Logits of all rows of all parts: rows sorted by length, each chunk cut to its own longest row."""
    width = max(p.input_ids.shape[1] for p in parts)
    inputs = _concat([_pad(adapter, p, width) for p in parts])
    columns = torch.arange(1, width + 1, device=inputs.attention_mask.device)
    lengths = (inputs.attention_mask.bool() * columns).amax(1).clamp(min=1)
    order = torch.argsort(lengths, descending=True, stable=True)
    out = torch.empty(len(inputs), adapter.num_labels, dtype=torch.float64, device=lengths.device)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        chunk = _columns(inputs.rows(rows), int(lengths[rows].max()))
        out[rows] = adapter.logits(chunk, batch_size=batch_size).to(out)
    return out


def _pad(adapter: ModelAdapter, inputs: ModelInputs, width: int) -> ModelInputs:
    """Right-pad to `width` columns with invisible pad tokens (positions as the model would give them)."""
    extra = width - inputs.input_ids.shape[1]
    if extra == 0:
        return inputs
    rows = len(inputs)
    ids = torch.cat([inputs.input_ids, inputs.input_ids.new_full((rows, extra), adapter.pad_token_id)], 1)
    mask = torch.cat([inputs.attention_mask, inputs.attention_mask.new_zeros(rows, extra)], 1)
    filler = adapter.position_ids(mask)[:, -extra:].to(inputs.position_ids)
    positions = torch.cat([inputs.position_ids, filler], 1)
    types = None
    if inputs.token_type_ids is not None:
        types = torch.cat([inputs.token_type_ids, inputs.token_type_ids.new_zeros(rows, extra)], 1)
    return ModelInputs(ids, mask, positions, types)


def _concat(parts: list[ModelInputs]) -> ModelInputs:
    types = None if parts[0].token_type_ids is None else torch.cat([p.token_type_ids for p in parts])
    return ModelInputs(
        torch.cat([p.input_ids for p in parts]),
        torch.cat([p.attention_mask for p in parts]),
        torch.cat([p.position_ids for p in parts]),
        types,
    )


def _columns(inputs: ModelInputs, width: int) -> ModelInputs:
    types = None if inputs.token_type_ids is None else inputs.token_type_ids[:, :width]
    return ModelInputs(
        inputs.input_ids[:, :width], inputs.attention_mask[:, :width], inputs.position_ids[:, :width], types
    )
