"""Faithfulness of image explanations: patch deletion and insertion curves, AOPC, Chefer's perturbation AUCs.

The image counterpart of `faithfulness.evaluate`, with the same `EvaluationResult`s, so the trust table, the
random floor and the verdict (`table.summarise`, `table.verdict`) are the text ones. Patches are ranked by
an explanation's scores; removed patches are filled with the image's mean colour (default), a blurred copy
or black (`fill`, recorded as the results' `strategy`). Curves (`EvaluationResult.curves`):
- `morf` / `lerf` (deletion, most / least relevant first) and `insertion` (most relevant first into the
  filled image), at `fractions` of the patches (0, 0.1, …, 1), areas by the trapezoid rule;
- `positive` / `negative`: the positive and negative perturbation tests of Chefer et al. (CVPR 2021), p(target)
  as 0 %, 10 %, …, 90 % of the patches are removed most (positive: ↓ better) or least (negative: ↑ better)
  relevant first; their areas are the per-image AUCs (Chefer et al. average top-1 accuracy over a data set
  instead; the probability keeps each image's own number).
AOPC comprehensiveness and sufficiency use the ERASER bins as for text. Every perturbed image of every
explanation goes through the model once (identical pixel rows deduplicated), in full batches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from trexplain.errors import InputError
from trexplain.evaluate import aopc
from trexplain.evaluate.curves import FRACTIONS, Curve, curve_removals
from trexplain.evaluate.faithfulness import Evaluation, EvaluationResult, evaluation_result
from trexplain.evaluate.removal import feature_count, ranks, top_removed
from trexplain.evaluate.table import FaithfulnessTable, classes_of, random_explanations, summarise, verdict
from trexplain.explanation import Explanation
from trexplain.layout import ImageLayout, group_scores
from trexplain.methods.base import TargetSpec
from trexplain.models.images import FILLS
from trexplain.models.vision import VisionAdapter

LEVEL = "patch"
PERTURBATION_FRACTIONS: tuple[float, ...] = tuple(i / 10 for i in range(10))
PERTURBATION_CURVES: tuple[str, ...] = ("positive", "negative")


def image_key(layout: ImageLayout) -> str:
    """The name an image goes by in results and tables: its source and a digest of its pixels, so two inputs
    called `image 0` in different calls stay apart."""
    digest = hashlib.sha1(layout.image.encode("ascii")).hexdigest()[:8]
    return f"{layout.source} [{digest}]"


def perturbation_removals(rank: torch.Tensor, fractions: Sequence[float] = PERTURBATION_FRACTIONS) -> dict[str, Any]:
    """Bool removal sets of the positive (most relevant first) and negative (least relevant first) tests."""
    n = len(rank)
    counts = [feature_count(f, n) for f in fractions]
    return {"positive": top_removed(rank, counts), "negative": top_removed(n - 1 - rank, counts)}


def evaluate_patches(
    adapter: VisionAdapter,
    explanations: Sequence[Explanation],
    *,
    fill: str = "mean",
    fractions: Sequence[float] = FRACTIONS,
    bins: Sequence[float] = aopc.BINS,
    batch_size: int = 64,
) -> Evaluation:
    """Deletion/insertion curves, Chefer's perturbation curves and AOPC for every target of every image
    explanation (see the module doc)."""
    if fill not in FILLS:
        raise InputError(f"unknown fill {fill!r}; use one of {', '.join(FILLS)}")
    if not explanations:
        raise InputError("nothing to evaluate: give at least one explanation")
    layouts: dict[str, ImageLayout] = {}
    for e in explanations:
        if not isinstance(e.layout, ImageLayout):
            raise InputError(f"evaluate_patches scores image explanations; {e.method}'s is of a {e.layout.kind} input")
        layouts.setdefault(image_key(e.layout), e.layout)
    keys = list(layouts)
    batch = adapter.batch_of(list(layouts.values()))
    row_of = {key: row for row, key in enumerate(keys)}
    sets_per_row: list[list[torch.Tensor]] = [[] for _ in keys]
    plans = []
    specials = len(adapter.special_tokens)
    for e in explanations:
        row = row_of[image_key(e.layout)]
        for k, target in enumerate(e.targets):
            patch_scores = group_scores(e.scores[k], e.layout.feature_ids, e.layout.num_features)
            rank = ranks(torch.from_numpy(patch_scores))
            sets = {"full": torch.zeros(1, len(rank), dtype=torch.bool)}
            sets.update(curve_removals(rank, fractions))
            sets.update(perturbation_removals(rank))
            sets.update(aopc.aopc_removals(rank, bins))
            start = sum(len(s) for s in sets_per_row[row])
            layout = {}
            for name, removed in sets.items():
                layout[name] = slice(start, start + removed.shape[0])
                start += removed.shape[0]
            patches = torch.cat(list(sets.values()))
            positions = torch.cat([torch.zeros(len(patches), specials, dtype=torch.bool), patches], 1)
            sets_per_row[row].append(positions)
            plans.append((e, k, target, row, layout))
    probabilities, requested, distinct = [], 0, 0
    for row, parts in enumerate(sets_per_row):
        removed = torch.cat(parts)
        logits, count = adapter.removal_logits(batch, row, removed, fill, batch_size)
        requested += len(removed)
        distinct += count
        probabilities.append(logits.double().softmax(-1).cpu())
    results = [
        _result(e, k, layout, probabilities[row][:, target], fill, fractions, image_key(e.layout))
        for e, k, target, row, layout in plans
    ]
    return Evaluation(results, requested, distinct, distinct, len(explanations))


def _result(
    e: Explanation,
    k: int,
    layout: dict[str, slice],
    values: torch.Tensor,
    fill: str,
    fractions: Sequence[float],
    key: str,
) -> EvaluationResult:
    """The text evaluation's result for one image and target, plus Chefer et al.'s two perturbation curves."""
    result = evaluation_result(e, k, layout, values, fill, LEVEL, fractions, text=key)
    perturbation = {
        name: Curve(PERTURBATION_FRACTIONS, tuple(float(v) for v in values[layout[name]]))
        for name in PERTURBATION_CURVES
    }
    return replace(result, curves={**result.curves, **perturbation})


def rank_image_explanations(
    adapter: VisionAdapter,
    explanations: Sequence[Explanation],
    *,
    target: TargetSpec = "predicted",
    fill: str = "mean",
    seed: int = 0,
    eval_batch_size: int = 64,
    skipped: dict[str, str] | None = None,
) -> FaithfulnessTable:
    """Evaluate image explanations with a seeded random floor in one batched run, rank the methods and give the
    verdict, as `table.rank_explanations` does for text."""
    if not explanations:
        raise InputError("no method could explain these images; pass --method explicitly to see why")
    explanations = [*explanations, *random_explanations(explanations, seed, key=lambda e: image_key(e.layout))]
    evaluation = evaluate_patches(adapter, explanations, fill=fill, batch_size=eval_batch_size)
    rows = summarise(evaluation.results)
    for row in rows:
        group = [r for r in evaluation.results if r.method == row["method"] and classes_of(r) == row["classes"]]
        for name in PERTURBATION_CURVES:
            row[f"{name}_auc"] = float(np.mean([r.curves[name].area for r in group]))
        row["insertion_auc"] = float(np.mean([r.curves["insertion"].area for r in group]))
        row["deletion_auc"] = float(np.mean([r.curves["morf"].area for r in group]))
    return FaithfulnessTable(
        model=adapter.name,
        target=target if isinstance(target, str) else ",".join(map(str, target)),
        strategy=fill,
        level=LEVEL,
        rows=rows,
        verdict=verdict(rows, evaluation.results, adapter.name, unit="images"),
        evaluation=evaluation,
        skipped=dict(skipped or {}),
    )
