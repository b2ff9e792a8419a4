"""One signed colour scale for every view: green supports the target class, red opposes it."""

from __future__ import annotations

import numpy as np

POSITIVE = (22, 163, 74)
NEGATIVE = (220, 38, 38)


def scale(scores: np.ndarray) -> float:
    """The largest absolute score (1.0 when all are zero), so colours compare within one explanation."""
    peak = float(np.max(np.abs(scores))) if len(scores) else 0.0
    return peak if peak > 0 else 1.0


def rgba(score: float, peak: float) -> tuple[int, int, int, float]:
    """Colour with opacity proportional to |score| / peak."""
    r, g, b = POSITIVE if score >= 0 else NEGATIVE
    return r, g, b, round(min(1.0, abs(score) / peak), 3)
