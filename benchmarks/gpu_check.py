"""GPU readiness: every registered method must explain alike on CUDA and on CPU; also ms per explanation.

The demo model and a random tiny model of each family (`tests/tiny.py`) explain one padded batch of three
texts for every class with each method of `available_methods()`, same seeded parameters on both devices,
float32 (TF32 off). Scores, logits and layer scores must pass `allclose(gpu, cpu, rtol=1e-4, atol)` with
atol = max(1e-4·max|cpu|, 10·max|cpu − float64|) per array: a relative bound means nothing on near-zero
entries, and the tiny models' scores are small differences of small logits whose float32 rounding alone
reaches ~1e-3 of max|cpu| (the same explanation in float64 on the CPU measures it). Targets and discrete
diagnostics (IG's steps, forwards run) must be equal. Exit code 1 on any mismatch or error; without CUDA
it runs nothing (exit 0) unless `--cpu-only`, which runs the CPU and float64 halves.

`--dtype bfloat16|float16` loads every model in that precision on both devices (the float64 reference holds the
same rounded weights): forward-only methods then run reduced, and the tolerance widens with the CPU's own error
against float64; gradient and LRP methods compute in float32 (`trexplain.models.devices`), so they must agree as
tightly as in float32.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers.utils import logging as transformers_logging

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/gpu_check.py` puts benchmarks/, not the root, on the path
    sys.path.insert(0, str(ROOT))

from tests.tiny import ALL_FAMILIES, save_tiny  # noqa: E402
from trexplain.api import explain  # noqa: E402
from trexplain.explanation import Explanation  # noqa: E402
from trexplain.methods import available_methods  # noqa: E402
from trexplain.models import ModelAdapter, load_model  # noqa: E402

# Rows of benchmarks/texts.tsv short enough for the tiny models' 64 positions; different lengths, so padded.
TEXTS = [
    "@united cool, thanks.",
    "@USAirways Nice try. Doesn't apply to Philly.",
    "Self driving car are coming sooner than we think. Bittersweet.",
]
TARGET = "all"
# Enumerate all coalitions only up to 8 words (the texts have 6, 10 and 12), so both KernelSHAP paths run.
PARAMS: dict[str, dict[str, Any]] = {"kernelshap": {"exact_features": 8}}
RTOL = 1e-4
ATOL_SHARE = 1e-4  # atol = this × max|cpu| of the array compared
MIN_SECONDS, MAX_RUNS = 0.5, 10  # timed runs after the warm-up: until this much time or this many runs
NOISE_FACTOR = 10  # atol is at least this × the CPU's own float32 error (see `_compare`)
REFERENCE = "cpu float64"
# ModernBERT is left out: its float64 reference is NaN on padded batches (transformers' eager attention takes the
# softmax in float32, where float64's mask value is -inf; see docs/families.md), so this check cannot measure it.
MODELS = ("demo", *(f for f in ALL_FAMILIES if f != "modernbert"))
DTYPES = ("float32", "bfloat16", "float16")
COLUMNS = ("model", "method", "cpu ms", "gpu ms", "speed-up", "max abs diff", "max rel diff", "cpu f32 err", "result")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", help="comma-separated methods (default: all registered)")
    parser.add_argument("--models", help=f"comma-separated models among {', '.join(MODELS)} (default: all)")
    parser.add_argument("--out", type=Path, help="write the results as JSON to this file")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads (default: all cores)")
    parser.add_argument("--cpu-only", action="store_true", help="CPU only: float32 and float64, no comparison")
    parser.add_argument("--dtype", choices=DTYPES, default="float32", help="precision the models load in")
    args = parser.parse_args()
    methods = _choose(parser, "method", args.methods, [n for n, c in available_methods().items() if c.cost != "fitted"])
    models = _choose(parser, "model", args.models, list(MODELS))
    devices = ["cpu"] if args.cpu_only else ["cpu", "cuda"]
    if not args.cpu_only and not torch.cuda.is_available():
        print(f"CUDA is not available (torch {torch.__version__}): nothing run; --cpu-only runs the CPU half")
        return 0

    torch.set_num_threads(args.threads)
    transformers_logging.disable_progress_bar()  # save_tiny's "Writing model shards" bars
    torch.set_float32_matmul_precision("highest")
    gpu = torch.cuda.get_device_name() if "cuda" in devices else "none"
    header = {
        "torch": torch.__version__,
        "gpu": gpu,
        "cpu_threads": args.threads,
        "dtype": args.dtype,
        "texts": TEXTS,
        "target": TARGET,
        "tolerance": {"rtol": RTOL, "atol_share": ATOL_SHARE, "noise_factor": NOISE_FACTOR},
    }
    print(
        f"torch {torch.__version__}, GPU {gpu}, {args.threads} CPU threads, {args.dtype}, {len(TEXTS)} texts, "
        f"target {TARGET}"
    )
    print("| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS), flush=True)
    began = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        for model in models:
            adapters, error = _load(model, Path(folder), devices, args.dtype)
            for method in methods:
                row = (
                    _check(model, method, adapters, devices)
                    if error is None
                    else _row(model, method, PARAMS.get(method, {}), {}, [error])
                )
                rows.append(row)
                print(_line(row), flush=True)
                if args.out:
                    _write(args.out, {**header, "complete": False, "rows": rows})
    failed = [r for r in rows if not r["ok"]]
    seconds = time.perf_counter() - began
    if args.out:
        _write(args.out, {**header, "complete": True, "seconds": round(seconds, 1), "rows": rows})
    print(f"\n{len(rows) - len(failed)} of {len(rows)} ok in {seconds:.0f} s" + (", FAILED:" if failed else ""))
    for r in failed:
        print(f"  {r['model']} {r['method']}: {'; '.join(r['problems'])}")
    for r in rows:
        if r["notes"]:
            print(f"note: {r['model']} {r['method']}: {'; '.join(r['notes'])}")
    return 1 if failed else 0


def _choose(parser: argparse.ArgumentParser, kind: str, given: str | None, known: list[str]) -> list[str]:
    chosen = [x.strip() for x in given.split(",") if x.strip()] if given else known
    unknown = [x for x in chosen if x not in known]
    if unknown:
        parser.error(f"unknown {kind}(s) {', '.join(unknown)}; available: {', '.join(known)}")
    return chosen


def _load(
    model: str, folder: Path, devices: list[str], dtype: str = "float32"
) -> tuple[dict[str, ModelAdapter], str | None]:
    """An adapter in `dtype` per device and a float64 one of the same weights on the CPU, or the loading error."""
    try:
        source = "demo" if model == "demo" else save_tiny(model, folder / model)
        adapters = {d: load_model(source, device=d, dtype=dtype) for d in devices}
        adapters[REFERENCE] = load_model(source, dtype=dtype)
        adapters[REFERENCE].model.double()
        return adapters, None
    except Exception as exc:  # report and go on with the other models
        return {}, f"loading: {type(exc).__name__}: {exc}"


def _check(model: str, method: str, adapters: dict[str, ModelAdapter], devices: list[str]) -> dict[str, Any]:
    """Explain on each device (timed) and in float64, then compare the GPU explanations with the CPU ones."""
    params = PARAMS.get(method, {})
    made: dict[str, list[Explanation]] = {}
    ms: dict[str, float] = {}
    for run in [*devices, REFERENCE]:
        try:
            if run == REFERENCE:
                made[run] = _explain(adapters[run], method, params)
            else:
                made[run], ms[run] = _timed(lambda d=run: _explain(adapters[d], method, params), run)
        except Exception as exc:  # one broken method must not hide the others
            return _row(model, method, params, ms, [f"{run}: {type(exc).__name__}: {exc}"])
    return {**_row(model, method, params, ms), **_compare(made["cpu"], made.get("cuda"), made[REFERENCE])}


def _explain(adapter: ModelAdapter, method: str, params: dict[str, Any]) -> list[Explanation]:
    torch.manual_seed(0)
    return explain(TEXTS, adapter, method, target=TARGET, batch_size=len(TEXTS), params=params)


def _timed(fn: Callable[[], list[Explanation]], device: str) -> tuple[list[Explanation], float]:
    """The last result of `fn` and its median ms per explanation, after one warm-up call."""
    fn()
    times: list[float] = []
    while not times or (sum(times) < MIN_SECONDS and len(times) < MAX_RUNS):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return out, statistics.median(times) * 1000 / len(out)


def _compare(cpu: list[Explanation], gpu: list[Explanation] | None, reference: list[Explanation]) -> dict[str, Any]:
    """Check GPU against CPU (skipped without `gpu`): the problems and worst differences, also ÷ max|cpu|.

    float32_error is the CPU's own rounding error, max|cpu − float64| ÷ max|cpu|; atol is at least
    `NOISE_FACTOR` times it, unless the float64 run took other discrete decisions (then noted, not widened).
    """
    problems: list[str] = []
    notes: list[str] = []
    abs_diff = rel_diff = float32_error = 0.0
    for i, (c, r) in enumerate(zip(cpu, reference, strict=True)):
        same_path = _discrete(c) == _discrete(r)
        if not same_path:
            notes.append(f"text {i}: float64 took other discrete decisions ({_discrete(r)}), atol not widened")
        g = None if gpu is None else gpu[i]
        on_cpu, on_gpu, in_float64 = _arrays(c), {} if g is None else _arrays(g), _arrays(r)
        if g is not None:
            if c.targets != g.targets:
                problems.append(f"text {i}: targets {c.targets} on cpu, {g.targets} on gpu")
            problems += [
                f"text {i}: {k} {v} on cpu, {g.diagnostics.get(k)} on gpu"
                for k, v in _discrete(c).items()
                if v != g.diagnostics.get(k)
            ]
        for field, a in on_cpu.items():
            scale = float(np.abs(a).max(initial=0.0))
            noise = float(np.abs(a - in_float64[field]).max(initial=0.0)) if same_path else 0.0
            float32_error = max(float32_error, _share(noise, scale))
            if g is None:
                continue
            b = on_gpu.get(field)
            if b is None or b.shape != a.shape:
                problems.append(f"text {i}: {field} of shape {a.shape} on cpu, {_shape(b)} on gpu")
                continue
            diff = float(np.abs(b - a).max(initial=0.0))
            abs_diff, rel_diff = max(abs_diff, diff), max(rel_diff, _share(diff, scale))
            if not np.allclose(b, a, rtol=RTOL, atol=max(ATOL_SHARE * scale, NOISE_FACTOR * noise)):
                problems.append(f"text {i}: {field} differ by up to {diff:.2e} (max|cpu| {scale:.2e})")
    compared = gpu is not None
    return {
        "max_abs_diff": abs_diff if compared else None,
        "max_rel_diff": rel_diff if compared else None,
        "float32_error": float32_error,
        "ok": not problems,
        "problems": problems,
        "notes": notes,
    }


def _arrays(e: Explanation) -> dict[str, np.ndarray]:
    """The compared arrays of one explanation, in float64."""
    arrays = {"scores": e.scores, "logits": e.logits, "layer_scores": e.layer_scores}
    return {k: v.astype(np.float64) for k, v in arrays.items() if v is not None}


def _discrete(e: Explanation) -> dict[str, Any]:
    """Diagnostics that must match exactly: integers, flags and strings (steps used, forwards run, ...)."""
    return {k: v for k, v in e.diagnostics.items() if isinstance(v, (int, str))}


def _share(diff: float, scale: float) -> float:
    return diff / scale if scale else diff


def _shape(array: np.ndarray | None) -> str:
    return "none" if array is None else str(array.shape)


def _row(
    model: str, method: str, params: dict[str, Any], ms: dict[str, float], problems: list[str] | None = None
) -> dict[str, Any]:
    cpu, gpu = ms.get("cpu"), ms.get("cuda")
    return {
        "model": model,
        "method": method,
        "params": params,
        "cpu_ms": cpu,
        "gpu_ms": gpu,
        "speedup": cpu / gpu if cpu and gpu else None,
        "max_abs_diff": None,
        "max_rel_diff": None,
        "float32_error": None,
        "ok": not problems,
        "problems": problems or [],
        "notes": [],
    }


def _line(row: dict[str, Any]) -> str:
    def fmt(value: float | None, spec: str) -> str:
        return "–" if value is None else format(value, spec)

    cells = [
        row["model"],
        row["method"],
        fmt(row["cpu_ms"], ".1f"),
        fmt(row["gpu_ms"], ".1f"),
        fmt(row["speedup"], ".1f"),
        fmt(row["max_abs_diff"], ".1e"),
        fmt(row["max_rel_diff"], ".1e"),
        fmt(row["float32_error"], ".1e"),
        "ok" if row["ok"] else "FAIL",
    ]
    return "| " + " | ".join(cells) + " |"


def _write(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON atomically: a temporary file next to `path`, then `os.replace`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(payload, indent=2))
    os.replace(temporary, path)


if __name__ == "__main__":
    sys.exit(main())
