"""Activations of a model site, one row per text, token or word, streamed batch by batch to a store on disk.

A store folder holds `activations.npy` ([rows, dim], float16 or float32, read memory-mapped), one metadata
entry per row (`text_ids.npy`, `positions.npy`: token or word index, -1 for a whole-text row, `spans.npy`:
character span [start, end) of the row's token, word or text), `logits.npy` (float32 [texts, classes]),
`texts.jsonl` (one JSON string per line) and `manifest.json`. Every `.npy` is written with a header sized
for growth and rewritten with the final row count at the end, so nothing but one batch is ever in memory;
the folder is written atomically (`folders.atomic_dir`: built aside, flushed, swapped in when complete).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from torch import Tensor

from trexplain.errors import InputError, InputTooLongError
from trexplain.folders import atomic_dir
from trexplain.models.batch import Batch
from trexplain.models.capture import Site
from trexplain.models.protocol import Adapter
from trexplain.progress import stage

GRANULARITIES: tuple[str, ...] = ("cls", "mean", "token", "word")
WORD_REDUCTIONS: tuple[str, ...] = ("mean", "sum", "max")
DTYPES: tuple[str, ...] = ("float16", "float32")
FORMAT, VERSION = "trexplain-activations", 1
MANIFEST, TEXTS = "manifest.json", "texts.jsonl"
COLUMNS: dict[str, str] = {"activations": "", "text_ids": "int32", "positions": "int32", "spans": "int32"}
STORE_FILES = (*(f"{name}.npy" for name in [*COLUMNS, "logits"]), TEXTS, MANIFEST)
"""Every file of a store folder."""


def extract(
    adapter: Adapter,
    texts: Sequence[str],
    site: str = "block_output:-1",
    granularity: str = "cls",
    *,
    word_reduce: str = "mean",
    out: str | os.PathLike[str] | None = None,
    dtype: str = "float16",
    batch_size: int = 32,
    truncate: bool = False,
) -> ActivationStore:
    """The activations at `site` of every text, batch by batch, in a store (on disk at `out`, in memory when None).

    One row per text (`cls`: the token the head reads, the first one or a decoder's last real token; `mean`: mean
    over real tokens, special ones included), per non-special token (`token`) or per word (`word`: `word_reduce` of
    its tokens)."""
    parsed = check_site_options(adapter, texts, site, granularity, word_reduce, dtype, batch_size)
    layers = len(adapter.layers)
    # logits_only runs the last block's feed-forward on the first token alone: the rows past the first one of
    # that block's output (and of anything computed inside it after the feed-forward) are then meaningless
    head_only = (
        granularity == "cls"
        or parsed.kind in ("embeddings", "block_input")
        or (parsed.kind == "block_output" and parsed.index < layers - 1)
    )

    def fill(sink: _Sink) -> ActivationStore:
        truncated = 0
        with stage(f"activations at {site} ({granularity})", total=len(texts)) as advance:
            for start in range(0, len(texts), batch_size):
                chunk = list(texts[start : start + batch_size])
                batch = encode_chunk(adapter, chunk, start, truncate)
                truncated += sum(1 for n in batch.truncated if n)
                with torch.no_grad():
                    output = adapter.forward(batch.inputs, capture=[site], logits_only=head_only)
                pooled = adapter.pooled_positions(batch.inputs)
                rows = site_rows(output.captured[site], batch, granularity, word_reduce, site, pooled)
                sink.append(start, chunk, rows, output.logits.float().cpu().numpy(), np.dtype(dtype))
                advance(len(chunk))
        if truncated:
            warnings.warn(
                f"{truncated} text(s) truncated to the model's maximum length (manifest: truncated_texts)", stacklevel=3
            )
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "model": adapter.name,
            "labels": list(adapter.labels),
            "site": site,
            "granularity": granularity,
            "word_reduce": word_reduce if granularity == "word" else None,
            "dtype": dtype,
            "rows": sink.rows,
            "dim": sink.dim,
            "texts": len(texts),
            "truncated_texts": truncated,
        }
        return sink.finish(manifest)

    if out is None:
        return fill(_MemorySink(texts))
    with atomic_dir(out, contents=STORE_FILES, what="activation store") as folder:
        fill(_DiskSink(folder))
    return ActivationStore.open(out)


class ActivationStore:
    """Activations [rows, dim] with each row's text id, position and span, and the model's logits per text.

    Opened from a folder, `activations` and every per-row column are memory-mapped; a `select(...)` is a
    view over the same files whose `activations` are read into memory (use `batches` to stream them).
    `text_ids` index `texts` and `logits`, which always cover every text of the extraction.
    """

    def __init__(
        self,
        manifest: dict[str, Any],
        columns: dict[str, np.ndarray],
        logits: np.ndarray,
        *,
        texts: list[str] | None = None,
        path: Path | None = None,
        index: np.ndarray | None = None,
    ) -> None:
        self.manifest = manifest
        self.path = path
        self._columns = columns
        self._logits = logits
        self._texts = texts
        self._index = index

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> ActivationStore:
        """The store in folder `path`, memory-mapped read-only."""
        path = Path(path)
        if not (path / MANIFEST).is_file():
            raise InputError(f"{path} is not an activation store (no {MANIFEST}); create one with concepts.extract")
        manifest = json.loads((path / MANIFEST).read_text())
        if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
            raise InputError(
                f"{path}: {manifest.get('format')} version {manifest.get('version')}, expected {FORMAT} "
                f"version {VERSION}; extract the activations again"
            )
        try:
            columns = {name: np.load(path / f"{name}.npy", mmap_mode="r") for name in COLUMNS}
            logits = np.load(path / "logits.npy", mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise InputError(
                f"{path}: a store file is missing or corrupt ({exc}); extract the activations again"
            ) from exc
        if any(len(column) != manifest["rows"] for column in columns.values()) or len(logits) != manifest["texts"]:
            raise InputError(f"{path}: the files disagree with manifest.json; extract the activations again")
        return cls(manifest, columns, logits, path=path)

    # ---------------------------------------------------------------- facts
    @property
    def model(self) -> str:
        return self.manifest["model"]

    @property
    def site(self) -> str:
        return self.manifest["site"]

    @property
    def granularity(self) -> str:
        return self.manifest["granularity"]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.manifest["labels"])

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    def __len__(self) -> int:
        return int(self.manifest["rows"]) if self._index is None else len(self._index)

    def __repr__(self) -> str:
        where = self.path if self.path is not None else "memory"
        return (
            f"ActivationStore({len(self)} rows × {self.dim}, {self.site}, {self.granularity}, "
            f"{self.manifest['dtype']}, {self.manifest['texts']} texts, {where})"
        )

    # ------------------------------------------------------------------ rows
    @property
    def activations(self) -> np.ndarray:
        """[rows, dim] in the stored dtype: memory-mapped for a whole store, in memory for a selection."""
        return self._column("activations")

    @property
    def text_ids(self) -> np.ndarray:
        """The text of every row (an index into `texts` and `logits`)."""
        return self._column("text_ids")

    @property
    def positions(self) -> np.ndarray:
        """Token index (`token`) or word index (`word`) of every row within its text; -1 for `cls` and `mean`."""
        return self._column("positions")

    @property
    def spans(self) -> np.ndarray:
        """[rows, 2] character span [start, end) of each row's token, word, or whole text."""
        return self._column("spans")

    @property
    def logits(self) -> np.ndarray:
        """float32 [texts, classes]: the model's logits for every text of the extraction."""
        return self._logits

    @property
    def text_predictions(self) -> np.ndarray:
        """The predicted class of every text."""
        return np.asarray(self._logits).argmax(axis=1)

    @property
    def predicted(self) -> np.ndarray:
        """The predicted class of every row (its text's prediction)."""
        return self.text_predictions[self.text_ids]

    @property
    def texts(self) -> list[str]:
        """Every text of the extraction, by text id (read from disk on first use)."""
        if self._texts is None:
            with (self.path / TEXTS).open(encoding="utf-8") as handle:
                self._texts = [json.loads(line) for line in handle]
        return self._texts

    @property
    def rows(self) -> Any:
        """A pandas DataFrame with one row per activation row: text_id, position, start, end, predicted."""
        import pandas as pd

        spans = np.asarray(self.spans)
        return pd.DataFrame(
            {
                "text_id": np.asarray(self.text_ids),
                "position": np.asarray(self.positions),
                "start": spans[:, 0],
                "end": spans[:, 1],
                "predicted": self.predicted,
            }
        )

    def span_text(self, row: int) -> str:
        """The token, word or text that row `row` (of this selection) stands for."""
        base = row if self._index is None else int(self._index[row])
        start, end = (int(x) for x in self._columns["spans"][base])
        return self.texts[int(self._columns["text_ids"][base])][start:end]

    def _column(self, name: str) -> np.ndarray:
        column = self._columns[name]
        return column if self._index is None else column[self._index]

    # ------------------------------------------------------------- reading
    def to_numpy(self, dtype: Any = np.float32) -> np.ndarray:
        """All activations (of this selection) in memory as one `dtype` array."""
        return np.asarray(self.activations, dtype=dtype)

    def batches(
        self, size: int, *, shuffle: bool = False, seed: int = 0, dtype: Any = np.float32
    ) -> Iterator[np.ndarray]:
        """Minibatches of at most `size` rows as `dtype` arrays, read from disk one at a time; with `shuffle`,
        rows in a seeded random order (each batch's rows in file order)."""
        if size < 1:
            raise InputError(f"batch size must be at least 1, got {size}")
        order = np.random.default_rng(seed).permutation(len(self)) if shuffle else None
        full = self._columns["activations"]
        for start in range(0, len(self), size):
            rows = (
                np.arange(start, min(start + size, len(self)))
                if order is None
                else np.sort(order[start : start + size])
            )
            if self._index is not None:
                rows = self._index[rows]
            chunk = full[rows[0] : rows[-1] + 1] if order is None and self._index is None else full[rows]
            yield np.array(chunk, dtype=dtype)  # a copy: never a read-only view of the file

    def select(
        self, *, predicted: int | str | Sequence[int | str] | None = None, text_ids: Sequence[int] | None = None
    ) -> ActivationStore:
        """The rows of texts predicted as `predicted` (class indices or label names) and/or among `text_ids`: a
        view on the same data, e.g. for class-wise dictionaries."""
        keep = np.ones(len(self), dtype=bool)
        if predicted is not None:
            wanted = [predicted] if isinstance(predicted, (int, str, np.integer)) else list(predicted)
            keep &= np.isin(self.predicted, [self._class(c) for c in wanted])
        if text_ids is not None:
            keep &= np.isin(self.text_ids, np.asarray(text_ids, dtype=np.int64))
        rows = np.flatnonzero(keep)
        index = rows if self._index is None else self._index[rows]
        return ActivationStore(
            self.manifest, self._columns, self._logits, texts=self._texts, path=self.path, index=index
        )

    def _class(self, label: int | str | np.integer) -> int:
        if isinstance(label, str):
            if label not in self.labels:
                raise InputError(f"unknown class {label!r}; this store's classes: {', '.join(self.labels)}")
            return self.labels.index(label)
        if not 0 <= int(label) < len(self.labels):
            raise InputError(f"class {label} out of range; this store has classes 0..{len(self.labels) - 1}")
        return int(label)


# ----------------------------------------------------------------- checks
def check_site_options(
    adapter: Adapter,
    texts: Sequence[str],
    site: str,
    granularity: str,
    word_reduce: str,
    dtype: str,
    batch_size: int,
) -> Site:
    """The parsed `site`, once every option of an extraction (or a concept edit) is checked."""
    if granularity not in GRANULARITIES:
        raise InputError(f"unknown granularity {granularity!r}; use one of {', '.join(GRANULARITIES)}")
    if word_reduce not in WORD_REDUCTIONS:
        raise InputError(f"unknown word_reduce {word_reduce!r}; use one of {', '.join(WORD_REDUCTIONS)}")
    if dtype not in DTYPES:
        raise InputError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    parsed = Site.parse(site, len(adapter.layers))
    if parsed.kind == "attention":
        raise InputError(
            f"site {site!r} holds attention probabilities, not representations; use embeddings, block_input:L, "
            "block_output:L or module:PATH"
        )
    if isinstance(texts, str) or not len(texts):
        raise InputError("no texts given; pass a list of at least one text")
    return parsed


def encode_chunk(adapter: Adapter, chunk: list[str], start: int, truncate: bool) -> Batch:
    """`chunk` (texts `start`… of a list) encoded, each text checked and errors numbered in the whole list."""
    for i, text in enumerate(chunk):
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"text {start + i} is empty or not a string; give at least one word per text")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # one warning with the total comes at the end
            return adapter.encode(chunk, truncate=truncate)
    except InputTooLongError as exc:
        raise InputTooLongError(f"{exc} (counting from text {start}, the first of its batch)") from exc


# ------------------------------------------------------------------- rows
def site_rows(
    value: Tensor, batch: Batch, granularity: str, word_reduce: str, site: str, pooled: Tensor | None = None
) -> dict[str, np.ndarray]:
    """The activation rows of one batch with their text index in the batch, position and span; `cls` reads each
    row's `pooled` position (`Adapter.pooled_positions`: a decoder's last real token; 0 when None)."""
    value = value.detach().float()
    mask = batch.inputs.attention_mask.to(value.device).bool()
    lengths = [len(layout.text) for layout in batch.layouts]
    if value.dim() == 2 and granularity != "cls":
        raise InputError(f"site {site!r} gives one vector per text ([batch, dim]); use granularity='cls'")
    if value.dim() == 2:
        value, pooled = value[:, None], None  # one vector per text: nothing to choose
    # with logits_only a site after the last feed-forward has the first token only: enough for cls
    if value.dim() != 3 or len(value) != len(mask) or (granularity != "cls" and value.shape[1] != mask.shape[1]):
        raise InputError(
            f"site {site!r} gives shape {list(value.shape)}, not [batch, tokens, dim]; choose another site"
        )
    if granularity in ("cls", "mean"):
        if granularity == "cls":
            acts = value[:, 0] if pooled is None else value[torch.arange(len(value)), pooled.to(value.device)]
        else:
            weights = mask.to(value.dtype)[..., None]
            acts = (value * weights).sum(1) / weights.sum(1)
        n = len(batch)
        return {
            "activations": acts,
            "text": np.arange(n),
            "positions": np.full(n, -1),
            "spans": np.stack([np.zeros(n, dtype=np.int64), np.asarray(lengths)], axis=1),
        }
    if granularity == "token":
        keep = mask & ~batch.special_mask.to(mask.device)
        text, position = (t.cpu().numpy() for t in keep.nonzero(as_tuple=True))
        spans = np.asarray([batch.layouts[t].offsets[p] for t, p in zip(text, position, strict=True)], dtype=np.int64)
        return {"activations": value[keep], "text": text, "positions": position, "spans": spans.reshape(-1, 2)}
    return _word_rows(value, batch, word_reduce)


def _word_rows(value: Tensor, batch: Batch, reduce: str) -> dict[str, np.ndarray]:
    """One row per word: the `reduce` of its tokens' vectors."""
    counts = [len(layout.words) for layout in batch.layouts]
    first = torch.tensor(np.cumsum([0, *counts[:-1]]), device=value.device)
    ids = batch.feature_ids.to(value.device)
    member = ids >= 0
    index = (ids + first[:, None])[member]
    tokens = value[member]
    total, dim = sum(counts), value.shape[-1]
    if reduce == "max":
        acts = torch.zeros(total, dim, dtype=value.dtype, device=value.device).scatter_reduce(
            0, index[:, None].expand_as(tokens), tokens, "amax", include_self=False
        )
    else:
        acts = torch.zeros(total, dim, dtype=value.dtype, device=value.device).index_add_(0, index, tokens)
        if reduce == "mean":
            acts /= torch.bincount(index, minlength=total).clamp_min(1)[:, None].to(value.dtype)
    words = [span for layout in batch.layouts for span in layout.words]
    return {
        "activations": acts,
        "text": np.repeat(np.arange(len(counts)), counts),
        "positions": np.concatenate([np.arange(c) for c in counts]),
        "spans": np.asarray(words, dtype=np.int64).reshape(-1, 2),
    }


# ------------------------------------------------------------------ sinks
class _Sink:
    """Where batches of rows go: files on disk or arrays in memory."""

    rows = 0
    dim = 0

    def append(self, start: int, chunk: list[str], rows: dict[str, Any], logits: np.ndarray, dtype: np.dtype) -> None:
        acts = rows["activations"]
        stored = acts.to(torch.float16 if dtype == np.float16 else torch.float32).cpu()
        if (~torch.isfinite(stored) & torch.isfinite(acts.cpu())).any():
            raise InputError("activations exceed the float16 range (±65504); extract with dtype='float32'")
        self.dim = int(acts.shape[-1])
        self.rows += len(stored)
        self.write(
            {
                "activations": stored.numpy(),
                "text_ids": rows["text"] + start,
                "positions": rows["positions"],
                "spans": rows["spans"],
            },
            logits,
            chunk,
        )

    def write(self, columns: dict[str, np.ndarray], logits: np.ndarray, chunk: list[str]) -> None:
        raise NotImplementedError

    def finish(self, manifest: dict[str, Any]) -> ActivationStore:
        raise NotImplementedError


class _MemorySink(_Sink):
    """Arrays in memory (extract with out=None)."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)
        self.parts: dict[str, list[np.ndarray]] = {name: [] for name in [*COLUMNS, "logits"]}

    def write(self, columns: dict[str, np.ndarray], logits: np.ndarray, chunk: list[str]) -> None:
        for name, column in columns.items():
            self.parts[name].append(column.astype(COLUMNS[name] or column.dtype, copy=False))
        self.parts["logits"].append(logits)

    def finish(self, manifest: dict[str, Any]) -> ActivationStore:
        arrays = {name: np.concatenate(parts) for name, parts in self.parts.items()}
        logits = arrays.pop("logits")
        return ActivationStore(manifest, arrays, logits, texts=self.texts)


class _DiskSink(_Sink):
    """Files in `folder` (the temporary folder of an atomic write)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.writers: dict[str, _NpyWriter] = {}
        self.texts = (folder / TEXTS).open("w", encoding="utf-8")

    def write(self, columns: dict[str, np.ndarray], logits: np.ndarray, chunk: list[str]) -> None:
        for name, column in {**columns, "logits": logits}.items():
            if name not in self.writers:
                dtype = COLUMNS.get(name) or column.dtype
                self.writers[name] = _NpyWriter(self.folder / f"{name}.npy", np.dtype(dtype), column.shape[1:])
            self.writers[name].append(column)
        self.texts.writelines(json.dumps(text) + "\n" for text in chunk)

    def finish(self, manifest: dict[str, Any]) -> ActivationStore:
        for writer in self.writers.values():
            writer.close()
        self.texts.close()
        (self.folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
        return ActivationStore.open(self.folder)


class _NpyWriter:
    """A `.npy` file grown along its first axis: numpy pads the header so the final row count fits in place."""

    def __init__(self, path: Path, dtype: np.dtype, tail: tuple[int, ...]) -> None:
        self.dtype, self.tail, self.count = dtype, tuple(tail), 0
        self.file: BinaryIO = path.open("wb")
        self._header()
        self.data_start = self.file.tell()

    def _header(self) -> None:
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (self.count, *self.tail),
        }
        np.lib.format.write_array_header_1_0(self.file, header)

    def append(self, array: np.ndarray) -> None:
        self.file.write(np.ascontiguousarray(array, dtype=self.dtype).tobytes())
        self.count += len(array)

    def close(self) -> None:
        self.file.seek(0)
        self._header()
        if self.file.tell() != self.data_start:
            raise RuntimeError("the .npy header grew past its padding")  # numpy reserves room for 21 digits
        self.file.close()
