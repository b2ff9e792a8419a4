"""MPNet: attention with a relative position bias, written inline, so the family brings its own attention forward
with the rule (`hold` detaches the whole biased attention, `uniform` halves the gradient of the scores and of
A·V); the head applies tanh inline, as RoBERTa's."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from trexplain.models.families.base import Family, LrpAdaptation, PatchedForward
from trexplain.models.families.gradients import halve_gradient, no_dropout


def mpnet_attention(
    module: nn.Module,
    mode: str,
    hidden_states: Tensor,
    attention_mask: Tensor | None = None,
    position_bias: Tensor | None = None,
    output_attentions: bool = False,
    **_: Any,
) -> tuple[Tensor, ...]:
    """`MPNetSelfAttention.forward` (transformers 5) with the rule on the attention (relative bias included)."""
    no_dropout(module, module.dropout)
    hidden_shape = (*hidden_states.shape[:-1], -1, module.attention_head_size)
    q = module.q(hidden_states).view(hidden_shape).transpose(1, 2)
    k = module.k(hidden_states).view(hidden_shape).transpose(1, 2)
    v = module.v(hidden_states).view(hidden_shape).transpose(1, 2)
    scores = torch.matmul(q, k.transpose(-1, -2))
    scores = scores / math.sqrt(module.attention_head_size)
    if position_bias is not None:
        scores += position_bias
    if attention_mask is not None:
        scores = scores + attention_mask
    if mode == "uniform":
        scores = halve_gradient(scores)
    probs = nn.functional.softmax(scores, dim=-1)
    if mode == "hold":
        probs = probs.detach()
    c = torch.matmul(probs, v)
    if mode == "uniform":
        c = halve_gradient(c)
    c = c.permute(0, 2, 1, 3).contiguous()
    c = c.view(*c.size()[:-2], module.all_head_size)
    o = module.o(c)
    return (o, probs) if output_attentions else (o,)


MPNET = Family(
    "mpnet",
    ("mpnet",),
    "mpnet.embeddings",
    "mpnet.encoder.layer",
    "attention.attn",
    True,
    False,
    "intermediate",
    block_tuple=True,
    lrp=LrpAdaptation(
        attention=PatchedForward("MPNetSelfAttention", mpnet_attention),
        inline_activations=(("classifier.dense", "classifier.out_proj", torch.tanh),),
    ),
    head="classifier",
)
FAMILIES = (MPNET,)
