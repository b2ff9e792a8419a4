"""How the LRP rules reach a family's own forwards: a `PatchedForward` of the family entry
(`trexplain.models.families`) is given to each of its modules for the duration of the rules, after checking that the
module is the class it was written for; `GateRule` does this for gated feed-forwards. The forwards themselves live
beside their family entry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from trexplain.errors import MethodError
from trexplain.methods.lrp_rules import Rule, Undo
from trexplain.models.adapter import ModelAdapter
from trexplain.models.families import PatchedForward, resolve


def check_supported(adapter: ModelAdapter) -> None:
    """A MethodError when the family entry says LRP cannot explain this variant of it."""
    unsupported = adapter.family.lrp.unsupported
    reason = unsupported(adapter.config) if unsupported is not None else None
    if reason:
        raise MethodError(reason)


def patch_forward(module: nn.Module, patched: PatchedForward, mode: str) -> Undo:
    """Give `module` (of class `patched.written_for`) the instance-level forward `patched.forward(module, mode, ...)`;
    returns the undo."""
    if type(module).__name__ != patched.written_for:
        raise MethodError(
            f"the LRP adaptation was written for {patched.written_for}, this model has {type(module).__name__} "
            "(another transformers version?); use a gradient or perturbation method instead"
        )
    fn: Callable[..., Any] = patched.forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        return fn(module, mode, *args, **kwargs)

    module.forward = forward

    def undo() -> None:
        del module.forward

    return undo


def unique(modules: list[nn.Module]) -> list[nn.Module]:
    """Modules in order, each once (ALBERT's shared block appears once per layer that calls it)."""
    seen: set[int] = set()
    return [m for m in modules if not (id(m) in seen or seen.add(id(m)))]


@dataclass
class GateRule(Rule):
    """Rule for a gated feed-forward's product (the family entry's `lrp.gate`): `hold` holds the gate constant
    (CP-LRP), `uniform` halves the gradient into both factors (AttnLRP). Families without a gate: nothing to attach."""

    mode: str = "hold"

    def attach(self, adapter: ModelAdapter) -> list[Undo]:
        gate = adapter.family.lrp.gate
        if gate is None:
            return []
        return [patch_forward(resolve(layer, gate.path), gate, self.mode) for layer in unique(adapter.layers)]
