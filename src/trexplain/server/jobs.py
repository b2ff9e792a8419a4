"""A bounded pool for model work: at most `workers` calls run at once, at most `queue` run or wait.

Each job runs in a worker thread with its own progress reporter (`trexplain.progress.reporting`): the library's
stages update the job's progress, and a cancelled or timed-out job stops at its next step (the reporter
raises `Cancelled` there). A full queue is a `LimitError` (503); nothing waits unbounded.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from trexplain.progress import reporting
from trexplain.server.limits import LimitError, Limits

KEEP_FINISHED = 64  # finished jobs kept for polling, oldest dropped first


class Cancelled(Exception):
    """Raised inside a job's thread at its next progress step once the job was cancelled or timed out."""


@dataclass
class Job:
    """One unit of model work: state `queued` → `running` → `done` / `failed` / `cancelled`."""

    kind: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: str = "queued"
    stages: dict[int, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    result: Any = None
    error: BaseException | None = None
    created: float = field(default_factory=time.monotonic)
    deadline: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    future: Future | None = None

    # the Reporter protocol (trexplain.progress), called from the worker thread
    def start(self, label: str, total: float | None) -> int:
        self.check()
        task = len(self.stages)
        self.stages[task] = {"label": label, "total": total, "done": 0, "finished": False}
        return task

    def advance(self, task: int, amount: float) -> None:
        self.stages[task]["done"] += amount
        self.check()

    def finish(self, task: int) -> None:
        self.stages[task]["finished"] = True

    def note(self, message: str) -> None:
        self.notes.append(message)

    def check(self) -> None:
        """Raise `Cancelled` when the job was cancelled or is past its deadline."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.cancel.set()
        if self.cancel.is_set():
            raise Cancelled

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "progress": [dict(s) for s in self.stages.values()],
            "notes": list(self.notes),
            "seconds": round(time.monotonic() - self.created, 3),
        }


class Jobs:
    """The worker pool, the count of admitted jobs and the finished jobs kept for polling."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.pool = ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="trexplain-serve")
        self.lock = threading.Lock()
        self.active = 0
        self.jobs: OrderedDict[str, Job] = OrderedDict()

    def submit(self, kind: str, work: Callable[[], Any], timeout: float | None = None) -> Job:
        """Admit `work` (503 when `queue` jobs are already running or waiting) and start it when a worker is free."""
        with self.lock:
            if self.active >= self.limits.queue:
                raise LimitError(
                    503,
                    "queue",
                    self.limits.queue,
                    self.active + 1,
                    f"the server is busy: {self.active} model calls are running or waiting (the queue holds "
                    f"{self.limits.queue}); retry in a moment",
                )
            self.active += 1
            job = Job(kind)
            job.deadline = None if timeout is None else job.created + timeout
            self.jobs[job.id] = job
            while len(self.jobs) > KEEP_FINISHED + self.limits.queue:
                oldest = next(iter(self.jobs))
                if self.jobs[oldest].state in ("queued", "running"):
                    break
                self.jobs.pop(oldest)
        job.future = self.pool.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work: Callable[[], Any]) -> Any:
        try:
            job.check()
            job.state = "running"
            with reporting(job):
                job.result = work()
            job.state = "done"
            return job.result
        except Cancelled:
            job.state = "cancelled"
            raise
        except BaseException as exc:
            job.error, job.state = exc, "failed"
            raise
        finally:
            with self.lock:
                self.active -= 1

    async def run(self, kind: str, work: Callable[[], Any]) -> Any:
        """Run `work` in the pool and wait for it, for at most `limits.timeout_s` (then a 504 `LimitError`; the
        work stops at its next step)."""
        job = self.submit(kind, work, timeout=self.limits.timeout_s)
        try:
            # shielded: a timeout must not cancel a queued future, whose `_run` releases the job's place
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(job.future)), self.limits.timeout_s)
        except (asyncio.TimeoutError, Cancelled) as exc:
            job.cancel.set()
            raise LimitError(
                504,
                "timeout_s",
                self.limits.timeout_s,
                round(time.monotonic() - job.created, 3),
                f"the request took longer than the server's limit of {self.limits.timeout_s:g} s; ask for less "
                "(fewer texts, steps or samples) or run it as a job",
            ) from exc
        finally:
            if job.state in ("done", "failed", "cancelled"):
                with self.lock:
                    self.jobs.pop(job.id, None)

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def shutdown(self) -> None:
        for job in list(self.jobs.values()):
            job.cancel.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
