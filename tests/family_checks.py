"""Checks every model family's tests run the same way (encoders in test_families/test_lrp, decoders in
test_decoders): the float64 zero-bias copy LRP conserves exactly on, the conservation gap, forwards left
bit-identical by the rules, and every method giving the same scores batched as one text at a time."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import torch
from captum.attr import InputXGradient, IntegratedGradients, Saliency
from torch import nn

from tests.tiny import ready_methods
from trexplain import explain
from trexplain.methods import Targets, get_method
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


def assert_cp_lrp_conserves(adapter: ModelAdapter, texts: Sequence[str], gamma: float) -> None:
    """On the float64 zero-bias copy, cp-lrp's scores sum to each target logit and so does every layer's row, to
    1e-8; gradient × input, the control, misses by more than 1e-3."""
    adapter = zero_bias_double(adapter)
    batch = adapter.encode(list(texts))
    result = get_method("cp-lrp", gamma=gamma).attribute(adapter, batch, Targets("all", adapter))
    assert relative_gap(result.scores, result.logits, result.targets).max() <= 1e-8
    target_logits = result.logits.gather(1, result.targets)
    layer_gap = (result.layer_scores.sum(-1) - target_logits[:, None]).abs() / target_logits.abs()[:, None]
    assert result.layer_scores.shape[1] == len(adapter.layers) and layer_gap.max() <= 1e-8
    gxi = get_method("gxi").attribute(adapter, batch, Targets("all", adapter))
    assert relative_gap(gxi.scores, gxi.logits, gxi.targets).max() > 1e-3


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


def assert_gradients_equal_captum(adapter: ModelAdapter, texts: Sequence[str]) -> None:
    """Gradient × input, saliency and 16-step trapezoid IG (pad baseline) equal captum's on the same forward, for
    each of the first three classes."""
    batch = adapter.encode(texts)
    embeddings = adapter.embed(batch.inputs)

    def forward(e):  # captum's IG stacks the steps along the batch, each step holding every text
        rows = torch.arange(e.shape[0]) % len(texts)
        return adapter.forward(batch.inputs.rows(rows), embeddings=e).logits

    gxi = get_method("gxi").attribute(adapter, batch, Targets("all", adapter))
    saliency = get_method("saliency").attribute(adapter, batch, Targets("all", adapter))
    ig = get_method("ig", steps=16, method="riemann_trapezoid", adaptive=False)
    ig = ig.attribute(adapter, batch, Targets("all", adapter))
    pad_ids = torch.where(batch.maskable, adapter.pad_token_id, batch.inputs.input_ids)
    baseline = adapter.embed(batch.inputs.with_ids(pad_ids))
    for c in range(3):
        target = [c] * len(texts)
        ref = InputXGradient(forward).attribute(embeddings.clone().requires_grad_(True), target=target).sum(-1)
        torch.testing.assert_close(gxi.scores[:, c], ref, atol=1e-5, rtol=1e-5)
        ref = Saliency(forward).attribute(embeddings.clone().requires_grad_(True), target=target, abs=False)
        torch.testing.assert_close(saliency.scores[:, c], ref.norm(dim=-1), atol=1e-5, rtol=1e-5)
        ref = IntegratedGradients(forward).attribute(
            embeddings, baseline, target=target, n_steps=16, method="riemann_trapezoid"
        )
        torch.testing.assert_close(ig.scores[:, c], ref.sum(-1) * 16 / 15, atol=1e-4, rtol=1e-4)
