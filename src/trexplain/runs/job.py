"""`run_dataset`: explain a whole input file into a resumable run folder of Parquet shards and a manifest.

The driver checks everything first (options, the whole input file, the folder's manifest), then streams
the rows still to do, window by window (`shard_size` input rows each), to a backend (`local` or `ray`);
each finished shard is durable on disk before the driver counts it. A rerun skips the ids already in
finished shards, so a run killed at any point and rerun ends with every id exactly once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from trexplain import checks
from trexplain.errors import InputError
from trexplain.hashes import file_hash, weights_hash
from trexplain.io import check_output
from trexplain.methods.base import DEFAULT_METHOD, Method, TargetSpec
from trexplain.models.adapter import ModelAdapter
from trexplain.progress import note, stage
from trexplain.runs import shards as shard_files
from trexplain.runs.manifest import (
    MANIFEST,
    Manifest,
    RunConfig,
    check_same_run,
    write_manifest,
)
from trexplain.runs.reader import RowReader
from trexplain.runs.shards import ShardInfo
from trexplain.runs.work import Settings, Window
from trexplain.study import StudyOptions

BACKENDS = ("local", "ray")
SHARD_SIZE = 256


@dataclass
class RunSummary:
    """What one call did: texts read, already done, duplicates skipped, newly explained; shards written; time."""

    folder: Path
    rows: int = 0
    done_before: int = 0
    duplicates: int = 0
    explained: int = 0
    shards_written: int = 0
    shards: int = 0
    seconds: float = 0.0
    explain_seconds: float = 0.0  # of `seconds`, the time in the backend (explaining and writing shards)
    complete: bool = False
    backend: str = "local"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Texts explained per second in this call."""
        return self.explained / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """One line for the end of a run."""
        state = "complete" if self.complete else "partial (--limit)"
        return (
            f"{self.folder}: {self.explained} texts explained in {self.seconds:.1f} s ({self.rate:.1f} texts/s, "
            f"{self.backend}), {self.done_before} already done, {self.duplicates} repeated texts skipped; "
            f"{self.shards} shards, run {state}"
        )


@dataclass(frozen=True)
class Job:
    """A planned run: the folder, the model source (for workers that load their own), settings, config."""

    folder: Path
    model: str
    loader: Mapping[str, Any]
    settings: Settings
    config: RunConfig


def run_dataset(
    input_file: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | ModelAdapter | None = None,
    methods: str | Method | Sequence[str | Method] = DEFAULT_METHOD,
    target: TargetSpec = "predicted",
    params: Mapping[str, Mapping[str, Any]] | None = None,
    evaluate: bool = False,
    truncate: bool = False,
    text_column: str | None = None,
    id_column: str | None = None,
    rationale_column: str | None = None,
    limit: int | None = None,
    batch_size: int = 16,
    shard_size: int = SHARD_SIZE,
    workers: int = 1,
    backend: str = "local",
    ray_address: str | None = None,
    allow_pickle: bool = False,
    allow_missing_weights: bool = False,
    device: str | None = None,
    dtype: str | None = None,
    offline: bool = False,
    attn_implementation: str = "eager",
) -> RunSummary:
    """Explain every text of `input_file` with `methods` into the run folder `out` (created if absent;
    an existing run of the same config is resumed, one of another is a `RunMismatchError`). `methods` are names
    or `get_method(...)` instances; `params` maps method names to their parameters (docs/parameters.md).
    `allow_pickle`, `allow_missing_weights`, `device`, `dtype`, `offline` and `attn_implementation` go to `load_model`
    (here and in each worker)."""
    from trexplain.models.loading import DEMO_NAMES, load_model

    began = time.perf_counter()
    options = StudyOptions.build(
        [methods] if isinstance(methods, str) else methods, params, target=target, truncate=truncate,
        batch_size=batch_size,
    )  # fmt: skip
    chosen = options.chosen(0)
    names = [m.name for m in chosen]
    checks.flag(evaluate, "evaluate")
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    shard_size = checks.whole(shard_size, "shard_size", least=1)
    workers = checks.whole(workers, "workers", least=1)
    limit = checks.optional_whole(limit, "limit", least=1)
    if ray_address is not None and backend != "ray":
        raise InputError("--ray-address connects the ray backend; add --backend ray")
    loader: dict[str, Any] = {"allow_pickle": allow_pickle, "allow_missing_weights": allow_missing_weights}
    if device is not None:
        loader["device"] = device
    if dtype is not None:
        loader["dtype"] = dtype
    if offline:
        loader["offline"] = True
    if attn_implementation != "eager":
        loader["attn_implementation"] = attn_implementation
    source = Path(input_file)
    folder = _prepare_folder(Path(out), source)
    if isinstance(model, ModelAdapter):
        if workers > 1 or backend == "ray":
            raise InputError("workers and the ray backend load their own model: give a model folder, not an adapter")
        adapter, model_source = model, model.name
    else:
        model_source = "demo" if model is None else os.fspath(checks.model_source(model))
        if model_source not in DEMO_NAMES and Path(model_source).expanduser().exists():  # workers load it too
            model_source = str(Path(model_source).expanduser().resolve())
        adapter = load_model(model_source, **loader)
        if getattr(adapter, "model_revision", None):
            loader["offline"] = True  # workers load the cached commit the run is bound to
    rows = partial(RowReader, source, text_column=text_column, id_column=id_column, rationale_column=rationale_column)
    reader = rows()
    config = RunConfig(
        model=adapter.name,
        weights_sha256=weights_hash(adapter.model),
        model_revision=getattr(adapter, "model_revision", None),
        methods=tuple(names),
        params={m.name: checks.changed_params(m) for m in chosen},
        target=options.target,
        evaluate=evaluate,
        truncate=truncate,
        input_name=source.name,
        input_sha256=file_hash(reader.path),
        text_column=text_column,
        id_column=id_column,
        rationale_column=rationale_column,
        shard_size=shard_size,
    )
    if (folder / MANIFEST).exists():
        check_same_run(folder, config)
    finished = shard_files.finished(folder)
    shard_files.check_weights(folder, finished, config.weights_sha256, config.model_revision)
    done = shard_files.done_ids(folder, finished)

    # a first pass reads and checks the whole file (a bad line fails now, not hours in, and before the manifest
    # is written, so a corrected rerun is not refused as another run) and counts the work
    counter = rows(limit=limit)
    pending = sum(1 for row in counter if row.id not in done)
    shard_files.clean_temporaries(folder)
    manifest = Manifest(config, [s.to_dict() for s in finished])
    write_manifest(folder, manifest)
    summary = RunSummary(Path(out), rows=counter.rows, duplicates=counter.duplicates, backend=backend)
    summary.done_before = counter.rows - counter.duplicates - pending
    settings = Settings(
        options,
        evaluate=evaluate,
        rationales=rationale_column is not None,
        weights_sha256=config.weights_sha256,
        model_revision=config.model_revision,
    )
    job = Job(folder, model_source, loader, settings, config)
    windows = plan_windows(rows(limit=limit), done, shard_size)

    def finish(info: ShardInfo) -> None:
        finished.append(info)
        finished.sort(key=lambda s: s.first)
        manifest.shards = [s.to_dict() for s in finished]
        summary.explained += info.texts
        summary.shards_written += 1
        write_manifest(folder, manifest)

    if pending:
        note(f"{pending} texts to explain ({summary.done_before} already done) with {', '.join(names)}")
    with stage(f"explaining {pending} texts", total=pending) as advance:
        if pending:
            started = time.perf_counter()
            _backend(backend)(job, windows, finish, advance, adapter=adapter, workers=workers, address=ray_address)
            summary.explain_seconds = time.perf_counter() - started
    summary.complete = not counter.truncated
    manifest.complete = summary.complete
    manifest.counts = {"rows": summary.rows, "duplicates": summary.duplicates}
    write_manifest(folder, manifest)
    summary.shards = len(finished)
    summary.seconds = time.perf_counter() - began
    return summary


def plan_windows(reader: RowReader, done: set[str], shard_size: int) -> Iterator[Window]:
    """The windows of rows still to explain: input rows cut every `shard_size`, ids already done left out."""
    current: list = []
    index = None
    for row in reader:
        if row.id in done:
            continue
        if index is not None and row.row // shard_size != index:
            yield Window(index, tuple(current))
            current = []
        index = row.row // shard_size
        current.append(row)
    if current:
        yield Window(index, tuple(current))


def _prepare_folder(folder: Path, source: Path) -> Path:
    """The run folder: created if absent; an existing one must be a run folder or empty."""
    target = check_output(folder, inputs=[source], folder=True, what="--out")
    if not target.exists():
        target.mkdir()
    elif not (target / MANIFEST).exists() and any(not n.startswith(".") for n in os.listdir(target)):
        raise InputError(f"--out {folder} holds other files and no {MANIFEST}; give a new or empty folder")
    return target


Backend = Callable[..., None]


def _backend(name: str) -> Backend:
    if name == "ray":
        from trexplain.runs.ray_backend import run_ray

        return run_ray
    from trexplain.runs.local import run_local

    return run_local
