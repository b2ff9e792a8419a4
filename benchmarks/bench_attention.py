"""Attention methods, corpus indexing and neighbour search.

- attention / rollout / grad-rollout: time per explanation (grad-rollout: one forward + one backward per target).
- indexing: tokens/s of `build_index` (hidden states of every layer, float16 memmap, table) against a plain
  forward pass over the same length-sorted batches of the benchmark texts.
- neighbour search: latency of one exact query on a synthetic 100k-token float16 index (random unit vectors,
  one layer of the demo's width), i.e. the search alone, without the query's forward pass.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks.common import Context, median_ms
from trexplain.inspect.neighbours import INDEX_VERSION, META, TABLE, TEXTS, VECTORS, CorpusIndex, build_index
from trexplain.methods import Targets, get_method

BATCH = 32
SYNTHETIC_TOKENS = 100_000
QUERIES = 20


def run(ctx: Context) -> list[dict]:
    rows = []
    for name, target in (
        ("attention", "predicted"),
        ("rollout", "predicted"),
        ("grad-rollout", "predicted"),
        ("grad-rollout", "all"),
    ):
        method, targets = get_method(name), Targets(target, ctx.adapter)

        def call(text: str, method=method, targets=targets) -> None:
            method.attribute(ctx.adapter, ctx.adapter.encode([text]), targets)

        rows.append(ctx.row("attention", f"{name} ({target})", median_ms(call, ctx.texts)))
    rows.extend(_indexing(ctx))
    rows.append(_search(ctx))
    return rows


def _indexing(ctx: Context) -> list[dict]:
    adapter, texts = ctx.adapter, ctx.texts
    tokens = sum(len(ids) for ids in adapter.tokenizer(texts)["input_ids"])
    ordered = sorted(texts, key=lambda t: len(adapter.tokenizer(t)["input_ids"]))
    with tempfile.TemporaryDirectory() as folder:
        build_index(adapter, texts[:BATCH], Path(folder) / "warm", model_source="demo", batch_size=BATCH)
        start = time.perf_counter()
        build_index(adapter, texts, Path(folder) / "index", model_source="demo", batch_size=BATCH)
        index_s = time.perf_counter() - start
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(ordered), BATCH):
            adapter.forward(adapter.encode(ordered[i : i + BATCH]).inputs)
    forward_s = time.perf_counter() - start
    per_text = len(texts)
    return [
        ctx.row(
            "attention",
            f"plain forward, batches of {BATCH} (per text)",
            forward_s * 1000 / per_text,
            tokens_per_s=round(tokens / forward_s),
        ),
        ctx.row(
            "attention",
            f"index all layers, batches of {BATCH} (per text)",
            index_s * 1000 / per_text,
            tokens_per_s=round(tokens / index_s),
            x_plain_batched=round(index_s / forward_s, 2),
        ),
    ]


def _search(ctx: Context) -> dict:
    hidden = int(ctx.adapter.config.hidden_size)
    generator = torch.Generator().manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        vectors = torch.nn.functional.normalize(torch.randn(1, SYNTHETIC_TOKENS, hidden, generator=generator), dim=-1)
        np.save(path / VECTORS, vectors.half().numpy())
        pd.DataFrame(
            {
                "text_id": np.arange(SYNTHETIC_TOKENS) // 30,
                "position": np.arange(SYNTHETIC_TOKENS) % 30,
                "token": "x",
                "start": 0,
                "end": 1,
                "special": False,
            }
        ).to_parquet(path / TABLE, index=False)
        (path / TEXTS).write_text(json.dumps(["x"] * (SYNTHETIC_TOKENS // 30 + 1)))
        (path / META).write_text(
            json.dumps(
                {
                    "version": INDEX_VERSION,
                    "model": "demo",
                    "model_name": "demo",
                    "model_layers": 1,
                    "stored_layers": [0],
                    "hidden": hidden,
                    "tokens": SYNTHETIC_TOKENS,
                }
            )
        )
        index = CorpusIndex.open(path)
        queries = torch.randn(QUERIES + 2, hidden, generator=generator)
        times = []
        for i, query in enumerate(queries):
            start = time.perf_counter()
            index.search(query, 0, k=10)
            if i >= 2:
                times.append((time.perf_counter() - start) * 1000)
        del index
    return ctx.row(
        "attention", f"neighbour search, {SYNTHETIC_TOKENS // 1000}k tokens, k=10 (per query)", statistics.median(times)
    )
