"""Quadrature rules on [0, 1] for path integrals (Integrated Gradients), with captum's names and nodes."""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import torch
from torch import Tensor

from trexplain.errors import MethodError

Rule = Literal["gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"]
RULES: tuple[str, ...] = get_args(Rule)


def nodes(rule: str, steps: int) -> tuple[Tensor, Tensor]:
    """Points α_j in [0, 1] and weights w_j (float64, summing to 1) with ∫_0^1 g ≈ Σ_j w_j g(α_j).

    Gauss–Legendre is exact for polynomials of degree 2·steps−1, so it needs far fewer steps than the
    Riemann rules on smooth paths; trapezoid includes both end points and needs at least 2 steps.
    """
    if rule not in RULES:
        raise MethodError(f"unknown quadrature {rule!r}; use one of {', '.join(RULES)}")
    minimum = 2 if rule == "riemann_trapezoid" else 1
    if steps < minimum:
        raise MethodError(f"{rule} needs at least {minimum} step(s), got {steps}")
    if rule == "gausslegendre":
        points, weights = np.polynomial.legendre.leggauss(steps)
        return torch.from_numpy(0.5 * (points + 1)), torch.from_numpy(0.5 * weights)
    weights = torch.full((steps,), 1.0 / steps, dtype=torch.float64)
    if rule == "riemann_trapezoid":
        weights = torch.full((steps,), 1.0 / (steps - 1), dtype=torch.float64)
        weights[[0, -1]] /= 2
        return torch.linspace(0, 1, steps, dtype=torch.float64), weights
    start, stop = {"riemann_left": (0, 1 - 1 / steps), "riemann_right": (1 / steps, 1)}.get(
        rule, (1 / (2 * steps), 1 - 1 / (2 * steps))
    )
    return torch.linspace(start, stop, steps, dtype=torch.float64), weights
