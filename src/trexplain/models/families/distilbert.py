"""DistilBERT: its own attention module (through the transformers interface), no token types; the head applies
ReLU inline between `pre_classifier` and `classifier`."""

from __future__ import annotations

import torch

from trexplain.models.families.base import Family, LrpAdaptation

DISTILBERT = Family(
    "distilbert",
    ("distilbert",),
    "distilbert.embeddings",
    "distilbert.transformer.layer",
    "attention",
    False,
    False,
    "ffn",
    lrp=LrpAdaptation(inline_activations=(("pre_classifier", "classifier", torch.relu),)),
    head="classifier",
)
FAMILIES = (DISTILBERT,)
