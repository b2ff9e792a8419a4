"""Gradient tools the families' LRP adaptations share with the rules (`trexplain.methods.lrp_rules`): forward values
stay exact, only the backward changes."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from trexplain.errors import MethodError


class HalveGradient(torch.autograd.Function):
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


def halve_gradient(x: Tensor) -> Tensor:
    """`x` unchanged; its gradient is halved on the way back (uniform rule on a bilinear product)."""
    return HalveGradient.apply(x)


def no_dropout(module: nn.Module, dropout: nn.Module | float) -> None:
    """A MethodError when `module` would drop activations: the rules assume eval mode (dropout off)."""
    p = dropout if isinstance(dropout, float) else getattr(dropout, "p", 0.0)
    if module.training and p:
        raise MethodError("LRP rules need dropout off; call model.eval() first")
