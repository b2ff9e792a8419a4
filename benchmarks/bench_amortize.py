"""Amortized explainers on the demo model: a KernelSHAP (or LIME) teacher on N training tweets of the demo corpus,
the explainer scored on held-out tweets beside the teacher, cp-lrp, IG and random (AOPC comprehensiveness,
sufficiency, comp − suff; Spearman / Pearson with the teacher), its time per text against one forward, and the
throughput of `run --method amortized` against plain batched forwards. Slow: not run by default
(`python -m benchmarks.run amortize`, or `python -m benchmarks.bench_amortize --n 500,2000`).

Teacher runs are dataset runs cached in `--cache` (resumed and extended: N=500 trains on the first 500 texts
of the N=2,000 run); held-out scores of every method are cached there too, so a rerun only does what is new.
What bounds the explainer is measured too: the teacher's agreement with itself across seeds and the comp − suff
of its seed average (teacher noise), and the explainer's fit on its own training texts (capacity).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import Context, paired_times
from trexplain.amortize import Explainer, fit_from_run
from trexplain.api import explain
from trexplain.evaluate import evaluate
from trexplain.evaluate.ranks import spearman
from trexplain.evaluate.table import random_explanations
from trexplain.explanation import Explanation
from trexplain.inspect.neighbours import demo_corpus
from trexplain.io import write_text
from trexplain.methods import get_method
from trexplain.models import ModelAdapter
from trexplain.runs import run_dataset
from trexplain.runs.job import RunSummary

SECTION = "amortize"
TEACHER = {"exact_features": 6, "n_samples": 100}  # exact Shapley values up to 6 words, else 100 coalitions
LIME = {"n_samples": 100}
TEACHERS = {"kernelshap": TEACHER, "lime": LIME}
CACHE = Path("artifacts") / "amortize-cache"
HELD_OUT = 100
THROUGHPUT_TEXTS = 10_000
THROUGHPUT_STEP = 1_000
Scored = dict[str, list]
KS, KS1 = "kernelshap (teacher)", "kernelshap seed 1"


def run(
    ctx: Context,
    sizes: Sequence[int] = (500,),
    teachers: Sequence[str] = ("kernelshap",),
    variants: Sequence[str] = ("ensemble3",),
    held: int = HELD_OUT,
    throughput: int = 0,
    cache: Path = CACHE,
) -> list[dict]:
    """Rows of the benchmark for each teacher and training size (the variants at the largest size), and the
    throughput row when `throughput` > 0."""
    training, held_out = split_corpus(held, ctx.texts)
    store = ScoreCache(cache / f"scores-{held}.json")
    fitted: dict[str, Path] = {}
    for teacher in teachers:
        for n in sorted(sizes):
            summary = teacher_run(ctx.adapter, cache, teacher, training, n)
            _note(ctx, f"{teacher} teacher run, first {n} training tweets: {summary.line()}")
            for variant in ["imitation", *(variants if n == max(sizes) and teacher == teachers[0] else [])]:
                label = f"amortized {variant}, {teacher} N={n}"
                fitted[label] = _fit(ctx, cache, teacher, n, variant)
    found = {}
    for label, folder in fitted.items():
        method = get_method("amortized", explainer=str(folder))
        found[label] = store.get(label, lambda m=method: explain(held_out, ctx.adapter, m), ctx.adapter)
    if teachers and all(v in ["imitation", *variants] for v in ENSEMBLE[1:]):
        members = [fitted[f"amortized {v}, {teachers[0]} N={max(sizes)}"] for v in ENSEMBLE]
        label = f"amortized imitation, mean of {len(members)} training seeds, {teachers[0]} N={max(sizes)}"
        methods = [get_method("amortized", explainer=str(folder)) for folder in members]
        found[label] = store.get(
            label, lambda: mean_scores([explain(held_out, ctx.adapter, m) for m in methods]), ctx.adapter
        )
    found.update(_baselines(ctx, held_out, store))
    rows = _quality_rows(found, fitted)
    if fitted:
        largest = f"amortized imitation, {teachers[0]} N={max(sizes)}"
        method = get_method("amortized", explainer=str(fitted[largest]))
        rows.append(paired_row(ctx, f"{largest}, one text at a time", lambda text: explain(text, ctx.adapter, method)))
        if throughput:
            rows.append(throughput_row(ctx, fitted[largest], throughput, cache))
    return rows


def paired_row(ctx: Context, name: str, fn: Callable[[str], object], rounds: int = 3) -> dict:
    """`fn(text)` against one forward of the same text, timed back to back per text (`paired_times`): medians of
    both and the median of the per-text ratios."""
    ours, forward, ratios = paired_times(fn, ctx.forward, ctx.texts, rounds)
    return {
        "section": SECTION,
        "name": name,
        "ms": round(1000 * statistics.median(ours), 2),
        "forward_ms": round(1000 * statistics.median(forward), 2),
        "x_forward": round(statistics.median(ratios), 2),
    }


def split_corpus(held: int, excluded: Sequence[str]) -> tuple[list[str], list[str]]:
    """(training tweets in corpus order, held-out tweets = the corpus's last `held`), none of `excluded`."""
    corpus = demo_corpus()
    held_out = corpus[-held:]
    skip = set(held_out) | set(excluded)
    return [t for t in corpus[:-held] if t not in skip], held_out


def teacher_run(adapter: ModelAdapter, cache: Path, teacher: str, training: Sequence[str], n: int) -> RunSummary:
    """The teacher's dataset run over the first `n` training tweets, in `cache` (resumed, and extended when a
    larger `n` is asked: N=500 is the first 500 of N=2,000)."""
    cache.mkdir(parents=True, exist_ok=True)
    train_file = cache / "train.txt"
    content = "\n".join(" ".join(t.split()) for t in training) + "\n"
    if not train_file.exists() or train_file.read_text(encoding="utf-8") != content:
        write_text(train_file, content)
    return run_dataset(
        train_file,
        cache / f"{teacher}-run",
        model=adapter,
        methods=teacher,
        target="all",
        params={teacher: TEACHERS[teacher]},
        limit=n,
    )


VARIANTS = {
    "imitation": {},
    "both": {"objective": "both", "epochs": 15},
    "removal": {"objective": "removal", "epochs": 15},
    "wide": {"width": 1024},
    "seed1": {"seed": 1},
    "seed2": {"seed": 2},
    "ensemble3": {"ensemble": 3},
}
ENSEMBLE = ("imitation", "seed1", "seed2")  # explainers trained with other seeds (split and weights), averaged


def _fit(ctx: Context, cache: Path, teacher: str, n: int, variant: str) -> Path:
    """The explainer of `variant` on the first `n` texts of the teacher run (fitted once, then read from `cache`)."""
    out = cache / f"explainer-{teacher}-{variant}-{n}"
    if not out.exists():
        options = dict(VARIANTS[variant])
        if variant != "imitation":  # the layers the imitation explainer chose on held-out texts
            options["layers"] = Explainer.load(cache / f"explainer-{teacher}-imitation-{n}").layers
        fit_from_run(ctx.adapter, cache / f"{teacher}-run", out, limit=n, **options)
    meta = Explainer.load(out).meta
    search = ", ".join(f"{s['layers']}: {s['held_out_loss']:.3f}" for s in meta["training"]["layer_search"])
    _note(
        ctx,
        f"explainer {variant}, {teacher} N={n}: trained in {meta['training']['seconds']:.0f} s, layers chosen "
        f"{meta['layers']} (held-out loss {search}), best epoch {meta['training']['best_epoch']}; its split's "
        f"train-set fit {_short(meta['train_fit'])} vs held-out {_short(meta['validation'])}",
    )
    return out


def _short(agreement: dict) -> str:
    return f"Spearman {agreement['spearman']:.3f} / Pearson {agreement['pearson']:.3f}"


def _note(ctx: Context, message: str) -> None:
    """Keep a note for the summary and show it now (the benchmark runs for minutes)."""
    ctx.notes.append(message)
    print(f"note: {message}", file=sys.stderr, flush=True)


class ScoreCache:
    """Per method label, on the held-out texts: each text's AOPC comp and suff, predicted-class word scores and
    OOD flag, kept in a JSON file so that reruns skip the explaining and the evaluating."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Scored] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def get(self, label: str, make: Callable[[], list[Explanation]], adapter: ModelAdapter) -> Scored:
        """The scores of `label`, made with `make` and evaluated unless the file (read again now) has them."""
        if label not in self.data and self.path.exists():  # another benchmark process may have added labels
            self.data = {**json.loads(self.path.read_text(encoding="utf-8")), **self.data}
        if label not in self.data:
            started = time.perf_counter()
            explanations = make()
            explained = time.perf_counter() - started
            results = evaluate(adapter, explanations).results
            self.data[label] = {
                "comp": [r.aopc_comprehensiveness for r in results],
                "suff": [r.aopc_sufficiency for r in results],
                "words": [e.word_scores(e.targets[0]).tolist() for e in explanations],
                "flagged": [not e.diagnostics.get("in_distribution", True) for e in explanations],
                "seconds": [explained],
            }
            if self.path.exists():
                self.data = {**json.loads(self.path.read_text(encoding="utf-8")), label: self.data[label]}
            write_text(self.path, json.dumps(self.data))
            print(f"note: {label}: explained in {explained:.1f} s", file=sys.stderr, flush=True)
        return self.data[label]


def _baselines(ctx: Context, texts: list[str], store: ScoreCache) -> dict[str, Scored]:
    """Teacher (two seeds and their average), LIME, cp-lrp, IG and random on the held-out texts."""
    made: dict[str, list[Explanation]] = {}

    def explained(label: str, name: str, **params) -> Callable[[], list[Explanation]]:
        def make() -> list[Explanation]:
            if label not in made:
                made[label] = explain(texts, ctx.adapter, get_method(name, **params))
            return made[label]

        return make

    def seeds_average() -> list[Explanation]:
        return mean_scores(
            [explained(KS, "kernelshap", **TEACHER)(), explained(KS1, "kernelshap", seed=1, **TEACHER)()]
        )

    plan = {
        KS: explained(KS, "kernelshap", **TEACHER),
        KS1: explained(KS1, "kernelshap", seed=1, **TEACHER),
        "kernelshap, mean of seeds 0 and 1": seeds_average,
        "lime (teacher)": explained("lime (teacher)", "lime", **LIME),
        "lime seed 1": explained("lime seed 1", "lime", seed=1, **LIME),
        "cp-lrp": explained("cp-lrp", "cp-lrp"),
        "ig": explained("ig", "ig"),
        "random": lambda: random_explanations(explained("cp-lrp", "cp-lrp")()),
    }
    return {label: store.get(label, make, ctx.adapter) for label, make in plan.items()}


def mean_scores(runs: Sequence[list[Explanation]]) -> list[Explanation]:
    """Per text, the first run's explanation with the scores averaged over `runs` (same texts, same order)."""
    return [
        replace(es[0], scores=np.mean([e.scores for e in es], axis=0), diagnostics={}) for es in zip(*runs, strict=True)
    ]


def _quality_rows(found: dict[str, Scored], fitted: dict[str, Path]) -> list[dict]:
    """AOPC comprehensiveness, sufficiency and comp − suff (predicted class, deletion of words) of every method on
    the held-out texts, with per-text Spearman / Pearson to each teacher's word scores."""
    rows = []
    for label, scored in found.items():
        comp, suff = statistics.fmean(scored["comp"]), statistics.fmean(scored["suff"])
        row = {"section": SECTION, "name": label, "comp": round(comp, 4), "suff": round(suff, 4)}
        row["comp_minus_suff"] = round(comp - suff, 4)
        for teacher in ("kernelshap", "lime"):
            rho, r = _agreement(scored["words"], found[f"{teacher} (teacher)"]["words"])
            row[f"spearman_{teacher}"], row[f"pearson_{teacher}"] = round(rho, 3), round(r, 3)
        row["ood_flagged"] = f"{sum(scored['flagged'])}/{len(scored['flagged'])}"
        row["explain_s_per_text"] = round(scored["seconds"][0] / len(scored["comp"]), 4)
        if label in fitted:
            meta = Explainer.load(fitted[label]).meta
            row["layers"] = meta["layers"]
            row["split_train_fit"], row["split_held_out"] = _short(meta["train_fit"]), _short(meta["validation"])
        rows.append(row)
    best = max(row["comp_minus_suff"] for row in rows)
    for row in rows:
        row["gap_to_best"] = round(best - row["comp_minus_suff"], 4)
    rows.sort(key=lambda row: -row["comp_minus_suff"])
    print(json.dumps(rows), file=sys.stderr, flush=True)
    return rows


def _agreement(words: list[list[float]], teacher: list[list[float]]) -> tuple[float, float]:
    """Mean per-text Spearman and Pearson of word scores (texts with ≥ 3 words)."""
    rhos, rs = [], []
    for a, b in zip(words, teacher, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        if len(a) >= 3 and np.std(a) > 0 and np.std(b) > 0:
            rhos.append(spearman(a, b))
            rs.append(float(np.corrcoef(a, b)[0, 1]))
    return float(np.nanmean(rhos)), float(np.nanmean(rs))


def throughput_row(ctx: Context, folder: Path, total: int, cache: Path) -> dict:
    """`run --method amortized` over `total` tweets (the corpus cycled, each copy with its own id) against plain
    batched forwards (16 a batch, like the run) of the same texts, in steps of `THROUGHPUT_STEP` texts that
    alternate the two (so that a change of the shared machine's load hits both alike)."""
    corpus = demo_corpus()
    texts = [" ".join(corpus[i % len(corpus)].split()) for i in range(total)]
    path = cache / f"throughput-{total}.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows(enumerate(texts))
    folder_run = cache / f"throughput-run-{total}"  # a rerun resumes it: its figures cover the texts it explains
    amortized = plain = 0.0
    count = 0
    params = {"amortized": {"explainer": str(folder)}}
    for end in range(THROUGHPUT_STEP, total + THROUGHPUT_STEP, THROUGHPUT_STEP):
        end = min(end, total)
        summary = run_dataset(
            path, folder_run, model=ctx.adapter, methods="amortized", params=params, id_column="id", limit=end
        )
        amortized += summary.explain_seconds
        count += summary.explained
        started = time.perf_counter()
        with torch.no_grad():
            for start in range(end - summary.explained, end, 16):
                ctx.adapter.logits(ctx.adapter.encode(texts[start : min(start + 16, end)]).inputs)
        plain += time.perf_counter() - started
        print(f"note: throughput {end}/{total}: {amortized:.0f} s vs {plain:.0f} s", file=sys.stderr, flush=True)
    return {
        "section": SECTION,
        "name": f"run --method amortized, {count} of {total} texts ({len(corpus)} tweets cycled)",
        "seconds": round(amortized, 1),
        "plain_forward_seconds": round(plain, 1),
        "ratio": round(amortized / plain, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", default="500", help="training sizes, comma-separated (e.g. 500,2000)")
    parser.add_argument("--teachers", default="kernelshap,lime", help="teachers, comma-separated")
    parser.add_argument(
        "--variants", default="ensemble3,seed1,seed2,wide", help=f"more explainers at the largest N: {list(VARIANTS)}"
    )
    parser.add_argument("--held-out", type=int, default=HELD_OUT, help="held-out tweets (the corpus's last)")
    parser.add_argument("--throughput", type=int, default=0, help="texts of the throughput run (0: none)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="folder of the teacher runs, explainers, scores")
    args = parser.parse_args()
    ctx = Context.create()
    sizes = [int(x) for x in args.n.split(",") if x]
    split = [x for x in args.teachers.split(",") if x], [x for x in args.variants.split(",") if x]
    rows = run(ctx, sizes, *split, args.held_out, args.throughput, args.cache)
    print(f"forward {ctx.forward_ms:.1f} ms per text (median, 1 thread)")
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
