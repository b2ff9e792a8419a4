"""Perturbation curves: p(target) as features are removed most relevant first (MoRF), least relevant first
(LeRF), or inserted most relevant first into an empty input (insertion); trapezoid areas and ΔA^F.

A curve point at fraction f removes (or, for insertion, keeps) `feature_count(f, n)` features
(ceil, at least one for f > 0). "Empty" means every feature removed: only special tokens remain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from torch import Tensor

from trexplain.evaluate.removal import all_but_top_removed, feature_count, top_removed

FRACTIONS: tuple[float, ...] = tuple(i / 10 for i in range(11))
CURVES: tuple[str, ...] = ("morf", "lerf", "insertion")


@dataclass(frozen=True)
class Curve:
    """Probability of the target at each fraction of features removed (MoRF, LeRF) or inserted (insertion)."""

    fractions: tuple[float, ...]
    probabilities: tuple[float, ...]

    @property
    def area(self) -> float:
        """Trapezoid area over the fraction axis (↓ better for MoRF, ↑ for LeRF and insertion)."""
        return float(np.trapezoid(self.probabilities, self.fractions))

    def to_dict(self) -> dict[str, list[float] | float]:
        """The curve as JSON-ready lists: fractions removed, probabilities and the area."""
        return {"fractions": list(self.fractions), "probabilities": list(self.probabilities), "area": self.area}


def curve_removals(rank: Tensor, fractions: Sequence[float] = FRACTIONS) -> dict[str, Tensor]:
    """Bool [len(fractions), features] removal sets of each curve, for features ranked by `rank` (0 = top)."""
    n = len(rank)
    counts = [feature_count(f, n) for f in fractions]
    return {
        "morf": top_removed(rank, counts),
        "lerf": all_but_top_removed(rank, [n - c for c in counts]),
        "insertion": all_but_top_removed(rank, counts),
    }


def delta_af(curves: dict[str, Curve]) -> float:
    """ΔA^F = A_LeRF − A_MoRF (↑): a good ranking keeps LeRF high and makes MoRF drop fast; the
    out-of-distribution effect of removal hits both curves alike and largely cancels."""
    return curves["lerf"].area - curves["morf"].area
