"""The one record shape of explained inputs, shared by the CLI's JSON/JSONL, the report payload and external scores.

A *text record* (schema `SCHEMA_VERSION`) is one input with every explanation of it:
`{"schema_version", "layout", <the layout's fields: text, tokens, offsets, word_ids, words, special>, "model",
"labels", "logits", "probabilities", "predicted", "prediction": {"label", "probabilities", "logits"},
"explanations": [...]}`. Its `explanations` come in one of two forms of the same data:
- `"target"` entries (CLI JSON, JSONL, what `load_scores` reads back): one per (method, target), with
  `method`, `target` (label), `target_index`, `tokens`, `offsets`, `scores` [tokens], `words` (text, span and
  summed score), `layer_scores` [layers][tokens] or null, `params` and `diagnostics` sliced to that target;
- `"explanation"` entries (the report payload, which draws every class of a method at once): one per
  explanation, `Explanation.to_dict()` without the input-level fields: `targets`, `scores` [targets][tokens],
  `layer_scores` [layers][targets][tokens], `diagnostics` with `diagnostic_axes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from trexplain.errors import InputError
from trexplain.explanation import SCHEMA_VERSION, Explanation

Entries = Literal["target", "explanation"]
INPUT_FIELDS = ("schema_version", "model", "labels", "logits")


def group_by_input(explanations: Iterable[Explanation]) -> list[list[Explanation]]:
    """Explanations grouped per input (same layout and labels), in first-appearance order."""
    groups: dict[tuple[Any, ...], list[Explanation]] = {}
    for e in explanations:
        groups.setdefault((e.layout, e.labels), []).append(e)
    return list(groups.values())


def explanation_entry(e: Explanation) -> dict[str, Any]:
    """The per-explanation entry: `Explanation.to_dict()` without the fields its text record already holds."""
    skip = {*INPUT_FIELDS, *e.layout.to_dict()}
    return {k: v for k, v in e.to_dict().items() if k not in skip}


def text_record(group: Sequence[Explanation], entries: Entries = "target", model: str | None = None) -> dict[str, Any]:
    """The record of one input and all its explanations (see the module doc); `model` overrides the name."""
    if not group:
        raise InputError("a record needs at least one explanation")
    first = group[0]
    for other in group[1:]:
        if other.layout != first.layout or other.labels != first.labels:
            raise InputError("explanations grouped as one text must share text, tokens and labels")
    probs = first.probabilities
    if entries == "target":
        items = [item for e in group for item in e.record()]
    elif entries == "explanation":
        items = [explanation_entry(e) for e in group]
    else:
        raise InputError(f"unknown entry form {entries!r}; use 'target' or 'explanation'")
    return {
        "schema_version": SCHEMA_VERSION,
        **first.layout.to_dict(),
        "model": first.model if model is None else model,
        "labels": list(first.labels),
        "logits": first.logits.tolist(),
        "probabilities": probs.tolist(),
        "predicted": first.predicted,
        "prediction": {
            "label": first.predicted_label,
            "probabilities": {label: float(p) for label, p in zip(first.labels, probs, strict=True)},
            "logits": {label: float(z) for label, z in zip(first.labels, first.logits, strict=True)},
        },
        "explanations": items,
    }


def text_records(per_text: Sequence[Sequence[Explanation]], model: str | None = None) -> list[dict[str, Any]]:
    """One target-entry record per input."""
    return [text_record(group, "target", model) for group in per_text]
