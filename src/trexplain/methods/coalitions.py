"""Running coalitions through the model and mapping the results back: the perturbation methods' model side.

A coalition is a bool row over a text's features (True = the feature stays). `coalition_logits` turns the
coalitions of every text of a batch into perturbed inputs with `perturb.remove` and runs them all through
the pooled runner (`models.pooled`: duplicates once, sorted by length, full batches).
"""

from __future__ import annotations

from torch import Tensor

from trexplain.errors import MethodError
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch
from trexplain.models.pooled import run_pooled
from trexplain.models.vision import is_image_batch
from trexplain.perturb import Strategy, remove


def coalition_logits(
    adapter: ModelAdapter,
    batch: Batch,
    features: list[Tensor],
    coalitions: list[Tensor],
    strategy: Strategy,
    batch_size: int,
) -> tuple[list[Tensor], list[int]]:
    """Logits [S_b, C] of each text b with only the features where `coalitions[b]` is True kept.

    `features[b]` is bool [M_b, tokens] (from `perturb.features`), `coalitions[b]` bool [S_b, M_b]. Also
    returns how many distinct inputs of each text went through the model.
    """
    if is_image_batch(batch):
        return _image_coalition_logits(adapter, batch, features, coalitions, image_fill(strategy), batch_size)
    device = batch.inputs.input_ids.device
    parts = []
    for row, (feats, keep) in enumerate(zip(features, coalitions, strict=True)):
        removed = ((1 - keep.float()) @ feats.float()) > 0
        parts.append(remove(adapter, batch, row, removed.to(device), strategy))
    pooled = run_pooled(adapter, parts, batch_size)
    return pooled.logits, pooled.distinct


def image_fill(strategy: str) -> str:
    """The fill of removed image patches a perturbation `strategy` names: `delete` (the default) is the mean colour."""
    from trexplain.models.images import FILLS

    if strategy == "delete":
        return "mean"
    if strategy not in FILLS:
        raise MethodError(f"strategy {strategy!r} is for texts; image patches are filled with {', '.join(FILLS)}")
    return strategy


def _image_coalition_logits(
    adapter: ModelAdapter, batch: Batch, features: list[Tensor], coalitions: list[Tensor], fill: str, batch_size: int
) -> tuple[list[Tensor], list[int]]:
    """`coalition_logits` for images: removed patches filled with `fill`; identical coalitions run once."""
    logits, distinct = [], []
    for row, (feats, keep) in enumerate(zip(features, coalitions, strict=True)):
        removed = ((1 - keep.float()) @ feats.float()) > 0
        values, count = adapter.removal_logits(batch, row, removed, fill, batch_size)
        logits.append(values)
        distinct.append(count)
    return logits, distinct


def select_outputs(logits: Tensor, targets: Tensor, output: str) -> Tensor:
    """The explained quantity [S, K] in float64 on the CPU (where the fits run): target logits or probabilities."""
    values = logits.double()
    if output == "probability":
        values = values.softmax(-1)
    return values[:, targets.to(values.device)].cpu()


def spread(feature_scores: Tensor, features: Tensor) -> Tensor:
    """Token scores [K, tokens]: each feature's score divided equally among its tokens (sums stay exact)."""
    if features.shape[0] == 0:
        return feature_scores.new_zeros(feature_scores.shape[0], features.shape[1])
    weights = features.to(feature_scores.dtype)
    return (feature_scores / weights.sum(1).clamp(min=1)) @ weights
