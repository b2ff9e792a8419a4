"""Target probabilities of many removal sets at once: deduplicated per text, sorted by length, run in full batches.

Every metric here (curves, AOPC) asks "what is p(target) once these features are gone?" for a list of
feature sets. All those sets, for all explanations of all texts, are collected first; identical sets of
the same text run once; the rest go through the pooled runner (`models.pooled`) in chunks of similar length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch
from trexplain.models.heads import SINGLE_LABEL, outputs
from trexplain.models.pooled import run_pooled
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
    """p(target) after each removal set of each request; identical inputs of one text are run once."""
    by_row: dict[int, list[int]] = {}
    for i, request in enumerate(requests):
        by_row.setdefault(request.row, []).append(i)
    rows = list(by_row)
    parts = [
        remove(adapter, batch, row, torch.cat([requests[i].removed for i in by_row[row]]), strategy) for row in rows
    ]
    pooled = run_pooled(adapter, parts, batch_size)
    values: list[Tensor] = [torch.empty(0)] * len(requests)
    for row, logits in zip(rows, pooled.logits, strict=True):
        probs, start = outputs(logits.double(), getattr(adapter, "problem", SINGLE_LABEL)), 0
        for i in by_row[row]:
            size = requests[i].removed.shape[0]
            values[i] = probs[start : start + size, requests[i].target]
            start += size
    distinct = sum(int(torch.unique(r.removed.to(torch.uint8), dim=0).shape[0]) for r in requests)
    return Probabilities(values, sum(r.removed.shape[0] for r in requests), distinct, pooled.rows_run)
