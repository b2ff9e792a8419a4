"""The text modality: tokenized texts (and sentence pairs) whose features are words, or single tokens.

Encoding groups subword tokens into words (`models.words.group_words`); removal takes tokens out with a
`perturb` strategy (`delete` closes the gap, `mask`/`unk` replace them, `pad` hides them from attention) and
runs every variant of every text through the pooled runner; path baselines replace token ids or embeddings.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import pyarrow as pa
import torch
from torch import Tensor

from trexplain.errors import InputError, InputTooLongError, MethodError
from trexplain.inputs import check_text
from trexplain.layout import TextLayout, pair_text
from trexplain.models.batch import Batch, ModelInputs
from trexplain.models.modalities.base import Modality
from trexplain.models.pooled import Pooled, run_pooled
from trexplain.models.words import group_words, segmenter_for
from trexplain.perturb import STRATEGIES, remove

_SPANS = pa.list_(pa.list_(pa.int32(), 2))


class TextModality(Modality):
    """Texts and sentence pairs, explained word by word (see the module doc)."""

    kind: ClassVar[str] = "text"
    unit: ClassVar[str] = "texts"
    strategies: ClassVar[tuple[str, ...]] = STRATEGIES
    levels: ClassVar[tuple[str, ...]] = ("word", "token")
    baselines: ClassVar[tuple[str, ...]] = ("pad", "mask", "zero")
    shows_attention: ClassVar[bool] = True
    arrow_columns: ClassVar[tuple[pa.Field, ...]] = (
        pa.field("text", pa.string()),
        pa.field("tokens", pa.list_(pa.string())),
        pa.field("offsets", _SPANS),  # [tokens][start, end] in characters
        pa.field("word_ids", pa.list_(pa.int32())),
        pa.field("words", _SPANS),  # [words][start, end] in characters
        pa.field("special", pa.list_(pa.bool_())),
        pa.field("segments", _SPANS),  # [segments][start, end] of a sentence pair's texts; null for one text
        pa.field("segmenter", pa.string()),  # how the words were found (models.words.segmenter_for)
    )

    # ------------------------------------------------------------------------------------------------- inputs
    def read(self, inputs: Any) -> list[Any]:
        return [inputs] if isinstance(inputs, str) else list(inputs)

    def encode(self, adapter: Any, inputs: Sequence[Any], *, truncate: bool = False) -> Batch:
        """Tokenize texts with offsets and word groups. Too long: an error, or truncation if asked.

        An item `(first, second)` is a sentence pair, encoded as the tokenizer encodes pairs (its separator and token
        type ids); its layout joins the two texts with `PAIR_SEPARATOR` and records each segment's span.
        """
        texts = check_texts(inputs)
        with adapter.lock:  # a fast tokenizer's padding/truncation state is shared between calls
            lengths = [len(ids) for ids in adapter.tokenize(texts, truncation=False, verbose=False)["input_ids"]]
            too_long = [(i, n) for i, n in enumerate(lengths) if n > adapter.max_length]
            if too_long and not truncate:
                i, n = too_long[0]
                raise InputTooLongError(
                    f"text {i} has {n} tokens; {adapter.name} accepts at most {adapter.max_length}. Shorten or split "
                    f"it, or pass truncate=True (CLI: --truncate) to keep the first {adapter.max_length} tokens "
                    "(recorded in the explanation)"
                )
            truncated = [max(0, n - adapter.max_length) for n in lengths]
            if too_long:
                warnings.warn(
                    f"{len(too_long)} text(s) truncated to {adapter.max_length} tokens; recorded in each explanation",
                    stacklevel=3,
                )
            limit = {"truncation": True, "max_length": adapter.max_length} if too_long else {}
            if adapter.family.token_types:
                limit["return_token_type_ids"] = True
            enc = adapter.tokenize(
                texts,
                padding=True,
                padding_side="right",  # batch bookkeeping slices each row's real tokens as [:n]
                return_offsets_mapping=True,
                return_special_tokens_mask=True,
                return_tensors="pt",
                **limit,
            )
        mask = enc["attention_mask"]
        special = enc["special_tokens_mask"].bool() | ~mask.bool()
        layouts, feature_ids = [], torch.full_like(enc["input_ids"], -1)
        for row, item in enumerate(texts):
            n = int(mask[row].sum())
            ids = enc["input_ids"][row, :n].tolist()
            spans = [tuple(map(int, o)) for o in enc["offset_mapping"][row, :n].tolist()]
            fixed = special[row, :n].tolist()
            text, segments = (item, ()) if isinstance(item, str) else pair_text(*item)
            if segments:  # offsets of the second text's tokens move behind the first text and the separator
                shift = segments[1][0]
                sequence = enc.sequence_ids(row)[:n]
                moved = zip(spans, sequence, strict=True)
                spans = [(s + shift, e + shift) if seq == 1 else (s, e) for (s, e), seq in moved]
            word_ids, word_spans = group_words(text, spans, fixed)
            feature_ids[row, :n] = torch.tensor(word_ids)
            tokens = adapter.tokenizer.convert_ids_to_tokens(ids)
            layouts.append(TextLayout(text, tokens, spans, word_ids, word_spans, fixed, segments, segmenter_for(text)))
        token_types = enc.get("token_type_ids") if adapter.family.token_types else None
        inputs = ModelInputs(enc["input_ids"], mask, adapter.position_ids(mask), token_types)
        return Batch(inputs.to(adapter.device), layouts, special, feature_ids, truncated)

    def name(self, explanation: Any) -> str:
        return explanation.text

    def rebuild(self, adapter: Any, explanations: Sequence[Any]) -> tuple[Batch, list[int]]:
        """The texts encoded again (truncated as they were); an explanation whose tokens differ is refused."""
        windowed = next((e for e in explanations if e.diagnostics.get("windows", 1) > 1), None)
        if windowed is not None:
            raise InputError(
                f"the explanation by {windowed.method} of {windowed.text[:40]!r} spans "
                f"{windowed.diagnostics['windows']} windows; removal curves need one model input per text: "
                "evaluate texts that fit the model"
            )
        sources = [getattr(e.layout, "source", None) or e.text for e in explanations]  # a pair: its two texts
        distinct = list(dict.fromkeys(sources))
        truncate = any(e.diagnostics.get("truncated_tokens") for e in explanations)
        batch = self.encode(adapter, distinct, truncate=truncate)
        row_of = {source: row for row, source in enumerate(distinct)}
        rows = [row_of[source] for source in sources]
        for e, row in zip(explanations, rows, strict=True):
            if tuple(batch.tokens[row]) != e.tokens:
                raise InputError(
                    f"the explanation by {e.method} of {e.text[:40]!r} has other tokens than {adapter.name} gives; "
                    "evaluate it with the model that made it (or load it with trexplain.evaluate.load_scores)"
                )
        return batch, rows

    # ------------------------------------------------------------------------------------------------ removal
    def removal_logits(
        self, adapter: Any, batch: Batch, removed: Sequence[tuple[int, Tensor]], strategy: str, batch_size: int = 64
    ) -> Pooled:
        """Every variant of every text built with `perturb.remove`, all run through the pooled runner."""
        strategy = self.strategy(strategy)
        parts = [remove(adapter, batch, row, sets, strategy) for row, sets in removed]
        return run_pooled(adapter, parts, batch_size)

    def baseline_embeddings(self, adapter: Any, batch: Batch, baseline: Any) -> Tensor:
        """Embedding output of the baseline: special tokens and padding kept, every other token replaced.

        `pad` (default) / `mask` replace the token ids (positions and token types unchanged, so RoBERTa-family
        position embeddings never move); `zero` sets those tokens' embedding vectors to 0; any other string is a
        text whose tokens fill the replaceable positions in order (pad ids after it ends, cut where it is longer).
        A tensor is the baseline's embedding output itself, used as given except at padding.
        """
        inputs, movable = batch.inputs, batch.maskable
        baseline = self.baselines[0] if baseline is None else baseline
        if isinstance(baseline, Tensor):
            return tensor_baseline(adapter, batch, baseline)
        self.check_baseline_name(baseline)
        if baseline == "zero":
            return adapter.embed(inputs) * (~movable).unsqueeze(-1)
        if baseline in ("pad", "mask"):
            replacement = adapter.pad_token_id if baseline == "pad" else adapter.mask_token_id
            if replacement is None:
                raise MethodError(f"the tokenizer of {adapter.name} has no mask token; use baseline='pad' or 'zero'")
            ids = torch.where(movable, torch.full_like(inputs.input_ids, int(replacement)), inputs.input_ids)
        else:
            tokens = adapter.tokenize(baseline, add_special_tokens=False)["input_ids"]
            if not tokens:
                raise MethodError(
                    f"baseline text {baseline!r} has no tokens; use {', '.join(self.baselines)} or a real text"
                )
            tokens = torch.tensor(tokens, device=inputs.input_ids.device)
            rank = movable.long().cumsum(1) - 1
            filled = torch.where(rank < len(tokens), tokens[rank.clamp(0, len(tokens) - 1)], adapter.pad_token_id)
            ids = torch.where(movable, filled, inputs.input_ids)
        return adapter.embed(inputs.with_ids(ids))


def tensor_baseline(adapter: Any, batch: Batch, baseline: Tensor) -> Tensor:
    """A user's embedding-output baseline, [T, d] (every input) or [B, T, d], checked against the batch."""
    real = adapter.embed(batch.inputs)
    if baseline.dim() == 2:
        baseline = baseline.unsqueeze(0).expand_as(real) if baseline.shape == real.shape[1:] else baseline
    if baseline.shape != real.shape:
        raise MethodError(
            f"baseline tensor of shape {tuple(baseline.shape)} does not fit these inputs: pass the embedding "
            f"output's shape {tuple(real.shape)} (or {tuple(real.shape[1:])} for every input), e.g. built from "
            "adapter.embed(adapter.encode(inputs).inputs)"
        )
    padding = ~batch.inputs.attention_mask.bool().unsqueeze(-1)
    return torch.where(padding, real, baseline.to(real))


def check_texts(texts: Sequence[str | tuple[str, str]]) -> list[str | tuple[str, str]]:
    """The texts (and `(first, second)` pairs) as a list, each checked: a string, not empty, valid Unicode."""
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    if not texts:
        raise InputError("no text given; pass at least one text")
    for i, item in enumerate(texts):
        if isinstance(item, (tuple, list)) and len(item) == 2:
            texts[i] = tuple(item)
            parts = [(item[0], f"text {i} (first of the pair)"), (item[1], f"text {i} (second of the pair)")]
        else:
            parts = [(item, f"text {i}")]
        for text, name in parts:
            if not isinstance(text, str):
                raise InputError(f"{name} is a {type(text).__name__}, not a string (or a pair of strings)")
            if not text.strip():
                raise InputError(f"{name} is empty or whitespace only; give at least one word to explain")
            check_text(text, name)
    return texts


TEXT = TextModality()
