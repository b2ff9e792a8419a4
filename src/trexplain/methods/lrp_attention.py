"""The attention rule (as zennit's canonizers, apart from the other rules): attached through the transformers
attention interface, through the family entry's own attention forward where it writes attention inline
(`Family.lrp.attention`), or to every nn.MultiheadAttention of a custom model.

Through the interface the rule runs on the model's own attention implementation: eager attention is rewritten op for
op; a fused one (sdpa, flash) is called with the rule on its operands, so its memory stays O(length), not
O(length²) per layer (docs/long-inputs.md)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from trexplain.errors import MethodError
from trexplain.methods.lrp_families import check_supported, patch_forward, unique
from trexplain.methods.lrp_rules import Rule, Undo, identity_rule
from trexplain.models.adapter import ModelAdapter
from trexplain.models.families import CUSTOM, resolve
from trexplain.models.families.gradients import halve_gradient

AttentionMode = Literal["hold", "uniform"]
ATTENTION_IMPLEMENTATION = "trexplain_lrp"
_MODE = "_trexplain_attention_mode"
_SOFTMAX_DTYPE = "_trexplain_softmax_dtype"
_OWN = "_trexplain_own_attention"


def attention_probabilities(
    scores: Tensor, mask: Tensor | None, mode: AttentionMode, dtype: torch.dtype | None = None
) -> Tensor:
    """Softmax of attention scores [.., queries, keys] plus an additive or boolean (True = keep) mask.

    `hold` detaches the result (AH rule: probabilities are constants, relevance flows through values only);
    `uniform` keeps the softmax gradient (AttnLRP's softmax rule equals gradient × input). `dtype`: the softmax
    is computed in it and cast back, as ModernBERT's eager attention does in float32.
    """
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min) if mask.dtype == torch.bool else scores + mask
    probs = F.softmax(scores, dim=-1) if dtype is None else F.softmax(scores, dim=-1, dtype=dtype).to(scores.dtype)
    return probs.detach() if mode == "hold" else probs


def _rule_attention(
    module: nn.Module,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    softcap: float | None = None,
    **kwargs: Any,
) -> tuple[Tensor, Tensor | None]:
    """Transformers attention function: the model's own attention with the module's LRP rule — the eager computation
    op for op, or the model's fused implementation on the rule's operands (`_fused_attention`).

    Grouped-query attention (decoders): each key/value head is repeated for its query heads, as the eager function
    does, so the copies' gradients sum back on it. Gemma's soft-capping `c·tanh(s/c)` of the scores: behind the held
    probabilities for `hold`; the identity rule (× cap(s)/s) for `uniform`."""
    mode: AttentionMode = getattr(module, _MODE, "uniform")
    if dropout and module.training:
        raise MethodError("LRP rules need dropout off; call model.eval() first")
    own = getattr(module, _OWN, "eager")
    if own != "eager":
        fused = dict(kwargs, scaling=scaling, dropout=dropout, softcap=softcap)
        return _fused_attention(module, mode, own, query, key, value, attention_mask, **fused)
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:
        key, value = (t.repeat_interleave(groups, dim=1) for t in (key, value))
    scaling = query.size(-1) ** -0.5 if scaling is None else scaling
    products = torch.matmul(query, key.transpose(2, 3))
    if mode == "uniform":
        products = halve_gradient(products)
    scores = products * scaling
    if softcap is not None:
        capped = torch.tanh(scores / softcap) * softcap
        scores = identity_rule(scores, capped) if mode == "uniform" else capped
    softmax_dtype = getattr(module, _SOFTMAX_DTYPE, None)
    probs = attention_probabilities(scores, attention_mask, mode, softmax_dtype)
    output = torch.matmul(probs, value)
    if mode == "uniform":
        output = halve_gradient(output)
    return output.transpose(1, 2).contiguous(), probs


def _fused_attention(
    module: nn.Module,
    mode: AttentionMode,
    implementation: str,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,
    **kwargs: Any,
) -> tuple[Tensor, Tensor | None]:
    """The model's own fused attention (`implementation`, e.g. sdpa) with the rule on its operands: `hold` detaches
    Q and K, which holds the probabilities constant (the AH rule, exactly); `uniform` scales the gradients of Q and
    K by ¼ and of V by ½ (½ after QKᵀ and ½ after A·V: AttnLRP's uniform rule, the softmax gradient untouched).
    Values are the implementation's own, bit for bit. Soft-capping under `uniform` needs eager attention."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    if mode == "hold":
        query, key = query.detach(), key.detach()
    elif kwargs.get("softcap") is not None:
        raise MethodError(
            f"AttnLRP's rule on attention soft-capping needs eager attention, this model uses {implementation}; "
            "call model.set_attn_implementation('eager') first, or use cp-lrp"
        )
    else:
        query, key = (halve_gradient(halve_gradient(t)) for t in (query, key))
        value = halve_gradient(value)
    return ALL_ATTENTION_FUNCTIONS[implementation](module, query, key, value, attention_mask, **kwargs)


def _register_attention() -> None:
    from transformers.modeling_utils import AttentionInterface

    if ATTENTION_IMPLEMENTATION not in AttentionInterface._global_mapping:
        AttentionInterface.register(ATTENTION_IMPLEMENTATION, _rule_attention)


@dataclass
class AttentionRule(Rule):
    """Rule for self-attention: `hold` = CP-LRP's AH rule, `uniform` = AttnLRP (½ gradient after QKᵀ and A·V).

    Hugging Face families: each self-attention module gets a private config copy naming our registered
    attention function (the shared model config and other models are untouched). Custom models: every
    `nn.MultiheadAttention` gets a forward hook returning its exact output with the rule's gradient.
    """

    mode: AttentionMode = "hold"

    def attach(self, adapter: ModelAdapter) -> list[Undo]:
        family = adapter.family
        if family is CUSTOM:
            return self._attach_multihead(adapter.model)
        check_supported(adapter)
        attentions = unique([resolve(layer, family.self_attention) for layer in adapter.layers])
        if family.lrp.attention is not None:
            return [patch_forward(attention, family.lrp.attention, self.mode) for attention in attentions]
        _register_attention()
        undo: list[Undo] = []
        for attention in attentions:
            config = getattr(attention, "config", None)
            if config is None or not hasattr(config, "_attn_implementation"):
                raise MethodError(f"{type(attention).__name__} does not use the transformers attention interface")
            private = copy.copy(config)
            private._attn_implementation_internal = ATTENTION_IMPLEMENTATION
            attention.config = private
            setattr(attention, _MODE, self.mode)
            setattr(attention, _OWN, config._attn_implementation or "eager")
            if family.lrp.softmax_dtype is not None:
                setattr(attention, _SOFTMAX_DTYPE, family.lrp.softmax_dtype)
            undo.append(_restore(attention, config))
        return undo

    def _attach_multihead(self, model: nn.Module) -> list[Undo]:
        modules = [m for m in model.modules() if isinstance(m, nn.MultiheadAttention)]
        if not modules:
            raise MethodError(
                "no nn.MultiheadAttention found in the custom model, so the attention rule has nothing to act on; "
                "custom encoders need nn.MultiheadAttention (load Hugging Face models with load_model instead)"
            )
        hook = _multihead_hook(self.mode)
        return [m.register_forward_hook(hook, with_kwargs=True).remove for m in modules]


def _restore(attention: nn.Module, config: Any) -> Undo:
    def undo() -> None:
        attention.config = config
        for name in (_MODE, _SOFTMAX_DTYPE, _OWN):
            if hasattr(attention, name):
                delattr(attention, name)

    return undo


def _multihead_hook(mode: AttentionMode) -> Callable[..., Any]:
    def hook(module: nn.MultiheadAttention, args: tuple, kwargs: dict, output: tuple) -> tuple:
        surrogate = _multihead_surrogate(module, mode, *args, **kwargs)
        exact = output[0].detach()
        return (exact + (surrogate - surrogate.detach()), *output[1:])

    return hook


def _multihead_surrogate(
    module: nn.MultiheadAttention,
    mode: AttentionMode,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    key_padding_mask: Tensor | None = None,
    need_weights: bool = True,
    attn_mask: Tensor | None = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> Tensor:
    """`nn.MultiheadAttention`'s output recomputed with the rule's gradient (its value is discarded)."""
    if module.bias_k is not None or module.add_zero_attn or (module.dropout and module.training):
        raise MethodError("LRP rules support nn.MultiheadAttention without add_bias_kv/add_zero_attn, in eval mode")
    if not module.batch_first:
        query, key, value = (t.transpose(0, 1) for t in (query, key, value))
    if module._qkv_same_embed_dim:
        weights = module.in_proj_weight.chunk(3)
    else:
        weights = (module.q_proj_weight, module.k_proj_weight, module.v_proj_weight)
    biases = (None,) * 3 if module.in_proj_bias is None else module.in_proj_bias.chunk(3)
    heads, (batch, n_q, _) = module.num_heads, query.shape

    def split(t: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
        return F.linear(t, w, b).view(batch, t.shape[1], heads, -1).transpose(1, 2)

    q, k, v = (split(t, w, b) for t, w, b in zip((query, key, value), weights, biases, strict=True))
    products = torch.matmul(q, k.transpose(-2, -1))
    if mode == "uniform":
        products = halve_gradient(products)
    mask = _multihead_mask(attn_mask, key_padding_mask, is_causal, n_q, k.shape[2], batch, heads, q)
    probs = attention_probabilities(products / math.sqrt(q.shape[-1]), mask, mode)
    output = torch.matmul(probs, v)
    if mode == "uniform":
        output = halve_gradient(output)
    output = module.out_proj(output.transpose(1, 2).reshape(batch, n_q, -1))
    return output if module.batch_first else output.transpose(0, 1)


def _multihead_mask(
    attn_mask: Tensor | None,
    padding: Tensor | None,
    is_causal: bool,
    n_q: int,
    n_k: int,
    batch: int,
    heads: int,
    like: Tensor,
) -> Tensor | None:
    """nn.MultiheadAttention's masks (bool True = blocked, or additive) as one additive [B, H|1, Q, K] mask."""
    if attn_mask is None and is_causal:
        attn_mask = torch.ones(n_q, n_k, dtype=torch.bool, device=like.device).triu(1)
    total = None
    for mask, shape in ((attn_mask, None), (padding, (batch, 1, 1, n_k))):
        if mask is None:
            continue
        if mask.dtype == torch.bool:
            mask = torch.zeros_like(mask, dtype=like.dtype).masked_fill(mask, float("-inf"))
        if shape is not None:
            mask = mask.view(shape)
        elif mask.dim() == 3:
            mask = mask.view(batch, heads, n_q, n_k)
        total = mask if total is None else total + mask
    return total
