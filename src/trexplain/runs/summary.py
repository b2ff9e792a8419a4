"""Dataset views of a run ("global" explanations), computed shard by shard so memory holds one shard at a time.

Per method, with each explanation's word scores for its predicted class (`plausibility.word_scores`: token
scores summed per word; words compared lower-cased):
- `words`: per predicted class, the words with the largest total relevance and the largest mean relevance
  (among words seen at least `min_count` times), with their counts;
- `by_class`: the most frequent words' mean relevance under each predicted class;
- `global_words`: per class the run explained, the words that matter (mean score with a t-interval over texts,
  texts holding the word, among words held by at least `min_count` texts): `trexplain.runs.words`;
- `faithfulness` (runs with `--evaluate`): histograms of AOPC comprehensiveness, sufficiency and identity error;
- `plausibility` (runs with a rationale column): the ERASER table (`evaluate.plausibility`);
- `lists` worth a look (`size` entries each): lowest-confidence predictions, most method disagreement (lowest
  mean Spearman correlation of word scores between methods, per text), and per method the highest identity
  errors and the predictions driven by special tokens or punctuation (share of |relevance| on them).
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from trexplain.arrow import from_arrow
from trexplain.evaluate.plausibility import plausibility, word_scores
from trexplain.evaluate.ranks import spearman
from trexplain.explanation import Explanation
from trexplain.runs.load import shard_tables
from trexplain.runs.manifest import read_manifest
from trexplain.runs.words import CONFIDENCE, WordStats, check_options

TOP_WORDS = 15
MIN_COUNT = 3
LIST_SIZE = 10
HISTOGRAM_BINS = 20
_PUNCTUATION = re.compile(r"[^\w]+")


class _Top:
    """The `size` entries with the largest key (ties: first seen), kept in a bounded heap."""

    def __init__(self, size: int) -> None:
        self.size, self.heap, self.count = size, [], itertools.count()

    def add(self, key: float, entry: dict[str, Any]) -> None:
        if math.isnan(key) or self.size <= 0:
            return
        item = (key, -next(self.count), entry)
        if len(self.heap) < self.size:
            heapq.heappush(self.heap, item)
        elif item > self.heap[0]:
            heapq.heapreplace(self.heap, item)

    def entries(self) -> list[dict[str, Any]]:
        return [entry for _, _, entry in sorted(self.heap, reverse=True)]


def special_share(e: Explanation, k: int) -> float:
    """Share of the |relevance| of target row k on special tokens and punctuation-only words."""
    values = np.abs(np.asarray(e.scores[k], dtype=np.float64))
    total = values.sum()
    if total == 0:
        return 0.0
    labels = e.layout.feature_labels()
    marked = [
        special or (word >= 0 and _PUNCTUATION.fullmatch(labels[word]) is not None)
        for special, word in zip(e.layout.special, e.layout.feature_ids, strict=True)
    ]
    return float(values[np.array(marked, dtype=bool)].sum() / total)


def _row_of_predicted(e: Explanation) -> int:
    predicted = e.predicted
    return e.targets.index(predicted) if predicted in e.targets else 0


def _confidence(e: Explanation) -> float:
    """The head's probability of the predicted class (each label's sigmoid when multi-label, the output itself for
    regression: `Explanation.probabilities`)."""
    return float(e.probabilities[e.predicted])


def _entry(e: Explanation, key: str, **values: Any) -> dict[str, Any]:
    return {"id": key, "text": e.text, "predicted": e.predicted_label, **values}


def summarize(
    folder: str | os.PathLike[str], *, top: int = TOP_WORDS, min_count: int = MIN_COUNT, size: int = LIST_SIZE
) -> dict[str, Any]:
    """The dataset views of a run folder (see the module docstring) as one JSON-ready dict."""
    check_options(top, min_count, CONFIDENCE)
    manifest = read_manifest(folder)
    config = manifest["config"]
    methods = list(config["methods"])
    words: dict[str, dict[str, dict[str, list[float]]]] = {m: {} for m in methods}  # method → class → word → [Σ, n]
    faith: dict[str, dict[str, list[float]]] = {m: {} for m in methods}
    global_words = {m: WordStats() for m in methods}
    marked: list[tuple[Explanation, list[int]]] = []
    lists = {"lowest_confidence": _Top(size), "method_disagreement": _Top(size)}
    per_method_lists = {
        name: {m: _Top(size) for m in methods} for name in ("highest_identity_error", "special_or_punctuation")
    }
    texts = 0
    for table in shard_tables(folder):
        ids = table.column("id").to_pylist()
        explanations = from_arrow(table)
        extra = {
            n: table.column(n).to_pylist()
            for n in ("rationale", "comprehensiveness", "sufficiency", "identity_error")
            if n in table.column_names
        }
        for key, group in itertools.groupby(range(len(ids)), key=lambda i: ids[i]):
            rows = list(group)
            texts += 1
            first = explanations[rows[0]]
            lists["lowest_confidence"].add(-_confidence(first), _entry(first, key, confidence=_confidence(first)))
            per_method = {}
            for i in rows:
                e = explanations[i]
                k = _row_of_predicted(e)
                scores = word_scores(e)
                per_method[e.method] = scores
                global_words[e.method].add(e)
                _add_words(words[e.method].setdefault(e.predicted_label, {}), e.layout.feature_labels(), scores)
                share = special_share(e, k)
                per_method_lists["special_or_punctuation"][e.method].add(
                    share, _entry(e, key, method=e.method, share=share)
                )
                error = e.diagnostics.identity.error_for(k) if e.diagnostics.identity is not None else None
                if error is not None:
                    per_method_lists["highest_identity_error"][e.method].add(
                        error, _entry(e, key, method=e.method, error=error)
                    )
                for name in ("comprehensiveness", "sufficiency", "identity_error"):
                    if name in extra and extra[name][i] is not None and extra[name][i][k] is not None:
                        faith[e.method].setdefault(name, []).append(extra[name][i][k])
                if extra.get("rationale") and extra["rationale"][i]:
                    marked.append((e, extra["rationale"][i]))
            if len(per_method) > 1 and first.layout.num_features > 1:
                rho = _mean_correlation(per_method.values())
                lists["method_disagreement"].add(-rho, _entry(first, key, correlation=rho))
    out: dict[str, Any] = {
        "run": str(Path(folder)),
        "model": config["model"],
        "methods": methods,
        "texts": texts,
        "min_count": min_count,
        "words": {m: _word_tables(words[m], top, min_count) for m in methods},
        "by_class": {m: _by_class(words[m], top) for m in methods},
        "confidence": CONFIDENCE,
        "global_words": {m: global_words[m].table(top, min_count) for m in methods},
        "faithfulness": {m: {n: _histogram(v) for n, v in faith[m].items()} for m in methods if faith[m]} or None,
        "plausibility": plausibility([e for e, _ in marked], [w for _, w in marked]) if marked else None,
        "lists": {
            **{name: found.entries() for name, found in lists.items()},
            **{name: [x for m in methods for x in found[m].entries()] for name, found in per_method_lists.items()},
        },
    }
    return json.loads(json.dumps(out, allow_nan=False, default=float))


def _add_words(counts: dict[str, list[float]], labels: list[str], scores: np.ndarray) -> None:
    for label, score in zip(labels, scores, strict=True):
        entry = counts.setdefault(label.lower(), [0.0, 0])
        entry[0] += float(score)
        entry[1] += 1


def _word_tables(per_class: dict[str, dict[str, list[float]]], top: int, min_count: int) -> dict[str, Any]:
    out = {}
    for label, counts in sorted(per_class.items()):
        rows = [{"word": w, "total": s, "mean": s / n, "count": n} for w, (s, n) in counts.items()]
        frequent = [r for r in rows if r["count"] >= min_count]
        out[label] = {
            "total": sorted(rows, key=lambda r: (-r["total"], r["word"]))[:top],
            "mean": sorted(frequent, key=lambda r: (-r["mean"], r["word"]))[:top],
        }
    return out


def _by_class(per_class: dict[str, dict[str, list[float]]], top: int) -> dict[str, Any]:
    classes = sorted(per_class)
    seen: dict[str, int] = {}
    for counts in per_class.values():
        for w, (_, n) in counts.items():
            seen[w] = seen.get(w, 0) + int(n)
    chosen = [w for w, _ in sorted(seen.items(), key=lambda item: (-item[1], item[0]))[:top]]
    mean = [[(per_class[c][w][0] / per_class[c][w][1]) if w in per_class[c] else None for c in classes] for w in chosen]
    count = [[int(per_class[c][w][1]) if w in per_class[c] else 0 for c in classes] for w in chosen]
    return {"classes": classes, "words": chosen, "mean": mean, "count": count}


def _histogram(values: list[float]) -> dict[str, Any]:
    data = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if not data.size:
        return {"n": 0, "edges": [], "counts": [], "mean": None, "median": None}
    low, high = float(data.min()), float(data.max())
    if low == high:
        low, high = low - 0.5, high + 0.5
    counts, edges = np.histogram(data, bins=HISTOGRAM_BINS, range=(low, high))
    return {
        "n": int(data.size),
        "edges": edges.tolist(),
        "counts": counts.tolist(),
        "mean": float(data.mean()),
        "median": float(np.median(data)),
    }


def _mean_correlation(scores: Iterable[np.ndarray]) -> float:
    """Mean Spearman correlation over the pairs of methods' word scores (NaN pairs, constant scores, left out)."""
    values = [spearman(a, b) for a, b in itertools.combinations(list(scores), 2)]
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else float("nan")


PLAUSIBILITY_COLUMNS = ("method", "texts", "token_f1_macro", "token_f1_micro", "iou_f1_macro", "iou_f1_micro", "auprc")


def plausibility_text(folder: str | os.PathLike[str]) -> str:
    """A run's plausibility table (one row per method) as aligned plain text, for the terminal and READMEs."""
    rows = summarize(folder, size=0)["plausibility"] or []
    cells = [list(PLAUSIBILITY_COLUMNS)]
    cells += [[str(r[c]) if c in ("method", "texts") else f"{r[c]:.3f}" for c in PLAUSIBILITY_COLUMNS] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(PLAUSIBILITY_COLUMNS))]
    return "\n".join(
        "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(line, widths, strict=True)))
        for line in cells
    )
