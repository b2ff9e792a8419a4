"""BERT and the families built like it (RoBERTa, XLM-R, CamemBERT, ELECTRA): attention through the transformers
interface, LayerNorm, GELU modules; RoBERTa's head applies tanh inline between its two linear layers."""

from __future__ import annotations

import torch

from trexplain.models.families.base import Family, LrpAdaptation

ROBERTA_HEAD = LrpAdaptation(inline_activations=(("classifier.dense", "classifier.out_proj", torch.tanh),))

BERT = Family(
    "bert",
    ("bert",),
    "bert.embeddings",
    "bert.encoder.layer",
    "attention.self",
    False,
    True,
    "intermediate",
    head="classifier",
)
ROBERTA_LIKE = tuple(
    Family(
        name,
        (name,),
        "roberta.embeddings",
        "roberta.encoder.layer",
        "attention.self",
        True,
        True,
        "intermediate",
        lrp=ROBERTA_HEAD,
        head="classifier",
    )
    for name in ("roberta", "xlm-roberta", "camembert")
)
ELECTRA = Family(
    "electra",
    ("electra",),
    "electra.embeddings",
    "electra.encoder.layer",
    "attention.self",
    False,
    True,
    "intermediate",
    head="classifier",
)
FAMILIES = (BERT, *ROBERTA_LIKE, ELECTRA)
