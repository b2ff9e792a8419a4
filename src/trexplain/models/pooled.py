"""The pooled runner: many small sets of model inputs (perturbations of many texts) run as few full batches.

Identical rows of one part run once; all rows of all parts are right-padded to one width, sorted by
length (deletion makes many rows short), run in chunks each cut to its own longest row, and put back in
order. Perturbation methods, evaluation and the sanity check all go through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from trexplain.models.batch import ModelInputs


class _Runs(Protocol):
    pad_token_id: int
    num_labels: int

    def position_ids(self, attention_mask: Tensor) -> Tensor: ...

    def logits(self, inputs: ModelInputs, *, batch_size: int = 64) -> Tensor: ...


@dataclass
class Pooled:
    """Logits of every part's rows (in the order given) and what they cost: distinct rows per part."""

    logits: list[Tensor]
    distinct: list[int]

    @property
    def rows_run(self) -> int:
        return sum(self.distinct)


def run_pooled(adapter: _Runs, parts: Sequence[ModelInputs], batch_size: int = 64) -> Pooled:
    """Logits [rows, classes] of each part; each distinct row of a part goes through the model once."""
    if not parts:
        return Pooled([], [])
    uniques, inverses = zip(*(_unique(p) for p in parts), strict=True)
    width = max(p.input_ids.shape[1] for p in uniques)
    pool = concat([pad(adapter, p, width) for p in uniques])
    columns = torch.arange(1, width + 1, device=pool.attention_mask.device)
    lengths = (pool.attention_mask.bool() * columns).amax(1).clamp(min=1)
    order = torch.argsort(lengths, descending=True, stable=True)
    out = None
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        logits = adapter.logits(columns_of(pool.rows(rows), int(lengths[rows].max())), batch_size=batch_size)
        if out is None:
            out = logits.new_empty(len(pool), logits.shape[1])
        out[rows] = logits
    results, start = [], 0
    for unique, inverse in zip(uniques, inverses, strict=True):
        results.append(out[start : start + len(unique)][inverse.to(out.device)])
        start += len(unique)
    return Pooled(results, [len(u) for u in uniques])


def _unique(inputs: ModelInputs) -> tuple[ModelInputs, Tensor]:
    """The distinct rows of `inputs` and, per original row, the index of its distinct row."""
    if len(inputs) <= 1:
        return inputs, torch.zeros(len(inputs), dtype=torch.long, device=inputs.input_ids.device)
    parts = [inputs.input_ids, inputs.attention_mask.to(inputs.input_ids), inputs.position_ids.to(inputs.input_ids)]
    if inputs.token_type_ids is not None:
        parts.append(inputs.token_type_ids.to(inputs.input_ids))
    _, inverse = torch.unique(torch.cat(parts, 1), dim=0, return_inverse=True)
    # first occurrence of each distinct row, so the kept rows stay in their original order
    first = torch.full((int(inverse.max()) + 1,), len(inverse), dtype=torch.long, device=inverse.device)
    first.scatter_reduce_(0, inverse, torch.arange(len(inverse), device=inverse.device), "amin")
    keep = torch.sort(first).values
    renumber = torch.empty_like(keep)
    renumber[torch.argsort(first)] = torch.arange(len(keep), device=keep.device)
    return inputs.rows(keep), renumber[inverse]


def pad(adapter: _Runs, inputs: ModelInputs, width: int) -> ModelInputs:
    """Right-pad to `width` columns with invisible pad tokens (positions as the model would give them)."""
    extra = width - inputs.input_ids.shape[1]
    if extra == 0:
        return inputs
    rows = len(inputs)
    ids = torch.cat([inputs.input_ids, inputs.input_ids.new_full((rows, extra), adapter.pad_token_id)], 1)
    mask = torch.cat([inputs.attention_mask, inputs.attention_mask.new_zeros(rows, extra)], 1)
    filler = adapter.position_ids(mask)[:, -extra:].to(inputs.position_ids)
    positions = torch.cat([inputs.position_ids, filler], 1)
    types = None
    if inputs.token_type_ids is not None:
        types = torch.cat([inputs.token_type_ids, inputs.token_type_ids.new_zeros(rows, extra)], 1)
    return ModelInputs(ids, mask, positions, types)


def concat(parts: Sequence[ModelInputs]) -> ModelInputs:
    """Rows of equally wide inputs stacked."""
    types = None if parts[0].token_type_ids is None else torch.cat([p.token_type_ids for p in parts])
    return ModelInputs(
        torch.cat([p.input_ids for p in parts]),
        torch.cat([p.attention_mask for p in parts]),
        torch.cat([p.position_ids for p in parts]),
        types,
    )


def columns_of(inputs: ModelInputs, width: int) -> ModelInputs:
    """The first `width` columns."""
    types = None if inputs.token_type_ids is None else inputs.token_type_ids[:, :width]
    return ModelInputs(
        inputs.input_ids[:, :width], inputs.attention_mask[:, :width], inputs.position_ids[:, :width], types
    )
