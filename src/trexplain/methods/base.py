"""The method contract, the target resolver and the registry that lists methods by name.

Method parameters are dataclass fields with type hints; `get_method` converts each given value to its
field's declared type (strings from the command line included) and turns every bad value into a
`MethodError` naming the method, the parameter, the value and what it takes.
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import Field, dataclass, fields, is_dataclass
from typing import Any, ClassVar, Literal, TypeVar, Union

import torch
from torch import Tensor

from trexplain.diagnostics import Diagnostics
from trexplain.errors import MethodError, TargetError
from trexplain.method_card import MethodCard, remember
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch

TargetSpec = str | int | Sequence[str | int]

# The default everywhere: single-pass and, on the demo model, more faithful than IG (see README benchmarks).
DEFAULT_METHOD = "cp-lrp"

TARGET_HELP = (
    "use 'predicted', 'all', a label or a class index (0, 1, ...), a list of labels and indices, or two labels "
    "joined by '-' for the difference of their logits (e.g. positive-negative)"
)


def target_specs(spec: object) -> list[str | int]:
    """The labels and class indices in a target spec; None, a bool, a float or any other type is a TargetError."""
    several = isinstance(spec, Sequence) and not isinstance(spec, (str, bytes, bytearray))
    items = [_target_item(item) for item in (spec if several else [spec])]
    if not items:
        raise TargetError(f"no target given (an empty list); {TARGET_HELP}")
    if len(items) > 1 and any(s in ("predicted", "all") for s in items):
        raise TargetError("'predicted' and 'all' cannot be combined with other targets; give one of them alone")
    return items


def _target_item(item: object) -> str | int:
    if item is None:
        raise TargetError(f"no target given (None); {TARGET_HELP}")
    if isinstance(item, str):
        return item
    if isinstance(item, numbers.Integral) and not isinstance(item, bool):
        return int(item)
    raise TargetError(f"target {short_repr(item)} is {type_name(item)}, not a label or class index; {TARGET_HELP}")


def target_index(label: object, adapter: ModelAdapter) -> int:
    """Class index of one label or index (bools and other types refused before `adapter.label_index`)."""
    return adapter.label_index(_target_item(label))


class Targets:
    """Turns a target spec ("predicted", "all", a label, an index, or a list of labels) into class indices."""

    def __init__(self, spec: TargetSpec, adapter: ModelAdapter) -> None:
        self.spec = spec
        self.num_labels = adapter.num_labels
        specs = target_specs(spec)
        self.fixed: list[int] | None = None
        if specs[0] == "all":
            self.fixed = list(range(adapter.num_labels))
        elif specs[0] != "predicted":
            seen: dict[int, str | int] = {}
            for item in specs:
                index = adapter.label_index(item)
                if index in seen:
                    raise TargetError(
                        f"targets {seen[index]!r} and {item!r} are the same class ({adapter.labels[index]}); "
                        "list each class once"
                    )
                seen[index] = item
            self.fixed = list(seen)

    def __call__(self, logits: Tensor) -> Tensor:
        """LongTensor [batch, K] of target classes, from the unperturbed logits [batch, classes]."""
        if self.fixed is None:
            return logits.argmax(-1, keepdim=True)
        return torch.tensor(self.fixed, device=logits.device).expand(logits.shape[0], -1)


@dataclass
class Attribution:
    """What `Method.attribute` returns for a batch.

    scores: [batch, K, tokens]; logits: [batch, classes] of the unperturbed input; targets: [batch, K];
    layer_scores: [batch, layers, K, tokens] or None; diagnostics: one `Diagnostics` per text (each value with
    its axes, the method's identity check under `identity`).
    """

    scores: Tensor
    logits: Tensor
    targets: Tensor
    layer_scores: Tensor | None = None
    diagnostics: list[Diagnostics] | None = None


@dataclass(frozen=True)
class Parameter:
    """One method parameter: its name, declared type (e.g. "int | None"), default, and allowed values if a choice."""

    name: str
    type: str
    default: Any
    choices: tuple[Any, ...] | None = None


class Method(ABC):
    """A small class per method: parameters are dataclass fields, `attribute` does the work, and the class
    attributes below describe its scores (`card()`: what every Explanation of it carries to the views)."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    signed: ClassVar[bool] = True
    # Cost hint for choosing default methods (`trexplain evaluate`): "single-pass" (a forward and a backward
    # per target), "multi-pass" (tens of passes, e.g. IG steps) or "sampling" (hundreds of forwards).
    cost: ClassVar[str] = "single-pass"
    # The identity the scores satisfy, recorded in each Explanation's diagnostics (see `trexplain.diagnostics`):
    # "completeness" (IG), "conservation" (LRP), "efficiency" (KernelSHAP) or None.
    identity: ClassVar[str | None] = None
    # Where the rows of `layer_scores` are taken, for the views' labels: "block input" (row l = input of block l;
    # block 0's input is the embedding output), "after block" (the map up to and including block l), "block
    # attention" (the attention inside block l), or None for methods without per-layer scores.
    layer_site: ClassVar[str | None] = None
    # One line per diagnostic key the method writes, beside the keys every method may write
    # (`trexplain.diagnostics.MEANINGS`).
    meanings: ClassVar[Mapping[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if isinstance(cls.__dict__.get("name"), str):
            remember(cls.card())

    @classmethod
    def card(cls) -> MethodCard:
        """The method's self-description, recorded in each of its Explanations."""
        return MethodCard(cls.name, cls.summary, cls.signed, cls.layer_site, cls.identity, cls.meanings)

    @abstractmethod
    def attribute(self, adapter: ModelAdapter, batch: Batch, targets: Targets) -> Attribution:
        """Scores for every text in `batch` and every class `targets` picks."""

    def params(self) -> dict[str, Any]:
        """The method's parameters as recorded in each Explanation."""
        return {f.name: getattr(self, f.name) for f in _fields(type(self))}

    @classmethod
    def describe(cls) -> list[Parameter]:
        """The parameters `get_method` accepts for this method, in declaration order."""
        hints = _hints(cls)
        return [
            Parameter(f.name, _type_name(hints.get(f.name, Any)), f.default, _choices(hints.get(f.name, Any)))
            for f in _fields(cls)
        ]


REGISTRY: dict[str, type[Method]] = {}
M = TypeVar("M", bound=type[Method])


def register(cls: M) -> M:
    """Class decorator: make a method available by its `name` to the API, CLI and report."""
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise MethodError(f"two methods are registered as {cls.name!r}")
    REGISTRY[cls.name] = cls
    remember(cls.card(), replace=True)
    return cls


# Names users reach for (other libraries' and papers' names), to the registered method they mean.
ALIASES: Mapping[str, str] = {
    "shap": "kernelshap",
    "shapley": "kernelshap",
    "kernel-shap": "kernelshap",
    "integrated-gradients": "ig",
    "integratedgradients": "ig",
    "layer-integrated-gradients": "layer-ig",
    "lrp": "cp-lrp",
    "gradient-x-input": "gxi",
    "grad-x-input": "gxi",
    "input-x-gradient": "gxi",
}


def method_name(name: str) -> str:
    """The registered name `name` means: itself, or case-insensitively with `_`/spaces as `-`, or an alias
    (`LIME`, `shap`, `shapley`, `integrated-gradients`, `lrp`); otherwise a MethodError listing the names."""
    if name in REGISTRY:
        return name
    key = re.sub(r"[\s_]+", "-", name.strip().lower())
    found = key if key in REGISTRY else ALIASES.get(key)
    if found in REGISTRY:
        return found
    names = sorted(REGISTRY)
    raise MethodError(f"unknown method {name!r}; {_did_you_mean(name, names)}available: {', '.join(names)}")


def get_method(name: str | Method, **params: Any) -> Method:
    """An instance of the registered method `name` with `params` converted to their declared types (see README).

    A Method instance is returned as it is (then `params` must be empty). Unknown names and parameters, and
    values that do not fit, are a `MethodError` naming the method, the parameter and what it takes.
    """
    if isinstance(name, Method):
        if params:
            raise MethodError(
                f"pass parameters either to the {name.name} instance or by name, not both (got {', '.join(params)}); "
                f"e.g. get_method({name.name!r}, {next(iter(params))}=...)"
            )
        return name
    if not isinstance(name, str):
        raise MethodError(
            f"a method is a registered name such as {DEFAULT_METHOD!r} or a Method, got {short_repr(name)}"
        )
    cls = REGISTRY[method_name(name)]
    accepted = [f.name for f in _fields(cls)]
    unknown = [key for key in params if key not in accepted]
    if unknown:
        named = ", ".join(map(repr, unknown))
        close = "".join(_did_you_mean(key, accepted) for key in unknown)
        raise MethodError(f"{name} has no parameter {named}; {close}it takes: {', '.join(accepted) or 'none'}")
    hints = _hints(cls)
    converted = {key: _convert_param(name, key, hints.get(key, Any), value) for key, value in params.items()}
    return _construct(cls, converted)


def available_methods() -> dict[str, type[Method]]:
    """Every registered method by name. The built-in ones are registered by the time this module is imported:
    Python initialises the package `trexplain.methods`, which imports them, before any of its modules."""
    return dict(sorted(REGISTRY.items()))


def _fields(cls: type) -> list[Field[Any]]:
    return [f for f in fields(cls) if f.init] if is_dataclass(cls) else []


def _hints(cls: type) -> dict[str, Any]:
    """The class's resolved type hints; a method whose hints cannot be resolved gets its values as given."""
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):
        return {}


def _construct(cls: type[Method], params: dict[str, Any]) -> Method:
    """`cls(**params)`; a value its `__post_init__` refuses is a MethodError naming that parameter."""
    try:
        return cls(**params)
    except (TypeError, ValueError, ArithmeticError) as exc:
        for key, value in params.items():
            try:
                cls(**{key: value})
            except (TypeError, ValueError, ArithmeticError) as alone:
                raise MethodError(
                    f"{cls.name}: {key}={short_repr(value)} is not accepted: {_reason(cls, alone)}"
                ) from exc
        given = ", ".join(f"{key}={short_repr(value)}" for key, value in params.items())
        raise MethodError(f"{cls.name}: {given} do not fit together: {_reason(cls, exc)}") from exc


def _reason(cls: type[Method], exc: BaseException) -> str:
    return str(exc).removeprefix(f"{cls.name}: ")


# Conversion by declared type. Each converter returns the value as that type or raises ValueError whose
# message says what was expected; strings are parsed as the command line passes them.
TRUE = frozenset({"true", "yes", "on", "1"})
FALSE = frozenset({"false", "no", "off", "0"})
NONE = frozenset({"none", "null"})
INT_LIMIT = 2**63


def _convert_param(method: str, key: str, hint: Any, value: Any) -> Any:
    try:
        return _convert(hint, value)
    except ValueError as exc:
        choices = _choices(hint)
        close = _did_you_mean(value, [str(c) for c in choices]) if choices and isinstance(value, str) else ""
        raise MethodError(
            f"{method}: {key} must be {exc}, got {short_repr(value)}{'; ' + close.strip() if close else ''}"
        ) from None


def _convert(hint: Any, value: Any) -> Any:
    """`value` as type `hint`; types other than bool, int, float, str, None, Literal, unions and classes pass."""
    if hint is bool:
        return _to_bool(value)
    if hint is int:
        return _to_int(value)
    if hint is float:
        return _to_float(value)
    if hint is str:
        if isinstance(value, str) and value.strip():
            return value
        raise ValueError("a non-blank text")
    if hint is type(None):
        if value is None or (isinstance(value, str) and value.strip().lower() in NONE):
            return None
        raise ValueError("none")
    origin = typing.get_origin(hint)
    if origin is Literal:
        for choice in typing.get_args(hint):
            if type(value) is type(choice) and value == choice:
                return choice
        raise ValueError(f"one of {', '.join(map(str, typing.get_args(hint)))}")
    if origin in (Union, types.UnionType):
        # None first, so "none" means None where None is allowed; then the options in their declared order.
        options = typing.get_args(hint)
        expected = {}
        for option in sorted(options, key=lambda option: option is not type(None)):
            try:
                return _convert(option, value)
            except ValueError as exc:
                expected[option] = str(exc)
        raise ValueError(" or ".join(expected[option] for option in options))
    if hint is Tensor:
        if isinstance(value, Tensor):
            return value
        raise ValueError("a tensor")
    return value


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral) and value in (0, 1):  # --param adaptive=0 arrives JSON-decoded as 0
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
        return value.strip().lower() in TRUE
    raise ValueError("true or false (also yes/no, 1/0)")


def _to_int(value: Any) -> int:
    """Whole numbers, also written as "32", "1e3" or 32.0; bools and fractions are refused."""
    expected = "a whole number"
    number: Any = value
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            number = _parse_float(value, expected)
    if isinstance(number, bool) or not isinstance(number, numbers.Real):
        raise ValueError(expected)
    if not isinstance(number, numbers.Integral):
        if not (math.isfinite(number) and float(number).is_integer()):
            raise ValueError(expected)
        number = int(number)
    if not -INT_LIMIT <= number < INT_LIMIT:
        raise ValueError(f"{expected} between -2^63 and 2^63 - 1")
    return int(number)


def _to_float(value: Any) -> float:
    expected = "a finite number"
    number = _parse_float(value, expected) if isinstance(value, str) else value
    if isinstance(number, bool) or not isinstance(number, numbers.Real) or not math.isfinite(number):
        raise ValueError(expected)
    return float(number)


def _parse_float(text: str, expected: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ValueError(expected) from None


def _choices(hint: Any) -> tuple[Any, ...] | None:
    """The allowed values of a Literal hint (also inside a union), else None."""
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    if typing.get_origin(hint) in (Union, types.UnionType):
        found = [c for option in typing.get_args(hint) for c in _choices(option) or ()]
        return tuple(found) or None
    return None


def _type_name(hint: Any) -> str:
    """A hint as written: "int", "int | None", "'word' | 'token'", "str | Tensor"."""
    if hint is type(None):
        return "None"
    origin = typing.get_origin(hint)
    if origin is Literal:
        return " | ".join(repr(c) for c in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(option) for option in typing.get_args(hint))
    return getattr(hint, "__name__", str(hint))


def _did_you_mean(word: str, options: Iterable[str]) -> str:
    """ "did you mean X? " for the options closest to `word` (difflib's best, then ones containing it), or ""."""
    options = list(options)
    lowered = word.lower()
    near = difflib.get_close_matches(lowered, options, n=3, cutoff=0.6)
    inside = [o for o in options if (len(lowered) >= 3 and lowered in o) or (len(o) >= 3 and o in lowered)]
    close = list(dict.fromkeys([*near, *inside]))[:3]
    return f"did you mean {' or '.join(close)}? " if close else ""


def short_repr(value: Any, limit: int = 60) -> str:
    """repr of a value, cut to `limit` characters (a tensor passed by mistake stays one line)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def type_name(value: Any) -> str:
    """The value's type with its article: "an int", "a str"."""
    name = type(value).__name__
    return f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"
