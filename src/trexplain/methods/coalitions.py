"""Running coalitions through the model and mapping the results back: the perturbation methods' model side.

A coalition is a bool row over an input's features (True = the feature stays). `coalition_logits` turns the
coalitions of every input of a batch into removal sets and hands them all to the adapter's modality, which
removes the features by the strategy and runs every distinct variant once, in full batches.
"""

from __future__ import annotations

from torch import Tensor

from trexplain.models.batch import Batch
from trexplain.models.heads import SINGLE_LABEL, outputs
from trexplain.models.protocol import Adapter


def coalition_logits(
    adapter: Adapter,
    batch: Batch,
    features: list[Tensor],
    coalitions: list[Tensor],
    strategy: str,
    batch_size: int,
) -> tuple[list[Tensor], list[int]]:
    """Logits [S_b, C] of each input b with only the features where `coalitions[b]` is True kept.

    `features[b]` is bool [M_b, positions] (from `perturb.features`), `coalitions[b]` bool [S_b, M_b]. Also
    returns how many distinct inputs of each one went through the model.
    """
    removed = [
        (row, ((1 - keep.float()) @ feats.float()) > 0)
        for row, (feats, keep) in enumerate(zip(features, coalitions, strict=True))
    ]
    pooled = adapter.modality.removal_logits(adapter, batch, removed, strategy, batch_size)
    return pooled.logits, pooled.distinct


def select_outputs(logits: Tensor, targets: Tensor, output: str, problem: str = SINGLE_LABEL) -> Tensor:
    """The explained quantity [S, K] in float64 on the CPU (where the fits run): target logits or probabilities
    (softmax, each label's sigmoid for multi-label heads, the output itself for regression)."""
    values = logits.double()
    if output == "probability":
        values = outputs(values, problem)
    return values[:, targets.to(values.device)].cpu()


def spread(feature_scores: Tensor, features: Tensor) -> Tensor:
    """Token scores [K, tokens]: each feature's score divided equally among its tokens (sums stay exact)."""
    if features.shape[0] == 0:
        return feature_scores.new_zeros(feature_scores.shape[0], features.shape[1])
    weights = features.to(feature_scores.dtype)
    return (feature_scores / weights.sum(1).clamp(min=1)) @ weights
