"""`fit`: run a teacher over a corpus (a resumable dataset run), train an explainer on it, save it as a folder.

`fit_from_run` does the second half on an existing run (made with the same model weights). The layers the
explainer reads are chosen on held-out texts among `layer_candidates` unless given; the OOD threshold is
calibrated on the same held-out texts, and their agreement with the teacher is stored with the explainer.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trexplain.amortize.data import Corpus, teacher_corpus, teacher_explanations
from trexplain.amortize.objectives import RemovalSurrogate
from trexplain.amortize.train import (
    OBJECTIVES,
    VALIDATION_FRACTION,
    Objective,
    Scorer,
    Settings,
    Trained,
    columns_of,
    layer_candidates,
    split,
    train,
)
from trexplain.errors import InputError
from trexplain.evaluate.ranks import spearman
from trexplain.hashes import weights_hash
from trexplain.io import check_output
from trexplain.methods.amortization.explainer import CONTENTS, FORMAT, VERSION, Explainer, ExplainerMismatchError
from trexplain.methods.amortization.network import ExplainerNet
from trexplain.methods.amortization.ood import QUANTILE, Gaussian
from trexplain.methods.base import get_method
from trexplain.models.adapter import ModelAdapter
from trexplain.progress import note
from trexplain.runs.job import run_dataset
from trexplain.runs.manifest import methods_of, read_manifest
from trexplain.version import __version__

TEACHERS = ("kernelshap", "lime", "occlusion")


def fit(
    model: str | os.PathLike[str] | ModelAdapter,
    input_file: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    teacher: str = "kernelshap",
    teacher_params: Mapping[str, Any] | None = None,
    run: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    text_column: str | None = None,
    workers: int = 1,
    backend: str = "local",
    truncate: bool = False,
    **options: Any,
) -> Explainer:
    """Explain `input_file` with `teacher` into the run folder `run` (default: OUT.teacher-run beside `out`;
    resumed if it exists), then `fit_from_run` on it (`options`: its keyword arguments) and save to `out`."""
    from trexplain.models.loading import load_model

    check_output(out, folder=True, contents=CONTENTS, what="--out")
    adapter = model if isinstance(model, ModelAdapter) else load_model(model)
    run_folder = Path(run) if run is not None else Path(out).with_name(Path(out).name + ".teacher-run")
    summary = run_dataset(
        input_file,
        run_folder,
        model=adapter,
        methods=teacher,
        target="all",
        params={teacher: dict(teacher_params or {})},
        limit=limit,
        text_column=text_column,
        workers=workers,
        backend=backend,
        truncate=truncate,
    )
    note(summary.line())
    return fit_from_run(
        adapter, run_folder, out, truncate=truncate, teacher_seconds=summary.seconds, limit=limit, **options
    )


def fit_from_run(
    adapter: ModelAdapter,
    run: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    objective: Objective = "imitation",
    layers: Sequence[int] | None = None,
    width: int = 256,
    epochs: int = 40,
    patience: int = 5,
    batch_size: int = 32,
    lr: float = 1e-3,
    validation: float = VALIDATION_FRACTION,
    seed: int = 0,
    truncate: bool = False,
    teacher_seconds: float | None = None,
    limit: int | None = None,
    ensemble: int = 1,
) -> Explainer:
    """Train an explainer on the teacher scores of the run folder `run` (its first `limit` texts, in run order,
    when given) and save it to `out`. `ensemble` > 1 averages that many networks trained with seeds `seed`,
    `seed + 1`, ... (split and weights) on the chosen layers; the held-out agreement stored is the first one's.
    Several runs of one teacher (e.g. other seeds) are averaged: the labels are the mean of the runs' scores on
    the texts that all of them explain."""
    if objective not in OBJECTIVES:
        raise InputError(f"unknown objective {objective!r}; use one of {', '.join(OBJECTIVES)}")
    if not 0 < validation < 1:
        raise InputError(f"validation is the held-out fraction of texts, between 0 and 1; got {validation}")
    if ensemble < 1:
        raise InputError(f"ensemble is the number of networks averaged, at least 1; got {ensemble}")
    check_output(out, folder=True, contents=CONTENTS, what="--out")
    began = time.perf_counter()
    runs = [run] if isinstance(run, str | os.PathLike) else list(run)
    if not runs:
        raise InputError("fit_from_run needs at least one teacher run folder")
    configs = [read_manifest(r)["config"] for r in runs]
    digest = weights_hash(adapter.model)
    for r, config in zip(runs, configs, strict=True):
        if config["weights_sha256"] != digest:
            raise ExplainerMismatchError(
                f"the run {r} was made with model {config['model']!r} with other weights than {adapter.name!r}; "
                "fit on a run of this model"
            )
    teachers = [_teacher(config, r) for r, config in zip(runs, configs, strict=True)]
    if len(set(teachers)) != 1:
        raise InputError(f"the runs were made by different teachers ({', '.join(teachers)}); average runs of one")
    config, run = configs[0], runs[0]
    teacher = _teacher(config, run)
    method = get_method(teacher, **config.get("params", {}).get(teacher, {}))
    level = adapter.modality.level(getattr(method, "level", None))
    strategy = adapter.modality.strategy(getattr(method, "strategy", None))
    blocks = len(adapter.layers)
    candidates = layer_candidates(blocks) if layers is None else [tuple(sorted({int(x) % blocks for x in layers}))]
    stored = sorted({layer for c in candidates for layer in c})
    grouped = teacher_explanations(runs, teacher)
    if limit is not None:
        if limit < 2:
            raise InputError(f"limit is the number of the run's texts to train on, at least 2; got {limit}")
        grouped = dict(list(grouped.items())[:limit])
    if len(grouped) < 2:
        raise InputError(f"the run {run} explains {len(grouped)} text; an explainer needs at least 2 (more is better)")
    corpus = teacher_corpus(adapter, grouped, stored, level, strategy, batch_size=batch_size, truncate=truncate)
    hidden = corpus.players.shape[1] // len(stored)
    train_texts, held_out = split(len(corpus), validation, seed)
    settings = Settings(objective, width, epochs, patience, batch_size, lr, seed)
    efficient = method.identity == "efficiency"
    removal = RemovalSurrogate(adapter, corpus.texts, level, truncate) if objective != "imitation" else None
    search, best = [], None
    for candidate in candidates:
        scorer = Scorer(corpus, columns_of(candidate, stored, hidden), efficient)
        trained = train(corpus, scorer, train_texts, held_out, settings, removal)
        search.append(
            {"layers": list(candidate), "held_out_loss": trained.best, "epochs": len(trained.curves["train"])}
        )
        if best is None or trained.best < best[2].best:
            best = (candidate, scorer, trained)
    chosen, scorer, trained = best
    members = [trained]
    for k in range(1, ensemble):  # each member has its own split (bagging): together they see every text
        own_train, own_held = split(len(corpus), validation, seed + k)
        members.append(train(corpus, scorer, own_train, own_held, replace(settings, seed=seed + k), removal))
    if ensemble > 1:
        trained = replace(trained, net=ExplainerNet.ensemble([m.net for m in members]))
    ood = Gaussian.fit(_pooled(corpus, scorer, train_texts))
    ood.calibrate(_pooled(corpus, scorer, held_out), QUANTILE)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "trexplain": __version__,
        "model": adapter.name,
        "weights_sha256": digest,
        "labels": list(adapter.labels),
        "teacher": teacher,
        "teacher_params": method.params(),
        "identity": "efficiency" if efficient else None,
        "level": level,
        "strategy": strategy,
        "layers": list(chosen),
        "dims": {
            "player": len(scorer.columns),
            "context": corpus.context.shape[1],
            "width": width,
            "members": ensemble,
        },
        "objective": objective,
        "seed": seed,
        "run": str(Path(run).resolve()),
        "runs": [str(Path(r).resolve()) for r in runs],
        "run_limit": limit,
        "texts": {"train": len(train_texts), "held_out": len(held_out)},
        "training": {
            "layer_search": search,
            "best_epoch": trained.best_epoch,
            "curves": trained.curves,
            "settings": {"epochs": epochs, "patience": patience, "batch_size": batch_size, "lr": lr},
            "seconds": time.perf_counter() - began,
            "teacher_seconds": teacher_seconds,
        },
        "validation": agreement(corpus, scorer, members[0], held_out),
        "train_fit": agreement(corpus, scorer, members[0], train_texts),
        "validation_of": "the first network (the others trained on some of its held-out texts)"
        if ensemble > 1
        else "the network",
        "ood_quantile": QUANTILE,
    }
    explainer = Explainer(trained.net, ood, meta)
    explainer.save(out)
    note(
        f"explainer on layers {list(chosen)}: held-out Spearman {meta['validation']['spearman']:.3f}, "
        f"Pearson {meta['validation']['pearson']:.3f} with {teacher} ({len(held_out)} texts)"
    )
    return explainer


def _teacher(config: Mapping[str, Any], run: str | os.PathLike[str]) -> str:
    names = list(methods_of(config))
    teachers = [n for n in names if n in TEACHERS] or names
    if len(teachers) != 1:
        raise InputError(f"the run {run} holds several methods ({', '.join(names)}); fit on a run of one teacher")
    return teachers[0]


@torch.no_grad()
def _pooled(corpus: Corpus, scorer: Scorer, texts: torch.Tensor) -> torch.Tensor:
    """Each text's mean player features in the chosen layers [texts, features] (what the OOD Gaussian sees)."""
    rows, text_of = corpus.rows(texts)
    values = corpus.players[rows][:, scorer.columns].float()
    sums = values.new_zeros(len(texts), values.shape[1]).index_add_(0, text_of, values)
    return sums / torch.bincount(text_of, minlength=len(texts)).clamp(min=1).unsqueeze(1)


@torch.no_grad()
def agreement(corpus: Corpus, scorer: Scorer, trained: Trained, texts: torch.Tensor) -> dict[str, float | None]:
    """Agreement with the teacher on `texts` for the predicted class: mean per-text Pearson and Spearman
    (texts with at least 3 players), pooled Pearson, top-1 match and sign agreement."""
    scores, teacher, text_of = scorer(trained.net, texts)
    pearsons, spearmans, top, signs, pooled_a, pooled_b = [], [], [], [], [], []
    for j, c in enumerate(corpus.predicted[texts].tolist()):
        a = scores[text_of == j, c].double().numpy()
        b = teacher[text_of == j, c].double().numpy()
        if np.isnan(b).any() or len(a) == 0:
            continue
        pooled_a.append(a)
        pooled_b.append(b)
        top.append(float(np.argmax(a) == np.argmax(b)))
        signs.append(float(np.mean(np.sign(a) == np.sign(b))))
        if len(a) >= 3 and a.std() > 0 and b.std() > 0:
            pearsons.append(float(np.corrcoef(a, b)[0, 1]))
            spearmans.append(spearman(a, b))
    a, b = (np.concatenate(x) if x else np.zeros(0) for x in (pooled_a, pooled_b))
    return {
        "texts": len(top),
        "pearson": _mean(pearsons),
        "spearman": _mean(spearmans),
        "pooled_pearson": float(np.corrcoef(a, b)[0, 1]) if len(a) > 1 and a.std() > 0 and b.std() > 0 else None,
        "top1": _mean(top),
        "sign": _mean(signs),
    }


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else None
