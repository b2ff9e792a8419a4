"""Occlusion, LIME and KernelSHAP against hand-run ablations, brute-force Shapley values and a linear toy model."""

from __future__ import annotations

import copy
import itertools
import math

import pytest
import torch
from captum.attr import FeatureAblation
from torch import nn

from tests.tiny import LABELS, wordpiece_tokenizer
from trexplain import explain
from trexplain.errors import MethodError
from trexplain.methods import Targets, get_method
from trexplain.methods.samplers import lime_coalitions, shapley_coalitions
from trexplain.models import ModelAdapter
from trexplain.models.batch import ModelInputs

TEXTS = ["What a terrible waste of time.", "The movie was wonderful!"]


def _double(adapter: ModelAdapter) -> ModelAdapter:
    """A float64 copy with every Linear weight ×10: random tiny models barely react to removed words otherwise."""
    model = copy.deepcopy(adapter.model).double()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                module.weight.mul_(10)
    return ModelAdapter(model, adapter.tokenizer, family=adapter.family, labels=adapter.labels, name="f64")


def _word_scores(result, row: int, batch) -> torch.Tensor:
    """[K, words]: token scores summed per word."""
    n = batch.lengths[row]
    ids = batch.word_ids[row, :n]
    onehot = (ids.unsqueeze(0) == torch.arange(len(batch.words[row])).unsqueeze(1)).to(result.scores)
    return result.scores[row, :, :n] @ onehot.T


def _hand_logits(adapter: ModelAdapter, batch, row: int, kept_words: set[int], strategy: str) -> torch.Tensor:
    """Logits of text `row` with every word outside `kept_words` removed, built token by token here."""
    n = batch.lengths[row]
    ids = batch.inputs.input_ids[row, :n].tolist()
    word_ids = batch.word_ids[row, :n].tolist()
    gone = [w >= 0 and w not in kept_words for w in word_ids]
    types = batch.inputs.token_type_ids
    if strategy == "delete":
        keep = [i for i in range(n) if not gone[i]]
        new_ids = torch.tensor([[ids[i] for i in keep]])
        mask = torch.ones_like(new_ids)
        inputs = ModelInputs(
            new_ids, mask, adapter.position_ids(mask), None if types is None else types[row : row + 1, keep]
        )
    else:
        replacement = adapter.mask_token_id if strategy == "mask" else adapter.pad_token_id
        new_ids = torch.tensor([[replacement if g else t for t, g in zip(ids, gone, strict=True)]])
        mask = torch.tensor([[0 if (g and strategy == "pad") else 1 for g in gone]])
        inputs = ModelInputs(
            new_ids,
            mask,
            batch.inputs.position_ids[row : row + 1, :n],
            None if types is None else types[row : row + 1, :n],
        )
    with torch.no_grad():
        return adapter.forward(inputs).logits[0]


@pytest.mark.parametrize(
    ("family", "strategy"), [("bert", "delete"), ("roberta", "delete"), ("distilbert", "mask"), ("xlm-roberta", "pad")]
)
def test_occlusion_equals_hand_ablation(tiny, family, strategy):
    adapter = _double(tiny[family])
    batch = adapter.encode(TEXTS)
    result = get_method("occlusion", strategy=strategy).attribute(adapter, batch, Targets("all", adapter))
    with torch.no_grad():
        torch.testing.assert_close(result.logits, adapter.forward(batch.inputs).logits, atol=1e-10, rtol=0)
    for row in range(len(TEXTS)):
        words = set(range(len(batch.words[row])))
        full = _hand_logits(adapter, batch, row, words, strategy)
        expected = torch.stack([full - _hand_logits(adapter, batch, row, words - {w}, strategy) for w in sorted(words)])
        torch.testing.assert_close(_word_scores(result, row, batch), expected.T, atol=1e-10, rtol=0)
        assert result.diagnostics[row]["forwards"] == len(words) + 1


def test_token_occlusion_equals_captum_feature_ablation(tiny):
    adapter = _double(tiny["bert"])
    batch = adapter.encode(TEXTS[:1])
    result = get_method("occlusion", level="token", strategy="mask").attribute(adapter, batch, Targets("all", adapter))
    ids = batch.inputs.input_ids
    baseline = torch.where(batch.special_mask, ids, adapter.mask_token_id)

    def forward(x: torch.Tensor) -> torch.Tensor:
        return adapter.forward(batch.inputs.rows([0] * len(x)).with_ids(x)).logits

    ablation = FeatureAblation(forward)
    for c in range(adapter.num_labels):
        expected = ablation.attribute(ids, baselines=baseline, target=c)
        torch.testing.assert_close(result.scores[:, c], expected.double(), atol=1e-10, rtol=0)


def test_occlusion_probability_output(tiny):
    adapter = _double(tiny["electra"])
    batch = adapter.encode(TEXTS[:1])
    result = get_method("occlusion", output="probability").attribute(adapter, batch, Targets("predicted", adapter))
    words = set(range(len(batch.words[0])))
    c = int(result.targets[0, 0])
    full = _hand_logits(adapter, batch, 0, words, "delete").softmax(-1)[c]
    expected = torch.stack(
        [full - _hand_logits(adapter, batch, 0, words - {w}, "delete").softmax(-1)[c] for w in sorted(words)]
    )
    torch.testing.assert_close(_word_scores(result, 0, batch)[0], expected, atol=1e-10, rtol=0)


def _brute_force_shapley(adapter, batch, row: int, strategy: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Shapley values [C, M] of every class from all 2^M coalitions, and f(empty) [C]."""
    m = len(batch.words[row])
    value = {
        s: _hand_logits(adapter, batch, row, set(s), strategy)
        for r in range(m + 1)
        for s in itertools.combinations(range(m), r)
    }
    phi = torch.zeros(adapter.num_labels, m, dtype=torch.float64)
    for i in range(m):
        others = [w for w in range(m) if w != i]
        for r in range(m):
            weight = math.factorial(r) * math.factorial(m - r - 1) / math.factorial(m)
            for s in itertools.combinations(others, r):
                phi[:, i] += weight * (value[tuple(sorted((*s, i)))] - value[s])
    return phi, value[()]


@pytest.mark.parametrize(("family", "strategy"), [("bert", "delete"), ("roberta", "mask")])
def test_kernelshap_exact_equals_brute_force(tiny, family, strategy):
    adapter = _double(tiny[family])
    batch = adapter.encode(TEXTS)
    assert all(len(w) <= 8 for w in batch.words)
    result = get_method("kernelshap", strategy=strategy).attribute(adapter, batch, Targets("all", adapter))
    for row in range(len(TEXTS)):
        phi, base = _brute_force_shapley(adapter, batch, row, strategy)
        torch.testing.assert_close(_word_scores(result, row, batch), phi, atol=1e-6, rtol=0)
        diag = result.diagnostics[row]
        assert diag["exact"] is True
        torch.testing.assert_close(torch.tensor(diag["base_value"], dtype=torch.float64), base, atol=1e-8, rtol=0)
        total = torch.tensor(diag["base_value"], dtype=torch.float64) + result.scores[row].sum(-1)
        torch.testing.assert_close(total, result.logits[row], atol=1e-6, rtol=0)
        assert max(diag["efficiency_error"]) < 1e-6


@pytest.mark.parametrize("output", ["logit", "probability"])
def test_kernelshap_sampled_keeps_efficiency(tiny, output):
    adapter = _double(tiny["bert"])
    batch = adapter.encode(TEXTS[:1])
    method = get_method("kernelshap", exact_features=0, n_samples=80, output=output, seed=3)
    result = method.attribute(adapter, batch, Targets("all", adapter))
    diag = result.diagnostics[0]
    assert diag["exact"] is False and diag["n_samples"] == 80
    full = result.logits[0].softmax(-1) if output == "probability" else result.logits[0]
    total = torch.tensor(diag["base_value"], dtype=torch.float64) + result.scores[0].sum(-1)
    torch.testing.assert_close(total, full, atol=1e-6, rtol=0)
    phi, _ = _brute_force_shapley(adapter, batch, 0, "delete")
    if output == "probability":
        return
    sampled = _word_scores(result, 0, batch)
    assert (sampled - phi).abs().max() < 0.15 * phi.abs().max()


def test_shapley_sampler_enumerates_small_sizes_and_pairs_the_rest():
    coalitions, _, exact = shapley_coalitions(7, 40, torch.Generator().manual_seed(0))
    assert not exact and len(coalitions) == 40
    sizes = coalitions.sum(1)
    assert int(((sizes == 1) | (sizes == 6)).sum()) == 14
    sampled = coalitions[14:]
    assert torch.equal(sampled[:13], ~sampled[13:])
    full, full_weights, exact = shapley_coalitions(5, 1000, torch.Generator().manual_seed(0))
    assert exact and len(full) == 30 and torch.all(full_weights > 0)


class BagOfWords(nn.Module):
    """Logit c = bias_c + Σ over attended tokens of weight[token, c]: linear in which words are present."""

    def __init__(self, weights: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.embedding = nn.Embedding.from_pretrained(weights, freeze=True)
        self.bias = nn.Parameter(bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return (self.embedding(input_ids) * attention_mask.unsqueeze(-1)).sum(1) + self.bias


@pytest.fixture(scope="module")
def linear():
    tokenizer = wordpiece_tokenizer()
    weights = torch.randn(len(tokenizer), len(LABELS), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    weights[tokenizer.mask_token_id] = 0
    model = BagOfWords(weights, torch.tensor([0.5, -0.25, 1.0], dtype=torch.float64))
    return ModelAdapter.from_module(model, model.embedding, tokenizer, LABELS), weights


def _true_coefficients(adapter, weights, batch, row):
    n = batch.lengths[row]
    ids, word_ids = batch.inputs.input_ids[row, :n], batch.word_ids[row, :n]
    return torch.stack([weights[ids[word_ids == w]].sum(0) for w in range(len(batch.words[row]))]).T


@pytest.mark.parametrize("strategy", ["pad", "mask"])
def test_lime_recovers_linear_model(linear, strategy):
    adapter, weights = linear
    texts = ["The movie was wonderful, the acting superb and the music lovely.", "Self-driving cars seem lazy"]
    batch = adapter.encode(texts)
    exact = get_method("lime", strategy=strategy, alpha=0.0).attribute(adapter, batch, Targets("all", adapter))
    shrunk = get_method("lime", strategy=strategy).attribute(adapter, batch, Targets("all", adapter))
    for row in range(len(texts)):
        truth = _true_coefficients(adapter, weights, batch, row)
        assert len(batch.words[row]) > 4 and any(
            (batch.word_ids[row] == w).sum() > 1 for w in range(len(batch.words[row]))
        )
        torch.testing.assert_close(_word_scores(exact, row, batch), truth, atol=1e-8, rtol=0)
        torch.testing.assert_close(_word_scores(shrunk, row, batch), truth, atol=0.1 * truth.abs().max(), rtol=0)
        assert min(exact.diagnostics[row]["r2"]) == pytest.approx(1.0, abs=1e-10)
        assert exact.diagnostics[row]["n_samples"] == 100 + 20 * len(batch.words[row])


@pytest.mark.parametrize("method", ["occlusion", "kernelshap"])
def test_other_methods_recover_linear_model(linear, method):
    adapter, weights = linear
    batch = adapter.encode(["Self-driving cars seem lazy; I don't trust them at all."])
    result = (
        get_method(method, strategy="pad", exact_features=0, n_samples=60)
        if method == "kernelshap"
        else get_method(method, strategy="pad")
    )
    scores = _word_scores(result.attribute(adapter, batch, Targets("all", adapter)), 0, batch)
    torch.testing.assert_close(scores, _true_coefficients(adapter, weights, batch, 0), atol=1e-8, rtol=0)


@pytest.mark.parametrize("name", ["lime", "kernelshap"])
def test_seed_fixes_samples(tiny, name):
    adapter = _double(tiny["roberta"])
    params = {"n_samples": 30} | ({"exact_features": 0} if name == "kernelshap" else {})
    batch = adapter.encode(TEXTS)
    targets = Targets("all", adapter)
    first = get_method(name, seed=1, **params).attribute(adapter, batch, targets)
    again = get_method(name, seed=1, **params).attribute(adapter, batch, targets)
    other = get_method(name, seed=2, **params).attribute(adapter, batch, targets)
    assert torch.equal(first.scores, again.scores)
    assert not torch.allclose(first.scores, other.scores)


def test_seed_changes_coalitions():
    def draw(seed: int) -> torch.Tensor:
        return lime_coalitions(10, 50, torch.Generator().manual_seed(seed))

    assert torch.equal(draw(0), draw(0)) and not torch.equal(draw(0), draw(1))
    assert torch.all(draw(0)[0]) and not torch.any(draw(0)[1:].all(1))


@pytest.mark.parametrize("name", ["occlusion", "lime", "kernelshap"])
def test_batched_equals_one_by_one_and_targets_are_free(tiny, name):
    adapter = _double(tiny["camembert"])
    params = {} if name == "occlusion" else {"n_samples": 40}
    together = explain(TEXTS, adapter, name, target="all", params=params)
    for text, joint in zip(TEXTS, together, strict=True):
        alone = explain([text], adapter, name, target="all", params=params)[0]
        assert alone.scores == pytest.approx(joint.scores, abs=1e-6)
        assert abs(joint.scores).max() > 1e-2
        single = explain([text], adapter, name, target="neutral", params=params)[0]
        assert single.scores[0] == pytest.approx(joint.scores[1], abs=1e-6)
        assert joint.params["strategy"] is None and joint.params["level"] is None  # the modality's defaults …
        assert joint.diagnostics["strategy"] == "delete" and joint.diagnostics["level"] == "word"  # … recorded


def test_token_level_moves_tokens_not_specials(tiny):
    adapter = _double(tiny["bert"])
    batch = adapter.encode(TEXTS[:1])
    result = get_method("kernelshap", level="token", exact_features=0, n_samples=64).attribute(
        adapter, batch, Targets("predicted", adapter)
    )
    diag = result.diagnostics[0]
    assert diag["n_features"] == int(batch.maskable[0].sum())
    special = batch.special_mask[0, : batch.lengths[0]]
    assert torch.all(result.scores[0, :, : batch.lengths[0]][:, special] == 0)
    total = diag["base_value"][0] + float(result.scores[0, 0].sum())
    assert total == pytest.approx(float(result.logits[0, result.targets[0, 0]]), abs=1e-8)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("occlusion", {"strategy": "drop"}),
        ("occlusion", {"level": "sentence"}),
        ("lime", {"output": "softmax"}),
        ("lime", {"n_samples": 1}),
        ("kernelshap", {"exact_features": 30}),
    ],
)
def test_bad_parameters_raise(name, params):
    with pytest.raises(MethodError):
        get_method(name, **params)
