"""How a probe shows: the terminal word diff and table (rich), and the report payload with its `probe` section.
Every string from the user, the tokenizer or the model goes through `visible`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from trexplain.errors import InputError
from trexplain.probe.search import ProbeResult
from trexplain.probe.table import AttackTable
from trexplain.viz.terminal import OPPOSES, SUPPORTS, render, visible


def _prediction(result: ProbeResult, cls: int, probabilities: list[float]) -> Text:
    text = Text.assemble((visible(result.labels[cls]), "bold"), " (")
    text.append(", ".join(f"{visible(n)} {p:.2f}" for n, p in zip(result.labels, probabilities, strict=True)))
    return text.append(")")


def diff_text(result: ProbeResult) -> Text:
    """The word diff on one line: each changed word struck through in red, → its replacement in green (∅: deleted)."""
    out = Text()
    for piece in result.segments:
        old, new = piece["original"], piece["edited"]
        if old == new:
            out.append(visible(old))
            continue
        out.append(visible(old), style=f"strike {OPPOSES}")
        out.append("→", style="dim")
        out.append(visible(new) if new else "∅", style=f"bold {SUPPORTS}")
    return out


def result_view(result: ProbeResult) -> Group:
    """What `trexplain probe TEXT` prints: outcome, diff, both predictions, cost, and both explanations."""
    goal = "" if result.target is None else f" → target {visible(result.labels[result.target])}"
    outcome = ("success", "bold green") if result.success else ("no success (best attempt shown)", "bold yellow")
    cost = (
        f"{result.queries} queries ({result.ranking_queries} ranking + {result.search_queries} search) of "
        f"{result.budget if result.budget is not None else 'unlimited'}, {result.attribution_passes} attribution "
        f"passes · {result.words_changed}/{result.words_total} words changed · ranking {visible(result.ranking)} · "
        f"edits {', '.join(result.edits)}"
    )
    if result.similarity is not None:
        cost += f" · similarity {result.similarity:.3f}"
    parts: list[Any] = [
        Text.assemble(outcome, visible(goal)),
        diff_text(result),
        Text.assemble("before: ", _prediction(result, result.original_class, result.original_probabilities)),
        Text.assemble("after:  ", _prediction(result, result.new_class, result.new_probabilities)),
        Text(cost, style="dim"),
        Text(""),
    ]
    if result.explanations is not None:
        for title, e in zip(("original", "edited"), result.explanations, strict=True):
            parts += [Text(title, style="bold underline"), render(e, bars=False)]
    return Group(*parts)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table_view(table: AttackTable) -> Table:
    """The attack table: one row per ranking."""
    out = Table(box=box.SIMPLE_HEAD)
    first = "accuracy" if table.labelled else "predicted"
    for name in ("ranking", "texts", first, "success", "after" if table.labelled else None,
                 "words", "queries", "median", "passes", "s/text"):  # fmt: skip
        if name is not None:
            left = name in ("ranking", "predicted")
            out.add_column(name, justify="left" if left else "right", no_wrap=name != "predicted")
    out.caption = (
        f"{'accuracy: before the attack; after: accuracy after it; ' if table.labelled else ''}success: share of "
        "attacked texts flipped; words: mean % changed (successes); queries/median: model queries per text; "
        "passes: attribution forward passes per text"
    )
    for row in table.rows:
        if table.labelled:
            head = [_percent(row["original_accuracy"])]
        else:
            head = [", ".join(f"{visible(k)} {100 * v:.0f}%" for k, v in row["predicted_share"].items())]
        cells = [visible(row["ranking"]), str(row["texts"]), *head, _percent(row["success_rate"])]
        if table.labelled:
            cells.append(_percent(row["after_attack_accuracy"]))
        cells += [
            _percent(row["words_perturbed"]),
            _number(row["mean_queries"]),
            _number(row["median_queries"]),
            _number(row["mean_attribution_passes"]),
            _number(row["seconds"], 2),
        ]
        out.add_row(*cells)
    return out


def texts_view(table: AttackTable, texts: list[str]) -> Table:
    """One row per text and ranking: the prediction before and after, the words changed and the queries, and the
    edit as a word diff (skipped: the model already misclassified the text, so it was not attacked)."""
    out = Table(box=box.SIMPLE_HEAD)
    for name in ("#", "ranking", "before", "after", "words", "queries", "edit"):
        out.add_column(name, justify="right" if name in ("#", "words", "queries") else "left")
    for ranking, results in table.results.items():
        for i, (text, result) in enumerate(zip(texts, results, strict=True)):
            if result is None:
                out.add_row(str(i + 1), visible(ranking), "skipped", "", "", "", Text(visible(text), "dim"))
                continue
            after = visible(result.labels[result.new_class]) if result.success else "unchanged"
            out.add_row(
                str(i + 1),
                visible(ranking),
                visible(result.labels[result.original_class]),
                Text(after, SUPPORTS if result.success else ""),
                f"{result.words_changed}/{result.words_total}",
                str(result.queries),
                diff_text(result),
            )
    return out


def probe_payload(result: ProbeResult, model: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The report dict of one probe: both texts as text entries (with their explanations) and the `probe`
    section (`section-probe.js`) that draws them one above the other with the diff and predictions."""
    from trexplain.viz.payload import build_payload

    if result.explanations is None:
        raise InputError("the report of a probe needs the explanations of both texts (explain=True)")
    payload = build_payload([[e] for e in result.explanations], title="trexplain probe", model=model)
    payload["probe"] = result.to_dict()
    return payload
