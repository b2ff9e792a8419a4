"""Concept importance: exact ablation identities, gradients equal finite differences, deletion curves, fidelity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trexplain.concepts import PCA, SemiNMF, extract
from trexplain.concepts.editing import SiteEdit
from trexplain.concepts.fidelity import fidelity, reconstructed_logits
from trexplain.concepts.importance import deletion, importance
from trexplain.evaluate.aopc import comprehensiveness

pytest.importorskip("sklearn", reason="scikit-learn is an optional part: pip install 'trexplain[concepts]'")

TEXTS = [
    "I can't believe this just happened!",
    "The movie was wonderful, the acting superb.",
    "boring",
    "Nothing special: an average day.",
    "Self-driving cars seem lazy; I don't trust them at all.",
    "what a great and happy surprise",
]
FIT = TEXTS * 4


def _logits(adapter, texts):
    with torch.no_grad():
        return adapter.forward(adapter.encode(texts).inputs).logits


def _full_pca(adapter, site, granularity):
    store = extract(adapter, FIT, site, granularity, dtype="float32")
    return PCA(min(store.dim, len(store))).fit(store)


def _independent(adapter, texts, site, new_cls_row):
    """Logits with position 0 of `site` set to new_cls_row(row), by the capture API directly (no skipping)."""

    def write(value):
        value = value.clone()
        value[:, 0] = torch.as_tensor(new_cls_row(value[:, 0].numpy()), dtype=value.dtype)
        return value

    with torch.no_grad():
        return adapter.forward(adapter.encode(texts).inputs, replace={site: write}).logits


@pytest.mark.filterwarnings("ignore:Number of distinct clusters")  # every text's [CLS] embedding is the same
@pytest.mark.parametrize("family", ["bert", "distilbert"])
@pytest.mark.parametrize("site", ["embeddings", "block_output:0", "block_output:-1"])
@pytest.mark.parametrize("granularity", ["cls", "mean", "token", "word"])
def test_removing_nothing_reproduces_the_logits_exactly(tiny, family, site, granularity):
    adapter = tiny[family]
    dictionary = SemiNMF(3, max_iter=20).fit(extract(adapter, FIT, site, granularity, dtype="float32"))
    edit = SiteEdit(adapter, dictionary, TEXTS, site, granularity)
    k = len(dictionary.components_)
    kept = edit.removed(torch.zeros(1, len(TEXTS), k, dtype=torch.bool))[0]
    np.testing.assert_array_equal(kept.numpy(), edit.logits.numpy())
    np.testing.assert_allclose(kept.numpy(), _logits(adapter, TEXTS).numpy(), atol=1e-5)


@pytest.mark.parametrize("site", ["block_output:0", "block_output:-1"])
def test_removing_every_pca_concept_leaves_the_mean_plus_error(tiny, site):
    adapter = tiny["bert"]
    pca = _full_pca(adapter, site, "cls")
    edit = SiteEdit(adapter, pca, TEXTS, site, "cls")
    gone = edit.removed(torch.ones(1, len(TEXTS), len(pca.components_), dtype=torch.bool))[0]

    def mean_plus_error(rows):
        return pca.bias_ + (rows - pca.decode(pca.encode(rows)))

    np.testing.assert_allclose(gone.numpy(), _independent(adapter, TEXTS, site, mean_plus_error).numpy(), atol=1e-5)
    assert np.abs(pca.decode(pca.encode(edit.rows.numpy())) - edit.rows.numpy()).max() < 1e-4  # lossless


def test_one_concept_ablation_equals_removing_its_contribution_by_hand(tiny):
    adapter, site = tiny["bert"], "block_output:0"
    dictionary = SemiNMF(4, max_iter=50).fit(extract(adapter, FIT, site, "cls", dtype="float32"))
    scores = importance(adapter, dictionary, TEXTS, site, "cls", batch_size=4)
    for j in range(4):

        def without(rows, j=j):
            return rows - dictionary.encode(rows)[:, j : j + 1] * dictionary.components_[j]

        expected = _logits(adapter, TEXTS) - _independent(adapter, TEXTS, site, without)
        np.testing.assert_allclose(scores.ablation[:, :, j], expected.numpy(), atol=2e-6)


@pytest.mark.parametrize("granularity", ["cls", "token", "word"])
def test_gradients_equal_finite_differences(tiny, granularity):
    adapter, site = tiny["bert"], "block_output:0"
    dictionary = SemiNMF(3, max_iter=50).fit(extract(adapter, FIT, site, granularity, dtype="float32"))
    scores = importance(adapter, dictionary, TEXTS, site, granularity, ablation=False)
    edit = SiteEdit(adapter, dictionary, TEXTS, site, granularity)
    eps, numeric = 1e-2, np.zeros_like(scores.gradient)
    for j in range(3):
        for sign in (1, -1):
            codes = edit.codes.clone()
            codes[:, j] += sign * eps  # every row of every text: the per-text sum of row gradients
            with torch.no_grad():
                numeric[:, :, j] += sign * edit.run(edit.delta_codes(codes)[None])[0].numpy() / (2 * eps)
    scale = np.abs(scores.gradient).max()
    assert scale > 0
    np.testing.assert_allclose(scores.gradient, numeric, atol=0.02 * scale)
    if granularity == "cls":
        np.testing.assert_allclose(scores.concept_x_gradient, scores.gradient * scores.codes[:, None], rtol=1e-6)


def test_per_class_means_over_the_texts_predicted_as_the_class(tiny):
    adapter, site = tiny["bert"], "block_output:0"
    dictionary = SemiNMF(3, max_iter=20).fit(extract(adapter, FIT, site, "cls", dtype="float32"))
    scores = importance(adapter, dictionary, TEXTS, site, "cls")
    table = scores.per_class("ablation")
    for c in range(3):
        chosen = scores.predicted == c
        if chosen.any():
            np.testing.assert_allclose(table[c], scores.ablation[chosen, c].mean(0))
        else:
            assert np.isnan(table[c]).all()
    data = scores.to_dict()
    assert sum(data["texts_per_class"]) == len(TEXTS) and set(data["per_class"]) == {
        "gradient",
        "concept_x_gradient",
        "ablation",
    }


def test_cls_edits_change_position_zero_only(tiny):
    adapter = tiny["bert"]
    dictionary = SemiNMF(3, max_iter=20).fit(extract(adapter, FIT, "block_output:0", "cls", dtype="float32"))
    edit = SiteEdit(adapter, dictionary, TEXTS, "block_output:0", "cls")
    spread = edit.scatter(torch.ones(1, len(TEXTS), edit.value.shape[-1]))[0]
    assert spread[:, 0].eq(1).all() and spread[:, 1:].eq(0).all()
    mean = SiteEdit(adapter, dictionary, TEXTS, "block_output:0", "mean")
    spread = mean.scatter(torch.ones(1, len(TEXTS), edit.value.shape[-1]))[0]
    real = mean.batch.inputs.attention_mask.bool()
    assert spread[real].eq(1).all() and spread[~real].eq(0).all()


def test_deletion_curves_start_at_the_prediction_and_end_with_everything_removed(tiny):
    adapter, site = tiny["bert"], "block_output:0"
    dictionary = SemiNMF(3, max_iter=20).fit(extract(adapter, FIT, site, "cls", dtype="float32"))
    scores = importance(adapter, dictionary, TEXTS, site, "cls")
    result = deletion(adapter, dictionary, TEXTS, site, "cls", scores, random=2, batch_size=4)
    probs = scores.logits - scores.logits.max(1, keepdims=True)
    probs = np.exp(probs) / np.exp(probs).sum(1, keepdims=True)
    p0 = probs[np.arange(len(TEXTS)), scores.predicted]
    edit = SiteEdit(adapter, dictionary, TEXTS, site, "cls")
    everything = edit.removed(torch.ones(1, len(TEXTS), 3, dtype=torch.bool))[0].softmax(-1).numpy()
    for name, curve in result.curves.items():
        assert curve.shape == (len(TEXTS), 4)
        np.testing.assert_allclose(curve[:, 0], p0, rtol=1e-5)
        np.testing.assert_allclose(curve[:, -1], everything[np.arange(len(TEXTS)), scores.predicted], rtol=1e-5)
        expected = np.mean([comprehensiveness(float(c[0]), torch.as_tensor(c[1:])) for c in curve])
        assert result.aopc[name] == pytest.approx(expected)
    assert set(result.aopc) == {"gradient", "concept_x_gradient", "ablation", "random"}
    # ablation's own order: the first concept removed is the one whose ablation lowers the logit most
    order = np.argsort(-scores.for_predicted("ablation"), axis=1)
    assert order.shape == (len(TEXTS), 3)


@pytest.mark.parametrize("granularity", ["cls", "token"])
def test_fidelity_of_a_lossless_dictionary_is_perfect_and_lossy_equals_reconstruction(tiny, granularity):
    adapter, site = tiny["bert"], "block_output:0"
    pca = _full_pca(adapter, site, granularity)
    result = fidelity(adapter, pca, TEXTS, site, granularity)
    assert result["accuracy"] == 1.0 and result["kl"] < 1e-8 and result["texts"] == len(TEXTS)
    lossy = PCA(2).fit(extract(adapter, FIT, site, "cls", dtype="float32"))
    original, rebuilt = reconstructed_logits(adapter, lossy, TEXTS, site, "cls")
    expected = _independent(adapter, TEXTS, site, lambda rows: lossy.decode(lossy.encode(rows)))
    np.testing.assert_allclose(rebuilt, expected.numpy(), atol=1e-5)
    np.testing.assert_allclose(original, _logits(adapter, TEXTS).numpy(), atol=1e-5)


def test_a_site_with_one_vector_per_text_is_edited_whole(tiny):
    adapter, site = tiny["bert"], "module:bert.pooler"
    pca = _full_pca(adapter, site, "cls")
    edit = SiteEdit(adapter, pca, TEXTS, site, "cls")
    kept = edit.removed(torch.zeros(1, len(TEXTS), len(pca.components_), dtype=torch.bool))[0]
    np.testing.assert_array_equal(kept.numpy(), edit.logits.numpy())
    gone = edit.removed(torch.ones(1, len(TEXTS), len(pca.components_), dtype=torch.bool))[0]

    def mean_plus_error(value):
        rows = value.numpy()
        return torch.as_tensor(pca.bias_ + (rows - pca.decode(pca.encode(rows))), dtype=value.dtype)

    with torch.no_grad():
        expected = adapter.forward(adapter.encode(TEXTS).inputs, replace={site: mean_plus_error}).logits
    np.testing.assert_allclose(gone.numpy(), expected.numpy(), atol=1e-5)
    assert fidelity(adapter, pca, TEXTS, site, "cls")["accuracy"] == 1.0
