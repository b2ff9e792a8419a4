"""Which features each removal curve and AOPC bin takes out: ranks, counts and the bool removal sets.

Every metric here (curves, AOPC) asks "what is p(target) once these features are gone?" for a list of
feature sets; `faithfulness.evaluate` collects all of them and hands them to the modality in one run.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


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
