"""The stable JSON record of one text: prediction plus every explanation of it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trexplain.errors import InputError
from trexplain.explanation import Explanation
from trexplain.models.adapter import ModelAdapter


def text_record(explanations: Sequence[Explanation], adapter: ModelAdapter | None = None) -> dict[str, Any]:
    """`{"text", "model", "labels", "prediction", "explanations": [...]}` for explanations of one text."""
    if not explanations:
        raise InputError("a record needs at least one explanation")
    first = explanations[0]
    if any(e.text != first.text for e in explanations):
        raise InputError("all explanations of one record must be of the same text")
    probs = first.probabilities
    return {
        "text": first.text,
        "model": adapter.name if adapter is not None else first.model,
        "labels": list(first.labels),
        "prediction": {
            "label": first.predicted_label,
            "probabilities": {label: float(p) for label, p in zip(first.labels, probs, strict=True)},
            "logits": {label: float(z) for label, z in zip(first.labels, first.logits, strict=True)},
        },
        "explanations": [entry for e in explanations for entry in e.record()],
    }


def text_records(
    per_text: Sequence[Sequence[Explanation]], adapter: ModelAdapter | None = None
) -> list[dict[str, Any]]:
    return [text_record(group, adapter) for group in per_text]
