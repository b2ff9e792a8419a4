"""Remove, replace or insert tokens in an encoded input: one shared vocabulary for perturbation methods,
evaluation and probing.

Strategies (recorded in every result that uses them):
- `delete`: drop the tokens and close the gap (ERASER/ferret); positions are recomputed.
- `mask`:   replace them by the tokenizer's mask token; positions unchanged.
- `unk`:    replace them by the unknown token (Ali et al.); positions unchanged.
- `pad`:    replace them by the pad token with attention mask 0 (invisible to attention).
Special tokens ([CLS], [SEP], <s>, </s>) are never removed. `edit` replaces spans of tokens by other
token ids (an empty span inserts, empty ids delete) for probing and counterfactuals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from trexplain.errors import InputError
from trexplain.models.batch import Batch, ModelInputs
from trexplain.models.protocol import Adapter

Strategy = Literal["delete", "mask", "unk", "pad"]
STRATEGIES: tuple[str, ...] = ("delete", "mask", "unk", "pad")
Level = Literal["word", "patch", "token"]
LEVELS: tuple[str, ...] = ("word", "patch", "token")
"""Feature levels: a modality's feature groups (words of a text, patches of an image), or single tokens."""


def features(batch: Batch, row: int, level: Level = "word") -> Tensor:
    """Bool [features, positions] over the real positions of input `row`: which positions each feature moves.

    The feature groups (`word` for texts, `patch` for images: the layout's features) move all their positions
    together; tokens move one at a time. Special tokens belong to no feature.
    """
    n = batch.lengths[row]
    feature_ids = batch.feature_ids[row, :n].cpu()
    if level in ("word", "patch"):
        return feature_ids.unsqueeze(0) == torch.arange(batch.layouts[row].num_features).unsqueeze(1)
    if level == "token":
        movable = torch.nonzero(feature_ids >= 0).squeeze(1)
        out = torch.zeros(len(movable), n, dtype=torch.bool)
        out[torch.arange(len(movable)), movable] = True
        return out
    raise InputError(f"unknown feature level {level!r}; use one of {', '.join(LEVELS)}")


def remove(adapter: Adapter, batch: Batch, row: int, removed: Tensor, strategy: Strategy = "delete") -> ModelInputs:
    """Model inputs for text `row` with, in each of N variants, the tokens where `removed[i]` is True taken out.

    `removed` is bool [N, tokens] over the real tokens of that text; special tokens are kept regardless.
    """
    if strategy not in STRATEGIES:
        raise InputError(f"unknown removal strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    n = batch.lengths[row]
    base = batch.inputs.rows(slice(row, row + 1))
    ids = base.input_ids[0, :n]
    special = batch.special_mask[row, :n].to(removed.device)
    removed = removed.bool() & ~special
    count = removed.shape[0]
    if strategy == "delete":
        return _delete(adapter, base, n, ~removed)
    replacement = {"mask": adapter.mask_token_id, "unk": adapter.tokenizer.unk_token_id, "pad": adapter.pad_token_id}[
        strategy
    ]
    if replacement is None:
        raise InputError(f"the tokenizer of {adapter.name} has no {strategy} token; choose another removal strategy")
    new_ids = torch.where(removed, torch.full_like(removed, int(replacement), dtype=ids.dtype), ids.expand(count, -1))
    mask = base.attention_mask[0, :n].expand(count, -1)
    if strategy == "pad":
        mask = mask * (~removed).to(mask.dtype)
    types = None if base.token_type_ids is None else base.token_type_ids[0, :n].expand(count, -1)
    return ModelInputs(new_ids, mask.contiguous(), base.position_ids[0, :n].expand(count, -1).contiguous(), types)


def _delete(adapter: Adapter, base: ModelInputs, n: int, keep: Tensor) -> ModelInputs:
    """Pack the kept tokens of each variant to the left, pad the rest, recompute positions."""
    count = keep.shape[0]
    width = int(keep.sum(1).max()) if count else 0
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)[:, :width]
    valid = torch.gather(keep, 1, order)
    ids = torch.where(valid, base.input_ids[0, :n][order], torch.full_like(order, adapter.pad_token_id))
    mask = valid.to(base.attention_mask.dtype)
    types = None if base.token_type_ids is None else torch.where(valid, base.token_type_ids[0, :n][order], 0)
    return ModelInputs(ids, mask, adapter.position_ids(mask), types)


@dataclass(frozen=True)
class Edit:
    """Replace tokens [start, end) of a text by `ids`: `start == end` inserts, empty `ids` deletes."""

    start: int
    end: int
    ids: tuple[int, ...] = ()


def edit(adapter: Adapter, batch: Batch, row: int, variants: Sequence[Sequence[Edit]]) -> ModelInputs:
    """Model inputs for text `row` with, in each variant, its edits applied (positions recomputed).

    Edits of one variant must not overlap and may not touch special tokens; inserted tokens take the token
    type of the token before them. Variants are right-padded to the longest.
    """
    n = batch.lengths[row]
    base = batch.inputs.rows(slice(row, row + 1))
    ids = base.input_ids[0, :n].tolist()
    types = None if base.token_type_ids is None else base.token_type_ids[0, :n].tolist()
    special = batch.special_mask[row, :n].tolist()
    rows_ids, rows_types = [], []
    for number, edits in enumerate(variants):
        new_ids, new_types, cursor = [], [], 0
        for e in sorted(edits, key=lambda e: (e.start, e.end)):
            if not 0 <= e.start <= e.end <= n or e.start < cursor:
                raise InputError(f"variant {number}: edit {e} lies outside tokens 0..{n} or overlaps another edit")
            if any(special[e.start : e.end]) or (e.start == e.end and e.start in (0, n) and any(special)):
                raise InputError(f"variant {number}: edit {e} would change or move past a special token")
            new_ids += ids[cursor : e.start] + [int(i) for i in e.ids]
            if types is not None:
                fill = types[e.start - 1] if e.start > 0 else types[0]
                new_types += types[cursor : e.start] + [fill] * len(e.ids)
            cursor = e.end
        rows_ids.append(new_ids + ids[cursor:])
        rows_types.append(new_types + (types[cursor:] if types is not None else []))
    width = max(len(r) for r in rows_ids)
    device = base.input_ids.device
    out_ids = torch.full((len(rows_ids), width), adapter.pad_token_id, dtype=base.input_ids.dtype, device=device)
    mask = torch.zeros(len(rows_ids), width, dtype=base.attention_mask.dtype, device=device)
    out_types = None if types is None else torch.zeros_like(out_ids)
    for i, values in enumerate(rows_ids):
        out_ids[i, : len(values)] = torch.tensor(values, dtype=out_ids.dtype)
        mask[i, : len(values)] = 1
        if out_types is not None:
            out_types[i, : len(values)] = torch.tensor(rows_types[i], dtype=out_types.dtype)
    return ModelInputs(out_ids, mask, adapter.position_ids(mask), out_types)
