"""Progress of long work: stages reported by the library, shown only where someone listens."""

from __future__ import annotations

from trexplain import progress
from trexplain.study import study


class Recorder:
    """A reporter that keeps what it was told."""

    def __init__(self) -> None:
        self.stages: dict[int, dict] = {}
        self.notes: list[str] = []

    def start(self, label: str, total: float | None) -> int:
        self.stages[len(self.stages)] = {"label": label, "total": total, "done": 0, "open": True}
        return len(self.stages) - 1

    def advance(self, task: int, amount: float) -> None:
        self.stages[task]["done"] += amount

    def finish(self, task: int) -> None:
        self.stages[task]["open"] = False

    def note(self, message: str) -> None:
        self.notes.append(message)


def test_study_reports_every_stage_to_completion(tiny):
    recorder = Recorder()
    texts = ["good day", "bad day", "a fine film"]
    with progress.reporting(recorder):
        study(texts, tiny["bert"], ["gxi", "saliency"], evaluate=True, sanity=True, sanity_texts=1, batch_size=2)
    stages = list(recorder.stages.values())
    labels = [s["label"] for s in stages]
    assert labels[:2] == ["explaining with gxi", "explaining with saliency"]
    assert stages[0]["total"] == stages[0]["done"] == 3  # advanced per batch of 2, then 1
    assert any(label.startswith("evaluating 6 explanations") for label in labels)
    sanity = next(s for s in stages if s["label"].startswith("sanity"))
    assert sanity["total"] == sanity["done"] == 2
    assert not any(s["open"] for s in stages)
    assert recorder.notes == [
        "sanity check: 10 explanation passes (2 method(s) × 1 text(s) × the original and each randomised part)"
    ]


def test_nothing_is_reported_without_a_listener(tiny, capsys):
    with progress.stage("work", total=3) as advance:
        advance()
    progress.note("cost")
    assert progress.terminal_reporter(quiet=True) is None
    assert progress.terminal_reporter() is None  # stderr is not a terminal under pytest
    study("good day", tiny["bert"], "gxi", progress=True)
    assert capsys.readouterr().err == ""
