"""Is a text like the explainer's training texts? Mahalanobis distance of its pooled hidden state to theirs.

A Gaussian (mean, covariance shrunk towards a scaled identity so it inverts with few texts) is fitted on the
training texts' mean player state; the threshold is a high quantile of the held-out texts' distances, so about
1 − quantile of in-domain texts are flagged and texts unlike the training data are flagged far more often.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

SHRINK = 0.1
QUANTILE = 0.99


@dataclass
class Gaussian:
    """Mean [D] and precision [D, D] of the training states, and the flag threshold on the distance."""

    mean: Tensor
    precision: Tensor
    threshold: float = float("inf")

    @classmethod
    def fit(cls, states: Tensor, shrink: float = SHRINK) -> Gaussian:
        """The Gaussian of `states` [N, D] with covariance (1 − shrink)·S + shrink·tr(S)/D·I."""
        x = states.double()
        mean = x.mean(0)
        centred = x - mean
        cov = centred.T @ centred / max(1, len(x) - 1)
        scale = torch.trace(cov) / cov.shape[0]
        cov = (1 - shrink) * cov + shrink * scale.clamp(min=1e-12) * torch.eye(cov.shape[0], dtype=cov.dtype)
        return cls(mean.float(), torch.linalg.inv(cov).float())

    def distance(self, states: Tensor) -> Tensor:
        """Mahalanobis distance [N] of `states` [N, D]."""
        centred = states.double() - self.mean.double()
        return torch.einsum("nd,de,ne->n", centred, self.precision.double(), centred).clamp(min=0).sqrt().float()

    def calibrate(self, held_out: Tensor, quantile: float = QUANTILE) -> float:
        """Set (and return) the threshold: the `quantile` of the held-out states' distances."""
        self.threshold = float(torch.quantile(self.distance(held_out).double(), quantile))
        return self.threshold
