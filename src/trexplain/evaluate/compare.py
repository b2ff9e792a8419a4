"""Two (or more) models on the same texts: predictions side by side, top words, how far their
explanations agree (Spearman and top-k overlap over the words both tokenizations share, and whether the
predicted labels agree), and each model's metric table.

Each (model, method, text) is explained once: the explanations fill the model's table, and they come back in
`Comparison.explanations` (the compared method) and `Comparison.by_method` (every method) for views."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trexplain.api import explain_methods
from trexplain.errors import InputError
from trexplain.evaluate.plausibility import top_k
from trexplain.evaluate.ranks import spearman
from trexplain.evaluate.table import FaithfulnessTable, default_methods, left_out_for_cost, rank_explanations
from trexplain.explanation import Explanation
from trexplain.methods.base import DEFAULT_METHOD, TargetSpec
from trexplain.models.protocol import Adapter
from trexplain.perturb import Level


@dataclass
class Comparison:
    """Per-text predictions, top words and agreement, plus one faithfulness table per model; `explanations`
    holds each model's explanations by `method`, text by text, and `by_method` each model's explanations of
    every shown method (method → texts); neither is part of `to_dict`."""

    models: list[str]
    method: str
    texts: list[dict[str, Any]]
    tables: list[FaithfulnessTable]
    explanations: list[list[Explanation]] = field(default_factory=list)
    by_method: list[dict[str, list[Explanation]]] = field(default_factory=list)

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
    adapters: Sequence[Adapter],
    texts: Sequence[str],
    *,
    method: str = DEFAULT_METHOD,
    methods: Sequence[str] | None = None,
    target: TargetSpec = "predicted",
    strategy: str | None = None,
    level: Level | None = None,
    seed: int = 0,
    top: int = 5,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    truncate: bool = False,
) -> Comparison:
    """Explain `texts` with `method` under each model and compare; `methods` (default: the cheap ones)
    fill each model's faithfulness table. Each model explains its own `target` (default: its prediction),
    and each (model, method, text) once. Every text's row has the agreement of each of `methods` (default:
    `method` alone) between the first model and each other model."""
    if len(adapters) < 2:
        raise InputError("compare needs at least two models (--model A --model B)")
    texts = [texts] if isinstance(texts, str) else list(texts)
    names = _unique_names([a.name for a in adapters])
    explicit = methods is not None
    ranked = list(methods) if explicit else default_methods(len(texts))
    shown = list(dict.fromkeys([method, *(methods or [])]))
    per_model, by_method, tables = [], [], []
    for name, adapter in zip(names, adapters, strict=True):
        adapter.modality.strategy(strategy)  # a bad strategy fails before any model runs
        common = {"target": target, "params": params, "truncate": truncate}
        done, _ = explain_methods(texts, adapter, [method], explicit=True, **common)
        rest = [m for m in ranked if m != method]
        others, failed = explain_methods(texts, adapter, rest, explicit=explicit, **common)
        if method in ranked:
            others = {method: done[method], **others}
        explained = [others[m][i] for i in range(len(texts)) for m in ranked if m in others]
        table = rank_explanations(
            adapter,
            explained,
            target=target,
            strategy=strategy,
            level=level,
            seed=seed,
            skipped={**({} if explicit else left_out_for_cost(len(texts))), **failed},
        )
        table.model = name
        per_model.append(done[method])
        every = {**others, method: done[method]}
        by_method.append({m: every[m] for m in shown})
        tables.append(table)
    rows = []
    for i, text in enumerate(texts):
        group = [explanations[i] for explanations in per_model]
        pair = word_agreement(group[0], group[1], top)
        rows.append(
            {
                "text": text,
                "models": [_side(name, e, top) for name, e in zip(names, group, strict=True)],
                "spearman": pair["spearman"],
                "common_words": pair["common_words"],
                "labels_agree": len({e.predicted_label for e in group}) == 1,
                "methods": [_method_row(m, [model[m][i] for model in by_method], top) for m in shown],
            }
        )
    return Comparison(names, method, rows, tables, per_model, by_method)


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
        "base_value": base_value(e),
    }


def base_value(e: Explanation) -> float | None:
    """The method's base value for the first target (KernelSHAP: the output with every word removed), else None."""
    return float(e.diagnostics.target(0)["base_value"]) if "base_value" in e.diagnostics else None


def _method_row(method: str, group: Sequence[Explanation], top: int) -> dict[str, Any]:
    """One method on one text: each model's base value and its agreement with the first model."""
    return {
        "method": method,
        "base_values": [base_value(e) for e in group],
        "agreement": [{"model": j, **word_agreement(group[0], e, top)} for j, e in enumerate(group) if j],
    }


def word_agreement(a: Explanation, b: Explanation, k: int) -> dict[str, Any]:
    """How far two explanations of one text agree over the word spans both share (their first targets):
    Spearman ρ of the word scores (None under 2 shared words or with a constant side) and how many of each
    side's top `k` words (by score, among the shared ones; k at most their number) are the same."""
    sa, sb = _shared_scores(a, b)
    rho = spearman(sa, sb) if len(sa) >= 2 else float("nan")
    k = min(k, len(sa))
    return {
        "spearman": None if np.isnan(rho) else rho,
        "common_words": len(sa),
        "top_k": k,
        "top_k_overlap": int(np.sum(top_k(sa, k) & top_k(sb, k))) if k else None,
    }


def _shared_scores(a: Explanation, b: Explanation) -> tuple[np.ndarray, np.ndarray]:
    """The two explanations' word scores (first targets) over the word spans both share, in `a`'s order."""
    index_b = {span: w for w, span in enumerate(b.words)}
    pairs = [(w, index_b[span]) for w, span in enumerate(a.words) if span in index_b]
    sa, sb = a.word_scores(a.targets[0]), b.word_scores(b.targets[0])
    return np.array([sa[i] for i, _ in pairs], dtype=np.float64), np.array([sb[j] for _, j in pairs], dtype=np.float64)


def _unique_names(names: list[str]) -> list[str]:
    return [f"{n} #{i + 1}" if names.count(n) > 1 else n for i, n in enumerate(names)]
