"""What a concept is labelled from and scored on, read off its activations: per-text activations
(`text_activations`), the strongest texts with their activating spans (`examples_from_activations`,
`examples_from_top_inputs`) and held-out positive and negative texts (`candidates_from_activations`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from trexplain.concepts.label_prompts import Candidate, Example, concept_index
from trexplain.errors import InputError


def text_activations(codes: Any, text_ids: Any, n_texts: int, *, reduce: str = "max") -> np.ndarray:
    """Per-text concept activations [n_texts, concepts] from per-row codes [rows, concepts] (a dictionary's
    `encode(store)`) and the store's `text_ids`: the max (or mean) over each text's rows; NaN for a text
    without rows."""
    codes, text_ids = np.asarray(codes, dtype=np.float64), np.asarray(text_ids, dtype=np.int64)
    if codes.ndim != 2 or text_ids.shape != (len(codes),):
        raise InputError(
            f"codes must be [rows, concepts] with one text id per row, got {codes.shape}, {text_ids.shape}"
        )
    if len(text_ids) and (text_ids.min() < 0 or text_ids.max() >= n_texts):
        raise InputError(f"text ids must lie in 0..{n_texts - 1}")
    if reduce == "max":
        out = np.full((n_texts, codes.shape[1]), -np.inf)
        np.maximum.at(out, text_ids, codes)
        out[np.isneginf(out).all(axis=1)] = np.nan
        return out
    if reduce == "mean":
        total = np.zeros((n_texts, codes.shape[1]))
        np.add.at(total, text_ids, codes)
        count = np.bincount(text_ids, minlength=n_texts)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            return total / count
    raise InputError(f"reduce must be 'max' or 'mean', got {reduce!r}")


def examples_from_activations(
    codes: Any,
    text_ids: Any,
    spans: Any,
    texts: Sequence[str],
    *,
    positions: Any = None,
    k: int = 10,
    concepts: Sequence[int] | None = None,
    relative: float = 0.5,
    max_spans: int = 5,
) -> dict[int, list[Example]]:
    """The `k` texts where each concept is strongest (max over the text's rows, > 0) as `Example`s, from
    per-row codes and a store's `text_ids`, `spans` and `positions`: rows of token or word granularity
    (position ≥ 0) whose activation is > 0 and ≥ `relative` × the text's maximum become marked spans, the
    `max_spans` strongest of them."""
    codes, text_ids = np.asarray(codes, dtype=np.float64), np.asarray(text_ids, dtype=np.int64)
    spans = np.asarray(spans, dtype=np.int64)
    positions = np.full(len(codes), -1) if positions is None else np.asarray(positions)
    per_text = text_activations(codes, text_ids, len(texts))
    out: dict[int, list[Example]] = {}
    for concept in range(codes.shape[1]) if concepts is None else concepts:
        column = np.nan_to_num(per_text[:, concept], nan=-np.inf)
        top = [int(t) for t in np.argsort(-column, kind="stable")[:k] if column[t] > 0]
        examples = []
        for text in top:
            rows = np.flatnonzero((text_ids == text) & (positions >= 0))
            marked = _strongest(spans[rows], codes[rows, concept], column[text], relative, max_spans)
            examples.append(Example(texts[text], marked))
        out[int(concept)] = examples
    return out


def examples_from_top_inputs(
    top: Sequence[Sequence[Mapping[str, Any]]] | Mapping[int, Sequence[Mapping[str, Any]]],
    *,
    relative: float = 0.5,
    max_spans: int = 5,
) -> dict[int, list[Example]]:
    """`Example`s from `concepts.interpret.top_inputs` (per concept, strongest first: {"text", "tokens":
    [{"start", "end", "activation"}, ...]}; a list indexed by concept, or a mapping): tokens whose activation
    is > 0 and ≥ `relative` × the text's strongest token become marked spans, the `max_spans` strongest."""
    out: dict[int, list[Example]] = {}
    for concept, entries in top.items() if isinstance(top, Mapping) else enumerate(top):
        examples = []
        for entry in entries:
            try:
                tokens = list(entry.get("tokens") or ())
                spans = np.array([[t["start"], t["end"]] for t in tokens], dtype=np.int64).reshape(-1, 2)
                values = np.array([t["activation"] for t in tokens], dtype=np.float64)
                text = entry["text"]
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise InputError(
                    f"concept {concept}: a top input must be {{'text', 'tokens': [{{'start', 'end', 'activation'}}]}} "
                    f"({exc!r})"
                ) from exc
            best = float(values.max()) if len(values) else 0.0
            examples.append(Example(text, _strongest(spans, values, best, relative, max_spans)))
        out[concept_index(concept)] = examples
    return out


def _strongest(
    spans: np.ndarray, values: np.ndarray, best: float, relative: float, max_spans: int
) -> tuple[tuple[int, int, float], ...]:
    """The spans whose value is > 0 and ≥ `relative` × `best`, the `max_spans` largest, in text order."""
    strong = np.flatnonzero((values > 0) & (values >= relative * best))
    keep = np.sort(strong[np.argsort(-values[strong], kind="stable")[:max_spans]])
    return tuple((int(spans[i, 0]), int(spans[i, 1]), float(values[i])) for i in keep)


def candidates_from_activations(
    activations: Any,
    texts: Sequence[str],
    *,
    concepts: Sequence[int] | None = None,
    exclude: Collection[int] | Mapping[int, Collection[int]] = (),
    positives: int = 10,
    negatives: int = 10,
    low_quantile: float = 0.5,
    seed: int = 0,
) -> dict[int, list[Candidate]]:
    """Label-scoring candidates per concept from per-text activations [texts, concepts] (`text_activations`):
    the `positives` most activating texts (> 0) and `negatives` drawn at random (seeded) among the texts at
    or below the concept's `low_quantile`, both outside `exclude` (text ids used as labelling examples: one
    set, or one per concept), so the label is judged on texts it was not made from."""
    activations = np.asarray(activations, dtype=np.float64)
    if activations.ndim != 2 or len(activations) != len(texts):
        raise InputError(f"activations must be [texts, concepts] with one row per text, got {activations.shape}")
    if not 0 < low_quantile <= 1 or positives < 1 or negatives < 1:
        raise InputError("low_quantile must be in (0, 1], positives and negatives ≥ 1")
    out: dict[int, list[Candidate]] = {}
    for concept in range(activations.shape[1]) if concepts is None else concepts:
        concept = int(concept)
        used = exclude.get(concept, ()) if isinstance(exclude, Mapping) else exclude
        column = activations[:, concept]
        free = np.ones(len(texts), dtype=bool)
        free[np.asarray(list(used), dtype=np.int64)] = False
        free &= np.isfinite(column)
        ranked = [int(t) for t in np.argsort(-np.where(free, column, -np.inf), kind="stable") if free[t]]
        top = [t for t in ranked[:positives] if column[t] > 0]
        threshold = np.quantile(column[free], low_quantile) if free.any() else -np.inf
        low = np.flatnonzero(free & (column <= threshold))
        low = low[~np.isin(low, top)]
        rng = np.random.default_rng([seed, concept])
        chosen = rng.choice(low, size=min(negatives, len(low)), replace=False) if len(low) else []
        out[concept] = [Candidate(texts[t], True) for t in top] + [Candidate(texts[int(t)], False) for t in chosen]
    return out
