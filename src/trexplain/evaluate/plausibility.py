"""Plausibility: how well an explanation matches a human rationale (ERASER, DeYoung et al. 2020), per word.

A rationale marks words of the text: indices of its whitespace-separated words (`text.split()`, the way
annotators see a text and ERASER's datasets number it) or character spans `[start, end)` (the form for scripts
written without spaces). Both map onto the model's words (`TextLayout.words`, found by `models.words` in every
script, so a vowel sign or accent never stands apart from its word) that they overlap, and each explanation's
token scores roll up to those words with `layout.group_scores` (sum, as everywhere; `aggregate="max"` is Chefer
et al.'s choice), for the predicted class (its row among the explanation's targets, else the first target).
Texts without a marked word are left out. With the words ranked by score (ties: earlier word first):

- token F1: the top k words, k = the number of marked words, against the marked ones (so precision equals
  recall); macro = mean of the per-text F1, micro = F1 of the counts summed over texts.
- IOU F1 at 0.5: predicted spans = runs of consecutive top-k words, gold spans = runs of marked words; a
  predicted span is a hit when its IOU (in words) with some gold span is ≥ 0.5. Micro: P = hits ÷ predicted
  spans, R = hits ÷ gold spans, summed over texts; macro: the means of per-text P and R, then their F1
  (ERASER's `score_hard_rationale_predictions`).
- AUPRC: average precision of the signed soft word scores against the marks (scikit-learn's
  `average_precision_score`, ties as one threshold), mean over texts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trexplain.errors import InputError
from trexplain.explanation import Explanation
from trexplain.layout import Aggregate, group_scores

IOU_THRESHOLD = 0.5
_WORD = re.compile(r"\S+")


def rationale_spans(text: str, rationale: Mapping[str, Sequence]) -> list[tuple[int, int]]:
    """Character spans of a rationale (`{"words": [...]}` whitespace-word indices or `{"spans": [[s, e], ...]}`)."""
    if "words" in rationale:
        words = [(m.start(), m.end()) for m in _WORD.finditer(text)]
        bad = [i for i in rationale["words"] if not 0 <= i < len(words)]
        if bad:
            raise InputError(
                f"rationale word {bad[0]} of {text[:40]!r}: the text has {len(words)} whitespace-separated words "
                f"(0..{len(words) - 1})"
            )
        return [words[i] for i in rationale["words"]]
    spans = [(int(s), int(e)) for s, e in rationale["spans"]]
    bad = [span for span in spans if span[1] > len(text)]
    if bad:
        raise InputError(f"rationale span {list(bad[0])} of {text[:40]!r} ends past the text ({len(text)} characters)")
    return spans


def rationale_words(explanation: Explanation, rationale: Mapping[str, Sequence]) -> list[int]:
    """Indices of the explanation's words (`layout.words`) that overlap a span of the rationale."""
    spans = rationale_spans(explanation.text, rationale)
    return [i for i, (a, b) in enumerate(explanation.layout.words) if any(a < e and s < b for s, e in spans)]


def word_scores(explanation: Explanation, aggregate: Aggregate = "sum") -> np.ndarray:
    """Word scores of the predicted class (its row among the targets, else the first target's)."""
    e = explanation
    predicted = int(np.argmax(e.logits))
    k = e.targets.index(predicted) if predicted in e.targets else 0
    return group_scores(e.scores[k], e.layout.feature_ids, e.layout.num_features, aggregate)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Bool mask of the k highest scores (ties: the earlier one first)."""
    mask = np.zeros(len(scores), dtype=bool)
    mask[np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:k]] = True
    return mask


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of True as `[start, end)` index spans."""
    padded = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def iou_hits(predicted: Sequence[tuple[int, int]], gold: Sequence[tuple[int, int]], threshold: float) -> int:
    """Predicted spans whose best IOU with a gold span is at least `threshold`."""

    def iou(p: tuple[int, int], t: tuple[int, int]) -> float:
        inter = max(0, min(p[1], t[1]) - max(p[0], t[0]))
        return inter / (max(p[1], t[1]) - min(p[0], t[0])) if inter else 0.0

    return sum(1 for p in predicted if max((iou(p, t) for t in gold), default=0.0) >= threshold)


def average_precision(scores: np.ndarray, gold: np.ndarray) -> float:
    """Area under the precision-recall curve as scikit-learn's `average_precision_score` (NaN without positives)."""
    y = np.asarray(gold, dtype=bool)
    if not y.any():
        return float("nan")
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last index of each distinct score
    tps = np.cumsum(y)[last]
    precision = tps / (last + 1)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _f1(p: float, r: float) -> float:
    return 0.0 if p == 0 or r == 0 else 2 * p * r / (p + r)


def plausibility(
    explanations: Sequence[Explanation],
    marked: Sequence[Sequence[int] | None],
    *,
    aggregate: Aggregate = "sum",
    threshold: float = IOU_THRESHOLD,
) -> list[dict[str, Any]]:
    """One row per method: `texts`, `token_f1_macro`, `token_f1_micro`, `iou_f1_macro`, `iou_f1_micro`, `auprc`,
    from each explanation and the model-word indices its human marked (`marked[i]`, None: no rationale)."""
    if len(marked) != len(explanations):
        raise InputError(f"{len(marked)} rationales for {len(explanations)} explanations; give one per explanation")
    stats: dict[str, dict[str, list[float]]] = {}
    for e, words in zip(explanations, marked, strict=True):
        if not words:
            continue
        gold = np.zeros(e.layout.num_features, dtype=bool)
        gold[list(words)] = True
        scores = word_scores(e, aggregate)
        pred = top_k(scores, int(gold.sum()))
        hits = int((pred & gold).sum())
        pred_spans, gold_spans = runs_of(pred), runs_of(gold)
        span_hits = iou_hits(pred_spans, gold_spans, threshold)
        s = stats.setdefault(e.method, {k: [] for k in ("f1", "tp", "np", "ng", "hits", "ps", "gs", "ap")})
        s["f1"].append(_f1(hits / pred.sum(), hits / gold.sum()))
        s["tp"].append(hits)
        s["np"].append(int(pred.sum()))
        s["ng"].append(int(gold.sum()))
        s["hits"].append(span_hits)
        s["ps"].append(len(pred_spans))
        s["gs"].append(len(gold_spans))
        s["ap"].append(average_precision(scores, gold))
    rows = []
    for method, s in stats.items():
        tp, hits = sum(s["tp"]), sum(s["hits"])
        macro_p = float(np.mean([h / p for h, p in zip(s["hits"], s["ps"], strict=True)]))
        macro_r = float(np.mean([h / g for h, g in zip(s["hits"], s["gs"], strict=True)]))
        rows.append(
            {
                "method": method,
                "texts": len(s["f1"]),
                "token_f1_macro": float(np.mean(s["f1"])),
                "token_f1_micro": _f1(tp / sum(s["np"]), tp / sum(s["ng"])),
                "iou_f1_macro": _f1(macro_p, macro_r),
                "iou_f1_micro": _f1(hits / sum(s["ps"]), hits / sum(s["gs"])),
                "auprc": float(np.mean(s["ap"])),
            }
        )
    return rows
