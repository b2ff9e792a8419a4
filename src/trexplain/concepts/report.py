"""The concepts view as a self-contained HTML page: the report renderer with the `section-concepts.js` plug-in.

`payload(concepts, examples)` is the report dict: `concepts` holds the set's JSON (meta, interpretation with
labels, importance per class, deletion, metrics with one line on what each means) and `examples`,
`ConceptSet.explain` results whose word codes the page draws as a concept × word heatmap. `write_html` writes
the page of the whole set atomically (explaining its examples as a progress stage); `write_explain_html` the page
of one text explained in terms of the concepts (`view: "explain"`: the text first, then the set).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trexplain.concepts.conceptset import ConceptSet, finite_json
from trexplain.concepts.metrics import MEANINGS
from trexplain.diagnostics import json_copy
from trexplain.errors import InputError
from trexplain.io import write_text
from trexplain.models.protocol import Adapter
from trexplain.progress import stage
from trexplain.viz.html import render

VIEWS = ("set", "explain")
"""What a page is about: the whole concept set, or one explained text (the first example) and then the set."""
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


def payload(
    concepts: ConceptSet,
    examples: Sequence[dict[str, Any]] = (),
    *,
    title: str | None = None,
    view: str = "set",
) -> dict:
    """The report dict of a concept set (and `ConceptSet.explain` results to draw as heatmaps); `view="explain"`
    draws the first example as the page's subject, before the set."""
    if view not in VIEWS or (view == "explain" and not examples):
        raise InputError(f"view must be one of {', '.join(VIEWS)} ('explain' with an example), got {view!r}")
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
        "metric_meanings": MEANINGS,
        "examples": list(examples),
        "view": view,
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
        chosen = list(texts or default_examples(concepts))
        with stage("explaining the page's texts with the concepts", total=len(chosen)) as advance:
            for text in chosen:
                examples.append(concepts.explain(adapter, text, truncate=True))
                advance()
    write_text(path, render(payload(concepts, examples, title=title)), what="concepts page")
    return Path(path)


def write_explain_html(
    concepts: ConceptSet, result: dict[str, Any], path: str | os.PathLike[str], *, title: str | None = None
) -> Path:
    """Write the page of one `ConceptSet.explain` result to `path`: the text's prediction, the concepts that fire
    in it with their contributions and a concept × word heatmap, then the whole set for reference."""
    meta = concepts.meta
    title = title or f"concepts in one text: {meta['method']} × {meta['n_concepts']} at {meta['site']}"
    write_text(path, render(payload(concepts, [result], title=title, view="explain")), what="concepts page")
    return Path(path)
