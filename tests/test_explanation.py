"""The Explanation value object: words, immutability, JSON and frame round-trips."""

from __future__ import annotations

import numpy as np
import pytest

from trexplain import explain
from trexplain.errors import InputError, TargetError
from trexplain.explanation import Explanation


@pytest.fixture(scope="module")
def explanation(tiny):
    return explain(["I can't believe this just happened!"], tiny["roberta"], "gxi", target="all")[0]


def test_word_scores_aggregate_subwords(explanation):
    ids = np.array(explanation.word_ids)
    for k, target in enumerate(explanation.targets):
        row = explanation.scores[k]
        sums = explanation.word_scores(target, "sum")
        means = explanation.word_scores(target, "mean")
        maxes = explanation.word_scores(target, "max")
        for w in range(len(explanation.words)):
            assert sums[w] == pytest.approx(row[ids == w].sum(), abs=1e-6)
            assert means[w] == pytest.approx(row[ids == w].mean(), abs=1e-6)
            assert maxes[w] == pytest.approx(row[ids == w].max(), abs=1e-6)
        assert sums.sum() == pytest.approx(row[ids >= 0].sum(), abs=1e-5)
    with pytest.raises(InputError):
        explanation.word_scores(aggregate="median")


def test_json_round_trip_is_exact(explanation):
    again = Explanation.from_json(explanation.to_json())
    assert again == explanation
    np.testing.assert_array_equal(again.scores, explanation.scores)


def test_immutable(explanation):
    with pytest.raises(ValueError):
        explanation.scores[0, 0] = 1.0
    with pytest.raises(AttributeError):
        explanation.method = "other"
    with pytest.raises(TypeError):
        explanation.params["x"] = 1


def test_frame(explanation):
    words = explanation.to_frame("word")
    assert len(words) == 3 * len(explanation.words)
    assert set(words["target"]) == {"negative", "neutral", "positive"}
    tokens = explanation.to_frame()
    assert tokens["score"].to_numpy().reshape(3, -1) == pytest.approx(explanation.scores, abs=1e-6)


def test_target_row(explanation):
    assert explanation.target_row("neutral") == 1
    with pytest.raises(TargetError):
        explanation.target_row("happy")
