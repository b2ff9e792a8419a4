"""Encoded inputs: the tensors a model forward takes, and the batch that adds which positions are features."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from trexplain.layout import Layout


@dataclass(frozen=True)
class ModelInputs:
    """The tensors a model forward takes, with explicit position ids (so baselines never move them)."""

    input_ids: Tensor
    attention_mask: Tensor
    position_ids: Tensor
    token_type_ids: Tensor | None = None

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def rows(self, index: Tensor | slice | list[int]) -> ModelInputs:
        """The rows `index` (a slice, list or index tensor; repeats allowed)."""
        return ModelInputs(
            self.input_ids[index],
            self.attention_mask[index],
            self.position_ids[index],
            None if self.token_type_ids is None else self.token_type_ids[index],
        )

    def to(self, device: torch.device | str) -> ModelInputs:
        """Every tensor on `device` (the same type: image inputs keep their pixels)."""
        return type(self)(*(None if v is None else v.to(device) for v in vars(self).values()))

    def repeat(self, n: int) -> ModelInputs:
        """Each row repeated `n` times in place: row i becomes rows i*n .. i*n+n-1."""
        return self.rows(torch.arange(len(self)).repeat_interleave(n))

    def with_ids(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> ModelInputs:
        """Same positions and token types with other token ids (and optionally another mask)."""
        mask = self.attention_mask if attention_mask is None else attention_mask
        return replace(self, input_ids=input_ids, attention_mask=mask)


@dataclass(frozen=True)
class Batch:
    """Encoded inputs of one batch, whatever the modality: the model tensors, which positions are features
    (`feature_ids` ≥ 0: the word, or patch, each position belongs to) and which are fixed (`special_mask`:
    special tokens and padding, never moved by a perturbation), and one `Layout` per row for everything
    downstream that shows or names positions."""

    inputs: ModelInputs
    layouts: list[Layout]
    special_mask: Tensor
    feature_ids: Tensor
    truncated: list[int]

    def __len__(self) -> int:
        return len(self.layouts)

    def rows(self, index: list[int]) -> Batch:
        """The rows `index` of the batch (inputs, layouts and masks alike)."""
        return Batch(
            self.inputs.rows(index),
            [self.layouts[i] for i in index],
            self.special_mask[index],
            self.feature_ids[index],
            [self.truncated[i] for i in index],
        )

    @property
    def lengths(self) -> list[int]:
        """Number of real (non-pad) positions per row."""
        return [layout.size for layout in self.layouts]

    @property
    def maskable(self) -> Tensor:
        """True for positions that perturbation may move: real, non-fixed positions."""
        mask = self.inputs.attention_mask.bool()
        return ~self.special_mask.to(mask.device) & mask

    # Text conveniences: the fields of each row's `TextLayout`.
    @property
    def texts(self) -> list[str]:
        return [layout.text for layout in self.layouts]

    @property
    def tokens(self) -> list[tuple[str, ...]]:
        return [layout.tokens for layout in self.layouts]

    @property
    def offsets(self) -> list[tuple[tuple[int, int], ...]]:
        return [layout.offsets for layout in self.layouts]

    @property
    def words(self) -> list[tuple[tuple[int, int], ...]]:
        return [layout.words for layout in self.layouts]

    @property
    def word_ids(self) -> Tensor:
        """`feature_ids` under its text name: the word of every token, -1 for special tokens and padding."""
        return self.feature_ids
