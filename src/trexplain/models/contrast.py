"""Contrast targets ("why A rather than B"): explain the difference of two logits with any method.

`contrast_view` gives an adapter whose model has one more output, named "A vs B", equal to logit A − logit B;
explaining that output with any method explains the difference (every identity then holds for the difference,
and LRP relevance, linear in the relevance it starts from, is the relevance of the difference). Explanations of
it keep the model's logits and add the difference as a last entry (`contrast_classes` finds it).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from trexplain.errors import TargetError
from trexplain.models.heads import SINGLE_LABEL, outputs

SEPARATOR = " vs "
PROBABILITY, LOGIT_DIFFERENCE = "probability", "logit difference"


def contrast_label(first: str, second: str) -> str:
    """The name of the output `first` − `second`, e.g. "positive vs negative"."""
    return f"{first}{SEPARATOR}{second}"


def contrast_pair(labels: Sequence[str]) -> tuple[int, int] | None:
    """The classes (A, B) of a last contrast output "A vs B" among `labels`, or None when there is none."""
    classes = labels[:-1]
    if len(labels) > 2:
        for first, a in enumerate(classes):
            for second, b in enumerate(classes):
                if first != second and labels[-1] == contrast_label(a, b):
                    return first, second
    return None


def contrast_classes(labels: Sequence[str]) -> int:
    """How many of `labels` are the model's classes: all, or all but a last contrast output ("A vs B" of two)."""
    return len(labels) - (contrast_pair(labels) is not None)


def output_values(logits: Tensor, labels: Sequence[str], index: int, problem: str = SINGLE_LABEL) -> Tensor:
    """What removal curves follow for output `index` of explanations labelled `labels`, from the model's logits
    [..., classes] (a contrast view's extra column is ignored): the head's probability of a class, or for the
    contrast output "A vs B" the logit difference A − B (the quantity it explains)."""
    classes = contrast_classes(labels)
    pair = contrast_pair(labels) if index >= classes else None
    if pair is not None:
        return logits[..., pair[0]] - logits[..., pair[1]]
    return outputs(logits[..., :classes], problem)[..., index]


def output_scale(labels: Sequence[str], index: int) -> str:
    """The unit of `output_values` for output `index`: "probability" (the head's output) or "logit difference"."""
    return LOGIT_DIFFERENCE if index >= contrast_classes(labels) else PROBABILITY


def parse_contrast(spec: object, adapter: Any, pairs: bool = False) -> tuple[int, int] | None:
    """The class pair of a contrast spec ("A-B", or with `pairs` an (A, B) pair of labels or indices), or None
    when `spec` is an ordinary target (a label, an index, "predicted", "all" or a list of those)."""
    if isinstance(spec, str):
        if spec in ("predicted", "all") or _index(spec, adapter) is not None or "-" not in spec:
            return None
        for cut in [i for i, char in enumerate(spec) if char == "-"]:
            first, second = _index(spec[:cut], adapter), _index(spec[cut + 1 :], adapter)
            if first is not None and second is not None:
                return _pair(first, second, adapter)
        raise TargetError(
            f"unknown target {spec!r}; a contrast is two labels joined by '-', e.g. "
            f"{adapter.labels[-1]}-{adapter.labels[0]}; labels: {', '.join(adapter.labels)}"
        )
    if pairs and isinstance(spec, Sequence) and len(spec) == 2 and not isinstance(spec, (bytes, bytearray)):
        first, second = (adapter.label_index(part) for part in spec)
        return _pair(first, second, adapter)
    return None


def contrast_view(adapter: Any, target: Any, contrast: object = None) -> tuple[Any, Any]:
    """`(adapter, target)` to explain: for a contrast (`contrast=` or a target "A-B") a view of `adapter` with the
    output "A vs B" and that output as the target; otherwise both unchanged."""
    pair = parse_contrast(contrast, adapter, pairs=True) if contrast is not None else parse_contrast(target, adapter)
    if contrast is not None and pair is None:
        raise TargetError(f"contrast={contrast!r}: give two classes, e.g. contrast=('positive', 'negative')")
    if contrast is not None and target not in ("predicted", None):
        raise TargetError("contrast= chooses the target itself; leave target at 'predicted'")
    if pair is None:
        return adapter, target
    view = copy.copy(adapter)
    view.__class__ = _view_class(type(adapter))
    view.contrast = pair
    view.labels = (*adapter.labels, contrast_label(adapter.labels[pair[0]], adapter.labels[pair[1]]))
    return view, len(adapter.labels)


class ContrastOutput:
    """Mixed into an adapter class: every forward pass gains the output logit A − logit B, last."""

    contrast: tuple[int, int]

    def _run(self, inputs: Any, **flags: bool) -> Any:
        out = super()._run(inputs, **flags)  # type: ignore[misc]
        logits = out if isinstance(out, Tensor) else out.logits
        first, second = self.contrast
        joined = torch.cat([logits, (logits[..., first] - logits[..., second]).unsqueeze(-1)], dim=-1)
        if isinstance(out, Tensor):
            return joined
        out.logits = joined
        return out


_VIEWS: dict[type, type] = {}


def _view_class(cls: type) -> type:
    """The contrast subclass of an adapter class (made once per class)."""
    if cls not in _VIEWS:
        _VIEWS[cls] = type(f"Contrast{cls.__name__}", (ContrastOutput, cls), {})
    return _VIEWS[cls]


def _index(label: str, adapter: Any) -> int | None:
    try:
        return adapter.label_index(label)
    except TargetError:
        return None


def _pair(first: int, second: int, adapter: Any) -> tuple[int, int]:
    if first == second:
        raise TargetError(f"a contrast needs two different classes, got {adapter.labels[first]!r} twice")
    return first, second
