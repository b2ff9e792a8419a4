"""Terminal views of a concept folder and of one text's concepts (rich; every string through `visible`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich import box
from rich.cells import cell_len, set_cell_size
from rich.console import Group
from rich.table import Table
from rich.text import Text

from trexplain.concepts.conceptset import ConceptSet
from trexplain.concepts.importance import KINDS
from trexplain.concepts.metrics import MEANINGS
from trexplain.errors import InputError
from trexplain.viz.terminal import MAGNITUDE, OPPOSES, SUPPORTS, visible

SNIPPET = 70


def _snippet(text: str, width: int = SNIPPET) -> str:
    """One line of at most `width` terminal cells (display width: Devanagari signs and emoji counted as shown)."""
    text = " ".join(str(text).split())
    return visible(text if cell_len(text) <= width else set_cell_size(text, width - 1) + "…")


def _signed(value: float | None, digits: int = 3) -> Text:
    if value is None:
        return Text("–", style="dim")
    return Text(f"{value:+.{digits}f}", style=SUPPORTS if value > 0 else OPPOSES if value < 0 else "")


def _highlighted(entry: Mapping[str, Any]) -> Text:
    """A top input with its most activating token in bold, cut around that token when the text is long."""
    text, tokens = " ".join(str(entry["text"]).split("\n")), entry.get("tokens") or []
    text = text.replace("\r", " ").replace("\t", " ")  # same length: the spans still fit
    if not tokens:
        return Text(_snippet(text))
    best = max(tokens, key=lambda t: t["activation"])
    start = 0 if best["end"] <= SNIPPET - 1 else max(0, best["start"] - SNIPPET // 2)
    end = min(len(text), start + SNIPPET)
    out = Text("…" if start else "")
    out.append(visible(text[start : best["start"]]))
    out.append(visible(text[best["start"] : best["end"]]), style=f"bold {MAGNITUDE}")
    out.append(visible(text[best["end"] : end]))
    out.append("…" if end < len(text) else "")
    return out


def concepts_view(concepts: ConceptSet, *, importance: str = "ablation", inputs: int = 1) -> Group:
    """Summary, then one row per concept: label, top words, top inputs and the mean `importance` per class."""
    if importance not in KINDS:
        raise InputError(f"unknown importance {importance!r}; use one of {', '.join(KINDS)}")
    meta = concepts.meta
    head = Text.assemble(
        ("concepts ", "bold"),
        visible(
            f"{meta['method']} × {meta['n_concepts']} at {meta['site']} ({meta['granularity']}) of {meta['model']}, "
            f"fitted on {meta['texts_used']} texts" + (f" predicted {meta['class']}" if meta.get("class") else "")
        ),
    )
    labels = meta["labels"]
    per_class = ((concepts.importance or {}).get("per_class") or {}).get(importance)
    table = Table(box=box.SIMPLE_HEAD, show_lines=False, expand=False)
    table.add_column("#", justify="right")
    table.add_column("label / top words", max_width=34)
    table.add_column("top inputs", max_width=SNIPPET + 2)
    for name in labels:
        table.add_column(visible(name), justify="right")
    for c, entry in enumerate((concepts.interpretation or {}).get("concepts", [])):
        label = concepts.label(c)
        words = Text()
        if label:
            words.append(visible(label) + "\n", style="bold")
        words.append(", ".join(visible(w["word"]) for w in entry["top_words"][:6]) or "–", style="dim" if label else "")
        tops = Text("\n").join(_highlighted(e) for e in entry["top_inputs"][:inputs]) if entry["top_inputs"] else "–"
        scores = [_signed(per_class[k][c]) if per_class else Text("–") for k in range(len(labels))]
        table.add_row(str(c), words, tops, *scores)
    parts: list[Any] = [head, Text(f"importance per class: mean {importance} (logit change) over its texts", "dim")]
    parts.append(table)
    parts.append(_summary(concepts))
    return Group(*parts)


def _summary(concepts: ConceptSet) -> Table:
    """Reconstruction, sparsity, fidelity and deletion AOPC in one small table, each with what it means."""
    table = Table(box=box.SIMPLE_HEAD, title=None, show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("meaning", style="dim")
    found = concepts.metrics or {}
    for name in ("mse", "r2", "wasserstein", "fraction_nonzero", "sparsity_ratio", "stability"):
        if found.get(name) is not None:
            table.add_row(name, f"{found[name]:.4g}", MEANINGS[name])
    fid = found.get("fidelity") or {}
    if fid:
        accuracy = f"{fid['accuracy']:.3f} ({fid['texts']} texts)"
        table.add_row("fidelity accuracy", accuracy, MEANINGS["fidelity accuracy"])
        table.add_row("fidelity KL (nats)", f"{fid['kl']:.3g}", MEANINGS["fidelity KL"])
    for i, (name, value) in enumerate(((concepts.deletion or {}).get("aopc") or {}).items()):
        table.add_row(f"deletion AOPC: {name}", f"{value:.3f}", "" if i else MEANINGS["deletion AOPC"])
    return table


def explain_view(result: Mapping[str, Any], *, top: int = 8) -> Group:
    """The prediction, the text with each token tinted by its strongest concept, and the top concepts."""
    probs = result["probabilities"]
    head = Text.assemble(
        ("predicted ", "bold"),
        (visible(result["predicted"]), "bold"),
        f" ({probs[result['predicted']]:.3f})",
    )
    table = Table(box=box.SIMPLE_HEAD)
    for name, justify in (("#", "right"), ("label / top words", "left"), ("code", "right"), ("ablation", "right")):
        table.add_column(name, justify=justify)
    table.add_column("concept × grad", justify="right")
    for entry in result["concepts"][:top]:
        words = entry.get("label") or ", ".join(entry["top_words"][:5]) or "–"
        table.add_row(
            str(entry["index"]),
            Text(_snippet(words, 40)),
            f"{entry['code']:.3f}",
            _signed(entry["ablation"]),
            _signed(entry["concept_x_gradient"]),
        )
    note = Text(
        "ablation: drop of the predicted class's logit when the concept is removed (positive = it supports "
        "the prediction)",
        style="dim",
    )
    return Group(head, Text(_snippet(result["text"], 200)), table, note)
