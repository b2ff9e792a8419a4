"""Spearman rank correlation (ties get their average rank), without a SciPy dependency."""

from __future__ import annotations

import numpy as np


def rankdata(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 of `values`; tied values share the mean of their ranks."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    _, first, counts = np.unique(values[order], return_index=True, return_counts=True)
    out = np.empty(len(values))
    out[order] = np.repeat(first + (counts - 1) / 2, counts)
    return out


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's ρ of two equally long vectors; NaN when either is constant (no ordering to compare)."""
    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    norm = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / norm) if norm > 0 else float("nan")
