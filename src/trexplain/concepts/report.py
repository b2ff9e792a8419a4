"""The concepts view as a self-contained HTML page: the report renderer with the `section-concepts.js` plug-in.

`payload(concepts, examples)` is the report dict: `concepts` holds the set's JSON (meta, interpretation with
labels, importance per class, deletion, metrics) and `examples`, `ConceptSet.explain` results whose token
codes the page draws as a concept × token heatmap. `write_html` writes the page atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trexplain.concepts.conceptset import ConceptSet, finite_json
from trexplain.diagnostics import json_copy
from trexplain.io import write_text
from trexplain.models.protocol import Adapter
from trexplain.viz.html import render

EXAMPLES = 4
"""Texts drawn as heatmaps when none are given: the top input of the first concepts, distinct."""


def default_examples(concepts: ConceptSet, count: int = EXAMPLES) -> list[str]:
    """The most activating text of each concept in turn, without repeats, up to `count`."""
    texts: list[str] = []
    for entry in (concepts.interpretation or {}).get("concepts", []):
        for top in entry["top_inputs"][:1]:
            if top["text"] not in texts:
                texts.append(top["text"])
        if len(texts) >= count:
            break
    return texts


def payload(concepts: ConceptSet, examples: Sequence[dict[str, Any]] = (), *, title: str | None = None) -> dict:
    """The report dict of a concept set (and `ConceptSet.explain` results to draw as heatmaps)."""
    meta = concepts.meta
    interpretation = dict(concepts.interpretation or {})
    interpretation["concepts"] = [
        {**entry, "label": concepts.label(entry["index"])} for entry in interpretation.get("concepts", [])
    ]
    body = {
        "meta": meta,
        "interpretation": interpretation,
        "importance": concepts.importance,
        "deletion": concepts.deletion,
        "metrics": concepts.metrics,
        "examples": list(examples),
    }
    return finite_json(
        json_copy(
            {
                "title": title or f"concepts: {meta['method']} × {meta['n_concepts']} at {meta['site']}",
                "model": {"name": meta["model"], "labels": meta["labels"]},
                "texts": [],
                "concepts": body,
            }
        )
    )


def write_html(
    concepts: ConceptSet,
    path: str | os.PathLike[str],
    *,
    adapter: Adapter | None = None,
    texts: Sequence[str] = (),
    title: str | None = None,
) -> Path:
    """Write the concepts page to `path`; with `adapter`, `texts` (default: `default_examples`) are explained and
    drawn as concept heatmaps over their tokens."""
    examples = []
    if adapter is not None:
        concepts.check_model(adapter)
        examples = [concepts.explain(adapter, text, truncate=True) for text in (texts or default_examples(concepts))]
    write_text(path, render(payload(concepts, examples, title=title)), what="concepts page")
    return Path(path)
