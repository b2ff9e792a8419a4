"""Dataset runs (`trexplain run`): throughput against the forward+backward floor, memory against the number of
rows, Ray against local, and the kill-and-resume counts.

`python -m benchmarks.bench_run [--texts N] [--ray-texts M] [--rows 10000 100000] [--kills K]`; within
`python -m benchmarks.run run` it uses small sizes. Every figure is measured in this one process run:
- throughput: cp-lrp on N demo-corpus tweets, local backend, one process, one thread, batches of 16, versus
  a plain forward+backward (embeddings → logits → gradient of the predicted logit) on the same batches;
- memory: the resident memory (RSS, sampled after every shard) of a fresh process streaming a synthetic file
  of R rows through the reader, the window planner and the shard writer (a fixed cp-lrp explanation per row:
  the model path is too slow for 100k rows here), over its RSS before the first row, for each R;
- Ray: the same M texts with `--backend ray` (one actor, Ray started with 2 CPUs) ÷ local, and Ray's start-up;
- kill and resume: K runs of the demo model killed (SIGKILL) at random points, then one to finish: ids
  lost and duplicated against the input.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from trexplain.models import load_model
from trexplain.models.demo import DEMO_DIR
from trexplain.runs import load_run, run_dataset
from trexplain.runs.reader import RowReader, text_id

MEMORY_SCRIPT = r"""
import json, sys
from pathlib import Path
from trexplain import explain, load_model
from trexplain.runs.job import plan_windows
from trexplain.runs.reader import RowReader
from trexplain.runs.shards import shard_table, write_shard

def rss_mb():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 2**20

source, out = Path(sys.argv[1]), Path(sys.argv[2])
template = explain("a template tweet for every row of the file", load_model("demo"))[0]
shard_table([template], {"id": ["x"], "row": [0]}, 1)  # pandas/pyarrow imports, before the baseline
before = rss_mb()
top, rows = before, 0
for window in plan_windows(RowReader(source), set(), 256):
    n = len(window.rows)
    table = shard_table([template] * n, {"id": [r.id for r in window.rows], "row": [r.row for r in window.rows]}, n)
    write_shard(out, window.first, window.last, table)
    rows += n
    top = max(top, rss_mb())
print(json.dumps({"rows": rows, "rss_before_mb": round(before, 1), "rss_max_mb": round(top, 1),
                  "growth_mb": round(top - before, 1)}))
"""


def corpus_texts(n: int) -> list[str]:
    """The first n distinct tweets of the demo corpus."""
    import csv

    with gzip.open(DEMO_DIR / "corpus.csv.gz", "rt", newline="") as handle:
        texts = list(dict.fromkeys(row["text"] for row in csv.DictReader(handle)))
    if n > len(texts):
        raise SystemExit(f"the demo corpus has {len(texts)} distinct tweets; ask for at most that many")
    return texts[:n]


def write_jsonl(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    return path


def floor_seconds(texts: list[str], batch_size: int) -> tuple[float, float]:
    """Wall and CPU seconds of a forward+backward of the demo model on the run's batches (the least any
    gradient explanation costs)."""
    adapter = load_model("demo")
    began, cpu = time.perf_counter(), time.process_time()
    with adapter.session():
        for start in range(0, len(texts), batch_size):
            batch = adapter.encode(texts[start : start + batch_size])
            embeddings = adapter.embed(batch.inputs).requires_grad_(True)
            logits = adapter.forward(batch.inputs, embeddings=embeddings).logits
            torch.autograd.grad(logits.gather(1, logits.argmax(1, keepdim=True)).sum(), embeddings)
    return time.perf_counter() - began, time.process_time() - cpu


def throughput(root: Path, n: int, batch_size: int = 16) -> dict[str, Any]:
    """The run's explain stage (explaining + writing shards; wall and CPU time, as the machine is shared) and
    the whole run (model load, weight hash, input checks) against the floor on the same batches."""
    from trexplain.runs import job

    texts = corpus_texts(n)
    source = write_jsonl(root / "throughput.jsonl", texts)
    chosen, cpu = job._backend, {}

    def timed(name: str) -> Any:
        backend = chosen(name)

        def call(*args: Any, **kwargs: Any) -> None:
            began = time.process_time()
            backend(*args, **kwargs)
            cpu["explain"] = time.process_time() - began

        return call

    job._backend = timed
    try:
        summary = run_dataset(source, root / "throughput", methods="cp-lrp", batch_size=batch_size)
    finally:
        job._backend = chosen
    floor, floor_cpu = floor_seconds(texts, batch_size)
    return {
        "texts": n,
        "run_s": round(summary.seconds, 1),
        "explain_s": round(summary.explain_seconds, 1),
        "explain_cpu_s": round(cpu["explain"], 1),
        "floor_s": round(floor, 1),
        "floor_cpu_s": round(floor_cpu, 1),
        "run_texts_per_s": round(n / summary.explain_seconds, 2),
        "floor_texts_per_s": round(n / floor, 2),
        "throughput_vs_floor_wall": round(floor / summary.explain_seconds, 3),
        "throughput_vs_floor_cpu": round(floor_cpu / cpu["explain"], 3),
        "throughput_vs_floor_whole_run": round(floor / summary.seconds, 3),
    }


def memory(root: Path, sizes: list[int]) -> list[dict[str, Any]]:
    out = []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    for rows in sizes:
        source = root / f"memory-{rows}.jsonl"
        with source.open("w") as handle:
            for i in range(rows):  # synthetic repeats of corpus-like tweets, each made distinct by its number
                handle.write(json.dumps({"text": f"tweet {i}: I can't believe this just happened! #{i % 97}"}) + "\n")
        folder = root / f"memory-{rows}"
        folder.mkdir()
        done = subprocess.run(
            [sys.executable, "-c", MEMORY_SCRIPT, str(source), str(folder)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def ray_versus_local(root: Path, n: int) -> dict[str, Any]:
    import ray

    texts = corpus_texts(n)
    source = write_jsonl(root / "ray.jsonl", texts)
    local = run_dataset(source, root / "ray-local", methods="cp-lrp")
    began = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    init = time.perf_counter() - began
    try:
        remote = run_dataset(source, root / "ray-ray", methods="cp-lrp", backend="ray")
    finally:
        ray.shutdown()
    a, b = load_run(root / "ray-local", "arrow"), load_run(root / "ray-ray", "arrow")
    same = all(a.column(c).to_pylist() == b.column(c).to_pylist() for c in a.column_names if c != "diagnostics")
    return {
        "texts": n,
        "local_explain_s": round(local.explain_seconds, 1),
        "ray_explain_s": round(remote.explain_seconds, 1),
        "ray_vs_local": round(local.explain_seconds / remote.explain_seconds, 3),
        "ray_init_s": round(init, 1),
        "ray_startup_s": round(init + remote.explain_seconds - local.explain_seconds, 1),
        "tables_equal": same,
    }


def _killed(source: Path, out: Path) -> None:
    torch.set_num_threads(1)
    run_dataset(source, out, methods="cp-lrp", shard_size=8)


def kill_and_resume(root: Path, n: int, kills: int, seed: int = 18) -> dict[str, Any]:
    texts = corpus_texts(n)
    source = write_jsonl(root / "kill.jsonl", texts)
    out = root / "kill"
    rng = random.Random(seed)
    context = multiprocessing.get_context("fork")
    killed = 0
    for _ in range(kills):
        target = len(list(out.glob("rows-*.parquet"))) if out.exists() else 0
        target += rng.randint(0, 2)
        process = context.Process(target=_killed, args=(source, out))
        process.start()
        while process.is_alive() and (not out.exists() or len(list(out.glob("rows-*.parquet"))) < target):
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 1.5))
        os.kill(process.pid, signal.SIGKILL)
        process.join()
        killed += process.exitcode == -signal.SIGKILL
    final = run_dataset(source, out, methods="cp-lrp", shard_size=8)
    ids = load_run(out, "arrow").column("id").to_pylist()
    expected = {r.id for r in RowReader(source)}
    return {
        "texts": n,
        "runs_killed": killed,
        "done_before_last_run": final.done_before,
        "lost": len(expected - set(ids)),
        "duplicated": len(ids) - len(set(ids)),
        "ids_match_hash": set(ids) == {text_id(t) for t in texts},
    }


def run(ctx: Any = None, sizes: dict[str, Any] | None = None) -> list[dict]:
    """Every section with small sizes (or `sizes`), one row per section, for `benchmarks.run`."""
    sizes = {"texts": 200, "ray_texts": 100, "rows": [10_000, 100_000], "kills": 4, "kill_texts": 96, **(sizes or {})}
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows.append({"section": "run", "name": "throughput (cp-lrp, local)", **throughput(root, sizes["texts"])})
        for entry in memory(root, sizes["rows"]):
            rows.append({"section": "run", "name": f"memory, {entry['rows']} rows", **entry})
        try:
            import ray.data  # noqa: F401
        except ImportError:
            rows.append(
                {"section": "run", "name": "ray", "skipped": "ray is not installed (pip install trexplain[ray])"}
            )
        else:
            rows.append({"section": "run", "name": "ray vs local", **ray_versus_local(root, sizes["ray_texts"])})
        rows.append(
            {"section": "run", "name": "kill and resume", **kill_and_resume(root, sizes["kill_texts"], sizes["kills"])}
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--ray-texts", type=int, default=300)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--kill-texts", type=int, default=96)
    args = parser.parse_args()
    sizes = {
        "texts": args.texts,
        "ray_texts": args.ray_texts,
        "rows": args.rows,
        "kills": args.kills,
        "kill_texts": args.kill_texts,
    }
    for row in run(None, sizes):
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
