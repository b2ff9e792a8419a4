"""DeBERTa-v2/v3: disentangled attention written inline (not through the transformers interface), so the family
brings its own attention forward with the rule; the pooler's activation is named in the config; v2-xlarge/xxlarge's
convolution after the first block has no conservative rule.

The attention rule: `hold` (CP-LRP) detaches the whole attention matrix — content-to-content, content-to-position
and position-to-content terms alike — so relevance flows through the values only; `uniform` (AttnLRP) halves the
gradient of the score sum (every term is a bilinear product; the position operands are constants of the input)
and of A·V.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from trexplain.models.families.base import Family, InlineActivation, LrpAdaptation, PatchedForward
from trexplain.models.families.gradients import halve_gradient, no_dropout


def deberta_attention(
    module: nn.Module,
    mode: str,
    hidden_states: Tensor,
    attention_mask: Tensor,
    output_attentions: bool = False,
    query_states: Tensor | None = None,
    relative_pos: Tensor | None = None,
    rel_embeddings: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """`DisentangledSelfAttention.forward` (transformers 5) with the rule on the whole attention matrix."""
    no_dropout(module, module.dropout)
    if query_states is None:
        query_states = hidden_states
    heads = module.num_attention_heads
    query_layer = module.transpose_for_scores(module.query_proj(query_states), heads)
    key_layer = module.transpose_for_scores(module.key_proj(hidden_states), heads)
    value_layer = module.transpose_for_scores(module.value_proj(hidden_states), heads)
    scale_factor = 1 + ("c2p" in module.pos_att_type) + ("p2c" in module.pos_att_type)
    scale = torch.sqrt(torch.tensor(query_layer.size(-1), dtype=torch.float) * scale_factor)
    scores = torch.bmm(query_layer, key_layer.transpose(-1, -2) / scale.to(dtype=query_layer.dtype))
    if module.relative_attention:
        rel_embeddings = module.pos_dropout(rel_embeddings)
        rel_att = module.disentangled_attention_bias(query_layer, key_layer, relative_pos, rel_embeddings, scale_factor)
        if rel_att is not None:
            scores = scores + rel_att
    scores = scores.view(-1, heads, scores.size(-2), scores.size(-1))
    if mode == "uniform":
        scores = halve_gradient(scores)
    scores = scores.masked_fill(~(attention_mask.bool()), torch.finfo(query_layer.dtype).min)
    probs = nn.functional.softmax(scores, dim=-1)
    if mode == "hold":
        probs = probs.detach()
    context = torch.bmm(probs.view(-1, probs.size(-2), probs.size(-1)), value_layer)
    if mode == "uniform":
        context = halve_gradient(context)
    context = context.view(-1, heads, context.size(-2), context.size(-1)).permute(0, 2, 1, 3).contiguous()
    context = context.view(*context.size()[:-2], -1)
    return (context, probs if output_attentions else None)


def pooler_activation(model: nn.Module) -> tuple[InlineActivation, ...]:
    """The pooler's activation, applied inline between `pooler.dense` and `classifier`, named in the config."""
    from transformers.activations import ACT2FN

    return (("pooler.dense", "classifier", ACT2FN[model.config.pooler_hidden_act]),)


def unsupported(config: Any) -> str | None:
    """Why LRP cannot explain this DeBERTa-v2 variant (the convolution of v2-xlarge/xxlarge applies its activation
    inline on a masked, permuted output), or None."""
    if getattr(config, "conv_kernel_size", 0) > 0:
        return (
            "LRP does not support DeBERTa-v2 with conv_kernel_size > 0 (the convolution layer of v2-xlarge/xxlarge "
            "has no conservative rule here); use ig, gxi or a perturbation method instead"
        )
    return None


DEBERTA_V2 = Family(
    "deberta-v2",
    ("deberta-v2",),
    "deberta.embeddings",
    "deberta.encoder.layer",
    "attention.self",
    False,
    True,
    "intermediate",
    block_tuple=True,
    lrp=LrpAdaptation(
        attention=PatchedForward("DisentangledSelfAttention", deberta_attention),
        inline_activations=pooler_activation,
        unsupported=unsupported,
    ),
    head="classifier",
)
FAMILIES = (DEBERTA_V2,)
