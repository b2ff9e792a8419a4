"""Concept activations on the demo model: extraction time against a plain batched forward, and streaming memory.

- time: `concepts.extract` of the first `--texts` demo-corpus tweets (batches of 32, float16 store on disk)
  ÷ a plain batched forward of the same batches (encode + forward, no store), both on one thread; `cls` at
  the last block is compared with the logits-only forward it can use, `token` with the full forward it needs.
- memory: peak traced memory (tracemalloc, with a full collection after every batch so CPython's free
  lists do not count) and peak RSS of `--large` texts ÷ those of `--texts` texts, each extraction in a fresh
  process that has already loaded the model. The large run repeats the small run's texts, so every batch has
  the same shape: a batch's peak grows with its longest text (one 139-token tweet among the first 20,000
  makes one batch's attention 5× that of the 62-token maximum among the first 1,000), and only growth with
  the count says whether anything accumulates.

- dictionaries: Semi-NMF with 20 concepts and TopK SAEs (20 and 40 latents, top_k 8) on the [CLS] activations
  (float32, last block) of the same texts: fit time, MSE, R², fraction of non-zero codes, and the fidelity of the
  model run on the reconstruction (accuracy and KL against the original predictions).
- importance: for the Semi-NMF dictionary, gradient, concept × gradient and ablation importance of `--importance`
  texts, and their concept-deletion AOPC (concepts removed most important first, for the predicted class) against
  a random order (mean of 3), with the seconds each step takes.

Usage: `python -m benchmarks.bench_concepts [--texts 1000] [--large 20000] [--importance 200] [--skip-memory]`, or
`python -m benchmarks.run concepts` (the module's defaults; the framework's `--texts` counts its 40 fixed texts, not
the corpus).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import torch

from trexplain.concepts import ActivationStore, SemiNMF, TopKSAE, extract, metrics
from trexplain.concepts.fidelity import fidelity
from trexplain.concepts.importance import deletion, importance
from trexplain.models import ModelAdapter, load_model
from trexplain.progress import reporting

TEXTS, LARGE, BATCH, REPEATS = 1000, 20_000, 32, 2
CONCEPTS, IMPORTANCE, SITE = 20, 200, "block_output:-1"


def corpus(limit: int) -> list[str]:
    """The first `limit` non-empty tweets of the demo model's corpus."""
    from trexplain.inspect.neighbours import demo_corpus

    texts = [t for t in demo_corpus() if t.strip()][:limit]
    if len(texts) < limit:
        raise SystemExit(f"the demo corpus has only {len(texts)} texts; ask for at most that many")
    return texts


def run(ctx) -> list[dict]:
    """The `benchmarks.run` entry: this module's default sizes on the context's demo model."""
    ctx.notes.append(f"concepts: {TEXTS} demo-corpus texts for time, {LARGE} vs {TEXTS} for memory")
    texts = corpus(TEXTS + IMPORTANCE)
    fit, held_out = texts[:TEXTS], texts[TEXTS:]
    found = dictionaries(ctx.adapter, fit) + importances(ctx.adapter, held_out, fit)
    return timing(ctx.adapter, fit) + memory(TEXTS, LARGE) + found


def _plain(adapter: ModelAdapter, texts: list[str], logits_only: bool) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(texts), BATCH):
            adapter.forward(adapter.encode(texts[i : i + BATCH], truncate=True).inputs, logits_only=logits_only)
    return time.perf_counter() - start


def _extract(adapter: ModelAdapter, texts: list[str], granularity: str, folder: Path) -> float:
    out = Path(tempfile.mkdtemp(dir=folder)) / "store"
    start = time.perf_counter()
    extract(adapter, texts, granularity=granularity, out=out, batch_size=BATCH, truncate=True)
    return time.perf_counter() - start


def timing(adapter: ModelAdapter, texts: list[str]) -> list[dict]:
    """Seconds of each pass (best of REPEATS, passes interleaved) and the extraction ÷ plain ratios."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        _extract(adapter, texts[:BATCH], "cls", Path(folder))  # warm-up
        for granularity, logits_only, plain_name in (
            ("cls", True, "plain forward, logits only"),
            ("token", False, "plain forward, every token"),
        ):
            plain, extracted = [], []
            for _ in range(REPEATS):
                plain.append(_plain(adapter, texts, logits_only))
                extracted.append(_extract(adapter, texts, granularity, Path(folder)))
            base, best = min(plain), min(extracted)
            rows.append(_row(plain_name, base, len(texts)))
            rows.append(
                _row(f"extract {granularity} at block_output:-1", best, len(texts), x_plain=round(best / base, 3))
            )
    return rows


def _row(name: str, seconds: float, texts: int, **extra: float) -> dict:
    return {
        "section": "concepts",
        "name": name,
        "texts": texts,
        "ms_per_text": round(seconds * 1000 / texts, 2),
        **extra,
    }


def memory(small: int, large: int) -> list[dict]:
    """Peak traced memory and peak RSS of extracting `large` vs `small` texts (the small set repeated), each in
    a fresh process."""
    figures = {}
    for n in (small, large):
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_concepts", "--child", str(n), "--texts", str(small)],
            capture_output=True,
            text=True,
            check=True,
        )
        figures[n] = json.loads(done.stdout.strip().splitlines()[-1])
    rows = [
        {
            "section": "concepts",
            "name": f"extract cls, {n} texts ({small} distinct): peak memory",
            "texts": n,
            "traced_peak_mib": round(figures[n]["traced"] / 2**20, 2),
            "rss_growth_mib": round(figures[n]["rss_growth"] / 2**20, 1),
            "rss_peak_mib": round(figures[n]["rss_peak"] / 2**20, 1),
        }
        for n in (small, large)
    ]
    rows[-1]["x_traced"] = round(figures[large]["traced"] / figures[small]["traced"], 3)
    rows[-1]["x_rss_peak"] = round(figures[large]["rss_peak"] / figures[small]["rss_peak"], 3)
    return rows


def _cls_rows(adapter: ModelAdapter, texts: list[str]) -> ActivationStore:
    return extract(adapter, texts, SITE, "cls", dtype="float32", batch_size=BATCH, truncate=True)


def dictionaries(adapter: ModelAdapter, texts: list[str]) -> list[dict]:
    """Fit time, reconstruction, sparsity and fidelity of Semi-NMF and TopK SAEs on the texts' [CLS] rows."""
    store = _cls_rows(adapter, texts)
    rows = []
    for name, dictionary in (
        (f"semi-nmf {CONCEPTS}", SemiNMF(CONCEPTS, seed=0)),
        (f"topk-sae {CONCEPTS} (top_k 8)", TopKSAE(CONCEPTS, top_k=8, seed=0, epochs=50)),
        (f"topk-sae {2 * CONCEPTS} (top_k 8)", TopKSAE(2 * CONCEPTS, top_k=8, seed=0, epochs=50)),
    ):
        start = time.perf_counter()
        dictionary.fit(store)
        seconds = time.perf_counter() - start
        figures = metrics.evaluate(dictionary, store)
        agree = fidelity(adapter, dictionary, texts, SITE, "cls", batch_size=BATCH, truncate=True)
        rows.append(
            {
                "section": "concepts",
                "name": f"{name} on {len(texts)} [CLS] rows",
                "fit_s": round(seconds, 2),
                "mse": round(figures["mse"], 5),
                "r2": round(figures["r2"], 4),
                "fraction_nonzero": round(figures["fraction_nonzero"], 4),
                "fidelity_accuracy": round(agree["accuracy"], 4),
                "fidelity_kl": float(f"{agree['kl']:.3g}"),
            }
        )
    return rows


def importances(adapter: ModelAdapter, texts: list[str], fit_texts: list[str] | None = None) -> list[dict]:
    """Deletion AOPC of each importance of a Semi-NMF dictionary (fitted on `fit_texts`, default the corpus's first
    TEXTS) on `texts`, with a random-order floor, and the seconds each step takes."""
    dictionary = SemiNMF(CONCEPTS, seed=0).fit(_cls_rows(adapter, fit_texts or corpus(TEXTS)))
    start = time.perf_counter()
    scores = importance(adapter, dictionary, texts, SITE, "cls", truncate=True)
    scored = time.perf_counter() - start
    start = time.perf_counter()
    curves = deletion(adapter, dictionary, texts, SITE, "cls", scores, random=3, truncate=True)
    deleted = time.perf_counter() - start
    rows = [
        {
            "section": "concepts",
            "name": f"concept deletion AOPC: {name}",
            "texts": len(texts),
            "aopc": round(value, 4),
            "x_random": round(value / curves.aopc["random"], 2),
        }
        for name, value in curves.aopc.items()
    ]
    rows.append(
        {
            "section": "concepts",
            "name": f"importance (gradient + ablation of {CONCEPTS} concepts) and deletion curves",
            "texts": len(texts),
            "importance_ms_per_text": round(scored * 1000 / len(texts), 1),
            "deletion_ms_per_text": round(deleted * 1000 / len(texts), 1),
        }
    )
    return rows


class _Collector:
    """A progress reporter that runs a full garbage collection after every batch (emptying the free lists)."""

    def start(self, label: str, total: float | None) -> int:
        return 0

    def advance(self, task: int, amount: float) -> None:
        gc.collect()

    def finish(self, task: int) -> None:
        pass

    def note(self, message: str) -> None:
        pass


def _child(n: int, distinct: int) -> None:
    """One measured extraction of `n` texts (the first `distinct` corpus texts, repeated) in this process; prints
    its figures as one JSON line."""
    torch.set_num_threads(1)
    adapter, base = load_model("demo"), corpus(distinct)
    texts = (base * -(-n // distinct))[:n]
    with tempfile.TemporaryDirectory() as folder:
        extract(adapter, texts[:BATCH], out=Path(folder) / "warm", truncate=True)
        gc.freeze()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        tracemalloc.start()
        with reporting(_Collector()):
            extract(adapter, texts, out=Path(folder) / "store", batch_size=BATCH, truncate=True)
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"traced": traced, "rss_growth": peak - before, "rss_peak": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=TEXTS, help="corpus texts to time (and memory baseline)")
    parser.add_argument("--large", type=int, default=LARGE, help="corpus texts for the memory comparison")
    parser.add_argument("--importance", type=int, default=IMPORTANCE, help="texts for the importance AOPC")
    parser.add_argument("--skip-memory", action="store_true", help="leave out the memory comparison")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        _child(args.child, args.texts)
        return
    torch.set_num_threads(1)
    adapter, texts = load_model("demo"), corpus(args.texts)
    rows = timing(adapter, texts)
    if not args.skip_memory:
        rows += memory(args.texts, args.large)
    held_out = corpus(args.texts + args.importance)[args.texts :]
    rows += dictionaries(adapter, texts) + importances(adapter, held_out, texts)
    for row in rows:
        print(json.dumps(row))
    out = Path("artifacts")
    out.mkdir(exist_ok=True)
    (out / "bench_concepts.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
