"""AOPC comprehensiveness and sufficiency over the ERASER bins (DeYoung et al. 2020; docs/methods.md F1).

With p = probability of the target and r_k = the top-k % features (k ∈ B = {1, 5, 10, 20, 50} %,
`feature_count` rounding: ceil, at least one feature):
- comprehensiveness = 1/(|B|+1) · Σ_{k∈{0}∪B} (p(x) − p(x∖r_k)); the k = 0 term is 0 (nothing removed). ↑ better.
- sufficiency = 1/|B| · Σ_{k∈B} (p(x) − p(r_k only)). ↓ better. The k = 0 term (empty rationale) would be
  the same constant for every method, so it is left out rather than shifting all methods alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from trexplain.evaluate.removal import all_but_top_removed, feature_count, top_removed

BINS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.5)


def aopc_removals(rank: Tensor, bins: Sequence[float] = BINS) -> dict[str, Tensor]:
    """Bool [len(bins), features] removal sets: top-k removed (comprehensiveness), all but top-k (sufficiency)."""
    counts = [feature_count(k, len(rank)) for k in bins]
    return {"comprehensiveness": top_removed(rank, counts), "sufficiency": all_but_top_removed(rank, counts)}


def comprehensiveness(p_full: float, p_without: Tensor) -> float:
    """AOPC comprehensiveness from p(x) and p(x∖r_k) for each bin k (the k = 0 term counts, as 0)."""
    return float((p_full - p_without).sum() / (len(p_without) + 1))


def sufficiency(p_full: float, p_only: Tensor) -> float:
    """AOPC sufficiency from p(x) and p(r_k only) for each bin k."""
    return float((p_full - p_only).mean())
