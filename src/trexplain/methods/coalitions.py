"""Running coalitions through the model and mapping the results back: the perturbation methods' model side.

A coalition is a bool row over a text's features (True = the feature stays). `coalition_logits` turns the
coalitions of every text of a batch into perturbed inputs with `perturb.remove`, drops duplicates, sorts
all rows of all texts by length (deletion makes many of them short) and runs them in full batches, each
batch cut to its own longest row.
"""

from __future__ import annotations

import torch
from torch import Tensor

from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch, ModelInputs
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
    device = batch.inputs.input_ids.device
    parts, inverses = [], []
    for row, (feats, keep) in enumerate(zip(features, coalitions, strict=True)):
        if keep.shape[1] == 0:
            unique, inverse = keep[:1], torch.zeros(len(keep), dtype=torch.long)
        else:
            unique, inverse = torch.unique(keep.to(torch.uint8), dim=0, return_inverse=True)
        removed = ((1 - unique.float()) @ feats.float()) > 0
        parts.append(remove(adapter, batch, row, removed.to(device), strategy))
        inverses.append(inverse)
    logits = _run_pooled(adapter, parts, batch_size)
    out, start = [], 0
    for part, inverse in zip(parts, inverses, strict=True):
        out.append(logits[start : start + len(part)][inverse.to(logits.device)])
        start += len(part)
    return out, [len(p) for p in parts]


def _run_pooled(adapter: ModelAdapter, parts: list[ModelInputs], batch_size: int) -> Tensor:
    """Logits of all rows of `parts`, run longest first in batches trimmed to their longest row."""
    width = max(p.input_ids.shape[1] for p in parts)
    filler = adapter.position_ids(torch.zeros(1, width, dtype=torch.long)).to(parts[0].input_ids.device)
    padded = [_pad(p, width, adapter.pad_token_id, filler) for p in parts]
    pool = ModelInputs(
        torch.cat([p.input_ids for p in padded]),
        torch.cat([p.attention_mask for p in padded]),
        torch.cat([p.position_ids for p in padded]),
        None if padded[0].token_type_ids is None else torch.cat([p.token_type_ids for p in padded]),
    )
    lengths = (width - pool.attention_mask.flip(1).argmax(1)).clamp(min=1)
    order = torch.argsort(lengths, descending=True, stable=True)
    chunks = []
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        chunks.append(adapter.logits(_columns(pool.rows(rows), int(lengths[rows].max())), batch_size=batch_size))
    ordered = torch.cat(chunks)
    logits = torch.empty_like(ordered)
    logits[order] = ordered
    return logits


def _pad(inputs: ModelInputs, width: int, pad_id: int, filler: Tensor) -> ModelInputs:
    extra = width - inputs.input_ids.shape[1]
    if extra == 0:
        return inputs
    rows = len(inputs)

    def grow(t: Tensor, value: Tensor | int) -> Tensor:
        tail = value.expand(rows, -1) if isinstance(value, Tensor) else torch.full((rows, extra), value)
        return torch.cat([t, tail.to(t)], dim=1)

    types = None if inputs.token_type_ids is None else grow(inputs.token_type_ids, 0)
    return ModelInputs(
        grow(inputs.input_ids, pad_id),
        grow(inputs.attention_mask, 0),
        grow(inputs.position_ids, filler[:, -extra:]),
        types,
    )


def _columns(inputs: ModelInputs, width: int) -> ModelInputs:
    cut = [None if t is None else t[:, :width] for t in vars(inputs).values()]
    return ModelInputs(*cut)


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
