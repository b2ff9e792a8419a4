"""Random small classifiers of every supported family, each with its own benchmark `Context`, for the per-family
rows of the LRP and IG benchmarks. On a shared machine whose load drifts, each method call is timed back to back
with a forward+backward on the same text (`paired_row`), and the ratio is the median of the per-text ratios."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from typing import Any

import torch

from benchmarks.common import Context, median_ms, paired_times
from tests.tiny import ALL_FAMILIES, LABELS, config_for, tokenizer_for
from trexplain.methods import Targets
from trexplain.methods.lrp import attnlrp_rules, cp_lrp_rules, lrp_attribution
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


def family_contexts(
    ctx: Context,
    families: tuple[str, ...] = ALL_FAMILIES,
    build: Callable[[str], ModelAdapter] = random_adapter,
) -> Iterator[tuple[str, Context]]:
    """(family, its Context on the first texts of `ctx`) for every family, its model from `build`, one at a time."""
    texts = ctx.texts[:FAMILY_TEXTS]
    for family in families:
        own = Context(build(family), texts)
        own.forward_ms = median_ms(own.forward, texts)
        own.forward_backward_ms = median_ms(own.forward_backward, texts)
        yield family, own


def paired_row(own: Context, section: str, name: str, fn: Callable[[str], Any], **extra: Any) -> dict[str, Any]:
    """A row for `fn`: its median ms and the median per-text ratio to a forward+backward timed right before it."""
    ours, _, ratios = paired_times(fn, own.forward_backward, own.texts)
    row = own.row(section, name, 1000 * statistics.median(ours), **extra)
    row["x_fwd_bwd"] = round(statistics.median(ratios), 2)
    return row


def lrp_rows(contexts: Iterator[tuple[str, Context]], section: str) -> list[dict[str, Any]]:
    """cp-lrp and attnlrp (predicted class) ÷ a forward+backward (`paired_row`) on each family's context."""
    rows = []
    for family, own in contexts:
        targets = Targets("predicted", own.adapter)
        for name, rules in (("cp-lrp", cp_lrp_rules), ("attnlrp", attnlrp_rules)):

            def call(text: str, own=own, targets=targets, rules=rules) -> None:
                lrp_attribution(own.adapter, own.adapter.encode([text]), targets, rules())

            rows.append(paired_row(own, section, f"{name} [{family}, random 256×4]", call))
    return rows
