"""Decoder classifiers: cp-lrp and attnlrp per family on random small models (hidden 256, 4 layers, 4 query heads
sharing 2 key/value heads), each timed back to back with a forward+backward on the same text (`paired_row`); and
the trust table (AOPC comprehensiveness and sufficiency per method, with the random floor) of the trained decoder
demo (`demo-decoder`) beside the encoder demo's, on the same held-out tweets.
Long inputs (512/2k/8k tokens, time and peak memory) are in `bench_long_inputs.py`."""

from __future__ import annotations

import torch

from benchmarks.common import Context
from benchmarks.families import family_contexts, lrp_rows
from tests.test_decoders import DECODERS, decoder_config, decoder_tokenizer
from tests.tiny import LABELS
from trexplain.evaluate import faithfulness_table
from trexplain.models import ModelAdapter, load_model
from trexplain.models.families import family_for

TRUST_TEXTS = 20
TRUST_METHODS = ("cp-lrp", "attnlrp", "gxi", "saliency", "ig", "occlusion", "attention", "rollout", "grad-rollout")
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
    return per_family(ctx) + trust_rows(ctx)


def per_family(ctx: Context) -> list[dict]:
    """cp-lrp and attnlrp (predicted class) ÷ forward+backward on every decoder family."""
    return lrp_rows(family_contexts(ctx, DECODERS, random_decoder), "decoders")


def trust_rows(ctx: Context, n_texts: int = TRUST_TEXTS) -> list[dict]:
    """The trust table (`faithfulness_table`: words deleted, predicted class) of the encoder demo and of the decoder
    demo on the same first `n_texts` held-out tweets, one row per model and method, the random floor included."""
    rows = []
    for adapter in (ctx.adapter, load_model("demo-decoder")):
        table = faithfulness_table(adapter, ctx.texts[:n_texts], list(TRUST_METHODS))
        ctx.notes.append(f"verdict ({adapter.name}, {n_texts} texts, delete, words): {table.verdict}")
        rows += [
            {
                "section": "decoders",
                "name": f"trust: {row['method']} [{adapter.name}]",
                "comp": round(row["comprehensiveness"], 3),
                "suff": round(row["sufficiency"], 3),
                "margin": round(row["margin"], 3),
                "se": None if row["se"] is None else round(row["se"], 3),
                "n": row["n"],
            }
            for row in table.rows
            if row["classes"] == "predicted"
        ]
    return rows
