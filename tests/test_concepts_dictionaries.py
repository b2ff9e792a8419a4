"""Concept dictionaries: equal to scikit-learn, losses that fall, planted concepts recovered, exact reloads."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from trexplain.concepts import (
    DICTIONARIES,
    ICA,
    NMF,
    PCA,
    BatchTopKSAE,
    Dictionary,
    JumpReLUSAE,
    KMeans,
    ReLUSAE,
    SemiNMF,
    TopKSAE,
    extract,
    load,
    make,
)
from trexplain.concepts.metrics import matched_cosines
from trexplain.errors import InputError, MethodError

pytest.importorskip("sklearn", reason="scikit-learn is an optional part: pip install 'trexplain[concepts]'")
from sklearn import cluster, decomposition

RNG = np.random.default_rng(0)
X = RNG.normal(size=(200, 16)).astype(np.float32)


def planted(per_row: int, n: int = 2000, dim: int = 32, k: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows made of `per_row` of k random unit directions with non-negative weights in [0.5, 1.5], plus noise
    of standard deviation 0.01: (X, the directions)."""
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(k, dim))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    active = np.zeros((n, k))
    for row in active:
        row[rng.choice(k, per_row, replace=False)] = 1
    codes = active * rng.uniform(0.5, 1.5, (n, k))
    return (codes @ directions + 0.01 * rng.normal(size=(n, dim))).astype(np.float32), directions


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's convergence warnings on small random data
        yield


def test_pca_ica_nmf_kmeans_equal_scikit_learn():
    pca, ref = PCA(5, seed=1).fit(X), decomposition.PCA(5, random_state=1).fit(X)
    np.testing.assert_array_equal(pca.components_, ref.components_)
    np.testing.assert_array_equal(pca.encode(X), ref.transform(X))
    np.testing.assert_allclose(pca.decode(pca.encode(X)), ref.inverse_transform(ref.transform(X)), rtol=1e-6)

    ica, ref = ICA(5, seed=1).fit(X), decomposition.FastICA(5, random_state=1).fit(X)
    np.testing.assert_array_equal(ica.components_, ref.mixing_.T)
    np.testing.assert_array_equal(ica.encode(X), ref.transform(X))
    np.testing.assert_allclose(ica.decode(ica.encode(X)), ref.inverse_transform(ref.transform(X)), rtol=1e-6)

    positive = np.abs(X)
    nmf, ref = NMF(5, seed=1).fit(positive), decomposition.NMF(5, random_state=1).fit(positive)
    np.testing.assert_array_equal(nmf.components_, ref.components_)
    np.testing.assert_array_equal(nmf.encode(positive), ref.transform(positive))
    np.testing.assert_array_equal(nmf.bias_, np.zeros(16))

    kmeans, ref = KMeans(5, seed=1).fit(X), cluster.KMeans(5, random_state=1, n_init=1).fit(X)
    np.testing.assert_array_equal(kmeans.components_, ref.cluster_centers_)
    codes = kmeans.encode(X)
    np.testing.assert_array_equal(codes.argmax(1), ref.predict(X))
    np.testing.assert_array_equal(codes.sum(1), np.ones(len(X)))
    np.testing.assert_array_equal(kmeans.decode(codes), ref.cluster_centers_[ref.predict(X)])


def test_fit_encode_is_fit_then_encode_and_pca_with_every_component_is_lossless():
    np.testing.assert_array_equal(PCA(4).fit_encode(X), PCA(4).fit(X).encode(X))
    full = PCA(16).fit(X)
    np.testing.assert_allclose(full.decode(full.encode(X)), X, atol=1e-5)
    assert full.explained_variance_ratio_.sum() == pytest.approx(1.0, abs=1e-6)


def test_nmf_refuses_signed_data_or_shifts_by_the_minimum_when_asked():
    with pytest.raises(InputError, match=r"non-negative.*shift='min'"):
        NMF(3).fit(X)
    shifted = NMF(3, shift="min").fit(X)
    np.testing.assert_array_equal(shifted.bias_, X.min(0))
    ref = decomposition.NMF(3, random_state=0).fit(X - X.min(0))
    np.testing.assert_array_equal(shifted.components_, ref.components_)
    np.testing.assert_array_equal(shifted.encode(X), ref.transform(X - X.min(0)))
    np.testing.assert_allclose(
        shifted.decode(shifted.encode(X)), ref.inverse_transform(ref.transform(X - X.min(0))) + X.min(0), rtol=1e-6
    )
    below = X[:1] - 10
    np.testing.assert_array_equal(shifted.encode(below), shifted.encode(X.min(0, keepdims=True)))
    with pytest.raises(MethodError, match="shift"):
        NMF(3, shift="abs")


def test_semi_nmf_loss_never_increases_and_codes_are_non_negative():
    model = SemiNMF(6, max_iter=80, tol=0).fit(X)
    history = np.asarray(model.loss_history_)
    assert len(history) == model.n_iter_ == 80
    assert np.all(np.diff(history) <= 1e-9 * history[0])
    assert history[-1] < 0.8 * history[0]
    codes = model.encode(X)
    assert codes.min() >= 0 and codes.shape == (200, 6)
    np.testing.assert_allclose(np.linalg.norm(model.components_, axis=1), 1, rtol=1e-6)
    assert np.all(np.diff(SemiNMF(6, max_iter=40, tol=0, init="random").fit(X).loss_history_) <= 1e-9 * history[0])


def test_semi_nmf_recovers_planted_concepts():
    """Semi-NMF's loss cannot tell the planted directions from non-negative mixtures of them (G Q, F Q⁻ᵀ for any
    invertible Q ≥ 0 fits as well), so rows carry one concept each: the concepts are the rays of the data."""
    data, directions = planted(per_row=1)
    model = SemiNMF(8).fit(data)
    assert matched_cosines(directions, model)[2].min() >= 0.95
    assert np.mean((model.decode(model.encode(data)) - data) ** 2) < 1e-3


@pytest.mark.parametrize(
    "make_sae",
    [
        lambda: TopKSAE(16, top_k=2),
        lambda: BatchTopKSAE(16, top_k=2),
        lambda: JumpReLUSAE(16, threshold=0.2, l0=3e-3, bandwidth=0.1),
    ],
    ids=["topk", "batchtopk", "jumprelu"],
)
def test_sparse_autoencoders_recover_planted_concepts(make_sae):
    data, directions = planted(per_row=2)
    sae = make_sae()
    sae.epochs, sae.lr, sae.batch_size = 60, 3e-3, 128
    sae.fit(data)
    assert matched_cosines(directions, sae)[2].min() >= 0.95
    assert sae.loss_history_[-1] < 0.5 * sae.loss_history_[0]
    np.testing.assert_allclose(np.linalg.norm(sae.components_, axis=1), 1, rtol=1e-5)
    codes = sae.encode(data)
    assert (codes > 0).sum(1).mean() == pytest.approx(2, abs=0.3)


def test_every_sae_lowers_its_loss_deterministically():
    for kind in (ReLUSAE, TopKSAE, BatchTopKSAE, JumpReLUSAE):
        first = kind(8, epochs=8, batch_size=32, lr=3e-3, seed=3).fit(X)
        again = kind(8, epochs=8, batch_size=32, lr=3e-3, seed=3).fit(X)
        assert first.loss_history_[-1] < first.loss_history_[0], kind.__name__
        assert first.loss_history_ == again.loss_history_
        np.testing.assert_array_equal(first.components_, again.components_)
        np.testing.assert_array_equal(first.encode(X), again.encode(X))
    batch = BatchTopKSAE(8, top_k=2, epochs=4, batch_size=32).fit(X)
    assert batch.threshold_ > 0
    assert (batch.encode(X)[batch.encode(X) > 0] > batch.threshold_).all()
    jump = JumpReLUSAE(8, epochs=4, batch_size=32).fit(X)
    codes = jump.encode(X)
    assert ((codes == 0) | (codes > jump.threshold_)).all()


def test_sae_trains_the_same_from_a_store_on_disk(tiny, tmp_path):
    texts = [f"text number {i} is {'good' if i % 2 else 'bad'}" for i in range(40)]
    store = extract(tiny["bert"], texts, granularity="token", out=tmp_path / "acts")
    from_store = TopKSAE(8, top_k=2, epochs=3, batch_size=16).fit(store)
    from_array = TopKSAE(8, top_k=2, epochs=3, batch_size=16).fit(store.to_numpy())
    np.testing.assert_array_equal(from_store.components_, from_array.components_)
    np.testing.assert_array_equal(from_store.encode(store), from_array.encode(store.to_numpy()))
    np.testing.assert_array_equal(
        PCA(3).fit(store).encode(store), PCA(3).fit(store.to_numpy()).encode(store.to_numpy())
    )


def _fitted() -> list[Dictionary]:
    return [
        PCA(4).fit(X),
        ICA(4).fit(X),
        NMF(4, shift="min").fit(X),
        KMeans(4).fit(X),
        SemiNMF(4, max_iter=20).fit(X),
        ReLUSAE(6, epochs=2).fit(X),
        TopKSAE(6, top_k=2, epochs=2).fit(X),
        BatchTopKSAE(6, top_k=2, epochs=2).fit(X),
        JumpReLUSAE(6, epochs=2).fit(X),
    ]


def test_every_method_is_registered_and_decode_torch_is_decode_with_gradients():
    fitted = _fitted()
    assert sorted(DICTIONARIES) == sorted(type(d).method for d in fitted)
    for dictionary in fitted:
        codes = dictionary.encode(X[:10])
        assert codes.shape == (10, dictionary.n_concepts)
        decoded = dictionary.decode(codes)
        assert decoded.shape == (10, 16)
        tensor = torch.tensor(codes, dtype=torch.float64, requires_grad=True)
        out = dictionary.decode_torch(tensor)
        np.testing.assert_allclose(out.detach().numpy(), decoded, rtol=1e-5, atol=1e-5)
        weights = torch.randn(10, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        (grad,) = torch.autograd.grad((out * weights).sum(), tensor)
        np.testing.assert_allclose(
            grad.numpy(), weights.numpy() @ dictionary.components_.T.astype(np.float64), rtol=1e-6
        )


def test_saved_dictionaries_reload_with_equal_codes(tmp_path):
    for dictionary in _fitted():
        folder = dictionary.save(tmp_path / dictionary.method)
        assert sorted(p.name for p in folder.iterdir()) == ["arrays.safetensors", "dictionary.json"]
        meta = json.loads((folder / "dictionary.json").read_text())
        assert meta["method"] == dictionary.method and meta["params"] == dictionary.get_params()
        again = load(folder)
        assert type(again) is type(dictionary) and again.get_params() == dictionary.get_params()
        np.testing.assert_array_equal(again.encode(X), dictionary.encode(X))
        np.testing.assert_array_equal(again.decode(again.encode(X)), dictionary.decode(dictionary.encode(X)))
        assert type(dictionary).load(folder).get_params() == dictionary.get_params()
    with pytest.raises(InputError, match="already exists"):
        PCA(2).fit(X).save(tmp_path / "pca")
    with pytest.raises(InputError, match="not a PCA"):
        PCA.load(tmp_path / "ica")
    with pytest.raises(InputError, match="not a saved dictionary"):
        load(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(DICTIONARIES)


def test_make_and_misuse_give_clear_errors():
    model = make("semi-nmf", 3, max_iter=5)
    assert isinstance(model, SemiNMF) and model.get_params()["max_iter"] == 5
    with pytest.raises(MethodError, match=r"batchtopk-sae.*semi-nmf"):
        make("lda", 3)
    with pytest.raises(MethodError, match="parameters are seed, shift, max_iter, init"):
        make("nmf", 3, alpha=1)
    with pytest.raises(MethodError, match="positive integer"):
        PCA(0)
    with pytest.raises(MethodError, match="top_k"):
        TopKSAE(4, top_k=5)
    with pytest.raises(InputError, match="not fitted"):
        PCA(2).encode(X)
    with pytest.raises(InputError, match="fitted on 16"):
        PCA(2).fit(X).encode(X[:, :8])
    with pytest.raises(InputError, match="at most min"):
        PCA(20).fit(X)
    with pytest.raises(InputError, match="NaN"):
        PCA(2).fit(np.full((4, 3), np.nan))
    with pytest.raises(InputError, match=r"codes must be \[rows, 2\]"):
        PCA(2).fit(X).decode(np.zeros((3, 5)))
