"""Where each part lives in each supported model family: adding a family is adding one entry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class Family:
    """Attribute paths of one Hugging Face encoder family, relative to the `*ForSequenceClassification`."""

    name: str
    model_types: tuple[str, ...]
    embeddings: str
    layers: str
    self_attention: str
    positions_from_ids: bool
    token_types: bool
    feed_forward: str  # first module of a block's position-wise feed-forward, relative to the block
    block_tuple: bool = False  # blocks return (hidden, attention) rather than a tensor
    blocks: Callable[[nn.Module], list[nn.Module]] | None = None  # block per call, for shared blocks (`layers` unused)


def albert_blocks(model: nn.Module) -> list[nn.Module]:
    """ALBERT's blocks in call order: its `num_hidden_groups` groups of `inner_group_num` layers are shared, so one
    module appears once per layer that calls it (as `AlbertTransformer.forward` picks the group of layer i)."""
    config, groups = model.config, model.albert.encoder.albert_layer_groups
    per_group = config.num_hidden_layers / config.num_hidden_groups
    return [layer for i in range(config.num_hidden_layers) for layer in groups[int(i / per_group)].albert_layers]


FAMILIES: tuple[Family, ...] = (
    Family("bert", ("bert",), "bert.embeddings", "bert.encoder.layer", "attention.self", False, True, "intermediate"),
    *(
        Family(
            name, (name,), "roberta.embeddings", "roberta.encoder.layer", "attention.self", True, True, "intermediate"
        )
        for name in ("roberta", "xlm-roberta", "camembert")
    ),
    Family(
        "distilbert",
        ("distilbert",),
        "distilbert.embeddings",
        "distilbert.transformer.layer",
        "attention",
        False,
        False,
        "ffn",
    ),
    Family(
        "electra",
        ("electra",),
        "electra.embeddings",
        "electra.encoder.layer",
        "attention.self",
        False,
        True,
        "intermediate",
    ),
    Family(
        "deberta-v2",
        ("deberta-v2",),
        "deberta.embeddings",
        "deberta.encoder.layer",
        "attention.self",
        False,
        True,
        "intermediate",
        block_tuple=True,
    ),
    Family("modernbert", ("modernbert",), "model.embeddings", "model.layers", "attn", False, False, "mlp"),
    Family("albert", ("albert",), "albert.embeddings", "", "attention", False, True, "ffn", blocks=albert_blocks),
    Family(
        "mpnet",
        ("mpnet",),
        "mpnet.embeddings",
        "mpnet.encoder.layer",
        "attention.attn",
        True,
        False,
        "intermediate",
        block_tuple=True,
    ),
)

CUSTOM = Family("custom", (), "", "", "", False, False, "")


def family_for(model_type: str) -> Family | None:
    """The family entry for a `config.model_type`, or None when unsupported."""
    return next((f for f in FAMILIES if model_type in f.model_types), None)


def supported_model_types() -> list[str]:
    return [t for f in FAMILIES for t in f.model_types]


def resolve(module: nn.Module, path: str) -> nn.Module:
    """`resolve(model, "bert.encoder.layer")` → that submodule."""
    for part in path.split("."):
        module = getattr(module, part)
    return module
