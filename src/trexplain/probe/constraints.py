"""What an edited text must satisfy: few words changed, protected words untouched, close to the original in
the model's own representation, and found within the query budget."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from trexplain import checks
from trexplain.errors import InputError

DEFAULT_BUDGET = 500
DEFAULT_MAX_FRACTION = 0.2


@dataclass(frozen=True)
class Constraints:
    """`max_fraction` of the words may change (at least one word); `protected` words (ignoring case) never
    change; `min_similarity` (None: off) is the lowest cosine between the mean-pooled last hidden states of
    the edited and the original text; `budget` caps the model queries (None: no cap)."""

    max_fraction: float = DEFAULT_MAX_FRACTION
    protected: frozenset[str] = field(default_factory=frozenset)
    min_similarity: float | None = None
    budget: int | None = DEFAULT_BUDGET

    def __post_init__(self) -> None:
        fraction = self.max_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction <= 1:
            raise InputError(f"max_fraction must be a number in (0, 1], got {fraction!r}")
        if self.min_similarity is not None and not -1 <= float(self.min_similarity) <= 1:
            raise InputError(f"min_similarity must lie in [-1, 1] (a cosine), got {self.min_similarity!r}")
        object.__setattr__(self, "budget", checks.optional_whole(self.budget, "budget", least=1))
        object.__setattr__(self, "protected", frozenset(_words(self.protected)))

    def max_words(self, words: int) -> int:
        """How many of `words` words may change: ⌊max_fraction · words⌋, but at least one."""
        return max(1, math.floor(self.max_fraction * words + 1e-9))

    def editable(self, word: str) -> bool:
        """Whether the word may be edited (it is not protected)."""
        return word.lower() not in self.protected

    def similar(self, original: Tensor | None, edited: Tensor | None) -> bool:
        """Whether the edited text is close enough to the original (always, when the threshold is off)."""
        if self.min_similarity is None:
            return True
        return similarity(original, edited) >= self.min_similarity


def similarity(a: Tensor | None, b: Tensor | None) -> float:
    """Cosine of two mean-pooled hidden states."""
    if a is None or b is None:
        raise InputError("similarity needs the hidden states of both texts")
    return float(torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=0))


def _words(items: Iterable[str] | str) -> list[str]:
    if isinstance(items, str):
        items = [items]
    out = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise InputError(f"protected words must be non-empty strings, got {item!r}")
        out.append(item.strip().lower())
    return out
