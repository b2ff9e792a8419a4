"""ERASER plausibility metrics against hand-computed values, scikit-learn's average precision, and the
mapping of human rationales (whitespace words or character spans) onto the model's words."""

from __future__ import annotations

import numpy as np
import pytest

from trexplain import explain
from trexplain.errors import InputError
from trexplain.evaluate.plausibility import (
    average_precision,
    plausibility,
    rationale_words,
    runs_of,
    top_k,
    word_scores,
)
from trexplain.explanation import Explanation
from trexplain.runs.reader import parse_rationale


def make(words: list[str], scores: list[float], method: str = "m", logits=(0.0, 2.0), targets=(1,)) -> Explanation:
    """One token per word between [CLS] and [SEP]; `scores` per word for each target (the same for each)."""
    text = " ".join(words)
    spans, start = [], 0
    for w in words:
        spans.append((start, start + len(w)))
        start += len(w) + 1
    row = [0.0, *scores, 0.0]
    return Explanation(
        text=text,
        tokens=["[CLS]", *words, "[SEP]"],
        offsets=[(0, 0), *spans, (0, 0)],
        word_ids=[-1, *range(len(words)), -1],
        words=spans,
        special=[True, *[False] * len(words), True],
        labels=["neg", "pos"],
        logits=list(logits),
        targets=list(targets),
        scores=[row] * len(targets),
        method=method,
    )


def test_hand_computed_eraser_metrics():
    # text 1: top-2 = {0, 2} vs marked {0, 1}: token F1 1/2; spans [0,1) [2,3) vs [0,2): IOUs 1/2 and 0, so
    # P = 1/2, R = 1; AP: ranks g n n g n → 1/2·1 + 1/2·2/4 = 0.75
    one = make(list("abcde"), [0.9, 0.1, 0.8, -0.2, 0.3])
    # text 2: top-3 = {0, 1, 2} vs marked {1, 2, 3}: token F1 2/3; span [0,3) vs [1,4): IOU 2/4 = 0.5, a hit;
    # AP: ranks g g n g → 1/3·1 + 1/3·1 + 1/3·3/4 = 11/12
    two = make(list("abcd"), [0.1, 0.5, 0.4, 0.0])
    (row,) = plausibility([one, two], [[0, 1], [1, 2, 3]])
    assert row["method"] == "m" and row["texts"] == 2
    assert row["token_f1_macro"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert row["token_f1_micro"] == pytest.approx(3 / 5)  # 3 hits of 5 predicted and 5 marked words
    assert row["iou_f1_micro"] == pytest.approx(0.8)  # P = 2 hits / 3 predicted spans, R = 2 / 2 gold spans
    assert row["iou_f1_macro"] == pytest.approx(2 * 0.75 * 1 / 1.75)  # mean P = (1/2 + 1)/2, mean R = 1
    assert row["auprc"] == pytest.approx((0.75 + 11 / 12) / 2)


def test_texts_without_rationale_are_left_out_and_methods_kept_apart():
    a, b = make(list("abc"), [1.0, 0.0, 0.5], "x"), make(list("abc"), [0.0, 1.0, 0.5], "y")
    rows = plausibility([a, b, make(list("ab"), [1, 2], "x")], [[0], [0], None])
    assert [(r["method"], r["texts"], r["token_f1_macro"]) for r in rows] == [("x", 1, 1.0), ("y", 1, 0.0)]
    with pytest.raises(InputError, match="2 rationales for 1"):
        plausibility([a], [[0], [1]])


def test_average_precision_matches_scikit_learn_with_ties():
    metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is the reference (test extra)")
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(2, 30))
        scores = rng.integers(-3, 4, n).astype(float)  # many ties
        gold = rng.random(n) < 0.3
        gold[0] = True
        assert average_precision(scores, gold) == pytest.approx(metrics.average_precision_score(gold, scores))
    assert np.isnan(average_precision(np.ones(3), np.zeros(3, bool)))


def test_top_k_runs_and_predicted_class_row():
    assert top_k(np.array([0.2, 0.5, 0.5, 0.1]), 2).tolist() == [False, True, True, False]
    assert top_k(np.array([1.0, 1.0, 1.0]), 2).tolist() == [True, True, False]  # ties: earlier first
    assert runs_of(np.array([1, 1, 0, 1, 0, 1], bool)) == [(0, 2), (3, 4), (5, 6)]
    e = make(list("ab"), [0.3, 0.7], targets=(0, 1), logits=(3.0, 1.0))
    assert e.targets == (0, 1)
    np.testing.assert_allclose(word_scores(e), [0.3, 0.7])  # the predicted class (0)'s row


def test_rationales_map_onto_model_words():
    # "Unbelievable!!! great" as a tokenizer splits it: Unbelievable ! ! ! great
    text = "Unbelievable!!! great"
    words = [(0, 12), (12, 13), (13, 14), (14, 15), (16, 21)]
    e = Explanation(
        text=text,
        tokens=["[CLS]", "unbeliev", "##able", "!", "!", "!", "great", "[SEP]"],
        offsets=[(0, 0), (0, 8), (8, 12), (12, 13), (13, 14), (14, 15), (16, 21), (0, 0)],
        word_ids=[-1, 0, 0, 1, 2, 3, 4, -1],
        words=words,
        special=[True, False, False, False, False, False, False, True],
        labels=["neg", "pos"],
        logits=[0.0, 1.0],
        targets=[1],
        scores=[[0, 0.25, 0.5, 0.1, 0.1, 0.1, 0.2, 0]],
        method="m",
    )
    assert rationale_words(e, {"words": [0]}) == [0, 1, 2, 3]  # the whitespace word "Unbelievable!!!"
    assert rationale_words(e, {"spans": [[16, 21]]}) == [4]
    assert rationale_words(e, {"spans": [[5, 13]]}) == [0, 1]  # overlap is enough
    np.testing.assert_allclose(word_scores(e), [0.75, 0.1, 0.1, 0.1, 0.2])  # subwords summed
    assert word_scores(e, "max")[0] == pytest.approx(0.5)
    with pytest.raises(InputError, match="2 whitespace-separated words"):
        rationale_words(e, {"words": [2]})
    with pytest.raises(InputError, match="ends past the text"):
        rationale_words(e, {"spans": [[0, 40]]})


@pytest.mark.filterwarnings("ignore:Thai, Lao, Khmer")  # without PyICU: words of Chinese follow the tokens
def test_rationales_in_other_scripts_mark_whole_words(demo):
    """Vowel signs, accents and ideographs stay in their words (issue 26): a marked whitespace word or span is
    the model's whole word, never a piece of it."""
    hindi, french, chinese = explain(["यह फिल्म बहुत अच्छी है", "cafe\u0301 ok", "我爱北京天安门"], demo, "gxi")
    assert rationale_words(hindi, {"words": [2]}) == [2]  # बहुत: one model word (it used to be बह and त)
    assert rationale_words(hindi, {"spans": [[11, 12]]}) == [2]  # the vowel sign ु alone marks its word
    assert hindi.layout.feature_labels()[2] == "बहुत"
    assert rationale_words(french, {"spans": [[4, 5]]}) == [0]  # the combining accent of café
    marked = rationale_words(chinese, {"spans": [[2, 4]]})
    assert "".join(chinese.layout.feature_labels()[i] for i in marked) == "北京"  # 北京 (ICU) or 北 京 (tokens)
    (row,) = plausibility([hindi], [[2]])
    assert row["token_f1_macro"] == (1.0 if int(np.argmax(word_scores(hindi))) == 2 else 0.0)


def test_rationale_cells_parse_or_fail_clearly():
    assert parse_rationale("[3, 1, 1]", "f:2", "r") == {"words": [1, 3]}
    assert parse_rationale([[4, 9], [0, 2]], "f:2", "r") == {"spans": [[0, 2], [4, 9]]}
    assert parse_rationale(None, "f:2", "r") is None and parse_rationale(" ", "f:2", "r") is None
    for bad in ("[1, -2]", "[[3, 1]]", '"word"', "[1, [2, 3]]", "{"):
        with pytest.raises(InputError, match="f:2: the rationale in 'r'"):
            parse_rationale(bad, "f:2", "r")
