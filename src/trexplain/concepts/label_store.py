"""A concept folder's `labels.json`: each concept's label, description, score, model and problem, written
atomically (`save_labels`) and read back checked (`load_labels`)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trexplain.concepts.label_prompts import Label
from trexplain.concepts.label_scoring import LabelScore
from trexplain.errors import InputError
from trexplain.io import atomic_file

LABELS_FILE = "labels.json"


def save_labels(
    folder: str | os.PathLike[str], labels: Mapping[int, Label], scores: Mapping[int, LabelScore] | None = None
) -> Path:
    """Write `folder/labels.json` atomically: {"<concept>": {"label", "description", "score": {...} | null,
    "model", "problem"}} in concept order; returns its path."""
    path = Path(folder) / LABELS_FILE
    data = {
        str(concept): {
            "label": label.label,
            "description": label.description,
            "score": _score_dict(scores.get(concept)) if scores else None,
            "model": label.model,
            "problem": label.problem,
        }
        for concept, label in sorted(labels.items())
    }
    with atomic_file(path, what="concept labels") as handle:
        json.dump(data, handle, indent=1, ensure_ascii=False)
        handle.write("\n")
    return path


def _score_dict(score: LabelScore | None) -> dict[str, Any] | None:
    if score is None:
        return None
    data = score.to_dict()
    del data["concept"], data["label"]
    return data


def load_labels(folder: str | os.PathLike[str]) -> dict[int, dict[str, Any]]:
    """`folder/labels.json` as {concept: entry}; an `InputError` when it is missing or not such a file."""
    path = Path(folder) / LABELS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = {int(key): value for key, value in data.items()}
    except (OSError, ValueError, AttributeError) as exc:
        raise InputError(f"{path}: no readable labels file ({exc}); run the labelling again") from exc
    if not all(isinstance(e, dict) and isinstance(e.get("label"), str) for e in entries.values()):
        raise InputError(f"{path}: an entry has no text label; run the labelling again")
    return entries
