"""Multi-label (one sigmoid per label) and regression (the output itself) heads: detection, recording, targets,
completeness per label and evaluation on each label's own output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.tiny_heads import multi_label_adapter, regression_adapter
from trexplain import explain
from trexplain.evaluate.faithfulness import evaluate
from trexplain.explanation import Explanation
from trexplain.models import ModelAdapter
from trexplain.models.heads import MULTI_LABEL, REGRESSION, SINGLE_LABEL, outputs, problem_of
from trexplain.perturb import remove

TEXTS = ["I can't believe this just happened!", "What a terrible waste of time."]


@pytest.fixture(scope="module")
def multi(tiny) -> ModelAdapter:
    return multi_label_adapter(tiny["bert"])


@pytest.fixture(scope="module")
def regression() -> ModelAdapter:
    return regression_adapter()


def test_problem_is_detected_from_the_config(tiny, multi, regression):
    assert tiny["bert"].problem == SINGLE_LABEL and multi.problem == MULTI_LABEL
    assert regression.problem == REGRESSION
    assert problem_of(type("C", (), {"problem_type": None})(), 1) == REGRESSION
    assert "problem=multi_label_classification" in repr(multi)
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    torch.testing.assert_close(outputs(logits, MULTI_LABEL), torch.sigmoid(logits))
    torch.testing.assert_close(outputs(logits, REGRESSION), logits)


def test_multi_label_every_label_is_complete_on_its_own_logit(multi):
    out = explain(TEXTS, multi, "ig", target="all", params={"atol": 1e-6})
    for e in out:
        assert e.diagnostics["head"] == MULTI_LABEL and tuple(e.targets) == (0, 1, 2)
        np.testing.assert_allclose(e.probabilities, 1 / (1 + np.exp(-e.logits.astype(np.float64))))
        assert abs(e.probabilities.sum() - 1) > 1e-3  # independent, not a distribution
        entry = e.diagnostics
        np.testing.assert_allclose(entry["f_input"], e.logits, rtol=1e-5, atol=1e-6)
        for k in range(3):
            gap = entry["f_input"][k] - entry["f_baseline"][k]
            assert abs(e.scores[k].sum() - gap) <= 1e-6 + 1e-3 * abs(gap)
        again = Explanation.from_dict(e.to_dict())
        np.testing.assert_allclose(again.probabilities, e.probabilities)


def test_multi_label_evaluation_and_perturbation_use_each_labels_sigmoid(multi):
    explanations = explain(TEXTS[:1], multi, "gxi", target="all")
    result = evaluate(multi, explanations)
    logits = explanations[0].logits.astype(np.float64)
    for entry in result.results:
        k = multi.labels.index(entry.target)
        assert entry.probability == pytest.approx(1 / (1 + np.exp(-logits[k])), rel=1e-5)
    occlusion = explain(TEXTS[:1], multi, "occlusion", target="all", params={"output": "probability"})[0]
    batch = multi.encode(TEXTS[:1])
    first = (batch.word_ids[0] == 0)[None]
    without = torch.sigmoid(multi.logits(remove(multi, batch, 0, first, "delete"))[0].double())
    expected = (torch.sigmoid(torch.from_numpy(logits)) - without).numpy()
    first_word = np.asarray(occlusion.word_ids) == 0
    np.testing.assert_allclose(occlusion.scores[:, first_word].sum(-1), expected, rtol=1e-4, atol=1e-6)


def test_regression_explains_the_output_itself(regression):
    out = explain(TEXTS, regression, "ig", target="all", params={"atol": 1e-6})
    for e in out:
        assert tuple(e.targets) == (0,) and e.diagnostics["head"] == REGRESSION and e.labels == ("score",)
        np.testing.assert_allclose(e.probabilities, e.logits)
        gap = e.diagnostics["f_input"][0] - e.diagnostics["f_baseline"][0]
        assert abs(e.scores[0].sum() - gap) <= 1e-6 + 1e-3 * abs(gap)
    result = evaluate(regression, out[:1])
    assert result.results[0].probability == pytest.approx(float(out[0].logits[0]), rel=1e-5)
