"""`study`, the library entry point behind every command, and the records it produces."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.test_lrp import LABELS, PlainEncoder
from tests.tiny import wordpiece_tokenizer
from trexplain import explain
from trexplain.cli import app
from trexplain.errors import InputError, MethodError
from trexplain.explanation import SCHEMA_VERSION
from trexplain.models import ModelAdapter
from trexplain.study import left_out_for_cost, study

TEXTS = ["good day", "what a terrible, boring film"]


def test_study_runs_inputs_by_methods_by_targets(tiny):
    adapter = tiny["bert"]
    result = study(TEXTS, adapter, ["gxi", "cp-lrp"], target="all")
    assert result.methods == ["gxi", "cp-lrp"] and result.table is None and result.sanity == []
    assert [[e.method for e in group] for group in result.per_input] == [["gxi", "cp-lrp"]] * 2
    alone = explain(TEXTS, adapter, "cp-lrp", target="all")
    for group, e in zip(result.per_input, alone, strict=True):
        assert group[1] == e.replace(diagnostics=group[1].diagnostics)  # same scores as the plain API
        np.testing.assert_array_equal(group[1].scores, e.scores)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["schema_version"] == SCHEMA_VERSION and data["methods"] == ["gxi", "cp-lrp"]
    assert [r["text"] for r in data["records"]] == TEXTS
    assert len(data["records"][0]["explanations"]) == 2 * 3  # methods × classes


def test_study_default_method_and_parameter_checks(tiny):
    assert study("good day", tiny["bert"]).methods == ["cp-lrp"]
    with pytest.raises(InputError, match="does not run"):
        study("good day", tiny["bert"], ["gxi"], params={"ig": {"steps": 8}})
    with pytest.raises(MethodError, match="no parameter"):
        study("good day", tiny["bert"], ["gxi"], params={"gxi": {"steps": 8}})
    with pytest.raises(InputError, match="sanity"):
        study("good day", tiny["bert"], ["gxi"], independent=True)


def test_study_with_evaluation_and_sanity(tiny):
    adapter = tiny["bert"]
    result = study(TEXTS, adapter, ["gxi", "saliency"], evaluate=True, sanity=True, sanity_texts=1, seed=3)
    assert {row["method"] for row in result.table.rows} == {"gxi", "saliency", "random"}
    assert [check.method for check in result.sanity] == ["gxi", "saliency"]
    assert all(check.texts == 1 and check.seed == 3 for check in result.sanity)
    assert result.to_dict()["evaluation"]["verdict"] == result.table.verdict
    only = study(TEXTS, adapter, ["gxi", "saliency"], sanity=True, sanity_methods=["saliency"], sanity_texts=1)
    assert [check.method for check in only.sanity] == ["saliency"]
    with pytest.raises(InputError, match="not among the methods run"):
        study(TEXTS, adapter, ["gxi"], sanity=True, sanity_methods=["ig"])


def test_study_defaults_leave_out_what_the_model_cannot_run(tiny):
    """Default methods with evaluation: a method the model cannot run is reported, not fatal."""
    torch.manual_seed(0)
    tokenizer = wordpiece_tokenizer()
    model = PlainEncoder(len(tokenizer))
    adapter = ModelAdapter.from_module(model, model.embed, tokenizer, LABELS)  # blocks unknown
    result = study(["good day", "bad day"], adapter, evaluate=True)
    assert {"attention", "layer-ig", "ca-lig"} <= set(result.skipped)
    assert "blocks" in result.skipped["layer-ig"] and "attention" not in result.methods
    assert "cp-lrp" in result.methods and result.table.skipped == result.skipped


@pytest.mark.parametrize("method", ["layer-ig", "ca-lig", "cp-lrp"])
def test_explain_json_carries_layer_scores(tiny_dirs, tiny, method):
    text = "I can't believe it!"
    result = CliRunner().invoke(
        app, ["explain", text, "--model", str(tiny_dirs["bert"]), "--method", method, "--target", "all", "--json"]
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["schema_version"] == SCHEMA_VERSION
    [e] = explain(text, tiny["bert"], method, target="all")
    assert len(record["explanations"]) == 3
    for k, entry in enumerate(record["explanations"]):
        assert entry["target_index"] == e.targets[k]
        layers = np.array(entry["layer_scores"])
        assert layers.shape == (len(tiny["bert"].layers), len(e.tokens))
        np.testing.assert_allclose(layers, e.layer_scores[:, k], rtol=1e-4, atol=1e-6)


def test_default_evaluation_names_the_methods_left_out_for_cost(tiny):
    texts = [f"text number {i} is fine" for i in range(21)]
    skipped = left_out_for_cost(len(texts))
    assert set(skipped) == {"lime", "kernelshap", "amortized"}  # amortized: only with a fitted explainer named
    assert "at most 20 texts" in skipped["lime"] and "--method lime" in skipped["lime"]
    assert set(left_out_for_cost(20)) == {"amortized"}
    assert set(left_out_for_cost(201)) == {"lime", "kernelshap", "ig", "layer-ig", "ca-lig", "occlusion", "amortized"}
