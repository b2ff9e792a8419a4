"""Probing the demo model: success, words perturbed, queries and time per ranking and edit source.

Texts: the first N held-out test tweets of the demo corpus (`split` = test: rows never used in training,
see the model card). Each text is attacked untargeted (change the model's prediction) with budget 500 and at
most 20% of its words changed; `k` is the number of embedding neighbours tried per word.
Run: `OMP_NUM_THREADS=1 PYTHONPATH=src python -m benchmarks.bench_probe [--texts 100] [--out FILE.json]`;
`--quick` runs the goal grid only (embed+char × all rankings); `--candidates gradient|source` orders every
ranking's candidates the same way (default: gradient for attribution rankings, source for deletion/random);
`--tries N|all` caps the candidates scored per word (default: 12 in gradient order, all in source order).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import time

import torch

from trexplain.models import load_model
from trexplain.models.demo import corpus_path
from trexplain.probe import Constraints, prober
from trexplain.probe.table import attack_table

RANKINGS = ("cp-lrp", "deletion", "random", "ig", "lime")
EDIT_SETS = {"embed+char": ("embed", "char"), "delete": ("delete",), "embed": ("embed",), "char": ("char",)}
CHEAP = ("cp-lrp", "deletion", "random")


def held_out(limit: int) -> list[str]:
    with gzip.open(corpus_path(), "rt", encoding="utf-8", newline="") as handle:
        rows = [r["text"] for r in csv.DictReader(handle) if r["split"] == "test"]
    return rows[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=100)
    parser.add_argument("--budget", type=int, default=500)
    parser.add_argument("--out", default=None)
    parser.add_argument("--quick", action="store_true", help="only embed+char with every ranking")
    parser.add_argument("--rankings", default=",".join(RANKINGS), help="comma-separated rankings to run")
    parser.add_argument("--edits", default=None, help="comma-separated edit sets (default: all)")
    parser.add_argument(
        "--candidates", default=None, help="gradient or source order of a word's candidates (default: per ranking)"
    )
    parser.add_argument(
        "--tries", default=None, help="candidates scored per word: a number or all (default: per order)"
    )
    args = parser.parse_args()
    tries = None if args.tries is None else args.tries if args.tries == "all" else int(args.tries)
    torch.set_num_threads(1)
    adapter = load_model("demo")
    texts = held_out(args.texts)
    chosen = args.rankings.split(",")
    sets = args.edits.split(",") if args.edits else list(EDIT_SETS)
    grid = [("embed+char", r, 20) for r in chosen] if "embed+char" in sets else []
    if not args.quick:
        grid += [("embed+char", r, 8) for r in CHEAP if r in chosen] if "embed+char" in sets else []
        grid += [(name, r, 20) for name in sets if name != "embed+char" for r in CHEAP if r in chosen]
    rows = []
    for edits, ranking, k in grid:
        began = time.perf_counter()
        budget = Constraints(budget=args.budget)
        p = prober(
            adapter, edits=EDIT_SETS[edits], ranking=ranking, neighbours=k, constraints=budget,
            candidates=args.candidates, tries=tries,
        )  # fmt: skip
        row = attack_table([p], texts).rows[0]
        name = edits if "embed" not in edits else f"{edits} (k={k})"
        row.update(edits=name, candidates=f"{p.candidates} ({p.tries})", wall_seconds=time.perf_counter() - began)
        rows.append(row)
        print(_line(row), flush=True)
        if args.out:
            with open(args.out, "w", encoding="utf-8") as handle:
                json.dump({"texts": len(texts), "budget": args.budget, "rows": rows}, handle, indent=2)


def _line(row: dict) -> str:
    return (
        f"| {row['edits']} | {row['ranking']} | {row['candidates']} | {row['attacked']} | {row['success_rate']:.0%} | "
        f"{(row['words_perturbed'] or 0):.1%} | {row['median_queries']:.0f} | {row['mean_queries']:.1f} | "
        f"{row['mean_attribution_passes']:.1f} | {row['seconds']:.2f} |"
    )


if __name__ == "__main__":
    main()
