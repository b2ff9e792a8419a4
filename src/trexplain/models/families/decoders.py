"""Decoder-only classifiers (Llama, Mistral, Qwen2, Qwen3, Gemma2, Gemma3 text, Phi-3): RMSNorm, rotary positions
and grouped-query attention through the transformers attention interface (softmax in float32, as their eager
attention), a gated feed-forward `down(act(gate x) · up x)`, and a head reading the last real token.

The gate rule: `hold` (CP-LRP) holds `act(gate x)` constant, so the product is linear in `up x` and conservative;
`uniform` (AttnLRP) halves the gradient into both factors, the identity rule acting on `act`."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from trexplain.models.families.base import Family, LrpAdaptation, PatchedForward
from trexplain.models.families.gradients import halve_gradient


def _product(activated: Tensor, up: Tensor, mode: str) -> Tensor:
    """`activated · up` with the gate rule of `mode`."""
    if mode == "hold":
        activated = activated.detach()
    product = activated * up
    return halve_gradient(product) if mode == "uniform" else product


def gated_mlp(module: nn.Module, mode: str, x: Tensor) -> Tensor:
    """`LlamaMLP.forward` (and its copies in Mistral, Qwen2/3, Gemma2/3; transformers 5) with the gate rule."""
    return module.down_proj(_product(module.act_fn(module.gate_proj(x)), module.up_proj(x), mode))


def phi3_mlp(module: nn.Module, mode: str, hidden_states: Tensor) -> Tensor:
    """`Phi3MLP.forward` (fused `gate_up_proj`, gate first) with the gate rule."""
    gate, up_states = module.gate_up_proj(hidden_states).chunk(2, dim=-1)
    return module.down_proj(_product(module.activation_fn(gate), up_states, mode))


def _decoder(name: str, model_type: str, mlp_class: str, forward: Callable[..., Tensor] = gated_mlp) -> Family:
    """The entry of a Llama-like decoder classifier whose feed-forward is `mlp_class`."""
    return Family(
        name,
        (model_type,),
        "model.embed_tokens",
        "model.layers",
        "self_attn",
        False,
        False,
        "mlp",
        lrp=LrpAdaptation(
            gate=PatchedForward(mlp_class, forward, path="mlp"), softmax_dtype=torch.float32, norm="rmsnorm"
        ),
        pooling="last",
        head="score",
    )


FAMILIES = (
    _decoder("llama", "llama", "LlamaMLP"),
    _decoder("mistral", "mistral", "MistralMLP"),
    _decoder("qwen2", "qwen2", "Qwen2MLP"),
    _decoder("qwen3", "qwen3", "Qwen3MLP"),
    _decoder("gemma2", "gemma2", "Gemma2MLP"),
    _decoder("gemma3", "gemma3_text", "Gemma3MLP"),
    _decoder("phi3", "phi3", "Phi3MLP", phi3_mlp),
)
