"""Dataset mode: probe every text with each ranking and summarise as attack papers do.

Per ranking: original accuracy (with labels; texts the model already gets wrong are skipped, as TextAttack
does) or the share of each predicted class, success rate over the texts attacked, accuracy after the attack,
mean % of words perturbed (successful attacks), mean and median queries (all attacked texts), mean
attribution passes and seconds per text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trexplain.errors import InputError
from trexplain.probe.oracle import Oracle
from trexplain.probe.search import Prober, ProbeResult
from trexplain.progress import stage


@dataclass
class AttackTable:
    """One row per ranking, and every probe result behind them (`results[ranking]`, in text order;
    None where a text was skipped because the model already got it wrong)."""

    rows: list[dict[str, Any]]
    results: dict[str, list[ProbeResult | None]]
    labelled: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "labelled": self.labelled,
            "results": {k: [None if r is None else r.to_dict() for r in v] for k, v in self.results.items()},
        }


def attack_table(
    probers: Sequence[Prober], texts: Sequence[str], labels: Sequence[str | int] | None = None
) -> AttackTable:
    """Probe each text with each prober (one per ranking) and summarise each prober as one row."""
    if not probers:
        raise InputError("give at least one ranking")
    if labels is not None and len(labels) != len(texts):
        raise InputError(f"{len(labels)} labels for {len(texts)} texts; give one label per text")
    results: dict[str, list[ProbeResult | None]] = {}
    rows = []
    for prober in probers:
        gold = None if labels is None else [prober.adapter.label_index(label) for label in labels]
        done: list[ProbeResult | None] = []
        with stage(f"probing with {prober.ranking} ranking", total=len(texts)) as advance:
            for i, text in enumerate(texts):
                done.append(_attack(prober, text, None if gold is None else gold[i]))
                advance(1)
        results[prober.ranking] = done
        rows.append(summarise(prober.ranking, done, gold))
    return AttackTable(rows, results, labels is not None)


def _attack(prober: Prober, text: str, gold: int | None) -> ProbeResult | None:
    """The untargeted probe of one text; None (skipped) when the model already misclassifies it (that one
    query of a skipped text is not in the table: skipped texts are not attacked)."""
    if gold is not None:
        (first,) = Oracle(prober.adapter).score([text])
        if first is None or first.predicted != gold:
            return None
    return prober.run(text)


def summarise(ranking: str, results: Sequence[ProbeResult | None], gold: Sequence[int] | None) -> dict[str, Any]:
    """The table row of one ranking."""
    attacked = [r for r in results if r is not None]
    won = [r for r in attacked if r.success]
    queries = [r.queries for r in attacked]
    row: dict[str, Any] = {"ranking": ranking, "texts": len(results), "attacked": len(attacked)}
    if gold is not None:
        row["original_accuracy"] = len(attacked) / max(1, len(results))
        row["after_attack_accuracy"] = (len(attacked) - len(won)) / max(1, len(results))
    else:
        counts = Counter(r.labels[r.original_class] for r in attacked)
        row["predicted_share"] = {k: v / max(1, len(attacked)) for k, v in sorted(counts.items())}
    row["success_rate"] = len(won) / len(attacked) if attacked else None
    row["words_perturbed"] = float(np.mean([r.fraction_changed for r in won])) if won else None
    row["mean_queries"] = float(np.mean(queries)) if queries else None
    row["median_queries"] = float(np.median(queries)) if queries else None
    row["mean_attribution_passes"] = float(np.mean([r.attribution_passes for r in attacked])) if attacked else None
    row["seconds"] = float(np.mean([r.seconds for r in attacked])) if attacked else None
    return row
