"""Progress of long work: the library reports stages and steps, whoever runs it decides whether to show them.

Library code wraps each stage in `stage(label, total)` and calls the returned `advance`; nothing is shown
unless the caller installed a reporter with `reporting(...)`. The CLI installs `RichReporter` (a bar with
rate and ETA on stderr) when stderr is a terminal and `--quiet` is not given, so pipes and logs stay clean.
The reporter is held in a context variable: threads that did not install one (a server's workers) report
nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

Advance = Callable[..., None]


class Reporter(Protocol):
    """Receives stages (with an optional total of steps), their progress, and one-off notes."""

    def start(self, label: str, total: float | None) -> int: ...

    def advance(self, task: int, amount: float) -> None: ...

    def finish(self, task: int) -> None: ...

    def note(self, message: str) -> None: ...


_REPORTER: ContextVar[Reporter | None] = ContextVar("trexplain_progress", default=None)


def _ignore(amount: float = 1) -> None:
    """`advance` when nobody listens."""


@contextmanager
def stage(label: str, total: float | None = None) -> Iterator[Advance]:
    """A stage of work of `total` steps (None: unknown); yields `advance(amount=1)`."""
    reporter = _REPORTER.get()
    if reporter is None:
        yield _ignore
        return
    task = reporter.start(label, total)

    def advance(amount: float = 1) -> None:
        reporter.advance(task, amount)

    try:
        yield advance
    finally:
        reporter.finish(task)


def note(message: str) -> None:
    """Tell the user something about the work ahead (e.g. what a sanity check will cost), if anyone listens."""
    reporter = _REPORTER.get()
    if reporter is not None:
        reporter.note(message)


@contextmanager
def reporting(reporter: Reporter | None) -> Iterator[None]:
    """Within the block, stages in this thread report to `reporter` (None: to nobody)."""
    token = _REPORTER.set(reporter)
    try:
        yield
    finally:
        _REPORTER.reset(token)


class Silent:
    """A reporter that shows nothing: installed for `--quiet` so no stage falls back to a terminal bar."""

    def start(self, label: str, total: float | None) -> int:
        return 0

    def advance(self, task: int, amount: float) -> None:
        """Nothing to show."""

    def finish(self, task: int) -> None:
        """Nothing to show."""

    def note(self, message: str) -> None:
        """Nothing to show."""


@contextmanager
def shown(enabled: bool) -> Iterator[None]:
    """Show progress on stderr within the block when `enabled` (a library call's `progress=True`), unless a
    reporter is already installed (a CLI command's) or stderr is not a terminal."""
    if not enabled or _REPORTER.get() is not None:
        yield
        return
    with reporting(terminal_reporter()):
        yield


class RichReporter:
    """A rich progress display on stderr: one bar per running stage with steps done, rate and time left."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class Rate(ProgressColumn):
            """Steps per second (texts/s for a dataset run), once rich has measured it."""

            def render(self, task: Any) -> Text:
                return Text(f"{task.speed:.1f}/s" if task.speed else "", style="dim")

        self.console = Console(stderr=True)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            Rate(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.running = 0

    def start(self, label: str, total: float | None) -> int:
        if not self.running:
            self.progress.start()
        self.running += 1
        return self.progress.add_task(label, total=total)

    def advance(self, task: int, amount: float) -> None:
        self.progress.advance(task, amount)

    def finish(self, task: int) -> None:
        self.progress.remove_task(task)
        self.running -= 1
        if not self.running:
            self.progress.stop()

    def note(self, message: str) -> None:
        from rich.text import Text

        self.console.print(Text(message, style="dim"))


def terminal_reporter(quiet: bool = False) -> Reporter | None:
    """A `RichReporter` when stderr is an interactive terminal and not `quiet`; else None (stay silent)."""
    if quiet or not sys.stderr.isatty():
        return None
    return RichReporter()
