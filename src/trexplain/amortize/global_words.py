"""Global explanations over a dataset run: per class, the words whose scores push towards it (and against it)
most, with how often they occur and a bootstrap confidence interval of their mean score.

A word's scores are its summed token scores (`Explanation.word_scores`) for that class, gathered over every
explanation of the run that has the class as a target; words are compared lowercased. The interval
resamples a word's occurrences (`n_boot` times, seeded) and takes the central `confidence` share of the means.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from trexplain.errors import InputError
from trexplain.explanation import Explanation
from trexplain.io import write_text
from trexplain.runs.load import load_run
from trexplain.runs.manifest import methods_of, read_manifest


def word_occurrences(explanations: Iterable[Explanation]) -> tuple[dict[str, dict[str, list[float]]], dict[str, int]]:
    """({class: {word: [score per occurrence]}}, {class: texts explained for it}) over `explanations`."""
    scores: dict[str, dict[str, list[float]]] = {}
    texts: dict[str, int] = {}
    for e in explanations:
        words = [w.lower() for w in e.word_texts()]
        for target in e.targets:
            label = e.labels[target]
            texts[label] = texts.get(label, 0) + 1
            table = scores.setdefault(label, {})
            for word, value in zip(words, e.word_scores(target), strict=True):
                table.setdefault(word, []).append(float(value))
    return scores, texts


def bootstrap_interval(
    values: np.ndarray, n_boot: int, confidence: float, rng: np.random.Generator
) -> tuple[float, float]:
    """The central `confidence` interval of the mean of `values`, by resampling them `n_boot` times."""
    means = values[rng.integers(0, len(values), (n_boot, len(values)))].mean(1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def word_table(
    explanations: Iterable[Explanation], top: int, min_count: int, n_boot: int, confidence: float, seed: int
) -> dict[str, Any]:
    """Per class: texts explained for it, and the `top` words "for" (highest mean) and "against" (lowest)."""
    scores, texts = word_occurrences(explanations)
    rng = np.random.default_rng(seed)
    classes = {}
    for label in sorted(scores):
        rows = []
        for word, values in scores[label].items():
            if len(values) >= min_count:
                array = np.asarray(values)
                rows.append({"word": word, "mean": float(array.mean()), "count": len(array), "values": array})
        ranked = sorted(rows, key=lambda r: (-r["mean"], r["word"]))
        lists = {"for": ranked[:top], "against": ranked[::-1][:top]}
        classes[label] = {
            "texts": texts[label],
            **{
                name: [_row(r, texts[label], n_boot, confidence, rng) for r in chosen] for name, chosen in lists.items()
            },
        }
    return classes


def global_words(
    run: str | os.PathLike[str],
    *,
    method: str | None = None,
    top: int = 15,
    min_count: int = 5,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    out: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Per class, the `top` words with the highest and the lowest mean score among words seen at least
    `min_count` times: mean, count, frequency (share of the class's texts that hold it, counting repeats),
    share of positive scores and the bootstrap interval. Written as JSON to `out` when given."""
    if top < 1 or min_count < 1 or n_boot < 1 or not 0 < confidence < 1:
        raise InputError("top, min_count and n_boot must be at least 1 and confidence between 0 and 1")
    methods = list(methods_of(read_manifest(run)["config"]))
    if method is None:
        if len(methods) != 1:
            raise InputError(f"the run {run} holds {', '.join(methods)}; name the method to summarise (--method)")
        method = methods[0]
    elif method not in methods:
        raise InputError(f"the run {run} holds {', '.join(methods)}, not {method!r}; name one of them")
    classes = word_table((e for e in load_run(run) if e.method == method), top, min_count, n_boot, confidence, seed)
    result = {
        "run": str(Path(run)),
        "method": method,
        "min_count": min_count,
        "confidence": confidence,
        "n_boot": n_boot,
        "seed": seed,
        "classes": classes,
    }
    if out is not None:
        write_text(out, json.dumps(result, indent=1, ensure_ascii=False) + "\n", what="--out")
    return result


def _row(row: dict[str, Any], texts: int, n_boot: int, confidence: float, rng: np.random.Generator) -> dict[str, Any]:
    values = row["values"]
    low, high = bootstrap_interval(values, n_boot, confidence, rng)
    return {
        "word": row["word"],
        "mean": row["mean"],
        "low": low,
        "high": high,
        "count": row["count"],
        "frequency": row["count"] / texts,
        "positive_share": float(np.mean(values > 0)),
    }
