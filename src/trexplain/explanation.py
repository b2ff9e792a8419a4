"""`Explanation`: one text's scores from one method, with everything needed to show and check them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from trexplain.errors import InputError, TargetError

Aggregate = Literal["sum", "mean", "max"]
AGGREGATES: tuple[str, ...] = ("sum", "mean", "max")


def _frozen_array(values: Any, dtype: Any = np.float32) -> np.ndarray:
    array = np.array(values, dtype=dtype, copy=True)
    array.flags.writeable = False
    return array


def _frozen_mapping(values: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(json.loads(json.dumps(dict(values or {}), default=_json_default)))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@dataclass(frozen=True, eq=False)
class Explanation:
    """Scores of one method for one text and one or more target classes.

    `scores[k, t]` is the signed relevance of token t for class `targets[k]`, in the units the method
    defines (logit units for gradient, IG and LRP methods). Special tokens keep their score (usually
    near zero) so that sums stay honest; `word_scores` excludes them. Immutable: arrays are read-only.
    """

    text: str
    tokens: tuple[str, ...]
    offsets: tuple[tuple[int, int], ...]
    word_ids: tuple[int, ...]
    words: tuple[tuple[int, int], ...]
    special: tuple[bool, ...]
    labels: tuple[str, ...]
    logits: np.ndarray
    targets: tuple[int, ...]
    scores: np.ndarray
    method: str
    model: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    diagnostics: Mapping[str, Any] = field(default_factory=dict)
    layer_scores: np.ndarray | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "tokens", tuple(self.tokens))
        set_(self, "offsets", tuple((int(s), int(e)) for s, e in self.offsets))
        set_(self, "word_ids", tuple(int(w) for w in self.word_ids))
        set_(self, "words", tuple((int(s), int(e)) for s, e in self.words))
        set_(self, "special", tuple(bool(s) for s in self.special))
        set_(self, "labels", tuple(self.labels))
        set_(self, "targets", tuple(int(t) for t in self.targets))
        set_(self, "logits", _frozen_array(self.logits))
        set_(self, "scores", _frozen_array(self.scores).reshape(len(self.targets), len(self.tokens)))
        if self.layer_scores is not None:
            set_(self, "layer_scores", _frozen_array(self.layer_scores))
        set_(self, "params", _frozen_mapping(self.params))
        set_(self, "diagnostics", _frozen_mapping(self.diagnostics))

    # -------------------------------------------------------------- prediction
    @property
    def probabilities(self) -> np.ndarray:
        z = self.logits.astype(np.float64)
        e = np.exp(z - z.max())
        return e / e.sum()

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.logits))

    @property
    def predicted_label(self) -> str:
        return self.labels[self.predicted]

    def target_row(self, target: int | str | None = None) -> int:
        """Row of `scores` for a class index or label (default: the first target)."""
        if target is None:
            return 0
        index = self.labels.index(target) if isinstance(target, str) and target in self.labels else target
        if isinstance(index, int) and index in self.targets:
            return self.targets.index(index)
        raise TargetError(f"this explanation has targets {[self.labels[t] for t in self.targets]}, not {target!r}")

    # ------------------------------------------------------------------- words
    def word_texts(self) -> list[str]:
        return [self.text[s:e] for s, e in self.words]

    def word_scores(self, target: int | str | None = None, aggregate: Aggregate = "sum") -> np.ndarray:
        """Score per word: sum (default, keeps totals), mean or max of its tokens' scores."""
        if aggregate not in AGGREGATES:
            raise InputError(f"unknown aggregate {aggregate!r}; use one of {', '.join(AGGREGATES)}")
        row = self.scores[self.target_row(target)].astype(np.float64)
        ids = np.array(self.word_ids)
        out = np.zeros(len(self.words))
        for w in range(len(self.words)):
            values = row[ids == w]
            out[w] = values.sum() if aggregate == "sum" else values.mean() if aggregate == "mean" else values.max()
        return out

    # ------------------------------------------------------------ conversions
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; `from_dict(to_dict())` gives an equal Explanation."""
        return {
            "text": self.text,
            "model": self.model,
            "method": self.method,
            "labels": list(self.labels),
            "logits": self.logits.tolist(),
            "targets": list(self.targets),
            "tokens": list(self.tokens),
            "offsets": [list(o) for o in self.offsets],
            "word_ids": list(self.word_ids),
            "words": [list(w) for w in self.words],
            "special": list(self.special),
            "scores": self.scores.tolist(),
            "layer_scores": None if self.layer_scores is None else self.layer_scores.tolist(),
            "params": dict(self.params),
            "diagnostics": dict(self.diagnostics),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Explanation:
        return cls(**{k: data[k] for k in data if k in cls.__dataclass_fields__})

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Explanation:
        return cls.from_dict(json.loads(text))

    def to_frame(self, level: Literal["token", "word"] = "token"):
        """A pandas frame: one row per (target, token) or (target, word) with text, span and score."""
        import pandas as pd

        rows = []
        for k, target in enumerate(self.targets):
            if level == "word":
                scores = self.word_scores(target)
                for w, (s, e) in enumerate(self.words):
                    rows.append(
                        {
                            "target": self.labels[target],
                            "index": w,
                            "text": self.text[s:e],
                            "start": s,
                            "end": e,
                            "score": float(scores[w]),
                        }
                    )
            else:
                for t, token in enumerate(self.tokens):
                    s, e = self.offsets[t]
                    rows.append(
                        {
                            "target": self.labels[target],
                            "index": t,
                            "text": token,
                            "start": s,
                            "end": e,
                            "word": self.word_ids[t],
                            "special": self.special[t],
                            "score": float(self.scores[k, t]),
                        }
                    )
        frame = pd.DataFrame(rows)
        frame.attrs.update(method=self.method, model=self.model)
        return frame

    def record(self, aggregate: Aggregate = "sum") -> list[dict[str, Any]]:
        """The per-target entries of the CLI's JSON `explanations` list."""
        out = []
        for k, target in enumerate(self.targets):
            word_scores = self.word_scores(target, aggregate)
            out.append(
                {
                    "method": self.method,
                    "target": self.labels[target],
                    "tokens": list(self.tokens),
                    "offsets": [list(o) for o in self.offsets],
                    "scores": self.scores[k].tolist(),
                    "words": [
                        {"text": self.text[s:e], "start": s, "end": e, "score": float(word_scores[w])}
                        for w, (s, e) in enumerate(self.words)
                    ],
                    "params": dict(self.params),
                    "diagnostics": {
                        key: (value[k] if isinstance(value, list) and len(value) == len(self.targets) else value)
                        for key, value in self.diagnostics.items()
                    },
                }
            )
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Explanation):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def _repr_html_(self) -> str:
        from trexplain.viz.html import explanation_fragment

        return explanation_fragment([self])
