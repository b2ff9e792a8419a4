"""Global word statistics of a dataset run, accumulated one explanation at a time (memory: one entry per class
and distinct word, never the scores themselves), so 100,000 texts stream through shard by shard.

A word's value in one text is the mean of its occurrences' scores there (`Explanation.word_scores`: token
scores summed per word; words compared lower-cased), for each class the explanation holds as a target. The
text is the unit: `count` is the number of the class's texts holding the word, `frequency` that count over the
class's texts, and the interval is Student's t-interval of the mean over those texts (mean ± t·s/√n). A
t-interval, not a bootstrap, because it needs only running sums (Welford's mean and sum of squared
deviations), where a bootstrap needs every value kept; and texts, not occurrences, because repeats of a word
in one text are not independent draws. Words held by fewer than `min_count` texts are left out of the ranking.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

from trexplain.errors import InputError
from trexplain.explanation import Explanation

CONFIDENCE = 0.95


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b) (Lentz's continued fraction, Numerical Recipes 6.4)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _continued_fraction(a, b, x) / a
    return 1 - front * _continued_fraction(b, a, 1 - x) / b


def _continued_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300

    def guard(v: float) -> float:
        return v if abs(v) > tiny else tiny

    c, d = 1.0, 1 / guard(1 - (a + b) * x / (a + 1))
    h = d
    for m in range(1, 100_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 / guard(1 + numerator * d)
            c = guard(1 + numerator / c)
            h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return h


@cache
def t_quantile(confidence: float, df: int) -> float:
    """The t with P(|T| ≤ t) = `confidence` for Student's T with `df` degrees of freedom (bisection on the
    two-sided tail I_{df/(df+t²)}(df/2, 1/2), to 1e-12 relative)."""
    if df < 1 or not 0 < confidence < 1:
        raise InputError(f"a t quantile needs df ≥ 1 and confidence in (0, 1), not df={df}, {confidence}")

    def tail(t: float) -> float:
        return incomplete_beta(df / 2, 0.5, df / (df + t * t))

    low, high = 0.0, 1.0
    while tail(high) > 1 - confidence:
        low, high = high, 2 * high
    while high - low > 1e-12 * high:
        middle = (low + high) / 2
        low, high = (middle, high) if tail(middle) > 1 - confidence else (low, middle)
    return (low + high) / 2


def check_options(top: int, min_count: int, confidence: float) -> None:
    """Refuse a ranking option out of range (before a run is read, not after)."""
    if top < 1 or min_count < 2 or not 0 < confidence < 1:
        raise InputError(
            f"top must be at least 1, min_count at least 2 (an interval needs two texts) and confidence "
            f"between 0 and 1, not top={top}, min_count={min_count}, confidence={confidence}"
        )


class WordStats:
    """Per class and word: texts holding it, Welford's running mean and squared deviations of its per-text
    value, occurrences and texts where it scored above zero; per class: the texts explained for it."""

    def __init__(self) -> None:
        self.words: dict[str, dict[str, list[float]]] = {}  # class → word → [n, mean, m2, occurrences, positive]
        self.texts: dict[str, int] = {}

    def add(self, e: Explanation) -> None:
        """Count one explanation: each of its targets' word scores, per distinct word (lower-cased)."""
        words = [w.lower() for w in e.word_texts()]
        for target in e.targets:
            label = e.labels[target]
            self.texts[label] = self.texts.get(label, 0) + 1
            per_text: dict[str, list[float]] = {}
            for word, score in zip(words, e.word_scores(target), strict=True):
                entry = per_text.setdefault(word, [0.0, 0])
                entry[0] += float(score)
                entry[1] += 1
            table = self.words.setdefault(label, {})
            for word, (total, occurrences) in per_text.items():
                value = total / occurrences
                stats = table.setdefault(word, [0, 0.0, 0.0, 0, 0])
                stats[0] += 1
                delta = value - stats[1]
                stats[1] += delta / stats[0]
                stats[2] += delta * (value - stats[1])
                stats[3] += occurrences
                stats[4] += value > 0

    def table(self, top: int, min_count: int, confidence: float = CONFIDENCE) -> dict[str, Any]:
        """Per class: its texts, the words ranked (held by at least `min_count` texts), and the `top` words "for"
        (mean above zero, highest first) and "against" (mean below zero, lowest first), each a row dict with
        word, mean, low, high, count, frequency, occurrences and positive_share."""
        check_options(top, min_count, confidence)
        out = {}
        for label in sorted(self.words):
            texts = self.texts[label]
            rows = [_row(w, s, texts, confidence) for w, s in self.words[label].items() if s[0] >= min_count]
            out[label] = {
                "texts": texts,
                "ranked": len(rows),
                "for": sorted((r for r in rows if r["mean"] > 0), key=lambda r: (-r["mean"], r["word"]))[:top],
                "against": sorted((r for r in rows if r["mean"] < 0), key=lambda r: (r["mean"], r["word"]))[:top],
            }
        return out


def _row(word: str, stats: list[float], texts: int, confidence: float) -> dict[str, Any]:
    n, mean, m2, occurrences, positive = stats
    half = t_quantile(confidence, int(n) - 1) * math.sqrt(max(m2, 0.0) / (n - 1) / n)
    return {
        "word": word,
        "mean": mean,
        "low": mean - half,
        "high": mean + half,
        "count": int(n),
        "frequency": n / texts,
        "occurrences": int(occurrences),
        "positive_share": positive / n,
    }
