"""Long texts in overlapping windows: split a text's tokens into windows the model accepts, and put per-window
token values back on the whole text (the mean over the windows that contain each token).

Every window is the model's own input form: the text's leading special tokens, `content` consecutive tokens of
the text, its trailing special tokens. Windows start every `stride` content tokens (default half a window); the
last one ends at the text's end. The specials of every window map to the whole text's specials.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from trexplain.errors import InputError
from trexplain.layout import TextLayout
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch, ModelInputs
from trexplain.models.modalities.text import check_texts
from trexplain.models.words import group_words, segmenter_for


@dataclass(frozen=True)
class Windows:
    """One text in windows: its whole-text `layout`, the windows as one `batch` (a row each), and for every window
    the whole-text position of each of its tokens (`positions`) and where its content starts (`starts`)."""

    layout: TextLayout
    batch: Batch
    positions: list[list[int]]
    starts: list[int]
    stride: int

    def combine(self, values: np.ndarray) -> np.ndarray:
        """Per-window values [windows, ..., window tokens] → whole-text values [..., tokens]: each token's mean over
        the windows that contain it."""
        total = np.zeros((*values.shape[1:-1], self.layout.size), dtype=np.float64)
        count = np.zeros(self.layout.size)
        for row, where in enumerate(self.positions):
            total[..., where] += values[row, ..., : len(where)]
            count[where] += 1
        return total / count

    def start_chars(self) -> list[int]:
        """The character where each window's first content token starts."""
        return [self.layout.offsets[p][0] for p in self.starts]


def split(adapter: ModelAdapter, text: str, stride: int | None = None) -> Windows:
    """`text` in windows of at most `adapter.max_length` tokens, starting every `stride` content tokens."""
    (text,) = check_texts([text])
    if not isinstance(text, str):
        raise InputError("windows split one text; a sentence pair cannot be windowed (truncate it instead)")
    enc = adapter.tokenize(
        text, truncation=False, return_offsets_mapping=True, return_special_tokens_mask=True, verbose=False
    )
    ids, offsets = list(enc["input_ids"]), [tuple(map(int, o)) for o in enc["offset_mapping"]]
    special = [bool(s) for s in enc["special_tokens_mask"]]
    word_ids, words = group_words(text, offsets, special)
    tokens = adapter.tokenizer.convert_ids_to_tokens(ids)
    layout = TextLayout(text, tokens, offsets, word_ids, words, special, segmenter=segmenter_for(text))
    n = len(ids)
    lead = next((i for i, s in enumerate(special) if not s), n)
    trail = n - 1 - max((i for i, s in enumerate(special) if not s), default=n - 1)
    content, size = n - lead - trail, adapter.max_length - lead - trail
    if size < 1:
        raise InputError(f"{adapter.name} accepts {adapter.max_length} tokens, no room for text between its specials")
    if stride is None:
        stride = max(1, size // 2)
    if isinstance(stride, bool) or not isinstance(stride, int) or not 1 <= stride <= size:
        raise InputError(f"stride must be a whole number of tokens from 1 to the window's {size}, got {stride!r}")
    starts, start = [], 0
    while True:
        starts.append(start)
        if start + size >= content:
            break
        start = min(start + stride, content - size)
    head, tail = list(range(lead)), list(range(n - trail, n))
    positions = [head + list(range(lead + s, lead + min(s + size, content))) + tail for s in starts]
    return Windows(layout, _batch(adapter, layout, ids, positions), positions, [lead + s for s in starts], stride)


def _batch(adapter: ModelAdapter, layout: TextLayout, ids: list[int], positions: list[list[int]]) -> Batch:
    """The windows as one batch (right-padded), each with its own layout of the whole text's characters."""
    width = max(len(p) for p in positions)
    input_ids = torch.full((len(positions), width), adapter.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(input_ids)
    special = torch.ones_like(input_ids, dtype=torch.bool)
    feature_ids = torch.full_like(input_ids, -1)
    layouts = []
    for row, where in enumerate(positions):
        k = len(where)
        offsets = [layout.offsets[p] for p in where]
        fixed = [layout.special[p] for p in where]
        word_ids, words = group_words(layout.text, offsets, fixed)
        input_ids[row, :k] = torch.tensor([ids[p] for p in where])
        mask[row, :k] = 1
        special[row, :k] = torch.tensor(fixed)
        feature_ids[row, :k] = torch.tensor(word_ids)
        tokens = [layout.tokens[p] for p in where]
        layouts.append(TextLayout(layout.text, tokens, offsets, word_ids, words, fixed, segmenter=layout.segmenter))
    types = torch.zeros_like(input_ids) if adapter.family.token_types else None
    inputs = ModelInputs(input_ids, mask, adapter.position_ids(mask), types)
    return Batch(inputs.to(adapter.device), layouts, special, feature_ids, [0] * len(positions))
