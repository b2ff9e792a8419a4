"""The local backend: windows explained in this process, or in `workers` processes with one model each.

With N workers each process loads the model once and uses cores ÷ N torch threads (at least one), so
N × threads ≤ cores. A worker writes its shard itself (atomically, durably) and returns its `ShardInfo`;
at most 2 × N windows are in flight, so memory stays flat however long the input is.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

import torch

from trexplain.models.adapter import ModelAdapter
from trexplain.runs.shards import ShardInfo, write_shard
from trexplain.runs.work import Window, explain_window

_STATE: dict[str, Any] = {}
START_METHOD = "spawn"  # workers start fresh: no fork of a process that holds torch threads and locks


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_worker(workers: int) -> int:
    """Torch threads for each of `workers` processes: cores ÷ workers, at least one."""
    return max(1, cores() // workers)


def run_local(
    job: Any,
    windows: Iterable[Window],
    finish: Callable[[ShardInfo], None],
    advance: Callable[[float], None],
    *,
    adapter: ModelAdapter,
    workers: int = 1,
    address: str | None = None,
) -> None:
    """Explain and write every window; `finish` is called with each shard once it is on disk."""
    if workers == 1:
        with adapter.session():
            for window in windows:
                table = explain_window(adapter, job.settings, window, advance)
                finish(write_shard(job.folder, window.first, window.last, table))
        return
    context = multiprocessing.get_context(START_METHOD)
    threads = threads_per_worker(workers)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start, initargs=(job, threads)) as pool:
        running: dict[Future, int] = {}
        for window in windows:
            if len(running) >= 2 * workers:
                _collect(running, finish, advance)
            running[pool.submit(_work, window)] = len(window.rows)
        while running:
            _collect(running, finish, advance)


def _collect(running: dict[Future, int], finish: Callable, advance: Callable) -> None:
    done, _ = wait(running, return_when=FIRST_COMPLETED)
    for future in done:
        texts = running.pop(future)
        finish(future.result())
        advance(texts)


def _start(job: Any, threads: int) -> None:
    """A worker process: its share of threads, and its own model."""
    from trexplain.models.loading import load_model

    torch.set_num_threads(threads)
    _STATE["job"] = job
    _STATE["adapter"] = load_model(job.model, **job.loader)


def _work(window: Window) -> ShardInfo:
    job, adapter = _STATE["job"], _STATE["adapter"]
    with adapter.session():
        table = explain_window(adapter, job.settings, window)
    return write_shard(job.folder, window.first, window.last, table)
