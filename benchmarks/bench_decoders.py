"""Decoder classifiers: cp-lrp and attnlrp per family on random small models (hidden 256, 4 layers, 4 query heads
sharing 2 key/value heads), each timed back to back with a forward+backward on the same text (`paired_row`).
Long inputs (512/2k/8k tokens) and peak memory are not measured yet."""

from __future__ import annotations

import torch

from benchmarks.common import Context, median_ms
from benchmarks.families import FAMILY_TEXTS, paired_row
from tests.test_decoders import DECODERS, decoder_config, decoder_tokenizer
from tests.tiny import LABELS
from trexplain.methods import Targets
from trexplain.methods.lrp import attnlrp_rules, cp_lrp_rules, lrp_attribution
from trexplain.models import ModelAdapter
from trexplain.models.families import family_for

SCALE = {"hidden_size": 256, "num_attention_heads": 4, "intermediate_size": 1024, "max_position_embeddings": 4096}


def random_decoder(family: str, layers: int = 4) -> ModelAdapter:
    """A randomly initialised decoder classifier of `family` (hidden 256, eager attention)."""
    from transformers import AutoModelForSequenceClassification

    tokenizer = decoder_tokenizer(family)
    tokenizer.model_max_length = SCALE["max_position_embeddings"]
    torch.manual_seed(0)
    config = decoder_config(family, len(tokenizer), **SCALE, num_hidden_layers=layers)
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager").eval()
    return ModelAdapter(model, tokenizer, family=family_for(config.model_type), labels=LABELS, name=family)


def run(ctx: Context) -> list[dict]:
    return per_family(ctx)


def per_family(ctx: Context) -> list[dict]:
    """cp-lrp and attnlrp (predicted class) ÷ forward+backward on every decoder family."""
    rows = []
    texts = ctx.texts[:FAMILY_TEXTS]
    for family in DECODERS:
        own = Context(random_decoder(family), texts)
        own.forward_ms = median_ms(own.forward, texts)
        own.forward_backward_ms = median_ms(own.forward_backward, texts)
        targets = Targets("predicted", own.adapter)
        for name, rules in (("cp-lrp", cp_lrp_rules), ("attnlrp", attnlrp_rules)):

            def call(text: str, own=own, targets=targets, rules=rules) -> None:
                lrp_attribution(own.adapter, own.adapter.encode([text]), targets, rules())

            rows.append(paired_row(own, "decoders", f"{name} [{family}, random 256×4]", call))
    return rows
