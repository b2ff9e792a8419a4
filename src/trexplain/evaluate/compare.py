"""Two (or more) models on the same texts: predictions side by side, top words, how far their
explanations agree (Spearman over the words both tokenizations share), and each model's metric table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trexplain.errors import InputError
from trexplain.evaluate.ranks import spearman
from trexplain.evaluate.table import FaithfulnessTable, faithfulness_table
from trexplain.explanation import Explanation
from trexplain.methods.base import DEFAULT_METHOD, TargetSpec
from trexplain.models.adapter import ModelAdapter
from trexplain.perturb import Level, Strategy


@dataclass
class Comparison:
    """Per-text predictions, top words and agreement, plus one faithfulness table per model."""

    models: list[str]
    method: str
    texts: list[dict[str, Any]]
    tables: list[FaithfulnessTable]

    @property
    def agreement(self) -> float | None:
        """Mean Spearman ρ between the models' word scores over texts (None when never defined)."""
        values = [t["spearman"] for t in self.texts if t["spearman"] is not None]
        return float(np.mean(values)) if values else None

    def to_dict(self) -> dict[str, Any]:
        """`{"models", "method", "agreement", "texts": [...], "tables": [FaithfulnessTable.to_dict(), ...]}`."""
        return {
            "models": self.models,
            "method": self.method,
            "agreement": self.agreement,
            "texts": self.texts,
            "tables": [t.to_dict() for t in self.tables],
        }


def compare_models(
    adapters: Sequence[ModelAdapter],
    texts: Sequence[str],
    *,
    method: str = DEFAULT_METHOD,
    methods: Sequence[str] | None = None,
    target: TargetSpec = "predicted",
    strategy: Strategy = "delete",
    level: Level = "word",
    seed: int = 0,
    top: int = 5,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    truncate: bool = False,
) -> Comparison:
    """Explain `texts` with `method` under each model and compare; `methods` (default: the cheap ones)
    fill each model's faithfulness table. Each model explains its own `target` (default: its prediction)."""
    from trexplain.api import explain

    if len(adapters) < 2:
        raise InputError("compare needs at least two models (--model A --model B)")
    texts = [texts] if isinstance(texts, str) else list(texts)
    names = _unique_names([a.name for a in adapters])
    per_model = [
        explain(texts, a, method, target=target, truncate=truncate, params=(params or {}).get(method)) for a in adapters
    ]
    rows = []
    for i, text in enumerate(texts):
        group = [explanations[i] for explanations in per_model]
        rho, common = _agreement(group[0], group[1])
        rows.append(
            {
                "text": text,
                "models": [_side(name, e, top) for name, e in zip(names, group, strict=True)],
                "spearman": rho,
                "common_words": common,
            }
        )
    tables = [
        faithfulness_table(
            a,
            texts,
            methods,
            target=target,
            strategy=strategy,
            level=level,
            seed=seed,
            params=params,
            truncate=truncate,
        )
        for a in adapters
    ]
    for name, table in zip(names, tables, strict=True):
        table.model = name
    return Comparison(names, method, rows, tables)


def _side(model: str, e: Explanation, top: int) -> dict[str, Any]:
    scores = e.word_scores(e.targets[0])
    words = e.word_texts()
    best = np.argsort(-scores, kind="stable")[:top]
    return {
        "model": model,
        "prediction": e.predicted_label,
        "probability": float(e.probabilities[e.predicted]),
        "target": e.labels[e.targets[0]],
        "top_words": [{"word": words[w], "score": float(scores[w])} for w in best],
    }


def _agreement(a: Explanation, b: Explanation) -> tuple[float | None, int]:
    """Spearman ρ of the two models' word scores over the word spans both share (their first targets)."""
    index_b = {span: w for w, span in enumerate(b.words)}
    pairs = [(w, index_b[span]) for w, span in enumerate(a.words) if span in index_b]
    if len(pairs) < 2:
        return None, len(pairs)
    sa, sb = a.word_scores(a.targets[0]), b.word_scores(b.targets[0])
    rho = spearman(np.array([sa[i] for i, _ in pairs]), np.array([sb[j] for _, j in pairs]))
    return (None if np.isnan(rho) else rho), len(pairs)


def _unique_names(names: list[str]) -> list[str]:
    return [f"{n} #{i + 1}" if names.count(n) > 1 else n for i, n in enumerate(names)]
