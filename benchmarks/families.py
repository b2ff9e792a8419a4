"""Random small classifiers of every supported family, each with its own benchmark `Context` (forward and
forward+backward timed on it), for the per-family rows of the LRP and IG benchmarks."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from benchmarks.common import Context, median_ms
from tests.tiny import ALL_FAMILIES, LABELS, config_for, tokenizer_for
from trexplain.models import ModelAdapter
from trexplain.models.families import family_for

SCALE = {"hidden_size": 256, "num_attention_heads": 4, "intermediate_size": 1024, "max_position_embeddings": 514}
LAYERS = 4
FAMILY_TEXTS = 12  # per family: the tiny tokenizers split tweets finely, so these texts are long


def random_adapter(family: str, seed: int = 0) -> ModelAdapter:
    """A randomly initialised classifier of `family` (hidden 256, 4 layers, eager attention)."""
    from transformers import AutoModelForSequenceClassification

    tokenizer = tokenizer_for(family)
    tokenizer.model_max_length = 512
    torch.manual_seed(seed)
    config = config_for(family, len(tokenizer), **SCALE, num_hidden_layers=LAYERS)
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager").eval()
    return ModelAdapter(model, tokenizer, family=family_for(config.model_type), labels=LABELS, name=family)


def family_contexts(ctx: Context, families: tuple[str, ...] = ALL_FAMILIES) -> Iterator[tuple[str, Context]]:
    """(family, its Context on the first texts of `ctx`) for every family, built one at a time."""
    texts = ctx.texts[:FAMILY_TEXTS]
    for family in families:
        own = Context(random_adapter(family), texts)
        own.forward_ms = median_ms(own.forward, texts)
        own.forward_backward_ms = median_ms(own.forward_backward, texts)
        yield family, own
