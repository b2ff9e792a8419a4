"""Contrast targets: `target="positive-negative"` / `contrast=` explain logit A − logit B with every method."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.tiny import ready_methods
from trexplain import Explanation, explain
from trexplain.cli import app
from trexplain.errors import TargetError
from trexplain.methods import get_method

TEXT = "The movie was wonderful, the acting superb."
CHEAP = {"ig": {"steps": 8, "adaptive": False}, "layer-ig": {"steps": 4, "adaptive": False}}
CHEAP |= {"ca-lig": {"steps": 4, "adaptive": False}, "lime": {"n_samples": 32}, "kernelshap": {"n_samples": 32}}
LINEAR = ("gxi", "ig", "layer-ig", "cp-lrp")
"""Methods whose scores are linear in the output explained: contrast scores are the difference of the two."""


def test_every_method_explains_the_difference(tiny):
    adapter = tiny["bert"]
    logits = adapter.logits(adapter.encode([TEXT]).inputs)[0].numpy()
    for name in ready_methods():
        method = get_method(name, **CHEAP.get(name, {}))
        (e,) = explain(TEXT, adapter, method, target="positive-negative")
        assert e.labels == ("negative", "neutral", "positive", "positive vs negative"), name
        assert e.targets == (3,) and np.isfinite(e.scores).all(), name
        np.testing.assert_allclose(e.logits[:3], logits, atol=1e-5, err_msg=name)
        assert e.logits[3] == pytest.approx(logits[2] - logits[0], abs=1e-5), name
        assert e.predicted == int(np.argmax(logits)) and len(e.probabilities) == 4, name
        assert e.probabilities[3] == pytest.approx(e.probabilities[2] - e.probabilities[0]), name
        if name in LINEAR:
            both = explain(TEXT, adapter, method, target=["positive", "negative"])[0]
            np.testing.assert_allclose(e.scores[0], both.scores[0] - both.scores[1], atol=1e-5, err_msg=name)


def test_ig_completeness_and_gxi_for_the_difference(tiny):
    adapter = tiny["bert"]
    (ig,) = explain(TEXT, adapter, "ig", contrast=("positive", "negative"), params={"steps": 64, "adaptive": False})
    identity = ig.diagnostics["identity"]
    f_x, f_b = ig.diagnostics["f_input"][0], ig.diagnostics["f_baseline"][0]
    assert f_x == pytest.approx(ig.logits[2] - ig.logits[0], abs=1e-6)
    assert ig.scores.sum() == pytest.approx(f_x - f_b, abs=2e-3 * abs(f_x - f_b) + 1e-6)
    assert identity["kind"] == "completeness" and identity["error"][0] < 1e-3 * abs(f_x - f_b) + 1e-6
    (gxi,) = explain(TEXT, adapter, "gxi", contrast=(2, 0))
    batch = adapter.encode([TEXT])
    embeddings = adapter.embed(batch.inputs).detach().requires_grad_(True)
    out = adapter.forward(batch.inputs, embeddings=embeddings).logits
    (out[0, 2] - out[0, 0]).backward()
    expected = (embeddings.grad * embeddings).sum(-1)[0].detach().numpy()
    np.testing.assert_allclose(gxi.scores[0], expected, atol=1e-5)


def test_contrast_round_trips_and_is_checked(tiny):
    adapter = tiny["bert"]
    (e,) = explain(TEXT, adapter, "gxi", target="negative-positive")
    again = Explanation.from_json(e.to_json())
    assert again.labels[-1] == "negative vs positive" and again.predicted == e.predicted
    with pytest.raises(TargetError, match="a contrast is two labels joined by '-'"):
        explain(TEXT, adapter, "gxi", target="positive-nothing")
    with pytest.raises(TargetError, match="two different classes"):
        explain(TEXT, adapter, "gxi", target="positive-positive")
    with pytest.raises(TargetError, match="leave target at 'predicted'"):
        explain(TEXT, adapter, "gxi", target="all", contrast=("positive", "negative"))
    assert adapter.num_labels == 3 and type(adapter).__name__ == "ModelAdapter"  # the original is untouched
    with torch.no_grad():
        assert adapter.logits(adapter.encode([TEXT]).inputs).shape == (1, 3)


def test_cli_contrast_target(tiny_dirs):
    args = ["explain", TEXT, "--model", str(tiny_dirs["bert"]), "--method", "gxi", "--target", "positive-negative"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "positive vs negative" in result.output
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["explanations"][0]["target"] == "positive vs negative"
    assert record["prediction"]["label"] in ("negative", "neutral", "positive")
