"""`Explanation`: one input's scores from one method, with everything needed to show, check and store them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from trexplain.diagnostics import Diagnostics, json_copy
from trexplain.errors import InputError, TargetError
from trexplain.layout import AGGREGATES, Aggregate, Layout, TextLayout, group_scores, layout_from_dict
from trexplain.method_card import MethodCard, card_for
from trexplain.models.contrast import SEPARATOR, contrast_classes
from trexplain.models.heads import SINGLE_LABEL, outputs_np

__all__ = ["AGGREGATES", "SCHEMA_VERSION", "Aggregate", "Explanation"]

SCHEMA_VERSION = 2
"""Version of every record trexplain writes (JSON, report payload, Arrow). 1: round 1 (no version field);
2: `schema_version`, `layout`, typed `diagnostics` with `diagnostic_axes` and `identity`."""

REQUIRED = ("labels", "logits", "targets", "scores", "method")


def _frozen_array(values: Any, dtype: Any = np.float32) -> np.ndarray:
    array = np.array(values, dtype=dtype, copy=True)
    array.flags.writeable = False
    return array


def _frozen_mapping(values: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(json_copy(dict(values or {})))


@dataclass(frozen=True, eq=False, init=False)
class Explanation:
    """Scores of one method for one input and one or more target classes.

    `scores[k, t]` is the signed relevance of position t for class `targets[k]`, in the units the method
    defines (logit units for gradient, IG and LRP methods). Positions are described by `layout`
    (`TextLayout` for text: tokens, offsets, words; its fields are also readable here, e.g. `e.tokens`).
    `method` is the method's name and `card` its self-description (signed?, layer site, identity, meanings of its
    diagnostics), which every view reads; give `method` a `MethodCard` (`Method.card()`) or its name.
    Special tokens keep their score (usually near zero) so that sums stay honest; `word_scores` excludes
    them. `layer_scores` is [layers, targets, positions] or None. Immutable: arrays are read-only.
    """

    layout: Layout
    labels: tuple[str, ...]
    logits: np.ndarray
    targets: tuple[int, ...]
    scores: np.ndarray
    method: str
    model: str
    params: Mapping[str, Any]
    diagnostics: Diagnostics
    layer_scores: np.ndarray | None
    card: MethodCard
    model_revision: str | None

    def __init__(
        self,
        text: str | None = None,
        tokens: Sequence[str] | None = None,
        offsets: Sequence[Sequence[int]] | None = None,
        word_ids: Sequence[int] | None = None,
        words: Sequence[Sequence[int]] | None = None,
        special: Sequence[bool] | None = None,
        *,
        layout: Layout | None = None,
        labels: Sequence[str],
        logits: Any,
        targets: Sequence[int],
        scores: Any,
        method: str | MethodCard,
        model: str = "",
        params: Mapping[str, Any] | None = None,
        diagnostics: Diagnostics | Mapping[str, Any] | None = None,
        layer_scores: Any = None,
        card: MethodCard | None = None,
        model_revision: str | None = None,
    ) -> None:
        text_fields = (text, tokens, offsets, word_ids, words, special)
        if layout is None:
            if any(f is None for f in text_fields):
                raise InputError(
                    "an Explanation needs a layout, or all of text, tokens, offsets, word_ids, words, special"
                )
            layout = TextLayout(text, tokens, offsets, word_ids, words, special)
        elif any(f is not None for f in text_fields):
            raise InputError("give an Explanation either a layout or its text fields, not both")
        set_ = object.__setattr__
        set_(self, "layout", layout)
        set_(self, "labels", tuple(str(x) for x in labels))
        set_(self, "targets", tuple(int(t) for t in targets))
        set_(self, "logits", _frozen_array(logits))
        if self.logits.shape != (len(self.labels),):
            raise InputError(f"{self.logits.size} logits for {len(self.labels)} labels")
        if any(not 0 <= t < len(self.labels) for t in self.targets):
            raise TargetError(f"targets {list(self.targets)} must be class indices below {len(self.labels)}")
        try:
            set_(self, "scores", _frozen_array(scores).reshape(len(self.targets), layout.size))
        except ValueError as exc:
            raise InputError(
                f"scores of shape {np.shape(scores)} do not fit {len(self.targets)} target(s) × {layout.size} positions"
            ) from exc
        if isinstance(method, MethodCard):
            card, method = method, method.name
        method = str(method)
        set_(self, "method", method)
        set_(self, "card", card if card is not None and card.name == method else card_for(method))
        set_(self, "model", str(model))
        set_(self, "model_revision", None if model_revision is None else str(model_revision))
        layers = None
        if layer_scores is not None:
            layers = _frozen_array(layer_scores)
            if layers.ndim != 3 or layers.shape[1:] != self.scores.shape:
                raise InputError(
                    f"layer_scores of shape {list(layers.shape)} must be [layers, {len(self.targets)}, {layout.size}]"
                )
        set_(self, "layer_scores", layers)
        set_(self, "params", _frozen_mapping(params))
        checked = Diagnostics.of(diagnostics)
        checked.check(len(self.targets), None if layers is None else layers.shape[0])
        set_(self, "diagnostics", checked)

    # ------------------------------------------------------------------ layout
    def _text(self) -> TextLayout:
        if not isinstance(self.layout, TextLayout):
            raise InputError(f"this explanation is of a {self.layout.kind} input and has no text fields")
        return self.layout

    @property
    def text(self) -> str:
        return self._text().text

    @property
    def tokens(self) -> tuple[str, ...]:
        return self._text().tokens

    @property
    def offsets(self) -> tuple[tuple[int, int], ...]:
        return self._text().offsets

    @property
    def word_ids(self) -> tuple[int, ...]:
        return self._text().word_ids

    @property
    def words(self) -> tuple[tuple[int, int], ...]:
        return self._text().words

    @property
    def special(self) -> tuple[bool, ...]:
        return self.layout.special

    # -------------------------------------------------------------- prediction
    @property
    def probabilities(self) -> np.ndarray:
        """Softmax of the logits; each label's sigmoid for a multi-label head, the output itself for regression
        (the head is recorded as `diagnostics["head"]` when it is not single-label). A contrast output "A vs B"
        (`models.contrast`) gets the difference of the two probabilities."""
        classes = contrast_classes(self.labels)
        outputs = outputs_np(self.logits[:classes], self.diagnostics.get("head", SINGLE_LABEL))
        if classes == len(self.labels):
            return outputs
        first, second = (self.labels.index(x) for x in self.labels[-1].split(SEPARATOR, 1))
        return np.append(outputs, outputs[first] - outputs[second]).astype(outputs.dtype)

    @property
    def predicted(self) -> int:
        """The predicted class (a contrast output is not a class)."""
        return int(np.argmax(self.logits[: contrast_classes(self.labels)]))

    @property
    def predicted_label(self) -> str:
        return self.labels[self.predicted]

    def target_row(self, target: int | str | None = None) -> int:
        """Row of `scores` for a class index or label (default: the first target)."""
        if target is None:
            return 0
        index = self.labels.index(target) if isinstance(target, str) and target in self.labels else target
        if isinstance(index, int) and not isinstance(index, bool) and index in self.targets:
            return self.targets.index(index)
        raise TargetError(f"this explanation has targets {[self.labels[t] for t in self.targets]}, not {target!r}")

    # ------------------------------------------------------------------- words
    def word_texts(self) -> list[str]:
        """The label of every feature: a word's text for text inputs."""
        return self.layout.feature_labels()

    def word_scores(self, target: int | str | None = None, aggregate: Aggregate = "sum") -> np.ndarray:
        """Score per word (feature): sum (default, keeps totals), mean or max of its tokens' scores."""
        row = self.scores[self.target_row(target)]
        return group_scores(row, self.layout.feature_ids, self.layout.num_features, aggregate)

    # ------------------------------------------------------------ conversions
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; `from_dict(to_dict())` gives an equal Explanation."""
        return {
            "schema_version": SCHEMA_VERSION,
            **self.layout.to_dict(),
            "model": self.model,
            "model_revision": self.model_revision,
            "method": self.method,
            "method_card": self.card.to_dict(),
            "labels": list(self.labels),
            "logits": self.logits.tolist(),
            "targets": list(self.targets),
            "scores": self.scores.tolist(),
            "base_value": self.diagnostics.get("base_value"),  # per target, where the method has one (KernelSHAP)
            "layer_scores": None if self.layer_scores is None else self.layer_scores.tolist(),
            "params": dict(self.params),
            "diagnostics": self.diagnostics.to_dict(),
            "diagnostic_axes": self.diagnostics.axes_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Explanation:
        """The Explanation of a `to_dict` record (schema 1 or 2); a typed error names what is missing."""
        if not isinstance(data, Mapping):
            raise InputError(f"an explanation record is a JSON object, not {type(data).__name__}")
        version = data.get("schema_version", 1)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise InputError(
                f"this record has schema_version {version!r}; this trexplain reads up to {SCHEMA_VERSION}: upgrade it"
            )
        missing = [name for name in REQUIRED if name not in data]
        if missing:
            raise InputError(f"an explanation record needs {', '.join(missing)}; it has {', '.join(data) or 'none'}")
        axes = data.get("diagnostic_axes")
        diagnostics = data.get("diagnostics") or {}
        if not isinstance(diagnostics, Mapping):
            raise InputError("'diagnostics' must be a JSON object")
        return cls(
            layout=layout_from_dict(data),
            labels=data["labels"],
            logits=data["logits"],
            targets=data["targets"],
            scores=data["scores"],
            method=data["method"],
            card=MethodCard.from_dict(data["method_card"]) if data.get("method_card") is not None else None,
            model=data.get("model", ""),
            model_revision=data.get("model_revision"),
            params=data.get("params"),
            diagnostics=diagnostics if isinstance(diagnostics, Diagnostics) else Diagnostics(diagnostics, axes),
            layer_scores=data.get("layer_scores"),
        )

    def to_json(self) -> str:
        """`to_dict` as a JSON string."""
        return json.dumps(self.to_dict())

    def to_shap(self, level: Literal["word", "token"] = "word") -> Any:
        """A `shap.Explanation` for shap's plots (needs the `shap` extra); see `trexplain.interop.shap`."""
        from trexplain.interop.shap import to_shap

        return to_shap(self, level)

    @classmethod
    def from_json(cls, text: str | bytes) -> Explanation:
        try:
            return cls.from_dict(json.loads(text))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"not a JSON explanation record ({exc})") from exc

    def to_frame(self, level: Literal["token", "word"] = "token"):
        """A pandas frame: one row per (target, token) or (target, word) with text, span and score."""
        import pandas as pd

        from trexplain.checks import choice

        choice(level, "level", ("token", "word"))

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
        """One entry per target: the `explanations` items of a text record (see `trexplain.records`).

        Per-target diagnostics are sliced along their declared target axis; `layer_scores` is `[layers][tokens]`.
        """
        out = []
        labels = self.word_texts()
        for k, target in enumerate(self.targets):
            word_scores = self.word_scores(target, aggregate)
            entry: dict[str, Any] = {
                "method": self.method,
                "target": self.labels[target],
                "target_index": target,
                "tokens": list(self.layout.position_labels()),
                "scores": self.scores[k].tolist(),
                "layer_scores": None if self.layer_scores is None else self.layer_scores[:, k].tolist(),
                "params": dict(self.params),
                "diagnostics": self.diagnostics.target(k),
            }
            if self.model_revision is not None:  # the hub commit of the weights
                entry["model_revision"] = self.model_revision
            if "base_value" in self.diagnostics:  # KernelSHAP: base value + Σ scores = the output, as shap shows it
                entry["base_value"] = entry["diagnostics"]["base_value"]
            if isinstance(self.layout, TextLayout):
                entry["offsets"] = [list(o) for o in self.offsets]
                entry["words"] = [
                    {"text": labels[w], "start": s, "end": e, "score": float(word_scores[w])}
                    for w, (s, e) in enumerate(self.words)
                ]
                if self.layout.segments:  # a sentence pair: which text each word is in
                    for word, segment in zip(entry["words"], self.layout.word_segments(), strict=True):
                        word["segment"] = segment
            else:
                entry["features"] = [{"label": labels[w], "score": float(s)} for w, s in enumerate(word_scores)]
            out.append(entry)
        return out

    def replace(self, **changes: Any) -> Explanation:
        """A copy with some fields changed (as `dataclasses.replace`)."""
        from dataclasses import replace

        return replace(self, **changes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Explanation):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        what = f"{self.text[:40]!r}" if isinstance(self.layout, TextLayout) else self.layout.kind
        targets = ", ".join(self.labels[t] for t in self.targets)
        return f"Explanation({self.method} of {what} for {targets}; {self.layout.size} positions, model {self.model!r})"
