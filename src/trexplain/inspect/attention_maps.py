"""Attention probabilities of one text (layers × heads × tokens × tokens), for export, views and summaries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from trexplain import checks
from trexplain.models.adapter import ModelAdapter


@dataclass(frozen=True)
class AttentionMaps:
    """`attention[l, h, i, j]`: how much query token i attends to key token j in head h of layer `layers[l]`."""

    text: str
    tokens: list[str]
    offsets: list[tuple[int, int]]
    special: list[bool]
    layers: list[int]
    heads: list[int]
    attention: np.ndarray

    def to_dict(self, decimals: int = 4) -> dict[str, Any]:
        """JSON-ready dict `{"tokens", "offsets", "attention": [L][H][T][T], ...}`, rounded to `decimals` (0 to 15)."""
        decimals = checks.decimals(decimals)
        return {
            "text": self.text,
            "tokens": list(self.tokens),
            "offsets": [list(o) for o in self.offsets],
            "special": list(self.special),
            "layers": list(self.layers),
            "heads": list(self.heads),
            "attention": np.round(self.attention.astype(np.float64), decimals).tolist(),
        }

    def top_links(self, n: int = 3, include_special: bool = False) -> list[dict[str, Any]]:
        """The `n` strongest query→key links of every head (self-links and, by default, special tokens left out).

        Special tokens soak up most attention in many heads ("no-op" attention), which hides the links
        between words; `include_special=True` keeps them.
        """
        n = checks.count(n, "n")
        checks.flag(include_special, "include_special")
        tokens = len(self.tokens)
        allowed = ~np.eye(tokens, dtype=bool)
        if not include_special:
            plain = ~np.array(self.special, dtype=bool)
            allowed &= plain[:, None] & plain[None, :]
        weights = np.where(allowed, self.attention, -1.0)  # [L, H, T, T]
        flat = weights.reshape(*weights.shape[:2], -1)
        count = min(n, int(allowed.sum()))
        order = np.argsort(-flat, axis=-1, kind="stable")[..., :count]
        out = []
        for li, layer in enumerate(self.layers):
            for hi, head in enumerate(self.heads):
                links = [
                    (int(q), int(k), float(flat[li, hi, q * tokens + k]))
                    for q, k in (divmod(int(i), tokens) for i in order[li, hi])
                ]
                out.append({"layer": layer, "head": head, "links": links})
        return out


def attention_maps(
    adapter: ModelAdapter, text: str, *, layer: int | None = None, head: int | None = None
) -> AttentionMaps:
    """The attention probabilities of `text` (all layers and heads, or only `layer` / `head`, 0-based)."""
    for name, value in (("layer", layer), ("head", head)):
        checks.optional_whole(value, name)  # before the model runs
    batch = adapter.encode([text])
    _, attentions = adapter.attention_probabilities(batch.inputs)
    stacked = torch.stack(attentions, dim=1)[0].float().cpu().numpy()  # [L, H, T, T]
    layers = _select("layer", layer, stacked.shape[0])
    heads = _select("head", head, stacked.shape[1])
    return AttentionMaps(
        text=text,
        tokens=batch.tokens[0],
        offsets=batch.offsets[0],
        special=batch.special_mask[0, : batch.lengths[0]].tolist(),
        layers=layers,
        heads=heads,
        attention=stacked[np.ix_(layers, heads)],
    )


def _select(what: str, index: int | None, size: int) -> list[int]:
    return list(range(size)) if index is None else [checks.layer(index, size, what)]
