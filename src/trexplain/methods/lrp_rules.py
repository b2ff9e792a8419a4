"""LRP rules as small composable objects, and `lrp_rules`, the context manager that applies them to one model.

Every rule changes only how gradients flow backward; forward values stay bit-identical (each rule returns the
exact forward value and attaches its own backward), so input × modified gradient is the LRP relevance
(Ali et al. 2022; Achtibat et al. 2024). Rules act on one model instance through forward hooks, an
instance-level attention config and a registered attention function; `lrp_rules` undoes all of it on exit,
exceptions included.

What each family needs (where its attention and inline activations live, its own forwards with the rules) is in
its entry (`trexplain.models.families`); `lrp_attention` and `lrp_families` attach those.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from trexplain.errors import MethodError
from trexplain.models.adapter import ModelAdapter, eval_mode
from trexplain.models.families import resolve

Undo = Callable[[], None]


class Rule(ABC):
    """One propagation rule: `attach` changes the backward pass of some modules and returns how to undo it."""

    @abstractmethod
    def attach(self, adapter: ModelAdapter) -> list[Undo]:
        """Apply the rule to `adapter.model`; the returned callables, run in reverse, restore it."""


@contextmanager
def lrp_rules(adapter: ModelAdapter, rules: Sequence[Rule]) -> Iterator[None]:
    """Within the block, forwards of `adapter.model` record the rules' backward (in eval mode: dropout off); the
    model, its training flags included, is restored on exit."""
    undo: list[Undo] = []
    with eval_mode(adapter.model):
        try:
            for rule in rules:
                undo.extend(rule.attach(adapter))
            yield
        finally:
            for step in reversed(undo):
                step()


# ------------------------------------------------------------------ autograd functions with exact forwards
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


def identity_rule(x: Tensor, y: Tensor) -> Tensor:
    """`y` (= f(x), f element-wise with f(0) = 0) with relevance passed through unchanged: x·∂x = y·∂y."""
    return _IdentityRule.apply(x, y.detach())


# ------------------------------------------------------------------ linear layers
@dataclass
class LinearRule(Rule):
    """ε- and γ-rule on every `nn.Linear` module (see `_LinearRule`).

    ε damps weak, noisy paths; γ boosts the contributions that share their output's sign (against gradient
    shattering in deep models); ε = γ = 0 is LRP-0, plain gradient × input, and attaches nothing. With zero
    biases and ε = 0 the rule is conservative for any γ. GPT-2's `Conv1D` (x @ W + b, W stored [in, out]) is a
    linear layer too and gets the rule with its weight transposed.
    """

    epsilon: float = 0.0
    gamma: float = 0.0

    def attach(self, adapter: ModelAdapter) -> list[Undo]:
        if self.epsilon < 0 or self.gamma < 0:
            raise MethodError(f"epsilon and gamma must be ≥ 0, got {self.epsilon} and {self.gamma}")
        if self.epsilon == 0 and self.gamma == 0:
            return []

        def hook(module: nn.Module, args: tuple, output: Tensor) -> Tensor:
            weight = module.weight if isinstance(module, nn.Linear) else module.weight.T
            return _LinearRule.apply(args[0], output, weight, module.bias, self.epsilon, self.gamma)

        linears = [m for m in adapter.model.modules() if isinstance(m, nn.Linear) or _is_conv1d(m)]
        return [m.register_forward_hook(hook).remove for m in linears]


def _is_conv1d(module: nn.Module) -> bool:
    """GPT-2's `transformers.pytorch_utils.Conv1D`, a linear layer with its weight stored [in, out]."""
    return type(module).__name__ == "Conv1D" and type(module).__module__ == "transformers.pytorch_utils"


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

        if adapter.family.lrp.norm not in ("layernorm", "rmsnorm"):
            raise MethodError(
                f"no LRP rule for the {adapter.family.lrp.norm!r} norms of family {adapter.family.name}; "
                "use a gradient or perturbation method instead"
            )
        norms = [m for m in adapter.model.modules() if isinstance(m, nn.LayerNorm)]
        return [m.register_forward_hook(hook).remove for m in norms]


@dataclass
class RMSNormRule(Rule):
    """RMSNorm rule for families whose entry says `norm="rmsnorm"` (Llama, Qwen, Gemma, …): the root mean square
    held constant in the backward pass, as σ in the LN rule. The output is x times a per-row constant times the
    weight (Gemma: 1 + weight), so the rule is the identity rule y/x: relevance x·∂x = y·∂y, conservative."""

    def attach(self, adapter: ModelAdapter) -> list[Undo]:
        if adapter.family.lrp.norm != "rmsnorm":
            return []
        norms = [m for m in adapter.model.modules() if type(m).__name__.endswith("RMSNorm")]
        return [m.register_forward_hook(lambda _m, args, out: identity_rule(args[0], out)).remove for m in norms]


# ------------------------------------------------------------------ element-wise activations
ELEMENTWISE: tuple[type[nn.Module], ...] = (nn.GELU, nn.ReLU, nn.Tanh, nn.SiLU, nn.Mish, nn.LeakyReLU)


def _is_activation(module: nn.Module) -> bool:
    """Element-wise activations with f(0) = 0: torch's, and those of `transformers.activations`."""
    return isinstance(module, ELEMENTWISE) or type(module).__module__ == "transformers.activations"


@dataclass
class IdentityRule(Rule):
    """Identity rule on element-wise activations (GELU, tanh, ReLU, …): relevance passes unchanged.

    Activation modules get a forward hook. Activations called as functions (RoBERTa-family head tanh,
    DistilBERT head ReLU, `nn.TransformerEncoderLayer.activation`) are handled between the linear layers
    around them: the input of the first is kept, the output arriving at the second is checked to equal
    f(input) and is given the rule's gradient.

    The activations a family's forward code calls as functions are in its entry (`Family.lrp.inline_activations`).
    """

    def attach(self, adapter: ModelAdapter) -> list[Undo]:
        model = adapter.model
        undo = [
            m.register_forward_hook(lambda _m, args, out: identity_rule(args[0], out)).remove
            for m in model.modules()
            if _is_activation(m)
        ]
        inline = [(resolve(model, a), resolve(model, b), fn) for a, b, fn in adapter.family.lrp.activations(model)]
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
