"""Amortized explainers on the demo model: a KernelSHAP (or LIME) teacher on N training tweets of the demo corpus,
the explainer scored on held-out tweets beside the teacher, cp-lrp, IG and random (AOPC comprehensiveness,
sufficiency, comp − suff; Spearman / Pearson with the teacher), its time per text against one forward, and the
throughput of `run --method amortized` against plain batched forwards. Slow: not run by default
(`python -m benchmarks.run amortize`, or `python -m benchmarks.bench_amortize --n 500,2000`).

What bounds the explainer is measured too: the teacher's agreement with itself across seeds (teacher noise)
and the explainer's fit on its own training texts (capacity).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import Context, median_ms
from trexplain.amortize import fit, fit_from_run
from trexplain.api import explain
from trexplain.evaluate import evaluate
from trexplain.evaluate.ranks import spearman
from trexplain.evaluate.table import random_explanations
from trexplain.explanation import Explanation
from trexplain.inspect.neighbours import demo_corpus
from trexplain.methods import get_method
from trexplain.runs import run_dataset

SECTION = "amortize"
TEACHER = {"exact_features": 6, "n_samples": 100}  # exact Shapley values up to 6 words, else 100 coalitions
LIME = {"n_samples": 100}
HELD_OUT = 100
THROUGHPUT_TEXTS = 2000


def run(
    ctx: Context,
    sizes: Sequence[int] = (500,),
    objectives: Sequence[str] = ("removal", "both"),
    held: int = HELD_OUT,
    throughput: int = THROUGHPUT_TEXTS,
) -> list[dict]:
    """Rows of the benchmark for each training size in `sizes` (the extra objectives at the largest)."""
    corpus = demo_corpus()
    held_out = corpus[-held:]
    excluded = set(held_out) | set(ctx.texts)
    training = [t for t in corpus[:-held] if t not in excluded]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        train_file = root / "train.txt"
        train_file.write_text("\n".join(" ".join(t.split()) for t in training) + "\n", encoding="utf-8")
        baseline = _baselines(ctx, held_out)
        explainers = {}
        for n in sorted(sizes):
            started = time.perf_counter()
            explainer = fit(
                ctx.adapter,
                train_file,
                root / f"imitation-{n}",
                teacher_params=TEACHER,
                run=root / "teacher-run",
                limit=n,
            )
            fitted = time.perf_counter() - started
            explainers[f"imitation N={n}"] = root / f"imitation-{n}"
            _note(
                ctx,
                f"amortize N={n}: teacher run + fit {fitted:.0f} s (training "
                f"{explainer.meta['training']['seconds']:.0f} s), layers {explainer.layers}, train-set fit "
                f"{explainer.meta['train_fit']}, held-out {explainer.meta['validation']}",
            )
        largest = max(sizes)
        for objective in objectives:
            out = root / f"{objective}-{largest}"
            started = time.perf_counter()
            fit_from_run(
                ctx.adapter, root / "teacher-run", out, objective=objective, layers=explainer.layers, epochs=15
            )
            _note(
                ctx, f"amortize: {objective} objective fitted on N={largest} in {time.perf_counter() - started:.0f} s"
            )
            explainers[f"{objective} N={largest}"] = out
        rows += _quality_rows(ctx, held_out, baseline, explainers)
        rows += _time_rows(ctx, explainers[f"imitation N={largest}"], training[:throughput], root)
    return rows


def _note(ctx: Context, message: str) -> None:
    """Keep a note for the summary and show it now (the benchmark runs for minutes)."""
    ctx.notes.append(message)
    print(f"note: {message}", file=sys.stderr, flush=True)


def _baselines(ctx: Context, texts: list[str]) -> dict[str, list[Explanation]]:
    """Teacher (two seeds), LIME, cp-lrp and IG on the held-out texts, timed."""
    out = {}
    for label, method in (
        ("kernelshap (teacher)", get_method("kernelshap", **TEACHER)),
        ("kernelshap seed 1", get_method("kernelshap", seed=1, **TEACHER)),
        ("lime", get_method("lime", **LIME)),
        ("cp-lrp", get_method("cp-lrp")),
        ("ig", get_method("ig")),
    ):
        started = time.perf_counter()
        out[label] = explain(texts, ctx.adapter, method)
        _note(ctx, f"amortize: {label} on {len(texts)} held-out texts in {time.perf_counter() - started:.1f} s")
    return out


def _quality_rows(
    ctx: Context, texts: list[str], baseline: dict[str, list[Explanation]], explainers: dict[str, Path]
) -> list[dict]:
    """AOPC comprehensiveness, sufficiency and comp − suff (predicted class, deletion of words) of every method on
    the held-out texts, with per-text Spearman / Pearson to the teacher's word scores."""
    found = dict(baseline)
    for label, folder in explainers.items():
        found[label] = explain(texts, ctx.adapter, get_method("amortized", explainer=str(folder)))
    found["random"] = random_explanations(found["cp-lrp"])
    teacher = found["kernelshap (teacher)"]
    rows = []
    for label, explanations in found.items():
        results = evaluate(ctx.adapter, explanations).results
        comp = statistics.fmean(r.aopc_comprehensiveness for r in results)
        suff = statistics.fmean(r.aopc_sufficiency for r in results)
        rho, r = _agreement(explanations, teacher)
        flagged = [not e.diagnostics.get("in_distribution", True) for e in explanations]
        rows.append(
            {
                "section": SECTION,
                "name": label,
                "comp": round(comp, 4),
                "suff": round(suff, 4),
                "comp_minus_suff": round(comp - suff, 4),
                "spearman_teacher": round(rho, 3),
                "pearson_teacher": round(r, 3),
                "ood_flagged": f"{sum(flagged)}/{len(flagged)}",
            }
        )
    print(json.dumps(rows), file=sys.stderr, flush=True)
    best = max(row["comp_minus_suff"] for row in rows)
    for row in rows:
        row["gap_to_best"] = round(best - row["comp_minus_suff"], 4)
    return rows


def _agreement(explanations: list[Explanation], teacher: list[Explanation]) -> tuple[float, float]:
    """Mean per-text Spearman and Pearson of word scores for the predicted class (texts with ≥ 3 words)."""
    rhos, rs = [], []
    for e, t in zip(explanations, teacher, strict=True):
        a, b = e.word_scores(e.targets[0]), t.word_scores(t.targets[0])
        if len(a) >= 3 and np.std(a) > 0 and np.std(b) > 0:
            rhos.append(spearman(a, b))
            rs.append(float(np.corrcoef(a, b)[0, 1]))
    return float(np.nanmean(rhos)), float(np.nanmean(rs))


def _time_rows(ctx: Context, folder: Path, training: list[str], root: Path) -> list[dict]:
    """Per text (one at a time) against one forward; and a dataset run against plain batched forwards."""
    method = get_method("amortized", explainer=str(folder))
    one = median_ms(lambda text: explain(text, ctx.adapter, method), ctx.texts)
    rows = [ctx.row(SECTION, "amortized, one text at a time", one)]
    texts = training
    path = root / "throughput.txt"
    path.write_text("\n".join(" ".join(t.split()) for t in texts) + "\n", encoding="utf-8")
    summary = run_dataset(
        path,
        root / "amortized-run",
        model=ctx.adapter,
        methods="amortized",
        params={"amortized": {"explainer": str(folder)}},
    )
    started = time.perf_counter()
    with torch.no_grad():
        for start in range(0, len(texts), 16):
            ctx.adapter.logits(ctx.adapter.encode(texts[start : start + 16]).inputs)
    plain = time.perf_counter() - started
    rows.append(
        {
            "section": SECTION,
            "name": f"run --method amortized, {len(texts)} texts",
            "seconds": round(summary.explain_seconds, 1),
            "plain_forward_seconds": round(plain, 1),
            "ratio": round(summary.explain_seconds / plain, 2),
        }
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", default="500", help="training sizes, comma-separated (e.g. 500,2000)")
    parser.add_argument("--objectives", default="removal,both", help="extra objectives at the largest size")
    parser.add_argument("--held-out", type=int, default=HELD_OUT, help="held-out tweets (the corpus's last)")
    parser.add_argument("--throughput", type=int, default=THROUGHPUT_TEXTS, help="texts of the throughput run")
    args = parser.parse_args()
    ctx = Context.create()
    sizes = [int(x) for x in args.n.split(",")]
    objectives = [x for x in args.objectives.split(",") if x]
    rows = run(ctx, sizes, objectives, args.held_out, args.throughput)
    print(f"forward {ctx.forward_ms:.1f} ms per text (median, 1 thread)")
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
