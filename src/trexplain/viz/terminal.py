"""Terminal views (rich): explanations as tinted text with a bar per word, and the tables of evaluation,
sanity checks, model comparison and inspection. Pure functions of results: no model is run here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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


def metric_table(table: Mapping[str, Any]) -> Table:
    """The ranked rows of a faithfulness table (`FaithfulnessTable.to_dict()`)."""
    out = Table(
        title=f"{table['model']} · {table['texts']} text(s) · target {table['target']} · "
        f"{table['strategy']} {table['level']}s",
        title_justify="left",
    )
    for column in ("#", "method", "AOPC comp ↑", "suff ↓", "ΔA^F ↑", "compl. err", "ms/expl", "n"):
        out.add_column(column, justify="left" if column == "method" else "right")
    for row in table["rows"]:
        style = "dim" if row["method"] == "random" else None
        out.add_row(
            str(row["rank"]),
            Text(row["method"]),
            f"{row['comprehensiveness']:+.3f}",
            f"{row['sufficiency']:+.3f}",
            f"{row['delta_af']:+.3f}",
            "–" if row["completeness_error"] is None else f"{row['completeness_error']:.2g}",
            "–" if row["seconds"] is None else f"{row['seconds'] * 1000:.1f}",
            str(row["n"]),
            style=style,
        )
    return out


def sanity_line(check: Mapping[str, Any]) -> Text:
    """One line per sanity result (`SanityResult.to_dict()`): flagged or ok, and ρ after each step."""
    steps = " → ".join(f"{s['step']} {s['spearman']:+.2f}" for s in check["steps"])
    line = Text(f"sanity ({check['mode']}) {check['method']}: ")
    if check["flagged"]:
        line.append("FLAGGED: maps do not change with the model", style="bold red")
    else:
        line.append("ok")
    line.append(f" (Spearman after randomising: {steps})")
    return line


def evaluation_view(table: Mapping[str, Any], sanity: Sequence[Mapping[str, Any]] = ()) -> Group:
    """The metric table, the methods left out, the sanity lines and the verdict."""
    parts: list[Any] = [metric_table(table)]
    parts += [Text(f"skipped {name}: {reason}", style="dim") for name, reason in table.get("skipped", {}).items()]
    parts += [sanity_line(check) for check in sanity]
    parts.append(Text.assemble(("verdict: ", "bold"), str(table["verdict"])))
    return Group(*parts)


def comparison_view(result: Mapping[str, Any]) -> Group:
    """Two or more models on the same texts (`Comparison.to_dict()`): predictions, top words, agreement, tables."""
    parts: list[Any] = []
    for entry in result["texts"]:
        parts.append(Text(entry["text"], style="bold"))
        for side in entry["models"]:
            words = ", ".join(f"{w['word']} {w['score']:+.2f}" for w in side["top_words"])
            parts.append(
                Text(f"  {side['model']}: {side['prediction']} ({side['probability']:.2f}); top words: {words}")
            )
        rho = entry["spearman"]
        parts.append(Text(f"  agreement (Spearman ρ, {result['method']}): {'–' if rho is None else f'{rho:+.2f}'}"))
    agreement = result["agreement"]
    parts.append(Text(f"mean agreement: {'–' if agreement is None else f'{agreement:+.2f}'}\n"))
    for table in result["tables"]:
        parts += [metric_table(table), Text.assemble(("verdict: ", "bold"), str(table["verdict"]), "\n")]
    return Group(*parts)


def attention_links_table(maps: Any, top: int, specials: bool) -> Table:
    """The strongest query → key links of every head (`AttentionMaps`)."""
    table = Table(title=f"strongest attention links ({'with' if specials else 'without'} special tokens)")
    table.add_column("layer", justify="right")
    table.add_column("head", justify="right")
    table.add_column("links (query → key: probability)")
    for entry in maps.top_links(top, include_special=specials):
        links = "   ".join(f"{maps.tokens[q]} → {maps.tokens[k]}: {w:.2f}" for q, k, w in entry["links"])
        table.add_row(str(entry["layer"]), str(entry["head"]), Text(links))
    return table


def layer_predictions_view(result: Any, k: int) -> Group:
    """Top-k masked-token predictions at every layer (`LayerPredictions`)."""
    table = Table()
    table.add_column("layer", justify="right")
    table.add_column(f"top {k} (probability)")
    ranked = bool(result.layers) and "word_rank" in result.layers[0]
    if ranked:
        table.add_column(f"rank of {result.word!r}", justify="right")
    for entry in result.layers:
        top = "  ".join(f"{t} {p:.3f}" for t, p in zip(entry["tokens"], entry["probabilities"], strict=True))
        extra = [str(entry["word_rank"])] if ranked else []
        table.add_row(str(entry["layer"]), Text(top), *extra)
    return Group(Text(result.masked_text), table)


def neighbours_view(result: Any) -> Group:
    """The corpus neighbours of one token (`neighbours` result), with their contexts."""
    head = Text.assemble((result.tokens[result.token], "bold"), f" (token {result.token}) at layer {result.layer}")
    table = Table()
    table.add_column("similarity", justify="right")
    table.add_column("token")
    table.add_column("context")
    for n in result.neighbours:
        table.add_row(f"{n.similarity:.3f}", Text(n.token), Text(n.context()))
    return Group(head, table)
