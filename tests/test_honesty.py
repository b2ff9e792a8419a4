"""Honest verdicts: no winner without enough texts, ties within a standard error, n and SE per row, rows
grouped by predicted / other classes, identity checks named by their kind; sanity statuses ok / partial /
flagged with the step where the maps stop depending on the model, and the cost of a sanity run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.test_evaluate import WORDS, toy  # noqa: F401  (the toy fixture)
from trexplain.api import explain
from trexplain.evaluate import evaluate, faithfulness_table, model_randomization
from trexplain.evaluate.curves import Curve
from trexplain.evaluate.faithfulness import EvaluationResult
from trexplain.evaluate.sanity import SanityResult, decorrelation, sanity_cost
from trexplain.evaluate.table import MIN_TEXTS, paired_differences, standard_error, summarise, tied, verdict

TEXTS = [f"text {i}" for i in range(5)]
A = [0.1, 0.3, 0.2, 0.6, 0.3]  # mean 0.3, SE √(0.14 / 4 / 5)
B = [0.2, 0.2, 0.2, 0.4, 0.4]  # within one paired SE of A
C = [0.9, 1.0, 0.8, 1.1, 0.9]  # clearly better than A and B
CURVE = Curve((0.0, 1.0), (0.5, 0.5))


def result(method, text, margin, target="pos", predicted="pos", identity=None, error=None) -> EvaluationResult:
    """A result whose comprehensiveness − sufficiency is `margin` (sufficiency 0.1)."""
    return EvaluationResult(
        text=text,
        method=method,
        target=target,
        strategy="delete",
        level="word",
        probability=0.9,
        curves={"morf": CURVE, "lerf": CURVE, "insertion": CURVE},
        aopc_comprehensiveness=margin + 0.1,
        aopc_sufficiency=0.1,
        completeness_error=error,
        identity=identity,
        predicted=predicted,
    )


def results(margins: dict[str, list[float]], texts=TEXTS, **kwargs) -> list[EvaluationResult]:
    return [result(m, t, v, **kwargs) for m, values in margins.items() for t, v in zip(texts, values, strict=True)]


def test_standard_errors_by_hand():
    assert standard_error(A) == pytest.approx(math.sqrt(0.14 / 4 / 5))
    assert standard_error([0.5]) is None
    rs = results({"a": A, "b": B})
    diffs = paired_differences(rs[:5], rs[5:])
    np.testing.assert_allclose(diffs, [-0.1, 0.1, 0.0, 0.2, -0.1], atol=1e-12)
    # paired SE: differences have mean 0.02 and squared deviations summing to 0.068
    assert standard_error(diffs) == pytest.approx(math.sqrt(0.068 / 4 / 5))
    rows = {row["method"]: row for row in summarise(rs)}
    assert rows["a"]["margin"] == pytest.approx(0.3) and rows["a"]["se"] == pytest.approx(math.sqrt(0.035 / 5))
    assert rows["b"]["se"] == pytest.approx(math.sqrt(0.012 / 5)) and rows["a"]["n"] == rows["b"]["n"] == 5
    assert tied(rs[:5], rs[5:]) is True and tied(rs[:1], rs[5:6]) is None


def test_methods_within_one_standard_error_are_tied():
    rs = results({"a": A, "b": B, "random": [0.0] * 5})
    rows = summarise(rs)
    assert [(row["method"], row["tied_with_best"]) for row in rows] == [("a", True), ("b", True), ("random", False)]
    assert [row["rank"] for row in rows] == [1, 2, 3] and all(row["classes"] == "predicted" for row in rows)
    line = verdict(rows, rs, "toy")
    assert line == (
        "trust a or b on toy (tied within one standard error): comprehensiveness − sufficiency "
        f"a 0.300 ± {math.sqrt(0.035 / 5):.3f}, b 0.280 ± {math.sqrt(0.012 / 5):.3f} vs 0.000 for random (n = 5)"
    )


def test_a_clearly_better_method_is_named_alone():
    rs = results({"a": A, "c": C, "b": B, "random": [0.0] * 5})
    rows = summarise(rs)
    assert [row["method"] for row in rows] == ["c", "a", "b", "random"]
    assert [row["tied_with_best"] for row in rows] == [True, False, False, False]
    line = verdict(rows, rs, "toy")
    head = "trust c on toy: highest comprehensiveness − sufficiency above the random floor"
    assert line.startswith(f"{head} (0.940 ± {standard_error(C):.3f} vs 0.000, n = 5)")
    assert " or " not in line and "tied" not in line


def test_no_verdict_without_enough_texts():
    assert MIN_TEXTS == 5
    rs = results({"c": C[:4], "a": A[:4], "random": [0.0] * 4}, texts=TEXTS[:4])
    rows = summarise(rs)
    assert verdict(rows, rs, "toy") == "not enough texts to rank methods: 4 given, need ≥ 5"
    assert rows[0]["margin"] == pytest.approx(0.95) and rows[0]["n"] == 4  # the numbers are still there


def test_one_text_names_no_winner_among_real_methods(toy):  # noqa: F811
    adapter, _ = toy
    table = faithfulness_table(adapter, ["w0 w1 w2 w3 w9"], ["gxi", "saliency", "occlusion"], seed=0)
    assert table.verdict == "not enough texts to rank methods: 1 given, need ≥ 5"
    for row in table.rows:
        assert row["n"] == 1 and row["se"] is None and math.isfinite(row["margin"])
        assert row["tied_with_best"] is (True if row["rank"] == 1 else None)


def test_target_all_groups_predicted_and_other_classes(toy):  # noqa: F811
    adapter, _ = toy
    rng = np.random.default_rng(2)
    texts = [" ".join(rng.permutation(WORDS)[:6]) for _ in range(5)]
    table = faithfulness_table(adapter, texts, ["gxi", "saliency"], target="all", seed=0)
    classes = [row["classes"] for row in table.rows]
    assert classes == ["predicted"] * 3 + ["other"] * 3
    assert [row["rank"] for row in table.rows] == [1, 2, 3, 1, 2, 3]
    for row in table.rows:
        own = [
            r
            for r in table.evaluation.results
            if r.method == row["method"] and (r.target == r.predicted) == (row["classes"] == "predicted")
        ]
        assert row["n"] == len(own) == 5
        assert row["comprehensiveness"] == pytest.approx(np.mean([r.aopc_comprehensiveness for r in own]))
    best = table.rows[0]
    assert best["method"] == "gxi" and table.verdict.startswith("trust gxi on toy")
    assert f"({best['margin']:.3f} ± {best['se']:.3f}" in table.verdict  # the predicted-class numbers
    assert "for the predicted class (rows marked 'other' rank the other classes)" in table.verdict
    # a fixed class is the prediction for some texts only: each text lands in exactly one group
    fixed = faithfulness_table(adapter, texts, ["gxi"], target="on", seed=0)
    predicted = sum(e.predicted_label == "on" for e in explain(texts, adapter, "gxi"))
    assert 0 < predicted < 5
    assert {(row["classes"], row["n"]) for row in fixed.rows} == {("predicted", predicted), ("other", 5 - predicted)}


def test_verdict_about_other_classes_says_so():
    rs = results({"c": C, "random": [0.0] * 5}, predicted="neg")
    rows = summarise(rs)
    assert {row["classes"] for row in rows} == {"other"}
    line = verdict(rows, rs, "toy")
    assert line.startswith("trust c on toy") and line.endswith("(no explained class was its prediction)")


def test_identity_named_by_kind_in_rows_and_verdict():
    rs = results({"cp-lrp": C, "random": [0.0] * 5}, identity="conservation", error=0.53)
    rs = [r for r in rs if r.method == "cp-lrp"] + results({"random": [0.0] * 5})
    rows = summarise(rs)
    assert [(row["method"], row["identity"]) for row in rows] == [("cp-lrp", "conservation"), ("random", None)]
    line = verdict(rows, rs, "demo")
    assert "conservation gap 0.53 (relevance sum vs logit; biases absorb the rest)" in line
    assert "completeness error" not in line


def test_evaluation_results_carry_the_identity_kind(tiny):
    adapter = tiny["bert"]
    texts = ["The movie was wonderful.", "What a terrible waste of time!"]
    lrp, ig, gxi = (explain(texts, adapter, m) for m in ("cp-lrp", "ig", "gxi"))
    got = evaluate(adapter, [*lrp, *ig, *gxi]).results
    assert [r.identity for r in got] == ["conservation"] * 2 + ["completeness"] * 2 + [None] * 2
    assert got[0].completeness_error == lrp[0].diagnostics.identity.error[0]
    assert got[0].to_dict()["identity"] == "conservation" and got[0].predicted == lrp[0].predicted_label


def step(name: str, rho: float, rho_abs: float | None = None) -> dict:
    return {"step": name, "spearman": rho, "spearman_abs": rho if rho_abs is None else rho_abs}


NAMES = ["head", "block 1", "block 0", "embeddings"]


@pytest.mark.parametrize(
    ("values", "mode", "expected"),
    [
        ([0.2, 0.1, 0.0, 0.0], "cascading", ("ok", "head", 0)),
        ([0.95, 0.85, 0.3, 0.1], "cascading", ("partial", "block 0", 2)),
        ([(0.3, 0.84), 0.5, 0.3, 0.1], "cascading", ("partial", "block 1", 1)),  # |maps| still match
        ([1.0, 1.0, 1.0, 0.5], "cascading", ("flagged", "embeddings", 3)),
        ([1.0, 1.0, 1.0, 1.0], "cascading", ("flagged", None, 4)),
        ([0.9, 0.2, 0.3, 0.1], "cascading", ("partial", "block 1", 1)),
        ([0.9, 0.2, 0.9, 0.1], "independent", ("partial", "block 1", 2)),
        ([0.9, 0.85, 0.9, 0.1], "independent", ("flagged", "embeddings", 3)),
        ([0.1, 0.2, 0.3, 0.9], "independent", ("ok", "head", 0)),
    ],
)
def test_sanity_status_of_step_lists(values, mode, expected):
    steps = [step(n, *(v if isinstance(v, tuple) else (v,))) for n, v in zip(NAMES, values, strict=True)]
    found = decorrelation(steps, 0.8, mode)
    assert (found.status, found.stops_at, found.matching) == expected
    checked = SanityResult("m", steps, expected[0] == "flagged", mode=mode)
    d = checked.to_dict()
    assert (d["status"], d["stops_at"], d["matching"]) == expected and d["flagged"] is (expected[0] == "flagged")


def test_sanity_on_the_demo_saliency_partial_and_the_cost(demo):
    text = "The movie was wonderful, the acting superb and the music lovely."
    saliency = model_randomization(demo, [text], "saliency", seed=0)
    lrp = model_randomization(demo, [text], "cp-lrp", seed=0)
    names = ["head", *(f"block {i}" for i in range(5, -1, -1)), "embeddings"]
    assert [s["step"] for s in saliency.steps] == names
    # saliency's maps still match through the head and five of six random blocks
    assert (saliency.status, saliency.stops_at, saliency.matching) == ("partial", "block 0", 6)
    assert all(s["spearman"] >= 0.8 for s in saliency.steps[:6]) and saliency.steps[6]["spearman"] < 0.8
    assert not saliency.flagged  # the old flag alone called this "ok"
    assert (lrp.stops_at, lrp.matching) == ("block 5", 1) and lrp.status == "partial"
    assert sanity_cost(demo, 1, ["saliency", "cp-lrp"]) == 2 * (len(names) + 1) == 18
    assert sanity_cost(demo, 3, "gxi") == 27
