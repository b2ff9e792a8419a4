"""`Family`: everything trexplain knows about one model family, in one entry — where its parts live, how LRP
reaches them (`LrpAdaptation`), which token its head pools and where the head is — and `check_parts`, which makes a
model whose parts are not where its entry says fail when it is loaded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from trexplain.errors import ModelLoadError

Pooling = Literal["first", "last"]
Norm = Literal["layernorm", "rmsnorm"]

InlineActivation = tuple[str, str, Callable[[torch.Tensor], torch.Tensor]]
"""An activation the forward code calls as a function: (module before it, module after it, the function)."""


@dataclass(frozen=True)
class PatchedForward:
    """A module's own forward rewritten op for op with an LRP rule in it (`forward(module, mode, *args)`, mode
    "hold" for CP-LRP or "uniform" for AttnLRP); `written_for` is the class it copies, checked before patching;
    `path` is where the module sits in a block (unused for attention, which sits at the family's `self_attention`)."""

    written_for: str
    forward: Callable[..., Any]
    path: str = ""


@dataclass(frozen=True)
class LrpAdaptation:
    """How the LRP rules reach a family's parts; the defaults fit a family whose attention goes through the
    transformers attention interface, with LayerNorm and activation modules only (BERT).

    `attention`: the family's own attention forward with the rule, when it is written inline (DeBERTa, MPNet).
    `gate`: a gated feed-forward's forward with the gate rule (ModernBERT). `inline_activations`: activations
    called as functions, or a function of the model giving them (when the config names the activation).
    `softmax_dtype`: the dtype the family's eager softmax computes in. `norm`: which normalisation rule its norms
    take. `unsupported`: a function of the config giving why LRP cannot explain this variant, or None.
    """

    attention: PatchedForward | None = None
    gate: PatchedForward | None = None
    inline_activations: tuple[InlineActivation, ...] | Callable[[nn.Module], tuple[InlineActivation, ...]] = ()
    softmax_dtype: torch.dtype | None = None
    norm: Norm = "layernorm"
    unsupported: Callable[[Any], str | None] | None = None

    def activations(self, model: nn.Module) -> tuple[InlineActivation, ...]:
        """The inline activations of this model."""
        found = self.inline_activations
        return tuple(found(model) if callable(found) else found)


@dataclass(frozen=True)
class Family:
    """One Hugging Face family, paths relative to its `*ForSequenceClassification` (or `*ForImageClassification`).

    `blocks`: the block per call for shared blocks (ALBERT; `layers` unused). `pooling`: the token the head reads
    ("first": [CLS]/<s>; "last": the last non-pad token, for decoders). `head`: the path of the classification head
    (checked at load; "" = not checked).
    """

    name: str
    model_types: tuple[str, ...]
    embeddings: str
    layers: str
    self_attention: str
    positions_from_ids: bool
    token_types: bool
    feed_forward: str  # first module of a block's position-wise feed-forward, relative to the block
    block_tuple: bool = False  # blocks return (hidden, attention) rather than a tensor
    blocks: Callable[[nn.Module], list[nn.Module]] | None = None
    lrp: LrpAdaptation = field(default_factory=LrpAdaptation)
    pooling: Pooling = "first"
    head: str = ""


CUSTOM = Family("custom", (), "", "", "", False, False, "")
"""The entry of a plain PyTorch model wrapped with `ModelAdapter.from_module`: its parts are given, not looked up."""


def resolve(module: nn.Module, path: str) -> nn.Module:
    """`resolve(model, "bert.encoder.layer")` → that submodule."""
    for part in path.split("."):
        module = getattr(module, part)
    return module


def locate(
    family: Family, model: nn.Module, embeddings: nn.Module | None = None, layers: Sequence[nn.Module] | None = None
) -> tuple[nn.Module, list[nn.Module]]:
    """The embedding module and the blocks of `model` (those given, else found through `family`), after checking
    every part the entry names (`check_parts`); CUSTOM's parts are given, so nothing is looked up for it."""
    if family is CUSTOM:
        return embeddings, list(layers or [])  # type: ignore[return-value]
    if embeddings is None:
        embeddings = _find(family, model, family.embeddings, "embeddings")
    if layers is None and family.blocks is not None:
        layers = family.blocks(model)
    elif layers is None:
        layers = list(_find(family, model, family.layers, "blocks"))
    check_parts(family, model, list(layers))
    return embeddings, list(layers)


def check_parts(family: Family, model: nn.Module, layers: Sequence[nn.Module]) -> None:
    """A ModelLoadError naming the first part of `family` that `model` lacks: every block's attention,
    feed-forward and gate, the head and the inline activations' neighbours."""
    if not layers:
        raise ModelLoadError(f"family {family.name}: no blocks found at {family.layers or 'its blocks function'!r}")
    block_parts = {"self_attention": family.self_attention, "feed_forward": family.feed_forward}
    if family.lrp.gate is not None:
        block_parts["gate"] = family.lrp.gate.path
    for number, layer in enumerate(layers):
        for part, path in block_parts.items():
            if path:
                _find(family, layer, path, f"{part} of block {number}")
    if family.head:
        _find(family, model, family.head, "head")
    try:
        activations = family.lrp.activations(model)
    except (AttributeError, KeyError) as exc:
        raise ModelLoadError(f"family {family.name}: its inline activations cannot be read ({exc})") from exc
    for before, after, _ in activations:
        _find(family, model, before, "module before an inline activation")
        _find(family, model, after, "module after an inline activation")


def _find(family: Family, root: nn.Module, path: str, part: str) -> nn.Module:
    try:
        found = resolve(root, path)
    except AttributeError:
        found = None
    if not isinstance(found, nn.Module):
        raise ModelLoadError(
            f"family {family.name}: its {part} is not at {path!r} in {type(root).__name__} "
            "(another transformers version, or a model of another family?); update the family entry"
        )
    return found
