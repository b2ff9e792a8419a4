"""The Ray backend (`pip install trexplain[ray]`): windows explained by Ray Data actors, one model each.

The driver reads the input (the same reader, ids and resume rules as the local backend), cuts the windows
still to do and hands them to Ray Data a chunk at a time (`from_items`, so memory stays bounded);
`map_batches` with the callable class `ShardWriter` (one model per actor, `concurrency` actors of
`num_cpus` each) explains each window with `explain_window` and writes its shard atomically, under the
same name as the local backend would. Output is therefore equal to the local one row for row.

Pitfall on small machines: Ray Data needs a CPU for its own read and scheduling tasks; actors that take
every CPU leave none and the pipeline waits for ever. Started here, Ray gets `workers + 1` CPUs, the
actors `workers` of them (`ActorPoolStrategy(size=workers)`, `num_cpus=1`). With `address`, an existing
cluster is joined (the model folder must then be reachable at the same path on every node, and the run
folder shared); Ray is shut down afterwards only if this call started it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from trexplain.errors import InputError
from trexplain.models.adapter import ModelAdapter
from trexplain.runs.shards import ShardInfo, write_shard
from trexplain.runs.work import Window, explain_window

CHUNK_TEXTS = 8192  # texts handed to Ray Data at once; each chunk starts its actors (and models) afresh


def _ray() -> Any:
    try:
        import ray
        import ray.data  # ray without its data extra has no ray.data
    except ImportError as exc:
        raise InputError(
            "the ray backend needs Ray Data: pip install 'trexplain[ray]' (or use --backend local)"
        ) from exc
    return ray


class ShardWriter:
    """A Ray Data actor: loads the model once, then explains and writes one window per call."""

    def __init__(self, job: Any, threads: int = 1) -> None:
        import torch

        from trexplain.models.loading import load_model

        torch.set_num_threads(threads)
        self.job = job
        loader = dict(job.loader)
        if str(loader.get("device") or "").startswith("cuda"):
            loader["device"] = "cuda"  # Ray shows the actor only the GPU it was given, as cuda:0
        self.adapter = load_model(job.model, **loader)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = []
        with self.adapter.session():
            for text in batch["window"]:
                window = Window.from_dict(json.loads(text))
                table = explain_window(self.adapter, self.job.settings, window)
                info = write_shard(self.job.folder, window.first, window.last, table)
                out.append(json.dumps(info.to_dict()))
        return {"shard": np.array(out, dtype=object)}


def start_ray(workers: int, address: str | None = None) -> bool:
    """Connect to `address`, or start Ray here with `workers + 1` CPUs; True when this call started it."""
    ray = _ray()
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
    if address is None:
        options.update(num_cpus=workers + 1, include_dashboard=False)
    ray.init(address=address, **options)
    ray.data.DataContext.get_current().enable_progress_bars = False  # the run shows its own bar
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    return True


def run_ray(
    job: Any,
    windows: Iterable[Window],
    finish: Callable[[ShardInfo], None],
    advance: Callable[[float], None],
    *,
    adapter: ModelAdapter,
    workers: int = 1,
    address: str | None = None,
) -> None:
    """Explain and write every window with `workers` Ray actors; `finish` is called as each shard lands."""
    ray = _ray()
    started = start_ray(workers, address)
    try:
        for chunk in _chunks(windows, CHUNK_TEXTS):
            items = [{"window": json.dumps(w.to_dict(), ensure_ascii=False)} for w in chunk]
            done = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
                ShardWriter,
                fn_constructor_kwargs={"job": job},
                batch_size=1,
                compute=ray.data.ActorPoolStrategy(size=workers),  # `concurrency=workers` before Ray 2.51
                num_cpus=1,
                num_gpus=1 if adapter.device.type == "cuda" else 0,  # each actor asks Ray for a GPU of its own
                batch_format="numpy",
            )
            for row in done.iter_rows():
                info = ShardInfo(**json.loads(row["shard"]))
                finish(info)
                advance(info.texts)
    finally:
        if started:
            ray.shutdown()


def _chunks(windows: Iterable[Window], texts: int) -> Iterator[list[Window]]:
    """Consecutive windows, up to about `texts` texts per chunk."""
    chunk: list[Window] = []
    size = 0
    for window in windows:
        chunk.append(window)
        size += len(window.rows)
        if size >= texts:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk
