"""Terminal views (rich): explanations as coloured words with a bar per word, several methods side by side,
diagnostics, and the tables of evaluation, sanity checks, model comparison and inspection. Pure functions
of results: no model is run here. Every string from the user, a tokenizer, a model or a file goes through
`visible`, so control characters show as symbols instead of acting on the terminal."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import IO, Any

import numpy as np
from rich import box
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from trexplain.diagnostics import IDENTITIES, IDENTITY, IDENTITY_BRIEF, IDENTITY_NAMES, MEANINGS
from trexplain.errors import InputError
from trexplain.explanation import Aggregate, Explanation
from trexplain.models.capture import hidden_state_name
from trexplain.viz.colors import NEGATIVE, POSITIVE, scale
from trexplain.viz.patch_grid import patch_curves_table, render_images
from trexplain.viz.text_style import base_value_lines, identity_lines, visible

BAR_WIDTH = 12
NATURAL_MAX = 4000  # columns: the widest line a pipe or file gets (a table is never cut at 80)
# Foreground colours only (no backgrounds), mid-tone so that they read on dark and light terminals.
SUPPORTS, OPPOSES, MAGNITUDE = (f"rgb({r},{g},{b})" for r, g, b in (POSITIVE, NEGATIVE, (59, 130, 246)))
CAUTION = "bold rgb(217,119,6)"
UNSIGNED = "unsigned: larger = more important"
SHORT_KINDS: Mapping[str, str] = {"completeness": "compl.", "conservation": "cons.", "efficiency": "eff."}


def show(renderable: RenderableType, file: IO[str] | None = None, highlight: bool = False) -> None:
    """Print a view on stdout (or `file`): a terminal gets its own width; a pipe or a file gets the view's natural
    width, so tables and word/score rows are not cut at rich's default 80 columns."""
    console = Console(file=file, highlight=highlight)
    if not console.is_terminal:
        measuring = Console(width=NATURAL_MAX, file=console.file)
        natural = Measurement.get(measuring, measuring.options, renderable).maximum
        console = Console(file=file, highlight=highlight, width=max(console.width, min(natural, NATURAL_MAX)))
    console.print(renderable)


def _style(score: float, peak: float, signed: bool) -> str:
    """Coloured foreground by sign (one colour when unsigned), bold from half the peak, plain below 10 %."""
    share = abs(score) / peak
    if share < 0.1:
        return ""
    colour = MAGNITUDE if not signed else SUPPORTS if score >= 0 else OPPOSES
    return f"bold {colour}" if share >= 0.5 else colour


def _bar(score: float, peak: float, signed: bool) -> Text:
    cells = round(min(1.0, abs(score) / peak) * BAR_WIDTH)
    if not signed:
        return Text.assemble(" " * BAR_WIDTH, ("│", "dim"), ("█" * cells, MAGNITUDE), " " * (BAR_WIDTH - cells))
    left = " " * BAR_WIDTH if score >= 0 else " " * (BAR_WIDTH - cells) + "█" * cells
    right = "█" * cells + " " * (BAR_WIDTH - cells) if score >= 0 else " " * BAR_WIDTH
    return Text.assemble((left, OPPOSES), ("│", "dim"), (right, SUPPORTS))


def peak(explanations: Sequence[Explanation], aggregate: Aggregate = "sum") -> float:
    """The largest |word score| over every class of every explanation: one bar scale for all of them."""
    scores = [e.word_scores(t, aggregate) for e in explanations for t in e.targets]
    return max((scale(s) for s in scores if len(s)), default=1.0)


def _tinted(explanation: Explanation, scores: np.ndarray, top: float, signed: bool) -> Text:
    """The text with each word coloured by its score."""
    text, cursor = Text(), 0
    for (start, end), score in zip(explanation.words, scores, strict=True):
        text.append(visible(explanation.text[cursor:start]))
        text.append(visible(explanation.text[start:end]), style=_style(float(score), top, signed))
        cursor = end
    text.append(visible(explanation.text[cursor:]))
    return text


def render(
    explanation: Explanation,
    target: int | str | None = None,
    aggregate: Aggregate = "sum",
    top: float | None = None,
    bars: bool = True,
) -> Group:
    """Header, notes, highlighted text and (with `bars`) a per-word bar table for one target; `top` is the
    score of a full bar (default: the largest |word score| over this explanation's classes)."""
    row = explanation.target_row(target)
    label = explanation.labels[explanation.targets[row]]
    scores = explanation.word_scores(explanation.targets[row], aggregate)
    top = peak([explanation], aggregate) if top is None else top
    signed = explanation.card.signed
    probs = explanation.probabilities
    header = Text.assemble((visible(explanation.method), "bold"), " → ", (visible(label), "bold"), "   prediction: ")
    for c, name in enumerate(explanation.labels):
        header.append(f"{visible(name)} {probs[c]:.2f}", style="bold" if c == explanation.predicted else "dim")
        header.append("  " if c + 1 < len(explanation.labels) else "")
    legend = f"green supports {visible(label)}, red opposes it" if signed else UNSIGNED
    scale_note = [f"full bar = {top:.3g}"] if bars else []
    lines = [*identity_lines(explanation, row), *base_value_lines(explanation, row), legend, *scale_note]
    notes = Text("   " + " · ".join(lines), style="dim")
    parts: list[Any] = [header, notes, _tinted(explanation, scores, top, signed)]
    if bars:
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column("word", overflow="fold")
        table.add_column("bar", width=2 * BAR_WIDTH + 1, no_wrap=True)
        table.add_column("score", justify="right")
        for (start, end), score in zip(explanation.words, scores, strict=True):
            table.add_row(
                Text(visible(explanation.text[start:end])), _bar(float(score), top, signed), _number(score, signed)
            )
        parts.append(table)
    return Group(*parts, Text(""))


def _number(score: float, signed: bool) -> str:
    return f"{score:+.3f}" if signed else f"{score:.3f}"


def render_all(explanations: Sequence[Explanation], aggregate: Aggregate = "sum") -> Group:
    """Every target of every explanation, text by text on one bar scale; a text explained by several methods
    gets a words × methods table per target instead of one bar table per method. Image explanations are drawn
    as patch grids (`viz.patch_grid`)."""
    if explanations and explanations[0].layout.kind == "image":
        return render_images(explanations)
    parts: list[Any] = []
    for _, group in itertools.groupby(explanations, key=lambda e: e.text):
        same_text = list(group)
        top = peak(same_text, aggregate)
        several = len(same_text) > 1
        for explanation in same_text:
            for target in explanation.targets:
                parts.append(render(explanation, target, aggregate, top, bars=not several))
        if several:
            targets = dict.fromkeys(t for e in same_text for t in e.targets)
            parts += [words_by_methods(same_text, t, aggregate, top) for t in targets]
            parts.append(Text(""))
    return Group(*parts)


def words_by_methods(
    explanations: Sequence[Explanation],
    target: int | str | None = None,
    aggregate: Aggregate = "sum",
    top: float | None = None,
) -> Table:
    """Words × methods for one text and one target (default: the predicted class): each cell the method's
    word score, coloured on one scale (`top`, default the largest |score| shown); "–" where a method did not
    explain that class; unsigned methods (larger = more important) say so in their header."""
    if not explanations:
        raise InputError("words_by_methods needs at least one explanation")
    first = explanations[0]
    if any(e.text != first.text or e.words != first.words for e in explanations):
        raise InputError("words_by_methods compares explanations of one text; give each text's explanations alone")
    index = first.labels.index(target) if isinstance(target, str) and target in first.labels else target
    index = first.predicted if index is None else index
    if not isinstance(index, int) or not 0 <= index < len(first.labels):
        raise InputError(f"unknown class {target!r}; use one of {', '.join(first.labels)}")
    columns = [(e, e.word_scores(index, aggregate) if index in e.targets else None) for e in explanations]
    top = peak(explanations, aggregate) if top is None else top
    table = Table(title=Text(f"{visible(first.labels[index])} · words × methods", style="bold"), title_justify="left")
    table.add_column("word", overflow="fold")
    for e, _ in columns:
        header = Text(visible(e.method)) if e.card.signed else Text.assemble(visible(e.method), ("\n(unsigned)", "dim"))
        table.add_column(header, justify="right")
    for w, word in enumerate(first.word_texts()):
        cells: list[Text] = [Text(visible(word))]
        for e, scores in columns:
            if scores is None:
                cells.append(Text("–", style="dim"))
            else:
                signed = e.card.signed
                cells.append(Text(_number(scores[w], signed), style=_style(float(scores[w]), top, signed)))
        table.add_row(*cells)
    return table


def diagnostics_table(explanation: Explanation) -> Table:
    """Each diagnostic of an explanation with its value (per class where it has one) and what it means."""
    diagnostics = explanation.diagnostics
    labels = [visible(explanation.labels[t]) for t in explanation.targets]
    table = Table(title=Text(f"{visible(explanation.method)} diagnostics", style="bold"), title_justify="left")
    table.add_column("diagnostic", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("meaning", overflow="fold")
    identity = diagnostics.identity
    if identity is not None:
        errors = [f"{label} {identity.error_for(k):.2g}" for k, label in enumerate(labels)]
        table.add_row(IDENTITY_NAMES[identity.kind], " · ".join(errors), IDENTITIES[identity.kind])
    for key in diagnostics:
        if key == IDENTITY:
            continue
        if "target" in diagnostics.axes.get(key, ()):
            value = " · ".join(f"{label} {_value(diagnostics.target(k)[key])}" for k, label in enumerate(labels))
        else:
            value = _value(diagnostics[key])
        meaning = explanation.card.meanings.get(key) or MEANINGS.get(key, "–")
        table.add_row(Text(visible(key)), Text(value), Text(visible(meaning)))
    return table


def _value(value: Any) -> str:
    """A diagnostic value in a few characters: numbers to 4 digits, long or nested lists summarised."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and value:
        try:
            flat = np.asarray(value, dtype=float).ravel()
        except (TypeError, ValueError):
            return visible(value)
        if len(value) <= 4 and flat.size == len(value):
            return ", ".join(_value(v) for v in value)
        return f"{len(value)} values, max |·| {np.nanmax(np.abs(flat)):.3g}"
    return "none" if value == [] else visible(value)


def metric_table(table: Mapping[str, Any]) -> Table:
    """The ranked rows of a faithfulness table (`FaithfulnessTable.to_dict()`): n and ± standard error of the
    ranking metric per row, the predicted class and the other classes in their own sections, identity
    checks by kind."""
    rows = table["rows"]
    grouped = any(row["classes"] != "predicted" for row in rows)
    kinds = dict.fromkeys(row["identity"] for row in rows if row["identity"] is not None)
    notes = ["± SE: standard error over n texts × classes; ≈ best: within one paired SE of the best method"]
    notes += [f"{SHORT_KINDS[k]} = {IDENTITY_NAMES[k]}: {IDENTITY_BRIEF[k]}" for k in kinds]
    if grouped:
        notes.append(
            "other classes: those the model did not predict, ranked apart; the verdict is about the predicted class"
        )
    images = table["level"] == "patch"  # image explanations (`evaluate.patches`): patches filled, not removed
    inputs, removal = ("image(s)", "fill ") if images else ("text(s)", "")
    out = Table(
        title=Text(
            f"{visible(table['model'])} · {table['texts']} {inputs} · target {visible(table['target'])} · "
            f"{removal}{visible(table['strategy'])} {visible(table['level'])}{'es' if images else 's'}"
        ),
        title_justify="left",
        caption=Text("\n".join(notes), style="dim"),
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    out.add_column("#", justify="right", no_wrap=True)
    out.add_column("method", min_width=6)
    for column in ("comp ↑", "suff ↓", "comp − suff\n± SE", "n", "≈\nbest", "ΔA^F ↑", "identity\nerr", "ms"):
        out.add_column(column, justify="right", no_wrap=True)
    for i, row in enumerate(rows):
        if grouped and (i == 0 or rows[i - 1]["classes"] != row["classes"]):
            if i:
                out.add_section()
            out.add_row(
                "",
                Text(f"{visible(row['classes'])} class{'es' if row['classes'] != 'predicted' else ''}", style="bold"),
            )
        margin = f"{row['margin']:+.3f}" + ("" if row["se"] is None else f" ± {row['se']:.3f}")
        error = row["completeness_error"]
        out.add_row(
            str(row["rank"]),
            Text(visible(row["method"])),
            f"{row['comprehensiveness']:+.3f}",
            f"{row['sufficiency']:+.3f}",
            margin,
            str(row["n"]),
            {True: "yes", False: "", None: "?"}[row["tied_with_best"]],
            f"{row['delta_af']:+.3f}",
            "–" if error is None or row["identity"] is None else f"{error:.2g} {SHORT_KINDS[row['identity']]}",
            "–" if row["seconds"] is None else f"{row['seconds'] * 1000:.1f}",
            style="dim" if row["method"] == "random" else None,
        )
    return out


def sanity_line(check: Mapping[str, Any]) -> Text:
    """One line per sanity result (`SanityResult.to_dict()`): ok, partial (where the maps stop matching) or
    flagged, and ρ after each step (with ρ of |scores| where it differs)."""
    steps = " → ".join(
        f"{visible(s['step'])} {s['spearman']:+.2f}"
        + ("" if abs(s["spearman_abs"] - s["spearman"]) < 0.005 else f" (|·| {s['spearman_abs']:+.2f})")
        for s in check["steps"]
    )
    line = Text(f"sanity ({check['mode']}) {visible(check['method'])}: ")
    independent = check["mode"] == "independent"
    if check["status"] == "flagged":
        line.append("FLAGGED: maps do not change with the model", style="bold " + OPPOSES)
    elif check["status"] == "partial":
        parts = len([s for s in check["steps"] if s["step"] != "embeddings"])
        detail = (
            f"{check['matching']} of {parts} parts leave the maps unchanged when randomised alone"
            if independent
            else f"maps still match (ρ ≥ {check['threshold']:g}) through {check['matching']} randomised step(s), "
            f"then change at {visible(check['stops_at'])}"
        )
        line.append(f"PARTIAL: {detail}", style=CAUTION)
    else:
        line.append("ok")
        line.append(
            " (every part changes the maps)" if independent else f" (maps change at {visible(check['stops_at'])})"
        )
    line.append(f" (Spearman after randomising: {steps})")
    return line


def evaluation_view(table: Mapping[str, Any], sanity: Sequence[Mapping[str, Any]] = ()) -> Group:
    """The metric table, the methods left out, the sanity lines and the verdict."""
    parts: list[Any] = [metric_table(table)]
    if table.get("level") == "patch":  # image explanations: their deletion/insertion and Chefer AUCs too
        parts.append(patch_curves_table(table))
    parts += [
        Text(f"skipped {visible(name)}: {visible(reason)}", style="dim")
        for name, reason in table.get("skipped", {}).items()
    ]
    parts += [sanity_line(check) for check in sanity]
    parts.append(Text.assemble(("verdict: ", "bold"), visible(table["verdict"])))
    return Group(*parts)


def comparison_view(result: Mapping[str, Any]) -> Group:
    """Two or more models on the same texts (`Comparison.to_dict()`): predictions, top words, agreement, tables."""
    parts: list[Any] = []
    for entry in result["texts"]:
        parts.append(Text(visible(entry["text"]), style="bold"))
        for side in entry["models"]:
            words = ", ".join(f"{visible(w['word'])} {w['score']:+.3g}" for w in side["top_words"])
            parts.append(
                Text(
                    f"  {visible(side['model'])}: {visible(side['prediction'])} ({side['probability']:.2f}); "
                    f"top words: {words}"
                )
            )
        parts.append(Text(f"  predicted labels {'agree' if entry['labels_agree'] else 'differ'}"))
        for row in entry["methods"]:
            parts += [Text(f"  {line}") for line in method_lines(row, result["models"])]
    agreement = result["agreement"]
    mean = "–" if agreement is None else f"{agreement:+.2f}"
    parts.append(Text(f"mean agreement ({visible(result['method'])}, Spearman ρ, first two models): {mean}\n"))
    for table in result["tables"]:
        parts += [metric_table(table), Text.assemble(("verdict: ", "bold"), visible(table["verdict"]), "\n")]
    return Group(*parts)


def method_lines(row: Mapping[str, Any], models: Sequence[str]) -> list[str]:
    """One method's agreement of each model with the first (Spearman ρ, top-k overlap of the shared words) and each
    model's base value where the method has one (KernelSHAP), for `comparison_view`."""
    method = visible(row["method"])
    lines = []
    for a in row["agreement"]:
        rho = "–" if a["spearman"] is None else f"{a['spearman']:+.2f}"
        overlap = f"top-{a['top_k']} overlap {a['top_k_overlap']}/{a['top_k']}" if a["top_k"] else "no shared words"
        pair = f" {visible(models[0])} vs {visible(models[a['model']])}" if len(models) > 2 else ""
        lines.append(f"agreement ({method}{pair}): Spearman ρ {rho} over {a['common_words']} shared words, {overlap}")
    for name, base in zip(models, row["base_values"], strict=True):
        if base is not None:
            lines.append(f"{method} base value of {visible(name)}: {base:.4g} (output with every word removed)")
    return lines


def attention_links_table(maps: Any, top: int, specials: bool) -> Table:
    """The strongest query → key links of every head (`AttentionMaps`)."""
    table = Table(title=f"strongest attention links ({'with' if specials else 'without'} special tokens)")
    table.add_column("block", justify="right")
    table.add_column("head", justify="right")
    table.add_column("links (query → key: probability)")
    tokens = [visible(t) for t in maps.tokens]
    for entry in maps.top_links(top, include_special=specials):
        links = "   ".join(f"{tokens[q]} → {tokens[k]}: {w:.2f}" for q, k, w in entry["links"])
        table.add_row(str(entry["layer"]), str(entry["head"]), Text(links))
    return table


def layer_predictions_view(result: Any, k: int) -> Group:
    """Top-k masked-token predictions at every layer (`LayerPredictions`)."""
    table = Table()
    table.add_column("hidden state", justify="right")
    table.add_column(f"top {k} (probability)")
    ranked = bool(result.layers) and "word_rank" in result.layers[0]
    if ranked:
        table.add_column(Text(f"rank of {visible(repr(result.ranked_token or result.word))}"), justify="right")
    for entry in result.layers:
        top = "  ".join(f"{visible(t)} {p:.3f}" for t, p in zip(entry["tokens"], entry["probabilities"], strict=True))
        extra = ["–" if entry["word_rank"] is None else str(entry["word_rank"])] if ranked else []
        table.add_row(hidden_state_name(entry["layer"]), Text(top), *extra)
    note = [Text(visible(result.rank_note), style="dim")] if result.rank_note else []
    return Group(Text(visible(result.masked_text)), table, *note)


def neighbours_view(result: Any) -> Group:
    """The corpus neighbours of one token (`neighbours` result), with their contexts."""
    head = Text.assemble(
        (visible(result.tokens[result.token]), "bold"),
        f" (token {result.token}) at layer {result.layer} ({hidden_state_name(result.layer)})",
    )
    table = Table()
    table.add_column("similarity", justify="right")
    table.add_column("token")
    table.add_column("context")
    for n in result.neighbours:
        table.add_row(f"{n.similarity:.3f}", Text(visible(n.token)), Text(visible(n.context())))
    return Group(head, table)
