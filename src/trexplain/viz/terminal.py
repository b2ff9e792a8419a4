"""Coloured terminal view: the text with each word tinted by its score, and a small bar per word."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text

from trexplain.explanation import Aggregate, Explanation
from trexplain.viz.colors import rgba, scale

BAR_WIDTH = 12


def _tint(score: float, peak: float) -> str:
    r, g, b, a = rgba(score, peak)
    mix = [round(255 - (255 - c) * a) for c in (r, g, b)]
    return f"black on rgb({mix[0]},{mix[1]},{mix[2]})"


def render(explanation: Explanation, target: int | str | None = None, aggregate: Aggregate = "sum") -> Group:
    """Highlighted text and a per-word bar table for one target of one explanation."""
    row = explanation.target_row(target)
    label = explanation.labels[explanation.targets[row]]
    scores = explanation.word_scores(explanation.targets[row], aggregate)
    peak = scale(scores)
    text = Text()
    cursor = 0
    for (start, end), score in zip(explanation.words, scores, strict=True):
        text.append(explanation.text[cursor:start])
        text.append(explanation.text[start:end], style=_tint(float(score), peak))
        cursor = end
    text.append(explanation.text[cursor:])
    probs = explanation.probabilities
    header = Text.assemble((f"{explanation.method}", "bold"), " → ", (label, "bold"), "   prediction: ")
    for c, name in enumerate(explanation.labels):
        header.append(f"{name} {probs[c]:.2f}", style="bold" if c == explanation.predicted else "dim")
        header.append("  " if c + 1 < len(explanation.labels) else "")
    checks = _checks(explanation, row)
    if checks:
        header.append("   " + ", ".join(checks), style="dim")
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column("word", overflow="fold")
    table.add_column("bar", width=2 * BAR_WIDTH + 1, no_wrap=True)
    table.add_column("score", justify="right")
    for (start, end), score in zip(explanation.words, scores, strict=True):
        table.add_row(explanation.text[start:end], _bar(float(score), peak), f"{score:+.3f}")
    return Group(header, text, table, Text(""))


def _checks(explanation: Explanation, row: int) -> list[str]:
    """The method's identity check for this target, e.g. "completeness error 0.0012"."""
    identity = explanation.diagnostics.identity
    return [] if identity is None else [f"{identity.kind} error {identity.error_for(row):.2g}"]


def _bar(score: float, peak: float) -> Text:
    cells = round(abs(score) / peak * BAR_WIDTH)
    left = " " * BAR_WIDTH if score >= 0 else " " * (BAR_WIDTH - cells) + "█" * cells
    right = "█" * cells + " " * (BAR_WIDTH - cells) if score >= 0 else " " * BAR_WIDTH
    return Text.assemble((left, "red"), ("│", "dim"), (right, "green"))


def render_all(explanations: Sequence[Explanation], aggregate: Aggregate = "sum") -> Group:
    """Every target of every explanation, one after another."""
    parts = []
    for explanation in explanations:
        for target in explanation.targets:
            parts.append(render(explanation, target, aggregate))
    return Group(*parts)
