"""Shared benchmark context: the demo model, the fixed texts, a timer, and the reference passes.

Every figure is a median of per-explanation CPU times on one thread, one text at a time, reported next
to the plain forward and forward+backward times measured in the same run.
"""

from __future__ import annotations

import csv
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from trexplain.models import ModelAdapter, load_model

TEXTS_FILE = Path(__file__).with_name("texts.tsv")


def load_texts(limit: int | None = None) -> list[str]:
    """The 40 fixed benchmark tweets (held-out rows of the demo corpus), optionally the first `limit`."""
    with TEXTS_FILE.open(newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]
    return texts[:limit] if limit else texts


def median_ms(fn: Callable[[str], Any], texts: list[str], warmup: int = 2) -> float:
    """Median wall time of `fn(text)` over the texts, in milliseconds, after `warmup` calls."""
    for text in texts[:warmup]:
        fn(text)
    times = []
    for text in texts:
        start = time.perf_counter()
        fn(text)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def paired_times(
    fn: Callable[[str], Any], baseline: Callable[[str], Any], texts: list[str], rounds: int = 1
) -> tuple[list[float], list[float], list[float]]:
    """Per text (and round), `baseline(text)` then `fn(text)` timed back to back after one warm-up call of each, so
    that a shared machine's drifting load hits both alike: (fn seconds, baseline seconds, per-text ratios)."""
    fn(texts[0])
    baseline(texts[0])
    ours, base, ratios = [], [], []
    for _ in range(rounds):
        for text in texts:
            start = time.perf_counter()
            baseline(text)
            middle = time.perf_counter()
            fn(text)
            end = time.perf_counter()
            base.append(middle - start)
            ours.append(end - middle)
            ratios.append(ours[-1] / base[-1])
    return ours, base, ratios


@dataclass
class Context:
    """What every benchmark module receives: the model, texts and the reference timings of this run."""

    adapter: ModelAdapter
    texts: list[str]
    forward_ms: float = 0.0
    forward_backward_ms: float = 0.0
    notes: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, limit: int | None = None) -> Context:
        torch.set_num_threads(1)
        ctx = cls(load_model("demo"), load_texts(limit))
        ctx.forward_ms = median_ms(ctx.forward, ctx.texts)
        ctx.forward_backward_ms = median_ms(ctx.forward_backward, ctx.texts)
        return ctx

    def forward(self, text: str) -> None:
        batch = self.adapter.encode([text])
        with torch.no_grad():
            self.adapter.forward(batch.inputs)

    def forward_backward(self, text: str) -> None:
        batch = self.adapter.encode([text])
        embeddings = self.adapter.embed(batch.inputs).requires_grad_(True)
        logits = self.adapter.forward(batch.inputs, embeddings=embeddings).logits
        torch.autograd.grad(logits[0, logits[0].argmax()], embeddings)

    def row(self, section: str, name: str, ms: float, **extra: Any) -> dict[str, Any]:
        """A result row with the time and its ratios to this run's forward and forward+backward."""
        return {
            "section": section,
            "name": name,
            "ms": round(ms, 2),
            "x_forward": round(ms / self.forward_ms, 2),
            "x_fwd_bwd": round(ms / self.forward_backward_ms, 2),
            **extra,
        }
