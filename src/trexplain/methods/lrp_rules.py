"""LRP rules as small composable objects, and `lrp_rules`, the context manager that applies them to one model.

Every rule changes only how gradients flow backward; forward values stay bit-identical (each rule returns the
exact forward value and attaches its own backward), so input × modified gradient is the LRP relevance
(Ali et al. 2022; Achtibat et al. 2024). Rules act on one model instance through forward hooks, an
instance-level attention config and a registered attention function; `lrp_rules` undoes all of it on exit,
exceptions included.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from trexplain.errors import MethodError
from trexplain.models.adapter import ModelAdapter
from trexplain.models.families import resolve

Undo = Callable[[], None]
AttentionMode = Literal["hold", "uniform"]
ATTENTION_IMPLEMENTATION = "trexplain_lrp"
_MODE = "_trexplain_attention_mode"


class Rule(ABC):
    """One propagation rule: `attach` changes the backward pass of some modules and returns how to undo it."""

    @abstractmethod
    def attach(self, adapter: ModelAdapter) -> list[Undo]:
        """Apply the rule to `adapter.model`; the returned callables, run in reverse, restore it."""


@contextmanager
def lrp_rules(adapter: ModelAdapter, rules: Sequence[Rule]) -> Iterator[None]:
    """Within the block, forwards of `adapter.model` record the rules' backward; the model is restored on exit."""
    if adapter.model.training:
        raise MethodError("LRP rules need the model in eval mode (dropout off); call model.eval() first")
    undo: list[Undo] = []
    try:
        for rule in rules:
            undo.extend(rule.attach(adapter))
        yield
    finally:
        for step in reversed(undo):
            step()


# ------------------------------------------------------------------ autograd functions with exact forwards
class _HalveGradient(torch.autograd.Function):
    """Identity forward, gradient × ½: the uniform rule for one operand of a bilinear product (AttnLRP)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return x

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        pass

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad * 0.5


class _IdentityRule(torch.autograd.Function):
    """Returns `y = f(x)` (computed by the caller); backward multiplies by f(x)/x so x·∂x = y·∂y (0 where x = 0)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, y: Tensor) -> Tensor:
        return y.view_as(y)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        x, y = inputs
        ctx.save_for_backward(x, y)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        x, y = ctx.saved_tensors
        ratio = y / torch.where(x == 0, torch.ones_like(x), x)
        return grad * ratio, None


class _LinearRule(torch.autograd.Function):
    """Returns a linear layer's output z unchanged; backward is the ε- and generalised γ-rule as a gradient.

    For an output z_j ≥ 0 the contributions x_i·w_ji of its own sign are boosted: c_ji = x_i·w_ji +
    γ·(x_i·w_ji)⁺, and z_γ,j = Σ_i c_ji + b_j + γ·b_j⁺ (⁻ parts for z_j < 0; Montavon et al. 2019, as zennit's
    Gamma, which reduces to ρ(w) = w + γ·w⁺ for positive inputs). Relevance x_i·∂x_i = Σ_j c_ji / (z_γ,j +
    ε·sign z_γ,j) · z_j·∂z_j.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, z: Tensor, weight: Tensor, bias: Tensor | None, epsilon: float, gamma: float) -> Tensor:
        return z.view_as(z)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        x, z, weight, bias, ctx.epsilon, ctx.gamma = inputs
        ctx.save_for_backward(x, z, weight, bias)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None, None, None]:
        x, z, weight, bias = ctx.saved_tensors
        gamma, rising = ctx.gamma, z >= 0
        if gamma:
            boost_pos, boost_neg = weight + gamma * weight.clamp_min(0), weight + gamma * weight.clamp_max(0)
            x_pos, x_neg = x.clamp_min(0), x.clamp_max(0)
            bias_pos = bias_neg = None
            if bias is not None:
                bias_pos, bias_neg = bias + gamma * bias.clamp_min(0), bias + gamma * bias.clamp_max(0)
            z_up = F.linear(x_pos, boost_pos, bias_pos) + F.linear(x_neg, boost_neg)
            z_down = F.linear(x_pos, boost_neg, bias_neg) + F.linear(x_neg, boost_pos)
            z_gamma = torch.where(rising, z_up, z_down)
        else:
            z_gamma = z
        denominator = z_gamma + torch.where(z_gamma >= 0, ctx.epsilon, -ctx.epsilon)
        safe = torch.where(denominator == 0, torch.ones_like(denominator), denominator)
        share = grad * torch.where(denominator == 0, 0.0, z / safe)
        if not gamma:
            return share @ weight, None, None, None, None, None
        up, down = share * rising, share * ~rising
        positive = up @ boost_pos + down @ boost_neg
        negative = up @ boost_neg + down @ boost_pos
        return torch.where(x > 0, positive, negative), None, None, None, None, None


class _LayerNormRule(torch.autograd.Function):
    """Returns the exact LayerNorm output; backward treats σ (and with `detach_mean` also μ) as constant."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, y: Tensor, weight: Tensor | None, dims: int, eps: float, detach_mean: bool) -> Tensor:
        return y

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        x, _, weight, dims, eps, detach_mean = inputs
        ctx.save_for_backward(x, weight)
        ctx.dims, ctx.eps, ctx.detach_mean = tuple(range(-dims, 0)), eps, detach_mean

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None, None, None]:
        x, weight = ctx.saved_tensors
        std = torch.sqrt(x.var(dim=ctx.dims, unbiased=False, keepdim=True) + ctx.eps)
        scaled = grad if weight is None else grad * weight
        if not ctx.detach_mean:
            scaled = scaled - scaled.mean(dim=ctx.dims, keepdim=True)
        return scaled / std, None, None, None, None, None


def halve_gradient(x: Tensor) -> Tensor:
    """`x` unchanged; its gradient is halved on the way back (uniform rule on a bilinear product)."""
    return _HalveGradient.apply(x)


def identity_rule(x: Tensor, y: Tensor) -> Tensor:
    """`y` (= f(x), f element-wise with f(0) = 0) with relevance passed through unchanged: x·∂x = y·∂y."""
    return _IdentityRule.apply(x, y.detach())


# ------------------------------------------------------------------ attention
def attention_probabilities(scores: Tensor, mask: Tensor | None, mode: AttentionMode) -> Tensor:
    """Softmax of attention scores [.., queries, keys] plus an additive or boolean (True = keep) mask.

    `hold` detaches the result (AH rule: probabilities are constants, relevance flows through values only);
    `uniform` keeps the softmax gradient (AttnLRP's softmax rule equals gradient × input).
    """
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min) if mask.dtype == torch.bool else scores + mask
    probs = F.softmax(scores, dim=-1)
    return probs.detach() if mode == "hold" else probs


def _rule_attention(
    module: nn.Module,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **_: Any,
) -> tuple[Tensor, Tensor]:
    """Transformers attention function: the eager computation, op for op, with the module's LRP rule."""
    mode: AttentionMode = getattr(module, _MODE, "uniform")
    scaling = query.size(-1) ** -0.5 if scaling is None else scaling
    products = torch.matmul(query, key.transpose(2, 3))
    if mode == "uniform":
        products = halve_gradient(products)
    probs = attention_probabilities(products * scaling, attention_mask, mode)
    if dropout and module.training:
        raise MethodError("LRP rules need dropout off; call model.eval() first")
    output = torch.matmul(probs, value)
    if mode == "uniform":
        output = halve_gradient(output)
    return output.transpose(1, 2).contiguous(), probs


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
        if adapter.family.name == "custom":
            return self._attach_multihead(adapter.model)
        _register_attention()
        undo: list[Undo] = []
        for layer in adapter.layers:
            attention = resolve(layer, adapter.family.self_attention)
            config = getattr(attention, "config", None)
            if config is None or not hasattr(config, "_attn_implementation"):
                raise MethodError(f"{type(attention).__name__} does not use the transformers attention interface")
            private = copy.copy(config)
            private._attn_implementation_internal = ATTENTION_IMPLEMENTATION
            attention.config = private
            setattr(attention, _MODE, self.mode)
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
        if hasattr(attention, _MODE):
            delattr(attention, _MODE)

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


# ------------------------------------------------------------------ linear layers
@dataclass
class LinearRule(Rule):
    """ε- and γ-rule on every `nn.Linear` module (see `_LinearRule`).

    ε damps weak, noisy paths; γ boosts the contributions that share their output's sign (against gradient
    shattering in deep models); ε = γ = 0 is LRP-0, plain gradient × input, and attaches nothing. With zero
    biases and ε = 0 the rule is conservative for any γ.
    """

    epsilon: float = 0.0
    gamma: float = 0.0

    def attach(self, adapter: ModelAdapter) -> list[Undo]:
        if self.epsilon < 0 or self.gamma < 0:
            raise MethodError(f"epsilon and gamma must be ≥ 0, got {self.epsilon} and {self.gamma}")
        if self.epsilon == 0 and self.gamma == 0:
            return []

        def hook(module: nn.Linear, args: tuple, output: Tensor) -> Tensor:
            return _LinearRule.apply(args[0], output, module.weight, module.bias, self.epsilon, self.gamma)

        linears = [m for m in adapter.model.modules() if isinstance(m, nn.Linear)]
        return [m.register_forward_hook(hook).remove for m in linears]


# ------------------------------------------------------------------ normalisation
@dataclass
class LayerNormRule(Rule):
    """LN rule: σ held constant in the backward pass, centring kept (a linear, conservative map).

    `detach_mean=True` also holds μ constant; that variant is not conservative and exists as a negative control.
    """

    detach_mean: bool = False

    def attach(self, adapter: ModelAdapter) -> list[Undo]:
        def hook(module: nn.LayerNorm, args: tuple, output: Tensor) -> Tensor:
            dims = len(module.normalized_shape)
            return _LayerNormRule.apply(args[0], output.detach(), module.weight, dims, module.eps, self.detach_mean)

        norms = [m for m in adapter.model.modules() if isinstance(m, nn.LayerNorm)]
        return [m.register_forward_hook(hook).remove for m in norms]


# ------------------------------------------------------------------ element-wise activations
ELEMENTWISE: tuple[type[nn.Module], ...] = (nn.GELU, nn.ReLU, nn.Tanh, nn.SiLU, nn.Mish, nn.LeakyReLU)


def _is_activation(module: nn.Module) -> bool:
    """Element-wise activations with f(0) = 0: torch's, and those of `transformers.activations`."""
    return isinstance(module, ELEMENTWISE) or type(module).__module__ == "transformers.activations"


INLINE_ACTIVATIONS: dict[str, tuple[tuple[str, str, Callable[[Tensor], Tensor]], ...]] = {
    "roberta": (("classifier.dense", "classifier.out_proj", torch.tanh),),
    "xlm-roberta": (("classifier.dense", "classifier.out_proj", torch.tanh),),
    "camembert": (("classifier.dense", "classifier.out_proj", torch.tanh),),
    "distilbert": (("pre_classifier", "classifier", torch.relu),),
}
"""Activations applied as functions in the forward code: (module before, module after, function)."""


@dataclass
class IdentityRule(Rule):
    """Identity rule on element-wise activations (GELU, tanh, ReLU, …): relevance passes unchanged.

    Activation modules get a forward hook. Activations called as functions (RoBERTa-family head tanh,
    DistilBERT head ReLU, `nn.TransformerEncoderLayer.activation`) are handled between the linear layers
    around them: the input of the first is kept, the output arriving at the second is checked to equal
    f(input) and is given the rule's gradient.
    """

    def attach(self, adapter: ModelAdapter) -> list[Undo]:
        model = adapter.model
        undo = [
            m.register_forward_hook(lambda _m, args, out: identity_rule(args[0], out)).remove
            for m in model.modules()
            if _is_activation(m)
        ]
        inline = [
            (resolve(model, a), resolve(model, b), fn) for a, b, fn in INLINE_ACTIVATIONS.get(adapter.family.name, ())
        ]
        for layer in model.modules():
            if isinstance(layer, nn.TransformerEncoderLayer) and not isinstance(layer.activation, nn.Module):
                inline.append((layer.linear1, layer.linear2, layer.activation))
        for before, after, fn in inline:
            undo.extend(_attach_inline(before, after, fn))
        return undo


def _attach_inline(before: nn.Module, after: nn.Module, fn: Callable[[Tensor], Tensor]) -> list[Undo]:
    kept: list[Tensor] = []

    def keep(_module: nn.Module, _args: tuple, output: Tensor) -> None:
        kept[:] = [output]

    def replace(_module: nn.Module, args: tuple) -> tuple:
        (y, *rest) = args
        if not kept or kept[0].shape != y.shape or not torch.equal(fn(kept[0]), y):
            raise MethodError(
                f"cannot place the identity rule before {type(_module).__name__}: its input is not "
                f"{getattr(fn, '__name__', 'the activation')} of the previous layer's output (model code changed?)"
            )
        x = kept.pop()
        return (identity_rule(x, y), *rest)

    return [before.register_forward_hook(keep).remove, after.register_forward_pre_hook(replace).remove]


# ------------------------------------------------------------------ presets
def cp_lrp_rules(detach_mean: bool = False, gamma: float = 0.0) -> list[Rule]:
    """CP-LRP (Ali et al. 2022): AH rule, LN rule (σ only), identity rule on activations; LRP-0 on linear
    layers (the paper's setting) or the γ-rule."""
    return [AttentionRule("hold"), LayerNormRule(detach_mean), IdentityRule(), LinearRule(gamma=gamma)]


def attnlrp_rules(epsilon: float = 0.0, gamma: float = 0.0) -> list[Rule]:
    """AttnLRP (Achtibat et al. 2024): uniform rule on both attention matmuls, softmax gradient kept, LN and
    identity rules as in CP-LRP, ε/γ-rule on linear layers (0, 0: plain gradient × input, as LXT's efficient
    mode)."""
    return [AttentionRule("uniform"), LayerNormRule(), IdentityRule(), LinearRule(epsilon, gamma)]
