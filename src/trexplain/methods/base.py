"""The method contract, the target resolver and the registry that lists methods by name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor

from trexplain.diagnostics import Diagnostics
from trexplain.errors import MethodError, TargetError
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch

TargetSpec = str | int | Sequence[str | int]

# The default everywhere: single-pass and, on the demo model, more faithful than IG (see README benchmarks).
DEFAULT_METHOD = "cp-lrp"


class Targets:
    """Turns a target spec ("predicted", "all", a label, an index, or a list of labels) into class indices."""

    def __init__(self, spec: TargetSpec, adapter: ModelAdapter) -> None:
        self.spec = spec
        self.num_labels = adapter.num_labels
        specs = [spec] if isinstance(spec, (str, int)) else list(spec)
        if not specs:
            raise TargetError("no target given; use predicted, all or a label")
        if len(specs) > 1 and any(s in ("predicted", "all") for s in specs):
            raise TargetError("'predicted' and 'all' cannot be combined with other targets")
        self.fixed: list[int] | None = None
        if specs[0] == "all":
            self.fixed = list(range(adapter.num_labels))
        elif specs[0] != "predicted":
            self.fixed = [adapter.label_index(s) for s in specs]

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


class Method(ABC):
    """A small class per method: parameters are dataclass fields, `attribute` does the work."""

    name: ClassVar[str]
    summary: ClassVar[str]
    signed: ClassVar[bool] = True
    # Cost hint for choosing default methods (`trexplain evaluate`): "single-pass" (a forward and a backward
    # per target), "multi-pass" (tens of passes, e.g. IG steps) or "sampling" (hundreds of forwards).
    cost: ClassVar[str] = "single-pass"
    # The identity the scores satisfy, recorded in each Explanation's diagnostics (see `trexplain.diagnostics`):
    # "completeness" (IG), "conservation" (LRP), "efficiency" (KernelSHAP) or None.
    identity: ClassVar[str | None] = None

    @abstractmethod
    def attribute(self, adapter: ModelAdapter, batch: Batch, targets: Targets) -> Attribution:
        """Scores for every text in `batch` and every class `targets` picks."""

    def params(self) -> dict[str, Any]:
        """The method's parameters as recorded in each Explanation."""
        return {f.name: getattr(self, f.name) for f in fields(self)} if hasattr(self, "__dataclass_fields__") else {}


REGISTRY: dict[str, type[Method]] = {}
M = TypeVar("M", bound=type[Method])


def register(cls: M) -> M:
    """Class decorator: make a method available by its `name` to the API, CLI and report."""
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise MethodError(f"two methods are registered as {cls.name!r}")
    REGISTRY[cls.name] = cls
    return cls


def get_method(name: str | Method, **params: Any) -> Method:
    """An instance of the registered method `name` with `params` (unknown parameters are an error)."""
    if isinstance(name, Method):
        if params:
            raise MethodError("pass parameters either to the method instance or by name, not both")
        return name
    _load_builtin()
    if name not in REGISTRY:
        raise MethodError(f"unknown method {name!r}; available: {', '.join(sorted(REGISTRY))}")
    cls = REGISTRY[name]
    accepted = {f.name for f in fields(cls)} if hasattr(cls, "__dataclass_fields__") else set()
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise MethodError(
            f"{name} has no parameter(s) {', '.join(unknown)}; it takes: {', '.join(sorted(accepted)) or 'none'}"
        )
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise MethodError(f"invalid parameters for {name}: {exc}") from exc


def available_methods() -> dict[str, type[Method]]:
    _load_builtin()
    return dict(sorted(REGISTRY.items()))


def _load_builtin() -> None:
    import trexplain.methods  # noqa: F401  (importing the package registers the built-in methods)
