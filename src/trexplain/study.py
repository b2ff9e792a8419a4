"""`study`: inputs × methods × targets, with optional faithfulness evaluation and sanity checks, in one call.

The CLI, the HTML report, the web app and dataset runs all call this one function and render what it
returns, so they cannot drift apart: which methods run by default, which are left out and why, which
texts the sanity check uses, and the JSON of the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trexplain import checks
from trexplain.api import explain_methods, windowing
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
from trexplain.methods.base import DEFAULT_METHOD, Method, TargetSpec, available_methods, get_method
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


LEVELS = ("word", "token")


@dataclass(frozen=True)
class StudyOptions:
    """Every keyword of `study`, checked once when built and passed whole to what runs the study (the server,
    dataset runs, reports), so no caller re-plumbs them one by one.

    `methods`: the methods to run as instances, their parameters applied (None: the default methods, with
    `params` for those of them named there); `StudyOptions.build` makes them from names and `params`."""

    methods: tuple[Method, ...] | None = None
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    target: TargetSpec = "predicted"
    evaluate: bool = False
    sanity: bool = False
    sanity_texts: int | None = None
    sanity_methods: tuple[str, ...] | None = None
    independent: bool = False
    strategy: str | None = None
    level: str | None = None
    seed: int = 0
    batch_size: int = 16
    eval_batch_size: int = 64
    truncate: bool = False
    progress: bool = False
    windows: bool = False
    stride: int | None = None

    def __post_init__(self) -> None:
        def keep(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        for name in ("evaluate", "sanity", "independent", "truncate", "progress"):
            checks.flag(getattr(self, name), name)
        keep("target", checks.target(self.target))
        keep("seed", checks.whole(self.seed, "seed"))
        keep("batch_size", checks.whole(self.batch_size, "batch_size", least=1))
        keep("eval_batch_size", checks.whole(self.eval_batch_size, "eval_batch_size", least=1))
        keep("sanity_texts", checks.optional_whole(self.sanity_texts, "sanity_texts", least=1))
        keep("stride", windowing(self.windows, self.stride, self.truncate))
        if self.strategy is not None:  # which strategies exist is the modality's to say (`run_study`)
            checks.text_option(self.strategy, "strategy")
        if self.level is not None:
            checks.choice(self.level, "level", LEVELS)
        if self.sanity_methods is not None:
            names = checks.method_names(self.sanity_methods)
            keep("sanity_methods", tuple(m.name if isinstance(m, Method) else str(m) for m in names))
        if (self.independent or self.sanity_methods) and not self.sanity:
            raise InputError(
                "independent and sanity_methods choose how the sanity check runs; ask for sanity too "
                "(CLI: add --sanity)"
            )
        if self.methods is not None:
            keep("methods", tuple(checks.methods(list(self.methods))))
            keep("params", {})
        else:
            given = checks.per_method_params(self.params, list(available_methods()))
            for name, values in given.items():
                get_method(name, **values)  # checked now, before any work
            keep("params", given)

    @classmethod
    def build(cls, methods: object = None, params: object = None, **keywords: Any) -> StudyOptions:
        """Options from `study`'s keywords: `methods` as names or instances, `params` per method name."""
        if methods is None:
            return cls(None, checks.per_method_params(params, list(available_methods())), **keywords)
        return cls(tuple(checks.methods(methods, params)), **keywords)

    def chosen(self, n_texts: int) -> list[Method]:
        """The methods a study of `n_texts` inputs runs: those given, or the default ones with their `params`
        (with `evaluate`, every registered method cheap enough; else the default method)."""
        if self.methods is not None:
            return list(self.methods)
        names = default_methods(n_texts) if self.evaluate else [DEFAULT_METHOD]
        unknown = sorted(set(self.params) - set(names))
        if unknown:
            raise InputError(f"parameters given for {', '.join(unknown)}, which this study does not run")
        return [get_method(name, **self.params.get(name, {})) for name in names]


def study(
    inputs: str | Sequence[str],
    model: Adapter | str | None = None,
    methods: str | Method | Sequence[str | Method] | None = None,
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

    `methods`: names or `get_method(...)` instances (default: cp-lrp; with `evaluate`, every registered method
    cheap enough for this many inputs, leaving out those this model cannot run). `params` maps method names to
    their parameters (`{"ig": {"steps": 32}}`); every keyword is checked first (`StudyOptions`).
    `evaluate` ranks the methods by faithfulness against a seeded random floor (`external` explanations,
    e.g. from `load_scores`, join the table); `sanity` runs the model-randomisation check of `sanity_methods`
    (default: each method, or when evaluating with default methods, each ranked one) on the first
    `sanity_texts` inputs (default all), cascading or, with `independent`, one part at a time; its cost in
    explanation passes is announced first (`trexplain.progress.note`).

    Inputs are what the model's modality reads (`adapter.modality`): texts, or for an image classifier images
    (files, arrays, tensors, PIL images); evaluation removes its features (words, patches) by `strategy` and
    `level` (default: the modality's; `Modality.strategies`, `Modality.levels`).
    """
    options = StudyOptions.build(
        methods,
        params,
        target=target,
        evaluate=evaluate,
        sanity=sanity,
        sanity_texts=sanity_texts,
        sanity_methods=sanity_methods,
        independent=independent,
        strategy=strategy,
        level=level,
        seed=seed,
        batch_size=batch_size,
        eval_batch_size=eval_batch_size,
        truncate=truncate,
        progress=progress,
        windows=windows,
        stride=stride,
    )
    return run_study(inputs, model, options, external)


def run_study(
    inputs: str | Sequence[Any],
    model: Adapter | str | None,
    options: StudyOptions,
    external: Sequence[Explanation] = (),
) -> Study:
    """`study` with its options built (`StudyOptions`): what the server, reports and dataset runs call."""
    adapter = model if isinstance(model, Adapter) else load_model(checks.model_source(model))
    texts: list[Any] = adapter.modality.read(inputs)  # read once here; the strategy checked before any work
    adapter.modality.strategy(options.strategy)
    adapter.modality.level(options.level)
    if not texts and not external:
        raise InputError("no text given; pass at least one text")
    explicit = options.methods is not None
    chosen = options.chosen(len(texts))
    too_costly = left_out_for_cost(len(texts)) if options.evaluate and not explicit else {}
    done, skipped = explain_methods(
        texts,
        adapter,
        chosen if texts else [],
        explicit=explicit or not options.evaluate,
        target=options.target,
        batch_size=options.batch_size,
        truncate=options.truncate,
        progress=options.progress,
        windows=options.windows,
        stride=options.stride,
    )
    skipped = {**too_costly, **skipped}
    ran = list(done)
    by_name = {m.name: m for m in chosen}
    per_input = [[done[name][i] for name in ran] for i in range(len(texts))]
    params = {name: changed for name in ran if (changed := checks.changed_params(by_name[name]))}
    result = Study(adapter.name, ran, options.target, per_input, params, skipped=skipped, external=list(external))
    if options.evaluate:
        with stage(f"evaluating {len(result.explanations) + len(external)} explanations (and a random floor)"):
            result.table = rank_explanations(
                adapter,
                [*result.explanations, *external],
                target=options.target,
                strategy=options.strategy,
                level=options.level,
                seed=options.seed,
                eval_batch_size=options.eval_batch_size,
                skipped=skipped,
            )
    if options.sanity and texts:
        _sanity(result, adapter, texts, options, by_name, explicit, external)
    return result


def _sanity(
    result: Study,
    adapter: Adapter,
    texts: list[Any],
    options: StudyOptions,
    by_name: Mapping[str, Method],
    explicit: bool,
    external: Sequence[Explanation],
) -> None:
    """The model-randomisation check of the study's methods (see `study`), added to `result.sanity`."""
    ran = result.methods
    checked = list(dict.fromkeys(ran))
    if options.sanity_methods is not None:
        missing = [name for name in options.sanity_methods if name not in ran]
        if missing:
            raise InputError(f"sanity_methods {', '.join(missing)} are not among the methods run: {', '.join(ran)}")
        checked = list(options.sanity_methods)
    elif result.table is not None and not explicit:
        outside = {RANDOM} | {e.method for e in external}
        checked = list(dict.fromkeys(r["method"] for r in result.table.rows if r["method"] not in outside))
    sample = texts[: options.sanity_texts] if options.sanity_texts is not None else texts
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
                    by_name[name],
                    independent=options.independent,
                    target=options.target,
                    seed=options.seed,
                    batch_size=options.batch_size,
                )
            )
            advance()
