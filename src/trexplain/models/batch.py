"""Encoded texts: model inputs plus the token, offset and word bookkeeping that explanations need."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor


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

    def repeat(self, n: int) -> ModelInputs:
        """Each row repeated `n` times in place: row i becomes rows i*n .. i*n+n-1."""
        return self.rows(torch.arange(len(self)).repeat_interleave(n))

    def with_ids(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> ModelInputs:
        """Same positions and token types with other token ids (and optionally another mask)."""
        mask = self.attention_mask if attention_mask is None else attention_mask
        return replace(self, input_ids=input_ids, attention_mask=mask)


@dataclass(frozen=True)
class Batch:
    """A list of encoded texts. `word_ids` is -1 for special tokens and padding."""

    texts: list[str]
    inputs: ModelInputs
    special_mask: Tensor
    word_ids: Tensor
    tokens: list[list[str]]
    offsets: list[list[tuple[int, int]]]
    words: list[list[tuple[int, int]]]
    truncated: list[int]

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def lengths(self) -> list[int]:
        """Number of real (non-pad) tokens per text."""
        return [len(t) for t in self.tokens]

    def text_fields(self, row: int) -> dict[str, Any]:
        """The text-side fields of an `Explanation` of text `row`: tokens, offsets and words, padding dropped."""
        n = self.lengths[row]
        return {
            "text": self.texts[row],
            "tokens": self.tokens[row],
            "offsets": self.offsets[row],
            "word_ids": self.word_ids[row, :n].tolist(),
            "words": self.words[row],
            "special": self.special_mask[row, :n].tolist(),
        }

    @property
    def maskable(self) -> Tensor:
        """True for tokens that perturbation may move: real, non-special tokens."""
        mask = self.inputs.attention_mask.bool()
        return ~self.special_mask.to(mask.device) & mask
