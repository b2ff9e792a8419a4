"""Saliency and gradient×input against captum on the same model and the same embedding input."""

from __future__ import annotations

import pytest
import torch
from captum.attr import InputXGradient, Saliency

from tests.tiny import FAMILIES
from trexplain import explain
from trexplain.methods import Targets, get_method

TEXTS = ["I can't believe this just happened!", "What a terrible waste of time."]


def _captum(adapter, batch, cls, target):
    embeddings = adapter.embed(batch.inputs).requires_grad_(True)

    def forward(e):
        return adapter.forward(batch.inputs, embeddings=e).logits

    return cls(forward).attribute(embeddings, target=target, **({"abs": False} if cls is Saliency else {}))


@pytest.mark.parametrize("family", FAMILIES)
def test_gxi_and_saliency_equal_captum(tiny, family):
    adapter = tiny[family]
    batch = adapter.encode(TEXTS)
    result = get_method("gxi").attribute(adapter, batch, Targets("all", adapter))
    saliency = get_method("saliency").attribute(adapter, batch, Targets("all", adapter))
    for c in range(adapter.num_labels):
        target = [c] * len(TEXTS)
        ref = _captum(adapter, batch, InputXGradient, target).sum(-1)
        torch.testing.assert_close(result.scores[:, c], ref, atol=1e-5, rtol=1e-5)
        ref_grad = _captum(adapter, batch, Saliency, target).norm(dim=-1)
        torch.testing.assert_close(saliency.scores[:, c], ref_grad, atol=1e-5, rtol=1e-5)


def test_batched_equals_one_by_one(tiny):
    adapter = tiny["roberta"]
    together = explain(TEXTS, adapter, "gxi", target="all")
    for text, joint in zip(TEXTS, together, strict=True):
        alone = explain([text], adapter, "gxi", target="all")[0]
        assert alone.scores == pytest.approx(joint.scores, abs=1e-5)


def test_model_unchanged_by_explaining(demo):
    batch = demo.encode(TEXTS)
    before = demo.forward(batch.inputs).logits
    state = {k: v.clone() for k, v in demo.model.state_dict().items()}
    modes = [m.training for m in demo.model.modules()]
    hooks = _hooks(demo.model)
    explain(TEXTS, demo, "gxi", target="all")
    explain(TEXTS, demo, "saliency")
    torch.testing.assert_close(demo.forward(batch.inputs).logits, before, rtol=0, atol=0)
    assert all(torch.equal(v, state[k]) for k, v in demo.model.state_dict().items())
    assert [m.training for m in demo.model.modules()] == modes
    assert _hooks(demo.model) == hooks


def _hooks(model):
    """Every forward (pre-)hook by module; transformers installs its own output-capturing hooks once."""
    return {
        name: (list(m._forward_hooks.values()), list(m._forward_pre_hooks.values()))
        for name, m in model.named_modules()
    }


def test_predicted_target_and_labels(demo):
    out = explain(["I love this, what a wonderful day!"], demo, "gxi")[0]
    assert out.targets == (2,) and out.predicted_label == "positive"
    every = explain(["I love this, what a wonderful day!"], demo, "gxi", target="all")[0]
    assert every.targets == (0, 1, 2)
    assert every.scores[2] == pytest.approx(out.scores[0], abs=1e-6)
    negative = explain(["I love this, what a wonderful day!"], demo, "gxi", target="negative")[0]
    assert negative.scores[0] == pytest.approx(every.scores[0], abs=1e-6)
