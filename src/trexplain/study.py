"""`study`: inputs × methods × targets, with optional faithfulness evaluation and sanity checks, in one call.

The CLI, the HTML report, the web app and dataset runs all call this one function and render what it
returns, so they cannot drift apart: which methods run by default, which are left out and why, which
texts the sanity check uses, and the JSON of the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trexplain.api import explain_methods
from trexplain.errors import InputError
from trexplain.evaluate.sanity import SanityResult, model_randomization, sanity_cost
from trexplain.evaluate.table import (
    RANDOM,
    FaithfulnessTable,
    default_methods,
    left_out_for_cost,
    rank_explanations,
)
from trexplain.explanation import SCHEMA_VERSION, Explanation
from trexplain.methods.base import DEFAULT_METHOD, TargetSpec
from trexplain.models.loading import load_model
from trexplain.models.protocol import Adapter
from trexplain.perturb import Level
from trexplain.progress import note, stage
from trexplain.records import Entries, text_record


@dataclass
class Study:
    """What one study produced: per input, one explanation per method (in method order); the faithfulness
    table when evaluated; one sanity result per checked method; methods left out, with the reason."""

    model: str
    methods: list[str]
    target: TargetSpec
    per_input: list[list[Explanation]]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    table: FaithfulnessTable | None = None
    sanity: list[SanityResult] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    external: list[Explanation] = field(default_factory=list)

    @property
    def explanations(self) -> list[Explanation]:
        """Every explanation, input by input."""
        return [e for group in self.per_input for e in group]

    def records(self, entries: Entries = "target") -> list[dict[str, Any]]:
        """One text record per input (see `trexplain.records`)."""
        return [text_record(group, entries, self.model) for group in self.per_input if group]

    def to_dict(self) -> dict[str, Any]:
        """`{"schema_version", "model", "methods", "target", "params", "skipped", "records", "evaluation",
        "sanity"}`: records with target entries, the faithfulness table's dict (or None), sanity results."""
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "methods": list(self.methods),
            "target": self.target if isinstance(self.target, (str, int)) else list(self.target),
            "params": self.params,
            "skipped": self.skipped,
            "records": self.records(),
            "evaluation": None if self.table is None else self.table.to_dict(),
            "sanity": [check.to_dict() for check in self.sanity],
        }


def study(
    inputs: str | Sequence[str],
    model: Adapter | str | None = None,
    methods: str | Sequence[str] | None = None,
    *,
    target: TargetSpec = "predicted",
    params: Mapping[str, Mapping[str, Any]] | None = None,
    evaluate: bool = False,
    sanity: bool = False,
    sanity_texts: int | None = None,
    sanity_methods: Sequence[str] | None = None,
    independent: bool = False,
    external: Sequence[Explanation] = (),
    strategy: str | None = None,
    level: Level | None = None,
    seed: int = 0,
    batch_size: int = 16,
    eval_batch_size: int = 64,
    truncate: bool = False,
    progress: bool = False,
    windows: bool = False,
    stride: int | None = None,
) -> Study:
    """Explain `inputs` with every method for `target`, and optionally evaluate and sanity-check them.

    An input may be a `(first, second)` sentence pair; `windows`/`stride` explain long texts in windows (see
    `trexplain.api.explain`).

    `methods`: names (default: cp-lrp; with `evaluate`, every registered method cheap enough for this many
    inputs, leaving out those this model cannot run). `params` maps method names to their parameters.
    `evaluate` ranks the methods by faithfulness against a seeded random floor (`external` explanations,
    e.g. from `load_scores`, join the table); `sanity` runs the model-randomisation check of `sanity_methods`
    (default: each method, or when evaluating with default methods, each ranked one) on the first
    `sanity_texts` inputs (default all), cascading or, with `independent`, one part at a time; its cost in
    explanation passes is announced first (`trexplain.progress.note`).

    Inputs are what the model's modality reads (`adapter.modality`): texts, or for an image classifier images
    (files, arrays, tensors, PIL images); evaluation removes its features (words, patches) by `strategy` and
    `level` (default: the modality's; `Modality.strategies`, `Modality.levels`).
    """
    adapter = model if isinstance(model, Adapter) else load_model(model)
    texts: list[Any] = adapter.modality.read(inputs)  # read once here; the strategy checked before any work
    adapter.modality.strategy(strategy)
    adapter.modality.level(level)
    if not texts and not external:
        raise InputError("no text given; pass at least one text")
    if (independent or sanity_methods) and not sanity:
        raise InputError("independent and sanity_methods choose how the sanity check runs; ask for sanity too")
    explicit = methods is not None
    names = [methods] if isinstance(methods, str) else list(methods or [])
    too_costly: dict[str, str] = {}
    if not explicit:
        names = default_methods(len(texts)) if evaluate else [DEFAULT_METHOD]
        if evaluate:
            too_costly = left_out_for_cost(len(texts))
    params = {name: dict(p) for name, p in (params or {}).items()}
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise InputError(f"parameters given for {', '.join(unknown)}, which this study does not run")
    done, skipped = explain_methods(
        texts,
        adapter,
        names if texts else [],
        explicit=explicit or not evaluate,
        target=target,
        params=params,
        batch_size=batch_size,
        truncate=truncate,
        progress=progress,
        windows=windows,
        stride=stride,
    )
    skipped = {**too_costly, **skipped}
    ran = list(done)
    per_input = [[done[name][i] for name in ran] for i in range(len(texts))]
    result = Study(adapter.name, ran, target, per_input, params, skipped=skipped, external=list(external))
    if evaluate:
        with stage(f"evaluating {len(result.explanations) + len(external)} explanations (and a random floor)"):
            result.table = rank_explanations(
                adapter,
                [*result.explanations, *external],
                target=target,
                strategy=strategy,
                level=level,
                seed=seed,
                eval_batch_size=eval_batch_size,
                skipped=skipped,
            )
    if sanity and texts:
        checked = list(dict.fromkeys(ran))
        if sanity_methods is not None:
            missing = [name for name in sanity_methods if name not in ran]
            if missing:
                raise InputError(f"sanity_methods {', '.join(missing)} are not among the methods run: {', '.join(ran)}")
            checked = list(sanity_methods)
        elif result.table is not None and not explicit:
            outside = {RANDOM} | {e.method for e in external}
            checked = list(dict.fromkeys(r["method"] for r in result.table.rows if r["method"] not in outside))
        sample = texts[: max(1, sanity_texts)] if sanity_texts is not None else texts
        note(
            f"sanity check: {sanity_cost(adapter, len(sample), checked)} explanation passes "
            f"({len(checked)} method(s) × {len(sample)} text(s) × the original and each randomised part)"
        )
        with stage("sanity checks (model randomisation)", total=len(checked)) as advance:
            for name in checked:
                result.sanity.append(
                    model_randomization(
                        adapter,
                        sample,
                        name,
                        independent=independent,
                        target=target,
                        seed=seed,
                        batch_size=batch_size,
                        **params.get(name, {}),
                    )
                )
                advance()
    return result
