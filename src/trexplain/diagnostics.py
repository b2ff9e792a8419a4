"""Typed diagnostics: every value carries its axes, and each method's identity check lives under one key.

A method states what its scores must add up to (`Identity`: IG's completeness, LRP's conservation,
KernelSHAP's efficiency) and which of its values are per target or per layer and target (`axes`), so
records, views and metrics slice them exactly instead of guessing from list lengths.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trexplain.errors import InputError

TARGET: tuple[str, ...] = ("target",)
LAYER_TARGET: tuple[str, ...] = ("layer", "target")
IDENTITY = "identity"

IDENTITIES: Mapping[str, str] = {
    "completeness": "sum of scores vs f(input) − f(baseline) along the path (exact in the limit of fine steps)",
    "conservation": (
        "sum of relevances vs the target logit; biases and LayerNorm shifts absorb the rest, so a gap is "
        "expected unless the model's biases are zero"
    ),
    "efficiency": "base value + sum of Shapley values vs f(input) (exact for KernelSHAP's constrained fit)",
}

# How each identity's error is named in tables and verdicts, with a short reminder of what it compares.
IDENTITY_NAMES: Mapping[str, str] = {
    "completeness": "completeness error",
    "conservation": "conservation gap",
    "efficiency": "efficiency error",
}
IDENTITY_BRIEF: Mapping[str, str] = {
    "completeness": "score sum vs f(input) − f(baseline)",
    "conservation": "relevance sum vs logit; biases absorb the rest",
    "efficiency": "base value + Shapley values vs f(input)",
}


def identity_phrase(kind: str, error: float, brief: bool = True) -> str:
    """The error named by its kind, e.g. "conservation gap 0.53 (relevance sum vs logit; biases absorb the rest)"."""
    line = f"{IDENTITY_NAMES[kind]} {error:.2g}"
    return f"{line} ({IDENTITY_BRIEF[kind]})" if brief else line


# One line on what each diagnostic means (units: the explained output's), for the keys not in the method's own
# `Method.meanings` (carried by its `MethodCard`), which take precedence.
MEANINGS: Mapping[str, str] = {
    IDENTITY: "the method's identity check: what its scores must add up to, and how far they are from it",
    "seconds": "time to explain this text (its share of the batch)",
    "truncated_tokens": "tokens cut off the end of the text to fit the model",
    "pad_token": "the token decoder batches are padded with: the tokenizer's own, or a stand-in when it has none",
    "baseline": "what a path method starts from (the modality's default, a named baseline, a text, an image, a tensor)",
    "strategy": "how removed features were taken out (texts: delete, mask, unk, pad; image patches: mean, blur, black)",
    "level": "the features moved: the modality's groups (words, patches) or single tokens",
    "steps": "gradient evaluations along the path (the most over the layers integrated)",
    "f_input": "the target logit at the input",
    "f_baseline": "the target logit at the baseline",
    "score_sum": "sum of the token scores",
    "completeness_error": "|score sum − (f_input − f_baseline)|: how far IG is from exact",
    "relative_error": "completeness error ÷ |f_input − f_baseline|",
    "layer_score_sum": "sum of the scores at each block's input, per layer",
    "layer_completeness_error": "completeness error of the scores at each block's input, per layer",
    "reconstructed": "the method is rebuilt from its paper's description (no public code to compare with)",
    "n_features": "features (words, or tokens) that were removed and restored",
    "forwards": "model forwards this explanation used",
    "exact": "every coalition was enumerated: exact Shapley values, no sampling",
    "n_samples": "random perturbations drawn",
    "seed": "seed of the perturbation sampler",
    "r2": "R² of LIME's weighted linear fit (1 = the scores reproduce the sampled outputs)",
    "intercept": "LIME's fitted output with every word removed",
    "base_value": "the output with every word removed",
    "full_value": "the output of the full text",
    "base_plus_sum": "base value + sum of the Shapley values",
    "efficiency_error": "|base value + Shapley sum − full value|",
    "teacher": "the method the amortized explainer was trained to imitate (e.g. kernelshap)",
    "ood_distance": "Mahalanobis distance of this text's pooled hidden state from the explainer's training texts",
    "ood_threshold": "the distance beyond which a text counts as unlike the training texts",
    "in_distribution": "whether the distance is within the threshold (scores are less trustworthy when not)",
    "trust": "how far to trust these scores: in or out of distribution, and the held-out agreement with the teacher",
    "raw_gap": "|raw score sum − (full − base)| ÷ |full − base| before the identity was enforced (large: unsure)",
}

# Axes of the keys that round-1 methods wrote without declaring them; used only for records that carry no
# `diagnostic_axes` (schema 1). New code declares axes explicitly.
LEGACY_AXES: Mapping[str, tuple[str, ...]] = {
    **{
        key: TARGET
        for key in (
            "f_input",
            "f_baseline",
            "score_sum",
            "completeness_error",
            "relative_error",
            "logit",
            "relevance_sum",
            "conservation",
            "r2",
            "intercept",
            "base_value",
            "full_value",
            "efficiency_error",
        )
    },
    "layer_score_sum": LAYER_TARGET,
    "layer_completeness_error": LAYER_TARGET,
}


def json_copy(value: Any) -> Any:
    """A JSON-normalised copy (numpy and torch values to lists and floats), shared by every record field."""

    def default(v: Any) -> Any:
        if hasattr(v, "tolist"):
            return v.tolist()
        if hasattr(v, "item"):
            return v.item()
        raise TypeError(f"{type(v).__name__} is not JSON serialisable")

    return json.loads(json.dumps(value, default=default))


@dataclass(frozen=True)
class Identity:
    """An identity the scores must satisfy, per target: `total` (what the scores sum to, with the base value
    where the method has one) against `expected`; `error` = |total − expected| in the method's units."""

    kind: str
    error: tuple[float, ...]
    total: tuple[float, ...] | None = None
    expected: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in IDENTITIES:
            raise InputError(f"unknown identity {self.kind!r}; use one of {', '.join(IDENTITIES)}")
        for name in ("error", "total", "expected"):
            value = getattr(self, name)
            if value is not None:
                values = value if isinstance(value, (list, tuple)) else [value]
                object.__setattr__(self, name, tuple(float(v) for v in values))

    @classmethod
    def between(cls, kind: str, total: Sequence[float], expected: Sequence[float]) -> Identity:
        """The identity with its error computed from `total` and `expected` (per target)."""
        error = [abs(float(t) - float(e)) for t, e in zip(total, expected, strict=True)]
        return cls(kind, tuple(error), tuple(total), tuple(expected))

    @property
    def description(self) -> str:
        return IDENTITIES[self.kind]

    def error_for(self, k: int) -> float:
        """The error for target row `k` (a single stored value serves every target)."""
        return self.error[k] if len(self.error) > 1 else self.error[0]

    def target(self, k: int) -> dict[str, Any]:
        """This identity for target row `k` alone, as JSON."""

        def pick(values: tuple[float, ...] | None) -> float | None:
            return None if values is None else values[k] if len(values) > 1 else values[0]

        return {
            "kind": self.kind,
            "total": pick(self.total),
            "expected": pick(self.expected),
            "error": self.error_for(k),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "total": None if self.total is None else list(self.total),
            "expected": None if self.expected is None else list(self.expected),
            "error": list(self.error),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Identity:
        if not isinstance(data, Mapping) or "kind" not in data or "error" not in data:
            raise InputError("an identity needs 'kind' and 'error' (and optionally 'total', 'expected')")
        return cls(data["kind"], data["error"], data.get("total"), data.get("expected"))


class Diagnostics(Mapping[str, Any]):
    """Read-only JSON-ready values with their axes (`axes[key]`, e.g. ("target",)); `identity` is the
    method's identity check, also readable as `self["identity"]`. Keys without axes are scalars or
    per-explanation values."""

    def __init__(
        self,
        values: Mapping[str, Any] | None = None,
        axes: Mapping[str, Sequence[str]] | None = None,
        identity: Identity | None = None,
    ) -> None:
        plain = json_copy(dict(values or {}))
        if identity is None and isinstance(plain.get(IDENTITY), Mapping):
            identity = Identity.from_dict(plain[IDENTITY])
        plain.pop(IDENTITY, None)
        if axes is None:
            axes = {k: LEGACY_AXES[k] for k in plain if k in LEGACY_AXES and isinstance(plain[k], list)}
        identity = identity or _legacy_identity(plain)
        unknown = sorted(set(axes) - set(plain))
        if unknown:
            raise InputError(f"diagnostic axes name values that are not there: {', '.join(unknown)}")
        self._values = plain
        self.axes: Mapping[str, tuple[str, ...]] = {k: tuple(v) for k, v in axes.items()}
        self.identity = identity

    @classmethod
    def of(cls, value: Diagnostics | Mapping[str, Any] | None) -> Diagnostics:
        """`value` itself if it is already `Diagnostics`, else diagnostics from a plain mapping."""
        return value if isinstance(value, Diagnostics) else cls(value)

    def __getitem__(self, key: str) -> Any:
        if key == IDENTITY and self.identity is not None:
            return self.identity.to_dict()
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._values
        if self.identity is not None:
            yield IDENTITY

    def __len__(self) -> int:
        return len(self._values) + (self.identity is not None)

    def __repr__(self) -> str:
        return f"Diagnostics({dict(self)!r})"

    def with_values(self, **values: Any) -> Diagnostics:
        """A copy with more (axis-free) values, e.g. timing added by the caller."""
        return Diagnostics({**self._values, **values}, self.axes, self.identity)

    def check(self, targets: int, layers: int | None = None) -> None:
        """Every value's shape matches its axes for `targets` targets (and `layers` layers when known)."""
        sizes = {"target": targets, "layer": layers}
        for key, axes in self.axes.items():
            value = self._values[key]
            for depth, axis in enumerate(axes):
                if not isinstance(value, list):
                    raise InputError(f"diagnostic {key!r} should have axes {list(axes)} but is not nested that deep")
                expected = sizes.get(axis)
                if expected is not None and len(value) != expected:
                    raise InputError(
                        f"diagnostic {key!r} has {len(value)} entries along its {axis} axis (axis {depth}) "
                        f"for {expected} {axis}s"
                    )
                value = value[0] if value else None
        if self.identity is not None and len(self.identity.error) not in (1, targets):
            raise InputError(f"the identity has {len(self.identity.error)} errors for {targets} targets")

    def target(self, k: int) -> dict[str, Any]:
        """Values for target row `k`: per-target values sliced along their target axis, others as they are."""
        out: dict[str, Any] = {}
        for key, value in self._values.items():
            axes = self.axes.get(key, ())
            out[key] = _take(value, axes.index("target"), k) if "target" in axes else value
        if self.identity is not None:
            out[IDENTITY] = self.identity.target(k)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Values (identity included) as JSON; the axes go beside them (`axes_dict`)."""
        return dict(self)

    def axes_dict(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.axes.items()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        same_axes = not isinstance(other, Diagnostics) or other.axes == self.axes
        return same_axes and dict(self) == dict(other)

    __hash__ = None  # type: ignore[assignment]


def _take(value: Any, depth: int, k: int) -> Any:
    """Index `k` along nesting level `depth` of a nested list."""
    if depth == 0:
        return value[k]
    return [_take(v, depth - 1, k) for v in value]


def _legacy_identity(values: Mapping[str, Any]) -> Identity | None:
    """The identity implied by the conventional key names (`completeness_error`, `efficiency_error`, or
    `relevance_sum` with `logit`), for records without an `identity` (schema 1, scores made elsewhere)."""
    for key, kind in (("completeness_error", "completeness"), ("efficiency_error", "efficiency")):
        value = values.get(key)
        if _numeric(value):
            error = [abs(v) for v in value] if isinstance(value, list) else abs(value)
            return Identity(kind, error)
    total, expected = values.get("relevance_sum"), values.get("logit")
    if _numeric(total) and _numeric(expected):
        total, expected = (v if isinstance(v, list) else [v] for v in (total, expected))
        if len(total) == len(expected):
            return Identity.between("conservation", total, expected)
    return None


def _numeric(value: Any) -> bool:
    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)

    return number(value) or (isinstance(value, list) and bool(value) and all(number(v) for v in value))
