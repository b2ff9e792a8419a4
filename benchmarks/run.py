"""Run every `benchmarks/bench_*.py` (or those named) and print one table; also writes JSON to artifacts/.

Usage: `python -m benchmarks.run [NAME ...] [--texts N]`; each module defines `run(ctx) -> list[dict]`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
from pathlib import Path

import benchmarks
from benchmarks.common import Context

SLOW = {"amortize", "long_inputs"}  # run only when named: fitting explainers, 8k-token inputs (minutes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmark modules to run, e.g. gradient (default: all)")
    parser.add_argument("--texts", type=int, default=None, help="use only the first N benchmark texts")
    args = parser.parse_args()
    available = sorted(
        m.name[len("bench_") :] for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )
    names = args.names or [n for n in available if n not in SLOW]
    unknown = sorted(set(names) - set(available))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available)}")
    ctx = Context.create(args.texts)
    print(
        f"demo model, {len(ctx.texts)} texts, 1 thread: forward {ctx.forward_ms:.1f} ms, "
        f"forward+backward {ctx.forward_backward_ms:.1f} ms (medians per text)\n"
    )
    rows = []
    for name in names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        rows.extend(module.run(ctx))
        _print([r for r in rows if r["section"] == name] or rows[-1:])
    out = Path("artifacts")
    out.mkdir(exist_ok=True)
    (out / "bench.json").write_text(
        json.dumps(
            {
                "forward_ms": ctx.forward_ms,
                "forward_backward_ms": ctx.forward_backward_ms,
                "rows": rows,
                "notes": ctx.notes,
            },
            indent=2,
        )
    )
    for note in ctx.notes:
        print(f"note: {note}")


def _print(rows: list[dict]) -> None:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")) for c in columns) + " |")
    print()


if __name__ == "__main__":
    main()
