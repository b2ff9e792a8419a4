"""Per-family LRP adaptations for attention and feed-forwards written inline (not through the transformers
attention interface): DeBERTa-v2/v3's disentangled attention, MPNet's attention with a relative position bias and
ModernBERT's gated feed-forward. Each is the family's own forward, op for op (so forward values stay
bit-identical), with the rule placed where the family's code differs:

- attention (DeBERTa, MPNet): `hold` (CP-LRP) detaches the whole attention matrix — content-to-content,
  content-to-position, position-to-content terms and the relative position bias alike — so relevance flows
  through the values only, as CP-LRP holds any attention; `uniform` (AttnLRP) halves the gradient of the score sum
  (every term is a bilinear product; the position operands are constants of the input) and of A·V.
- gated feed-forward (ModernBERT: `Wo(act(x₁) · x₂)`): `hold` holds the gate x₂ constant, so the product is linear in
  act(x₁) and conservative; `uniform` (AttnLRP's rule for a product) halves the gradient into both factors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from trexplain.errors import MethodError
from trexplain.methods.lrp_rules import Rule, Undo, halve_gradient
from trexplain.models.adapter import ModelAdapter
from trexplain.models.families import resolve


def _no_dropout(module: nn.Module, dropout: nn.Module) -> None:
    if module.training and getattr(dropout, "p", 0.0):
        raise MethodError("LRP rules need dropout off; call model.eval() first")


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
    _no_dropout(module, module.dropout)
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
    _no_dropout(module, module.dropout)
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


def modernbert_mlp(module: nn.Module, mode: str, hidden_states: Tensor) -> Tensor:
    """`ModernBertMLP.forward` (transformers 5) with the gate rule on `act(input) · gate`."""
    _no_dropout(module, module.drop)
    value, gate = module.Wi(hidden_states).chunk(2, dim=-1)
    activated = module.act(value)
    if mode == "hold":
        gate = gate.detach()
    product = activated * gate
    if mode == "uniform":
        product = halve_gradient(product)
    return module.Wo(module.drop(product))


AttentionForward = Callable[..., Any]
ATTENTION_FORWARDS: dict[str, tuple[str, AttentionForward]] = {
    "deberta-v2": ("DisentangledSelfAttention", deberta_attention),
    "mpnet": ("MPNetSelfAttention", mpnet_attention),
}
"""Families whose attention is written inline: (class it was written for, its forward with the rule)."""

GATED_FEED_FORWARDS: dict[str, tuple[str, str, Callable[..., Tensor]]] = {
    "modernbert": ("mlp", "ModernBertMLP", modernbert_mlp),
}
"""Families with a gated feed-forward: (module path in a block, its class, its forward with the gate rule)."""


def check_supported(adapter: ModelAdapter) -> None:
    """A MethodError for family variants the adaptation does not cover: DeBERTa-v2's convolution after the first
    block (v2-xlarge/xxlarge, `conv_kernel_size` > 0) applies its activation inline on a masked, permuted output."""
    if adapter.family.name == "deberta-v2" and getattr(adapter.config, "conv_kernel_size", 0) > 0:
        raise MethodError(
            "LRP does not support DeBERTa-v2 with conv_kernel_size > 0 (the convolution layer of v2-xlarge/xxlarge "
            "has no conservative rule here); use ig, gxi or a perturbation method instead"
        )


def patch_forward(module: nn.Module, expected: str, fn: Callable[..., Any], mode: str) -> Undo:
    """Give `module` (of class `expected`) an instance-level forward `fn(module, mode, ...)`; returns the undo."""
    if type(module).__name__ != expected:
        raise MethodError(
            f"the LRP adaptation was written for {expected}, this model has {type(module).__name__} "
            "(another transformers version?); use a gradient or perturbation method instead"
        )

    def forward(*args: Any, **kwargs: Any) -> Any:
        return fn(module, mode, *args, **kwargs)

    module.forward = forward

    def undo() -> None:
        del module.forward

    return undo


def unique(modules: list[nn.Module]) -> list[nn.Module]:
    """Modules in order, each once (ALBERT's shared block appears once per layer that calls it)."""
    seen: set[int] = set()
    return [m for m in modules if not (id(m) in seen or seen.add(id(m)))]


@dataclass
class GateRule(Rule):
    """Rule for a gated feed-forward's product (see the module doc): `hold` for CP-LRP, `uniform` for AttnLRP.
    Families without a gate: nothing to attach."""

    mode: str = "hold"

    def attach(self, adapter: ModelAdapter) -> list[Undo]:
        entry = GATED_FEED_FORWARDS.get(adapter.family.name)
        if entry is None:
            return []
        path, expected, fn = entry
        return [patch_forward(resolve(layer, path), expected, fn, self.mode) for layer in unique(adapter.layers)]
