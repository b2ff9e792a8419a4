"""Checks every model family's tests run the same way (encoders in test_families/test_lrp, decoders in
test_decoders): the float64 zero-bias copy LRP conserves exactly on, the conservation gap, forwards left
bit-identical by the rules, and every method giving the same scores batched as one text at a time."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from tests.tiny import ready_methods
from trexplain import explain
from trexplain.methods import get_method
from trexplain.methods.lrp_rules import lrp_rules
from trexplain.models import ModelAdapter

CHEAP = {"ig": {"steps": 8, "adaptive": False}, "layer-ig": {"steps": 4, "adaptive": False}}
CHEAP |= {"ca-lig": {"steps": 4, "adaptive": False}, "lime": {"n_samples": 64}, "kernelshap": {"n_samples": 64}}
"""Parameters that keep the every-method loops cheap."""


def zero_bias_double(adapter: ModelAdapter, zero_bias: bool = True) -> ModelAdapter:
    """A float64 copy of the adapter's model with every bias (linear, norm β, attention, head) zeroed unless
    `zero_bias=False`."""
    model = copy.deepcopy(adapter.model).double()
    for name, param in model.named_parameters():
        if zero_bias and name.endswith("bias"):
            nn.init.zeros_(param)
    if adapter.family.name == "custom":
        return ModelAdapter.from_module(model, model.embed, adapter.tokenizer, adapter.labels, layers=model.layers())
    return ModelAdapter(model, adapter.tokenizer, family=adapter.family, labels=adapter.labels, name=adapter.name)


def relative_gap(scores: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """|Σ scores − target logit| / |target logit| per row and target."""
    target_logits = logits.gather(1, targets)
    return (scores.sum(-1) - target_logits).abs() / target_logits.abs()


def assert_rules_keep_forward(adapter: ModelAdapter, texts: Sequence[str], rules: Callable[[], list]) -> None:
    """Logits and attention probabilities are bit-identical with the LRP rules applied, on the adapter and on its
    float64 zero-bias copy, and no patched forward is left behind."""
    for model in (adapter, zero_bias_double(adapter)):
        batch = model.encode(texts)
        embeddings = model.embed(batch.inputs)
        before = model.forward(batch.inputs, embeddings=embeddings, output_attentions=True)
        with lrp_rules(model, rules()):
            during = model.forward(batch.inputs, embeddings=embeddings, output_attentions=True)
        assert torch.equal(before.logits, during.logits)
        assert all(torch.equal(a, b) for a, b in zip(before.attentions, during.attentions, strict=True))
        assert all("forward" not in m.__dict__ for m in model.model.modules())


def assert_batched_equals_single(adapter: ModelAdapter, short: str, long: str) -> None:
    """Every method that needs no fitted folder scores `short` the same batched with `long` as alone."""
    for name in ready_methods():
        method = get_method(name, **CHEAP.get(name, {}))
        together = explain([short, long], adapter, method, target="all")
        alone = explain([short], adapter, method, target="all")[0]
        assert np.isfinite(together[0].scores).all(), name
        np.testing.assert_allclose(together[0].scores, alone.scores, atol=2e-5, rtol=1e-4, err_msg=name)
        if alone.layer_scores is not None:
            np.testing.assert_allclose(together[0].layer_scores, alone.layer_scores, atol=2e-5, rtol=1e-4)
