"""GPT-2: learned absolute positions added after the token embeddings (the attribution site is their sum, the output
of `transformer.drop`), LayerNorm, `Conv1D` projections (x @ W + b: plain gradients pass them exactly), attention
through the transformers interface (softmax in the model's dtype) and a head reading the last real token."""

from __future__ import annotations

from trexplain.models.families.base import Family

GPT2 = Family(
    "gpt2",
    ("gpt2",),
    "transformer.drop",
    "transformer.h",
    "attn",
    False,
    False,
    "mlp",
    pooling="last",
    head="score",
)
FAMILIES = (GPT2,)
