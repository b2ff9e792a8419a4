"""The demo ViT (`vit-demo`) on held-out digits, one thread: time per explanation of every method against a plain
forward and forward+backward measured in the same run, and the patch faithfulness table (deletion AOPC,
insertion AUC, Chefer et al.'s positive/negative perturbation AUCs) with the random floor.

Run: `python -m benchmarks.bench_vit [--images 200] [--timing-images 40] [--fill mean] [--out FILE.json]`.
Timings are medians over `--timing-images` digits explained one at a time (`trexplain.explain`, preprocessing
included, as it is in the reference passes), every method and reference called in turn on each digit;
faithfulness uses all `--images` digits, explained in batches and
evaluated by `trexplain.evaluate.table.rank_explanations` (predicted class, patches filled with `--fill`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trexplain import explain
from trexplain.evaluate.table import rank_explanations
from trexplain.methods import available_methods
from trexplain.models import digits, load_model


def timings(adapter, images: list[np.ndarray], methods: list[str], warmup: int = 2) -> list[dict[str, Any]]:
    """Median ms per explanation (one image at a time) of each method, with its ratios to a forward and a
    forward+backward to the predicted logit's embeddings (preprocessing included in all). The calls are
    interleaved image by image, so that a shared machine's changing load falls on every method alike."""

    def forward(image: np.ndarray) -> None:
        batch = adapter.encode([image])
        with torch.no_grad():
            adapter.forward(batch.inputs)

    def forward_backward(image: np.ndarray) -> None:
        batch = adapter.encode([image])
        embeddings = adapter.embed(batch.inputs).requires_grad_(True)
        logits = adapter.forward(batch.inputs, embeddings=embeddings).logits
        torch.autograd.grad(logits[0, logits[0].argmax()], embeddings)

    calls = {"forward": forward, "forward+backward": forward_backward}
    for name in methods:
        calls[name] = lambda image, name=name: explain(images=[image], model=adapter, method=name)
    times: dict[str, list[float]] = {name: [] for name in calls}
    for i, image in enumerate(images[:warmup] + images):
        for name, call in calls.items():
            began = time.perf_counter()
            call(image)
            if i >= warmup:
                times[name].append((time.perf_counter() - began) * 1000)
    fwd, fwd_bwd = statistics.median(times["forward"]), statistics.median(times["forward+backward"])
    return [
        {
            "method": name,
            "ms": statistics.median(t),
            "x_forward": statistics.median(t) / fwd,
            "x_fwd_bwd": statistics.median(t) / fwd_bwd,
        }
        for name, t in times.items()
    ]


def faithfulness(adapter, images: list[np.ndarray], methods: list[str], fill: str) -> dict[str, Any]:
    """Every method's explanations of all images, evaluated on patches with the random floor; the ranked rows."""
    explanations, seconds = [], {}
    for name in methods:
        began = time.perf_counter()
        explanations += explain(images=images, model=adapter, method=name, batch_size=50)
        seconds[name] = time.perf_counter() - began
    table = rank_explanations(adapter, explanations, strategy=fill)
    keys = ("method", "rank", "comprehensiveness", "sufficiency", "insertion_auc", "deletion_auc")
    rows = [
        {**{k: row.get(k) for k in keys}, "positive_auc": row["positive_auc"], "negative_auc": row["negative_auc"]}
        for row in table.rows
        if row["classes"] == "predicted"
    ]
    return {"rows": rows, "verdict": table.verdict, "explain_seconds": seconds}


def markdown(timing: list[dict[str, Any]], faith: dict[str, Any]) -> str:
    """The two tables as Markdown, faithfulness rows in rank order with their ms and × forward+backward."""
    by_name = {row["method"]: row for row in timing}
    lines = [
        "| method | AOPC comp ↑ | AOPC suff ↓ | insertion AUC ↑ | positive AUC ↓ | negative AUC ↑ | ms | × fwd+bwd |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in faith["rows"]:
        t = by_name.get(row["method"])
        lines.append(
            f"| {row['method']} | {row['comprehensiveness']:.3f} | {row['sufficiency']:.3f} | "
            f"{row['insertion_auc']:.3f} | {row['positive_auc']:.3f} | {row['negative_auc']:.3f} | "
            + (f"{t['ms']:.1f} | {t['x_fwd_bwd']:.2f} |" if t else "– | – |")
        )
    lines.append("")
    lines.append(
        f"forward {by_name['forward']['ms']:.2f} ms, forward+backward {by_name['forward+backward']['ms']:.2f} ms"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200, help="held-out digits for the faithfulness table")
    parser.add_argument("--timing-images", type=int, default=40, help="digits timed one at a time per method")
    parser.add_argument("--methods", default="", help="comma-separated methods (default: every registered one)")
    parser.add_argument("--fill", default="mean", help="what removed patches become: mean, blur or black")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    adapter = load_model("vit-demo")
    held, _ = digits.held_out()
    images = list(held[: args.images])
    methods = [m for m in args.methods.split(",") if m] or sorted(
        n for n, c in available_methods().items() if c.cost != "fitted"
    )
    began = time.perf_counter()
    timing = timings(adapter, images[: args.timing_images], methods)
    faith = faithfulness(adapter, images, methods, args.fill)
    result = {
        "model": adapter.name,
        "images": len(images),
        "timing_images": args.timing_images,
        "fill": args.fill,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "seconds": time.perf_counter() - began,
        "timing": timing,
        **faith,
    }
    print(markdown(timing, faith))
    print(faith["verdict"])
    if args.out:
        from trexplain.io import atomic_file

        with atomic_file(args.out) as handle:
            json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
