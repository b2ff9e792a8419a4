"""Running a model with the concept contributions at a site changed: the machinery of importance, ablation and
fidelity.

For one batch, `SiteEdit` captures the site's value A [B, T, D], takes the same rows the activation store
takes (`activations.site_rows`: one per text for `cls`/`mean`, per token for `token`, per word for `word`),
encodes them (codes c₀ [R, k]) and can run the rest of the model on A + scatter(Δ) for any row change Δ
[R, D]. Δ is always a difference of decoded codes, decode(c) − decode(c₀) = (c − c₀) @ components_, so the
reconstruction error x − decode(c₀) stays in place: with c = c₀ the logits are the original ones exactly,
whatever the dictionary.
How a row change reaches the site's tokens (`scatter`), per granularity:
- `cls`: position 0 only (the other tokens keep their values);
- `mean`: every real position (special tokens included, as in the mean) moves by Δ, so the mean moves by Δ;
- `token`: each non-special token by its own row's Δ (special tokens and padding unchanged);
- `word`: each token of the word by Δ (`mean`, `max`: then the word's mean or max moves by exactly Δ) or by
  Δ / its token count (`sum`).
A site with one vector per text (`module:bert.pooler`, `cls` only) is that vector. At the last block's output
only position 0 reaches the head of every supported family, so changes to other
tokens there have no effect on the logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from trexplain.concepts.activations import check_site_options, encode_chunk, site_rows
from trexplain.concepts.dictionaries import Dictionary
from trexplain.errors import InputError
from trexplain.models.batch import Batch
from trexplain.models.protocol import Adapter

MAX_ROWS = 256
"""At most this many texts (variants × batch) go through the model in one forward."""


class SiteEdit:
    """One encoded batch with the site's value captured and its rows encoded by `dictionary`."""

    def __init__(
        self,
        adapter: Adapter,
        dictionary: Dictionary,
        texts: Sequence[str],
        site: str,
        granularity: str,
        *,
        word_reduce: str = "mean",
        truncate: bool = False,
        start: int = 0,
    ) -> None:
        parsed = check_site_options(adapter, texts, site, granularity, word_reduce, "float32", max(1, len(texts)))
        self.adapter, self.dictionary, self.granularity, self.word_reduce = (
            adapter,
            dictionary,
            granularity,
            word_reduce,
        )
        layers = len(adapter.layers)
        last = parsed.kind == "block_output" and parsed.index == layers - 1
        self.logits_only = granularity == "cls" or not last
        self.batch: Batch = encode_chunk(adapter, list(texts), start, truncate)
        with torch.no_grad():
            out = adapter.forward(self.batch.inputs, capture=[site], logits_only=self.logits_only)
        value = out.captured[site].detach()
        self.flat = value.dim() == 2 and granularity == "cls"  # one vector per text (e.g. module:bert.pooler)
        if self.flat:
            value = value[:, None]
        if value.dim() != 3:
            raise InputError(f"site {site!r} gives shape {list(value.shape)}; concept edits need [batch, tokens, dim]")
        self.value = value
        self.logits = out.logits.detach().float()
        self.pooled = (
            torch.zeros(len(value), dtype=torch.long) if self.flat else adapter.pooled_positions(self.batch.inputs)
        ).to(value.device)
        rows = site_rows(value, self.batch, granularity, word_reduce, site, self.pooled)
        self.rows = rows["activations"].float()
        self.text = torch.as_tensor(rows["text"], dtype=torch.long, device=value.device)
        self.positions = torch.as_tensor(rows["positions"], dtype=torch.long, device=value.device)
        self.spans = rows["spans"]
        codes = dictionary.encode(self.rows.cpu().numpy())
        self.codes = torch.as_tensor(codes, dtype=torch.float32, device=value.device)
        self.components = torch.as_tensor(dictionary.components_, dtype=torch.float32, device=value.device)
        self._replace_site, self._skip = self._plan(parsed, layers)

    def __len__(self) -> int:
        return len(self.batch)

    def _plan(self, parsed, layers: int) -> tuple[str, int]:
        """Where the edited value is written and how many blocks before it can be skipped (their output is
        overwritten anyway); skipping needs a known family, whose blocks return a plain tensor."""
        known = bool(getattr(getattr(self.adapter, "family", None), "layers", None))
        if parsed.kind == "block_output" and known:
            return parsed.name, parsed.index + 1
        if parsed.kind == "block_input" and known:
            return parsed.name, parsed.index
        return parsed.name, 0

    # ----------------------------------------------------------- scatter
    def scatter(self, delta: Tensor) -> Tensor:
        """Row changes [V, R, D] (V variants of this batch) as site changes [V, B, T, D] (see the module doc)."""
        V = delta.shape[0]
        out = torch.zeros((V, *self.value.shape), dtype=delta.dtype, device=delta.device)
        if self.granularity == "cls":
            out[:, torch.arange(out.shape[1], device=out.device), self.pooled] = delta
        elif self.granularity == "mean":
            mask = self.batch.inputs.attention_mask.to(delta.device, delta.dtype)
            out += delta[:, :, None, :] * mask[None, :, :, None]
        elif self.granularity == "token":
            out[:, self.text, self.positions] = delta
        else:
            ids = self.batch.feature_ids.to(delta.device)
            counts = [len(layout.words) for layout in self.batch.layouts]
            first = torch.tensor(np.cumsum([0, *counts[:-1]]), device=delta.device)
            member = ids >= 0
            word = (ids + first[:, None])[member]
            share = delta[:, word]
            if self.word_reduce == "sum":
                tokens = torch.bincount(word, minlength=sum(counts)).clamp_min(1).to(delta.dtype)
                share = share / tokens[word][None, :, None]
            b, t = member.nonzero(as_tuple=True)
            out[:, b, t] = share
        return out

    # ----------------------------------------------------------- running
    def delta_codes(self, codes: Tensor) -> Tensor:
        """Row changes when the codes become `codes` [..., R, k]: decode(codes) − decode(c₀) = (codes − c₀) @
        components_ (decode is affine), differentiable, and exactly zero where codes = c₀."""
        return (codes - self.codes) @ self.components

    def run(self, delta: Tensor) -> Tensor:
        """Logits [V, B, C] of the model with the site's rows changed by `delta` [V, R, D] (in the graph when
        gradients are on)."""
        V, B = delta.shape[0], len(self)
        per = max(1, MAX_ROWS // max(1, B))
        parts = []
        for begin in range(0, V, per):
            part = delta[begin : begin + per]
            n = part.shape[0]
            edited = (self.value[None] + self.scatter(part).to(self.value.dtype)).reshape(n * B, *self.value.shape[1:])
            inputs = self.batch.inputs.rows(torch.arange(B).repeat(n))

            def write(_value: Tensor, edited: Tensor = edited[:, 0] if self.flat else edited) -> Tensor:
                return edited

            out = self.adapter.forward(
                inputs, replace={self._replace_site: write}, skip_blocks=self._skip, logits_only=self.logits_only
            )
            parts.append(out.logits.float().reshape(n, B, -1))
        return torch.cat(parts)

    def removed(self, masks: Tensor) -> Tensor:
        """Logits [V, B, C] with, in variant v, the concepts `masks[v]` (bool [B, k], per text) removed from every
        row of the text: each row loses Σ_{j removed} c₀[row, j] · components_[j]."""
        keep = (~masks[:, self.text]).to(self.codes.dtype)  # [V, R, k]
        with torch.no_grad():
            return self.run(self.delta_codes(self.codes[None] * keep))

    def per_text(self, values: Tensor) -> Tensor:
        """Row values [..., R, k] summed over each text's rows: [..., B, k]."""
        out = torch.zeros((*values.shape[:-2], len(self), values.shape[-1]), dtype=values.dtype, device=values.device)
        return out.index_add_(-2, self.text, values)


def batches(texts: Sequence[str], size: int) -> list[tuple[int, list[str]]]:
    """(start, texts) chunks of at most `size` texts."""
    if size < 1:
        raise InputError(f"batch_size must be at least 1, got {size}")
    if isinstance(texts, str) or not len(texts):
        raise InputError("no texts given; pass a list of at least one text")
    return [(start, list(texts[start : start + size])) for start in range(0, len(texts), size)]
