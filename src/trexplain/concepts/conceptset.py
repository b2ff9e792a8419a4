"""A saved set of concepts: the dictionary with where it was fitted, what each concept means and how much it matters.

`fit_concepts(adapter, texts, ...)` runs the whole pipeline (activations → dictionary → interpretation →
importance per class, deletion AOPC → reconstruction and fidelity metrics) and returns a `ConceptSet`;
`ConceptSet.save(DIR)` writes it atomically as one folder:
- `dictionary.json` + `arrays.safetensors`: the dictionary (`concepts.load(DIR)` reads it alone; no pickle);
- `concepts.json`: `meta` (model name and weight hash, site, granularity, word_reduce, method, k, params, class
  of a class-wise dictionary, texts), `interpretation`, `importance`, `deletion`, `metrics`;
- `labels.json` (optional, written by the labels step, never by this module): {"<concept index>": {"label": …}}.
`ConceptSet.load(DIR)` reads them back; `explain(adapter, text)` tells which concepts fire in a text and how much
each contributes to its prediction.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trexplain import checks
from trexplain.concepts import metrics
from trexplain.concepts.activations import extract
from trexplain.concepts.dictionaries import ARRAYS, PARAMS, Dictionary, make, row_batches
from trexplain.concepts.fidelity import fidelity
from trexplain.concepts.importance import deletion, importance
from trexplain.concepts.interpret import concept_activations, interpret, words_of
from trexplain.diagnostics import json_copy
from trexplain.errors import InputError
from trexplain.folders import atomic_dir
from trexplain.hashes import weights_hash
from trexplain.models.heads import outputs_np, problem_for
from trexplain.models.protocol import Adapter

FORMAT, VERSION = "trexplain-concepts", 1
CONCEPTS, LABELS, LABELS_CACHE = "concepts.json", "labels.json", "labels-cache"
METRIC_ROWS = 50_000
"""Reconstruction metrics use at most this many rows (a seeded random sample of a larger store)."""
CONTENTS = (CONCEPTS, PARAMS, ARRAYS, LABELS, LABELS_CACHE)
"""What a concept folder may hold (an old one is replaced whole, its labels and their cached answers with it)."""
ROWS_PER_CONCEPT = 10
"""Fewer activation rows than this per concept draw `TooManyConceptsWarning`: on the demo model's last block
(Semi-NMF, [CLS] rows) the gap between fitted and held-out R² is 0.03–0.04 at 10 rows per concept, less above,
0.05–0.06 at 5 (docs/concepts.md); at one row per concept a dictionary can give every text its own concept."""


class TooManyConceptsWarning(UserWarning):
    """The dictionary has too many concepts for the activation rows it is fitted on: it fits the texts, not
    what they share."""


def warn_if_too_many(n_concepts: int, rows: int, texts: int) -> None:
    """Warn (`TooManyConceptsWarning`) when `rows` activation rows of `texts` texts give fewer than
    `ROWS_PER_CONCEPT` rows per concept, naming the fix: fewer concepts or more texts."""
    if rows >= ROWS_PER_CONCEPT * n_concepts:
        return
    source = f"{rows} texts" if rows == texts else f"{rows} activation rows of {texts} texts"
    needed = math.ceil(ROWS_PER_CONCEPT * n_concepts * texts / max(rows, 1))
    warnings.warn(
        f"{n_concepts} concepts fitted on {source}: fewer than {ROWS_PER_CONCEPT} rows per concept, so the "
        f"dictionary fits these texts rather than what they share; fit k ≤ {max(1, rows // ROWS_PER_CONCEPT)} "
        f"concepts (-k) or give about {needed} texts or more",
        TooManyConceptsWarning,
        stacklevel=3,
    )


def model_hash(adapter: Adapter) -> str:
    """Which model a dictionary belongs to: the SHA-256 of its weights (`hashes.weights_hash`, as runs record it)."""
    return weights_hash(adapter.model)


@dataclass
class ConceptSet:
    """A fitted dictionary with its `meta`, and the JSON parts computed for it (None where not computed)."""

    dictionary: Dictionary
    meta: dict[str, Any]
    interpretation: dict[str, Any] | None = None
    importance: dict[str, Any] | None = None
    deletion: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    labels: dict[str, Any] | None = None
    path: Path | None = field(default=None, compare=False)

    @property
    def site(self) -> str:
        return self.meta["site"]

    @property
    def granularity(self) -> str:
        return self.meta["granularity"]

    @property
    def word_reduce(self) -> str:
        return self.meta.get("word_reduce") or "mean"

    @property
    def n_concepts(self) -> int:
        return len(self.dictionary.components_)

    def encode(self, X: Any) -> np.ndarray:
        """The dictionary's codes of activations X."""
        return self.dictionary.encode(X)

    # ------------------------------------------------------------ saving
    def to_dict(self) -> dict[str, Any]:
        """Everything but the dictionary's arrays (JSON-ready), with the labels when the folder has some."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "meta": self.meta,
            "interpretation": self.interpretation,
            "importance": self.importance,
            "deletion": self.deletion,
            "metrics": self.metrics,
            **({"labels": self.labels} if self.labels is not None else {}),
        }

    def save(self, path: str | os.PathLike[str], *, replace: bool = True) -> Path:
        """Write the set to folder `path` atomically (`folders.atomic_dir`): a new or empty folder, or (`replace`,
        the default) an old concept folder, replaced whole with its labels; a folder holding other files never."""
        with atomic_dir(path, contents=CONTENTS, replace=replace, what="concept folder") as folder:
            self.dictionary.write_files(folder)
            body = finite_json(json_copy({k: v for k, v in self.to_dict().items() if k != "labels"}))
            (folder / CONCEPTS).write_text(json.dumps(body, indent=1, allow_nan=False), encoding="utf-8")
        self.path = Path(path)
        return self.path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ConceptSet:
        """The set saved in folder `path`, with `labels.json` when present."""
        path = Path(path)
        if not (path / CONCEPTS).is_file():
            raise InputError(f"{path} is not a concept folder (no {CONCEPTS}); make one with `trexplain concepts fit`")
        try:
            body = json.loads((path / CONCEPTS).read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"{path / CONCEPTS} is not valid JSON ({exc}); fit the concepts again") from exc
        if body.get("format") != FORMAT or body.get("version") != VERSION:
            raise InputError(f"{path}: not a {FORMAT} version {VERSION} folder; fit the concepts again")
        labels = None
        if (path / LABELS).is_file():
            try:
                labels = json.loads((path / LABELS).read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise InputError(f"{path / LABELS} is not valid JSON ({exc}); label the concepts again") from exc
            if not isinstance(labels, dict):
                raise InputError(f"{path / LABELS} must map concept indices to labels")
        return cls(
            Dictionary.load(path),
            body["meta"],
            body.get("interpretation"),
            body.get("importance"),
            body.get("deletion"),
            body.get("metrics"),
            labels,
            path,
        )

    def text_codes(self, adapter: Adapter, texts: Sequence[str], *, truncate: bool = True) -> np.ndarray:
        """[texts, k]: each text's activation of every concept at the set's site and granularity (for `token`
        and `word`, the largest code among its rows; 0 for a text without rows), e.g. to pick held-out activating
        and non-activating texts."""
        store = extract(
            adapter,
            texts,
            self.site,
            self.granularity,
            word_reduce=self.word_reduce,
            dtype="float32",
            truncate=truncate,
        )
        codes = self.encode(store.to_numpy()) if len(store) else np.zeros((0, self.n_concepts))
        best = np.full((len(texts), self.n_concepts), -np.inf, dtype=np.float32)
        np.maximum.at(best, np.asarray(store.text_ids), codes)
        return np.where(np.isfinite(best), best, 0).astype(np.float32)

    # ---------------------------------------------------------- one text
    def check_model(self, adapter: Adapter) -> None:
        """An InputError unless `adapter` has the weights these concepts were fitted on."""
        if model_hash(adapter) != self.meta.get("model_hash"):
            raise InputError(
                f"these concepts were fitted on model {self.meta.get('model')!r} with other weights than "
                f"{adapter.name!r}; load the model they were fitted on (--model)"
            )

    def label(self, index: int) -> str | None:
        """The LLM label of concept `index`, if the folder has one."""
        entry = (self.labels or {}).get(str(index))
        return entry.get("label") if isinstance(entry, dict) else None

    def explain(self, adapter: Adapter, text: str, *, truncate: bool = False) -> dict[str, Any]:
        """Which concepts fire in `text` and how much each contributes to its prediction (JSON-ready): per concept
        its code, ablation (drop of the predicted logit without it), concept × gradient and gradient for the
        predicted class, top words and label; with the activations of its words (`tokens`: spans, codes) for a
        heatmap."""
        scores = importance(
            adapter,
            self.dictionary,
            [text],
            self.site,
            self.granularity,
            word_reduce=self.word_reduce,
            truncate=truncate,
        )
        predicted = int(scores.predicted[0])
        logits = scores.logits[0]
        probs = outputs_np(logits, problem_for(adapter))
        tokens = words_of(concept_activations(adapter, self.dictionary, text, self.site, truncate=truncate))
        words = [c["top_words"] for c in (self.interpretation or {}).get("concepts", [])]
        concepts = [
            {
                "index": j,
                "code": float(scores.codes[0, j]),
                "ablation": float(scores.ablation[0, predicted, j]),
                "concept_x_gradient": float(scores.concept_x_gradient[0, predicted, j]),
                "gradient": float(scores.gradient[0, predicted, j]),
                "label": self.label(j),
                "top_words": [w["word"] for w in words[j][:5]] if j < len(words) else [],
            }
            for j in range(self.n_concepts)
        ]
        concepts.sort(key=lambda c: -abs(c["ablation"]))
        return {
            "text": text,
            "predicted": adapter.labels[predicted],
            "probabilities": {label: float(p) for label, p in zip(adapter.labels, probs, strict=True)},
            "logits": logits.tolist(),
            "concepts": concepts,
            "tokens": {"spans": tokens.spans.tolist(), "codes": tokens.codes.tolist()},
        }


def fit_concepts(
    adapter: Adapter,
    texts: Sequence[str],
    *,
    site: str = "block_output:-1",
    granularity: str = "cls",
    method: str = "semi-nmf",
    n_concepts: int = 20,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    class_label: str | int | None = None,
    word_reduce: str = "mean",
    top_k: int = 10,
    words: int = 10,
    min_count: int = 2,
    importance_texts: int = 200,
    deletion_texts: int = 100,
    fidelity_texts: int = 1000,
    stability: bool = False,
    batch_size: int = 32,
    truncate: bool = False,
    model_source: str | None = None,
) -> ConceptSet:
    """The whole pipeline on `texts` (see the module doc); `class_label` fits a class-wise dictionary on the texts
        predicted as that class. Importance, deletion and fidelity use the first that many texts (of the class;
    deletion at most the importance texts); reconstruction metrics at most `METRIC_ROWS` rows."""
    for name, value, least in (
        ("n_concepts", n_concepts, 1), ("top_k", top_k, 1), ("words", words, 1), ("min_count", min_count, 0),
        ("importance_texts", importance_texts, 1), ("deletion_texts", deletion_texts, 1),
        ("fidelity_texts", fidelity_texts, 0), ("batch_size", batch_size, 1), ("seed", seed, None),
    ):  # fmt: skip
        checks.whole(value, name, least=least)
    checks.flag(stability, "stability")
    checks.flag(truncate, "truncate")
    class_label = checks.goal(class_label, "class_label")
    params = dict(params or {})
    with tempfile.TemporaryDirectory(prefix="trexplain-activations-") as folder:
        store = extract(
            adapter,
            texts,
            site,
            granularity,
            word_reduce=word_reduce,
            out=Path(folder) / "store",
            batch_size=batch_size,
            truncate=truncate,
        )
        chosen = store if class_label is None else store.select(predicted=class_label)
        if not len(chosen):
            raise InputError(f"no text is predicted as {class_label!r}; choose another class or more texts")
        used = [store.texts[i] for i in np.unique(np.asarray(chosen.text_ids))]
        dictionary = make(method, n_concepts, seed=seed, **params)  # an unknown method fails before the warning
        warn_if_too_many(n_concepts, len(chosen), len(used))
        dictionary.fit(chosen)
        options = {"word_reduce": word_reduce, "batch_size": max(1, batch_size // 2), "truncate": truncate}
        sample = next(row_batches(chosen, METRIC_ROWS, shuffle=True, seed=seed))  # all rows, or a random sample
        found = {
            **metrics.evaluate(dictionary, sample),
            "metric_rows": len(sample),
            "fidelity": fidelity(adapter, dictionary, used[:fidelity_texts], site, granularity, **options),
        }
        if stability:
            twin = make(method, n_concepts, seed=seed + 1, **params).fit(chosen)
            found["stability"] = metrics.stability(dictionary, twin, absolute=method in ("pca", "ica"))
        meaning = interpret(chosen, dictionary, k=top_k, words=words, min_count=min_count, adapter=adapter)
        scores = importance(adapter, dictionary, used[:importance_texts], site, granularity, **options)
        deleted = min(deletion_texts, importance_texts, len(used))  # the texts that have importance scores
        curves = deletion(adapter, dictionary, used[:deleted], site, granularity, _first(scores, deleted), **options)
        meta = {
            "model": adapter.name,
            "model_source": model_source,
            "model_hash": model_hash(adapter),
            "model_revision": getattr(adapter, "model_revision", None),  # the hub commit of the weights
            "labels": list(adapter.labels),
            "site": site,
            "granularity": granularity,
            "word_reduce": word_reduce if granularity == "word" else None,
            "method": method,
            "n_concepts": len(dictionary.components_),
            "params": dictionary.get_params(),
            "class": None if class_label is None else adapter.labels[store._class(class_label)],
            "texts": len(texts),
            "texts_used": len(used),
            "rows": len(chosen),
            "truncated_texts": store.manifest["truncated_texts"],
        }
    return ConceptSet(dictionary, meta, meaning, scores.to_dict(), curves.to_dict(), found)


def _first(scores: Any, n: int) -> Any:
    """The importance of the first `n` texts only."""
    from dataclasses import replace

    cut = {name: None if value is None else value[:n] for name, value in vars(scores).items() if name != "labels"}
    return replace(scores, **cut)


def finite_json(value: Any) -> Any:
    """`value` with every NaN or infinite float as None (strict JSON)."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_json(v) for v in value]
    return value


def load_concepts(path: str | os.PathLike[str]) -> ConceptSet:
    """The concept set saved in folder `path`."""
    return ConceptSet.load(path)
