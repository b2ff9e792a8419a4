"""The modalities trexplain explains, one object each (see `base.Modality` and docs/modalities.md)."""

from trexplain.models.modalities.base import Modality
from trexplain.models.modalities.image import IMAGE, ImageInputs, ImageModality
from trexplain.models.modalities.text import TEXT, TextModality

MODALITIES: dict[str, Modality] = {m.kind: m for m in (TEXT, IMAGE)}
"""Every modality by its layout kind."""

__all__ = ["IMAGE", "MODALITIES", "TEXT", "ImageInputs", "ImageModality", "Modality", "TextModality"]
