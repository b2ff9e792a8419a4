"""Evaluation: AOPC and curves on a toy model with known word importances, the random floor, the
cascading randomisation check, external scores, and the `evaluate` / `compare` commands."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from torch import nn
from transformers import PreTrainedTokenizerFast
from typer.testing import CliRunner

from trexplain.api import explain
from trexplain.cli import app
from trexplain.errors import InputError
from trexplain.evaluate import (
    evaluate,
    explanations_from_records,
    faithfulness_table,
    feature_count,
    load_scores,
    model_randomization,
    random_explanations,
)
from trexplain.evaluate.faithfulness import completeness_error
from trexplain.evaluate.ranks import rankdata, spearman
from trexplain.evaluate.table import summarise, verdict
from trexplain.methods.base import REGISTRY, Attribution, Method, register
from trexplain.models import ModelAdapter

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [f"w{i}" for i in range(12)]


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


class Toy(nn.Module):
    """Logit of class 1 = ½·Σ weights of the present words, class 0 = −½·Σ: p(1) = σ(Σ weights)."""

    def __init__(self, weights: torch.Tensor) -> None:
        super().__init__()
        self.embedding = nn.Embedding(len(weights), 1)
        with torch.no_grad():
            self.embedding.weight.copy_(weights.unsqueeze(1))

    def forward(self, input_ids, attention_mask):
        z = (self.embedding(input_ids)[..., 0] * attention_mask).sum(1)
        return torch.stack([-z / 2, z / 2], -1)


@pytest.fixture(scope="module")
def toy():
    """A word-level tokenizer (one token per word) and a toy classifier with word weights 2, −1, 0.5, 1, …"""
    vocab = {token: i for i, token in enumerate(SPECIALS + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    word_weights = [2.0, -1.0, 0.5, 1.0, -2.5, 1.5, -0.25, 0.75, -1.75, 3.0, -0.5, 0.1]
    weights = torch.tensor([0.0] * len(SPECIALS) + word_weights, dtype=torch.float64)
    model = Toy(weights).double()
    adapter = ModelAdapter.from_module(model, model.embedding, tokenizer, ["off", "on"], name="toy")
    return adapter, dict(zip(WORDS, word_weights, strict=True))


def oracle(e, weights, sign=1.0, method="oracle"):
    """The true importances of the explained class (or their reverse with sign=−1)."""
    direction = 1.0 if e.targets[0] == 1 else -1.0
    scores = [
        0.0 if special else sign * direction * weights[tok] for tok, special in zip(e.tokens, e.special, strict=True)
    ]
    return replace(e, scores=[scores], method=method)


def test_feature_count_rounds_up():
    assert [feature_count(k, 4) for k in (0, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0)] == [0, 1, 1, 1, 1, 2, 4]
    assert feature_count(0.3, 10) == 3 and feature_count(0.31, 10) == 4 and feature_count(0.5, 3) == 2


@pytest.mark.parametrize("strategy", ["delete", "mask", "pad"])
def test_aopc_and_curves_equal_hand_computed(toy, strategy):
    adapter, _ = toy
    (e,) = explain("w0 w1 w2 w3", adapter, "gxi")
    assert e.targets == (1,)
    np.testing.assert_allclose(e.word_scores(), [1.0, -0.5, 0.25, 0.5])  # gxi = w/2: the true ordering
    (r,) = evaluate(adapter, [e], strategy=strategy).results
    s = sigmoid
    # ranking w0 (2) > w3 (1) > w2 (0.5) > w1 (−1); bins 1,5,10,20 % → 1 word, 50 % → 2 words
    assert r.probability == pytest.approx(s(2.5), abs=1e-12)
    comp = (4 * (s(2.5) - s(0.5)) + (s(2.5) - s(-0.5))) / 6
    suff = (4 * (s(2.5) - s(2.0)) + (s(2.5) - s(3.0))) / 5
    assert r.aopc_comprehensiveness == pytest.approx(comp, abs=1e-12)
    assert r.aopc_sufficiency == pytest.approx(suff, abs=1e-12)
    # fractions 0, .1, …, 1 → 0,1,1,2,2,2,3,3,4,4,4 words
    counts = [0, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4]
    morf_sums = [2.5, 0.5, -0.5, -1.0, 0.0]
    lerf_sums = [2.5, 3.5, 3.0, 2.0, 0.0]
    insertion_sums = [0.0, 2.0, 3.0, 3.5, 2.5]
    np.testing.assert_allclose(r.curves["morf"].probabilities, [s(morf_sums[c]) for c in counts], atol=1e-12)
    np.testing.assert_allclose(r.curves["lerf"].probabilities, [s(lerf_sums[c]) for c in counts], atol=1e-12)
    np.testing.assert_allclose(r.curves["insertion"].probabilities, [s(insertion_sums[c]) for c in counts], atol=1e-12)
    area = lambda c: float(np.trapezoid(r.curves[c].probabilities, r.curves[c].fractions))  # noqa: E731
    assert r.delta_af == pytest.approx(area("lerf") - area("morf"))
    d = r.to_dict()
    assert set(d) >= {
        "method",
        "target",
        "strategy",
        "level",
        "curves",
        "aopc_comprehensiveness",
        "aopc_sufficiency",
        "delta_af",
        "completeness_error",
    }
    assert set(d["curves"]) == {"morf", "lerf", "insertion"} and d["strategy"] == strategy and d["target"] == "on"
    assert d["curves"]["morf"]["fractions"][3] == pytest.approx(0.3)


def test_correct_ordering_best_reversed_worst_random_between(toy):
    adapter, weights = toy
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.permutation(WORDS)) for _ in range(6)]
    base = explain(texts, adapter, "gxi")
    correct = [oracle(e, weights) for e in base]
    reversed_ = [oracle(e, weights, -1.0, "reversed") for e in base]
    evaluation = evaluate(adapter, correct + reversed_ + random_explanations(base, seed=1))
    ranked = summarise(evaluation.results)
    rows = {row["method"]: row for row in ranked}
    assert [row["method"] for row in ranked] == ["oracle", "random", "reversed"]
    line = verdict(ranked, evaluation.results, "toy")
    assert line.startswith("trust oracle on toy") and line.endswith("not clearly above random: reversed")
    for key, better in (("comprehensiveness", 1), ("sufficiency", -1), ("delta_af", 1)):
        values = [better * rows[m][key] for m in ("oracle", "random", "reversed")]
        assert values[0] > values[1] > values[2], key
    # the same removal sets run once: the full text and the empty text are shared by all three methods
    assert evaluation.forward_rows < evaluation.needed < evaluation.requested


def test_completeness_error_from_each_methods_diagnostics(toy):
    adapter, _ = toy
    (e,) = explain("w0 w1", adapter, "gxi")
    assert completeness_error(e) is None
    assert completeness_error(replace(e, diagnostics={"completeness_error": [-0.25]})) == 0.25
    assert completeness_error(replace(e, diagnostics={"efficiency_error": [0.5]})) == 0.5
    assert completeness_error(replace(e, diagnostics={"logit": [2.0], "relevance_sum": [1.5]})) == 0.5


def test_random_floor_is_seeded_and_special_tokens_stay(toy):
    adapter, _ = toy
    base = explain(["w1 w2 w3", "w4 w5"], adapter, "gxi")
    a, b = random_explanations(base, seed=3), random_explanations(base, seed=3)
    assert all(x == y for x, y in zip(a, b, strict=True)) and a[0].method == "random"
    assert a[0].scores[0, 0] == 0 and a[0].scores[0, -1] == 0
    assert not np.allclose(a[0].scores, random_explanations(base, seed=4)[0].scores)


def test_shared_length_sorted_batches_match_single_runs(tiny):
    adapter = tiny["roberta"]
    texts = ["The movie was wonderful, the acting superb.", "What a terrible waste of time!"]
    es = explain(texts, adapter, "gxi", target="all")
    together = evaluate(adapter, es, strategy="mask", batch_size=7).results
    alone = [r for e in es for r in evaluate(adapter, [e], strategy="mask", batch_size=64).results]
    assert len(together) == 2 * 3
    for a, b in zip(together, alone, strict=True):
        assert a.aopc_comprehensiveness == pytest.approx(b.aopc_comprehensiveness, abs=1e-5)
        np.testing.assert_allclose(a.curves["morf"].probabilities, b.curves["morf"].probabilities, atol=1e-5)


def test_spearman_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    a, b = np.array([3.0, 1.0, 2.0, 2.0, 5.0]), np.array([1.0, 0.0, 2.0, 3.0, 3.0])
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic)
    np.testing.assert_allclose(rankdata(a), stats.rankdata(a) - 1)
    assert math.isnan(spearman(a, np.ones(5)))


@dataclass
class EmbeddingNorm(Method):
    """Test-only method that ignores the model: the norm of each token's embedding."""

    name = "test-embedding-norm"
    summary = "embedding norm (ignores the model; sanity-check fixture)"
    signed = False

    def attribute(self, adapter, batch, targets):
        logits = adapter.logits(batch.inputs)
        chosen = targets(logits)
        norms = adapter.embed(batch.inputs).norm(dim=-1)
        return Attribution(norms.unsqueeze(1).expand(-1, chosen.shape[1], -1), logits, chosen)


@pytest.fixture
def embedding_norm():
    register(EmbeddingNorm)
    yield EmbeddingNorm.name
    REGISTRY.pop(EmbeddingNorm.name)


SANITY_TEXTS = [
    "The movie was wonderful, the acting superb and the music lovely.",
    "What a terrible, boring and awful waste of time.",
    "Self-driving cars seem lazy; I don't trust them at all.",
]


def test_cascading_randomization_flags_a_method_that_ignores_the_model(tiny, embedding_norm):
    adapter = tiny["bert"]
    before = {k: v.clone() for k, v in adapter.model.state_dict().items()}
    ignoring = model_randomization(adapter, SANITY_TEXTS, embedding_norm, seed=0)
    assert ignoring.flagged
    assert [s["step"] for s in ignoring.steps] == ["head", "block 1", "block 0", "embeddings"]
    assert all(s["spearman"] == pytest.approx(1.0) for s in ignoring.steps[:-1])
    assert ignoring.steps[-1]["spearman"] < 0.9
    gxi = model_randomization(adapter, SANITY_TEXTS, "gxi", seed=0)
    assert not gxi.flagged and gxi.steps[-2]["spearman"] < 0.8
    after = adapter.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the user's model is never touched
    assert json.loads(json.dumps(gxi.to_dict()))["method"] == "gxi"


def test_independent_randomization_resets_each_part_before_the_next(tiny, embedding_norm):
    adapter = tiny["bert"]
    ignoring = model_randomization(adapter, SANITY_TEXTS, embedding_norm, independent=True, seed=0)
    assert ignoring.flagged and ignoring.mode == "independent"
    assert all(s["spearman"] == pytest.approx(1.0) for s in ignoring.steps[:-1])
    one = model_randomization(adapter, SANITY_TEXTS, "gxi", independent=True, seed=0)
    cascade = model_randomization(adapter, SANITY_TEXTS, "gxi", seed=0)
    assert not one.flagged and [s["step"] for s in one.steps] == [s["step"] for s in cascade.steps]
    assert one.steps[0] == cascade.steps[0]  # the first step is the same in both variants
    # later steps start from the trained weights again: block 0 alone is not head + block 1 + block 0
    assert one.steps[2]["spearman"] != pytest.approx(cascade.steps[2]["spearman"])
    assert one.to_dict()["mode"] == "independent" and cascade.to_dict()["mode"] == "cascading"


def test_external_scores_give_the_same_numbers(toy, tmp_path):
    adapter, weights = toy
    texts = ["w0 w1 w2 w3", "w9 w4 w5"]
    truth = [oracle(e, weights, method="captum") for e in explain(texts, adapter, "gxi")]
    expected = evaluate(adapter, truth).results
    word_records = [
        {"text": e.text, "words": e.word_texts(), "scores": e.word_scores().tolist(), "target": "on"} for e in truth
    ]
    token_records = [{"text": e.text, "tokens": list(e.tokens), "scores": e.scores[0].tolist()} for e in truth]
    path = tmp_path / "captum.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in word_records))
    for loaded in (load_scores(path, adapter), explanations_from_records(token_records, adapter, method="captum")):
        got = evaluate(adapter, loaded).results
        assert loaded[0].method == "captum"
        for a, b in zip(got, expected, strict=True):
            assert a.aopc_comprehensiveness == pytest.approx(b.aopc_comprehensiveness, abs=1e-12)
            assert a.aopc_sufficiency == pytest.approx(b.aopc_sufficiency, abs=1e-12)
    with pytest.raises(InputError, match="record 1: word 2 'w7' not found"):
        explanations_from_records([{"text": "w0 w1 w2", "words": ["w0", "w1", "w7"], "scores": [1, 2, 3]}], adapter)
    with pytest.raises(InputError, match="3 numbers"):
        explanations_from_records([{"text": "w0 w1 w2", "words": ["w0", "w1", "w2"], "scores": [1, 2]}], adapter)


def test_external_tokens_of_another_tokenizer_are_realigned(tiny):
    bert, roberta = tiny["bert"], tiny["roberta"]
    text = "The acting was superb and the music lovely."
    (e,) = explain(text, roberta, "gxi")
    record = {
        "text": text,
        "tokens": list(e.tokens),
        "offsets": [list(o) for o in e.offsets],
        "scores": e.scores[0].tolist(),
    }
    (moved,) = explanations_from_records([record], bert)
    assert moved.words == e.words
    np.testing.assert_allclose(moved.word_scores(), e.word_scores(), atol=1e-5)


def test_table_ranks_with_random_floor_and_verdict(toy):
    adapter, _ = toy
    rng = np.random.default_rng(1)
    texts = [" ".join(rng.permutation(WORDS)[:8]) for _ in range(5)]
    table = faithfulness_table(adapter, texts, ["gxi", "saliency"], seed=0)
    methods = [row["method"] for row in table.rows]
    assert set(methods) == {"gxi", "saliency", "random"} and methods[0] == "gxi"
    assert [row["rank"] for row in table.rows] == [1, 2, 3]
    assert table.verdict.startswith("trust gxi on toy")
    row = table.rows[0]
    assert set(row) >= {"method", "comprehensiveness", "sufficiency", "delta_af", "completeness_error", "seconds", "n"}
    assert row["n"] == 5 and row["seconds"] > 0
    json.dumps(table.to_dict())


runner = CliRunner()


def test_cli_evaluate_json_and_terminal(tiny_dirs):
    args = ["evaluate", "What a terrible waste of time.", "The music was lovely.", "--model", str(tiny_dirs["bert"])]
    result = runner.invoke(app, [*args, "--method", "gxi", "--method", "saliency", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert {row["method"] for row in out["rows"]} == {"gxi", "saliency", "random"}
    assert out["strategy"] == "delete" and out["level"] == "word" and out["texts"] == 2
    assert isinstance(out["verdict"], str) and len(out["results"]) == 3 * 2
    shown = runner.invoke(app, [*args, "--method", "gxi", "--strategy", "mask"])
    assert shown.exit_code == 0 and "random" in shown.output and "verdict" in shown.output
    bad = runner.invoke(app, [*args, "--strategy", "erase"])
    assert bad.exit_code == 2 and "unknown removal strategy" in bad.output


def test_cli_evaluate_external_scores_only(toy, tiny_dirs, tmp_path):
    path = tmp_path / "scores.jsonl"
    result = runner.invoke(
        app,
        [
            "explain",
            "What a terrible waste.",
            "--model",
            str(tiny_dirs["bert"]),
            "--method",
            "gxi",
            "--jsonl",
            str(path),
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["evaluate", "--scores", str(path), "--model", str(tiny_dirs["bert"]), "--json"])
    assert result.exit_code == 0, result.output
    assert {row["method"] for row in json.loads(result.stdout)["rows"]} == {"gxi", "random"}


def test_cli_sanity_variants(tiny_dirs):
    base = ["evaluate", *SANITY_TEXTS[:2], "--model", str(tiny_dirs["bert"]), "--method", "gxi", "--sanity"]
    result = runner.invoke(app, [*base, "--independent", "--json"])
    assert result.exit_code == 0, result.output
    (check,) = json.loads(result.stdout)["sanity"]
    assert check["method"] == "gxi" and check["mode"] == "independent" and check["texts"] == 2
    result = runner.invoke(app, base)
    assert result.exit_code == 0 and "sanity (cascading) gxi: ok" in result.stdout
    result = runner.invoke(app, [*base[:-1], "--independent"])
    assert result.exit_code == 2 and "add --sanity" in result.output


def test_cli_compare(tiny_dirs):
    result = runner.invoke(
        app,
        [
            "compare",
            "The movie was wonderful.",
            "What a terrible waste of time.",
            "--model",
            str(tiny_dirs["bert"]),
            "--model",
            str(tiny_dirs["electra"]),
            "--method",
            "gxi",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert len(out["models"]) == 2 and out["method"] == "gxi" and len(out["tables"]) == 2
    first = out["texts"][0]
    assert len(first["models"]) == 2 and first["common_words"] == 5 and -1 <= first["spearman"] <= 1
    assert {"model", "prediction", "probability", "target", "top_words"} <= set(first["models"][0])
    one = runner.invoke(app, ["compare", "hi", "--model", str(tiny_dirs["bert"])])
    assert one.exit_code == 2 and "two models" in one.output
