"""Closed-form fits of LIME (weighted ridge) and KernelSHAP (constrained weighted least squares), in float64.

Kept apart from samplers and model runs: they see only coalition matrices, weights and outputs.
"""

from __future__ import annotations

import torch
from torch import Tensor


def weighted_ridge(x: Tensor, y: Tensor, weights: Tensor, alpha: float) -> tuple[Tensor, Tensor, Tensor]:
    """Weighted ridge with an unpenalised intercept, closed form (as sklearn `Ridge(alpha).fit(x, y, w)`).

    x [S, M], y [S, K], weights [S] (float64). Returns coefficients [K, M], intercepts [K] and the weighted R² [K].
    """
    total = weights.sum()
    x_mean = weights @ x / total
    y_mean = weights @ y / total
    xc, yc = x - x_mean, y - y_mean
    gram = xc.T @ (weights.unsqueeze(1) * xc) + alpha * torch.eye(x.shape[1], dtype=x.dtype)
    coef = torch.linalg.lstsq(gram, xc.T @ (weights.unsqueeze(1) * yc), driver="gelsd").solution
    residual = (weights.unsqueeze(1) * (yc - xc @ coef) ** 2).sum(0)
    spread_ = (weights.unsqueeze(1) * yc**2).sum(0)
    r2 = torch.where(spread_ > 0, 1 - residual / spread_.clamp(min=1e-300), torch.ones_like(spread_))
    return coef.T, y_mean - x_mean @ coef, r2


def constrained_wls(z: Tensor, y: Tensor, weights: Tensor, base: Tensor, full: Tensor) -> Tensor:
    """Shapley values [K, M]: min Σ w (y − base − zφ)² subject to Σφ = full − base (KKT system, float64).

    z [S, M] coalitions, y [S, K] their outputs, base [K] = f(nothing kept), full [K] = f(everything kept).
    """
    m = z.shape[1]
    x = z.double()
    kkt = torch.zeros(m + 1, m + 1, dtype=torch.float64)
    kkt[:m, :m] = x.T @ (weights.unsqueeze(1) * x)
    kkt[:m, m] = 1
    kkt[m, :m] = 1
    rhs = torch.cat([x.T @ (weights.unsqueeze(1) * (y - base)), (full - base).unsqueeze(0)])
    return torch.linalg.lstsq(kkt, rhs, driver="gelsd").solution[:m].T
