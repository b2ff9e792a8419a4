"""Every supported model family, one entry each (`Family`, in a small module per family or group): adding a family
is adding one entry here (see docs/families.md)."""

from __future__ import annotations

from trexplain.models.families import albert, bert, deberta, decoders, distilbert, gpt2, modernbert, mpnet
from trexplain.models.families.base import CUSTOM, Family, LrpAdaptation, PatchedForward, check_parts, locate, resolve

FAMILIES: tuple[Family, ...] = (
    *bert.FAMILIES,
    *distilbert.FAMILIES,
    *deberta.FAMILIES,
    *modernbert.FAMILIES,
    *albert.FAMILIES,
    *mpnet.FAMILIES,
    *decoders.FAMILIES,
    *gpt2.FAMILIES,
)


def family_for(model_type: str) -> Family | None:
    """The family entry for a `config.model_type`, or None when unsupported."""
    return next((f for f in FAMILIES if model_type in f.model_types), None)


def supported_model_types() -> list[str]:
    """Every `config.model_type` some entry covers."""
    return [t for f in FAMILIES for t in f.model_types]


__all__ = [
    "CUSTOM",
    "FAMILIES",
    "Family",
    "LrpAdaptation",
    "PatchedForward",
    "check_parts",
    "family_for",
    "locate",
    "resolve",
    "supported_model_types",
]
