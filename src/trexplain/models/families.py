"""Where each part lives in each supported model family: adding a family is adding one entry."""

from __future__ import annotations

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
