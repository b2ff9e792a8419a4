"""Contrast targets ("A-B": logit A − logit B) everywhere a target is named: evaluate, study (evaluation and
sanity), dataset runs and the CLI's `run` and `evaluate`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from trexplain import explain, study
from trexplain.cli import app
from trexplain.evaluate.faithfulness import evaluate
from trexplain.evaluate.sanity import model_randomization
from trexplain.models.contrast import contrast_view
from trexplain.runs import load_run, run_dataset

TEXTS = ["The movie was wonderful, the acting superb.", "What a terrible waste of time."]


def test_curves_follow_the_logit_difference(tiny):
    """With the same ranking, the contrast curve is log p(A) − log p(B) of the class curves (a softmax
    identity), its start the logit difference of the text and its end that of the empty input."""
    adapter = tiny["bert"]
    (e,) = explain(TEXTS[0], adapter, "gxi", target="positive-negative")
    positive = e.replace(labels=e.labels[:3], logits=e.logits[:3], targets=(2,))
    negative = positive.replace(targets=(0,))
    contrast, p_a, p_b = evaluate(adapter, [e, positive, negative], strategy="delete").results
    assert (contrast.target, contrast.scale, p_a.scale) == ("positive vs negative", "logit difference", "probability")
    for name, curve in contrast.curves.items():
        expected = np.log(p_a.curves[name].probabilities) - np.log(p_b.curves[name].probabilities)
        np.testing.assert_allclose(curve.probabilities, expected, atol=1e-5, err_msg=name)
    assert contrast.probability == pytest.approx(e.logits[2] - e.logits[0], abs=1e-5)
    with torch.no_grad():
        empty = adapter.model(**adapter.tokenizer([""], return_tensors="pt")).logits[0].double()  # specials only
    assert contrast.curves["morf"].probabilities[-1] == pytest.approx(float(empty[2] - empty[0]), abs=1e-5)
    assert contrast.curves["insertion"].probabilities[0] == pytest.approx(float(empty[2] - empty[0]), abs=1e-5)
    assert contrast.to_dict()["scale"] == "logit difference"


def test_study_evaluates_and_sanity_checks_a_contrast(tiny):
    adapter = tiny["bert"]
    done = study(TEXTS, adapter, "gxi", target="positive-negative", evaluate=True, sanity=True)
    both = explain(TEXTS, adapter, "gxi", target=["positive", "negative"])
    for e, pair in zip(done.explanations, both, strict=True):
        assert e.labels[-1] == "positive vs negative" and e.targets == (3,)
        np.testing.assert_allclose(e.scores[0], pair.scores[0] - pair.scores[1], atol=1e-5)
    results = done.table.evaluation.results
    assert {r.scale for r in results} == {"logit difference"}
    assert {row["classes"] for row in done.table.rows} == {"predicted"}  # the output asked about
    for r, e in zip(results, done.explanations, strict=False):
        assert r.probability == pytest.approx(e.logits[2] - e.logits[0], abs=1e-5)
    (check,) = done.sanity
    view, target = contrast_view(adapter, "positive-negative")
    again = model_randomization(view, TEXTS, "gxi", target=target)
    assert check.to_dict()["steps"] == again.to_dict()["steps"]  # the maps of the difference, not of a class
    assert adapter.num_labels == 3 and type(adapter).__name__ == "ModelAdapter"


def test_run_records_and_evaluates_a_contrast(tiny, tiny_dirs, tmp_path):
    adapter = tiny["bert"]
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(TEXTS) + "\n")
    run_dataset(source, tmp_path / "run", model=tiny_dirs["bert"], methods="gxi", target="positive-negative",
                evaluate=True)  # fmt: skip
    loaded = load_run(tmp_path / "run")
    table = load_run(tmp_path / "run", as_="arrow")
    both = explain(TEXTS, adapter, "gxi", target=["positive", "negative"])
    for e, pair in zip(loaded, both, strict=True):
        assert e.labels[-1] == "positive vs negative" and e.targets == (3,)
        np.testing.assert_allclose(e.scores[0], pair.scores[0] - pair.scores[1], atol=1e-5)
    expected = evaluate(adapter, loaded).results
    got = table.column("comprehensiveness").to_pylist()
    np.testing.assert_allclose([g[0] for g in got], [r.aopc_comprehensiveness for r in expected], atol=1e-6)
    config = json.loads((tmp_path / "run" / "manifest.json").read_text())["config"]
    assert config["target"] == "positive-negative"


def test_cli_run_and_evaluate_take_a_contrast(tiny_dirs, tmp_path):
    model = str(tiny_dirs["bert"])
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(TEXTS) + "\n")
    args = ["run", "-i", str(source), "-o", str(tmp_path / "run"), "--model", model, "--method", "gxi"]
    result = CliRunner().invoke(app, [*args, "--target", "positive-negative", "--evaluate", "--quiet"])
    assert result.exit_code == 0, result.output
    assert [e.labels[e.targets[0]] for e in load_run(tmp_path / "run")] == ["positive vs negative"] * 2
    args = ["evaluate", TEXTS[0], "--model", model, "--method", "gxi", "--target", "positive-negative", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    found = [r for r in record["results"] if r["method"] == "gxi"]
    (e,) = explain(TEXTS[0], tiny_dirs["bert"], "gxi", target="positive-negative")
    assert found[0]["scale"] == "logit difference" and found[0]["target"] == "positive vs negative"
    assert found[0]["probability"] == pytest.approx(e.logits[2] - e.logits[0], abs=1e-5)
