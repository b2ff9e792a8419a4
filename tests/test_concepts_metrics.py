"""Dictionary metrics on arrays small enough to check by hand (and against scipy / scikit-learn)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from trexplain.concepts import PCA, SemiNMF
from trexplain.concepts.metrics import (
    evaluate,
    fraction_nonzero,
    matched_cosines,
    mse,
    prediction_agreement,
    r2,
    sparsity_ratio,
    stability,
    wasserstein,
)
from trexplain.errors import InputError

pytest.importorskip("sklearn", reason="scikit-learn is an optional part: pip install 'trexplain[concepts]'")
from sklearn.metrics import r2_score

X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 0.0]])
X_HAT = np.array([[1.0, 3.0], [2.0, 4.0], [5.0, 2.0]])


def test_mse_and_r2_by_hand():
    # squared errors: 0, 1, 1, 0, 0, 4 -> mean 1
    assert mse(X, X_HAT) == 1.0
    # column means 3 and 2: total (4 + 0 + 4) + (0 + 4 + 4) = 16, residual 6
    assert r2(X, X_HAT) == pytest.approx(1 - 6 / 16)
    assert r2(X, X_HAT) == pytest.approx(r2_score(X, X_HAT, multioutput="variance_weighted"))
    assert r2(X, X) == 1.0 and mse(X, X) == 0.0
    assert r2(X, np.tile(X.mean(0), (3, 1))) == 0.0
    assert r2(np.ones((2, 2)), np.ones((2, 2))) == 1.0
    assert r2(np.ones((2, 2)), np.zeros((2, 2))) == float("-inf")


def test_wasserstein_is_the_mean_of_per_dimension_1d_distances():
    # column 0: sorted [1, 3, 5] vs [1, 2, 5] -> (0 + 1 + 0) / 3; column 1: [0, 2, 4] vs [2, 3, 4] -> (2 + 1 + 0) / 3
    np.testing.assert_allclose(wasserstein(X, X_HAT, per_dimension=True), [1 / 3, 1.0])
    assert wasserstein(X, X_HAT) == pytest.approx(2 / 3)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 4)), rng.normal(1.0, 2.0, size=(50, 4))
    expected = [wasserstein_distance(a[:, j], b[:, j]) for j in range(4)]
    np.testing.assert_allclose(wasserstein(a, b, per_dimension=True), expected, rtol=1e-12)
    # a permutation of the rows leaves each column's distribution, hence the distance, unchanged
    assert wasserstein(a, a[::-1]) == 0.0


def test_sparsity_and_interpreto_sparsity_ratio():
    codes = np.array([[0.0, 2.0, 0.0, 0.0], [1.0, 0.0, 0.0, -3.0]])
    assert fraction_nonzero(codes) == 3 / 8
    assert sparsity_ratio(codes) == 3 / 8 / 4
    assert fraction_nonzero(codes, epsilon=1.5) == 2 / 8
    assert fraction_nonzero(np.eye(5)) == 1 / 5


def test_matched_cosines_and_stability():
    a = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, -1.0]])
    b = np.array([[0.0, 0.0, 3.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    # cosines: a0 [0, .71, 0], a1 [0, .71, 1], a2 [-1, 0, 0]; the best total (1) pairs a0-b0, a1-b2, a2-b1,
    # while the greedy a0-b1, a1-b2 would leave a2 with b0 (-1): total 0.71
    rows, cols, cos = matched_cosines(a, b)
    assert dict(zip(rows.tolist(), cols.tolist(), strict=True)) == {0: 0, 1: 2, 2: 1}
    np.testing.assert_allclose(cos, [0.0, 1.0, 0.0])
    assert stability(a, b) == pytest.approx(1 / 3)
    # up to sign, a2-b0 counts 1: a0-b1, a1-b2, a2-b0 = 0.71 + 1 + 1
    assert stability(a, b, absolute=True) == pytest.approx((np.sqrt(0.5) + 2) / 3)
    rows, cols, cos = matched_cosines(a[:2], b)
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 2]
    assert stability(a, a[[2, 0, 1]]) == pytest.approx(1.0)
    data = np.random.default_rng(1).normal(size=(100, 6))
    assert stability(PCA(3, seed=0).fit(data), PCA(3, seed=1).fit(data), absolute=True) == pytest.approx(1.0)
    with pytest.raises(InputError, match="widths"):
        stability(a, np.ones((2, 4)))
    with pytest.raises(InputError, match="not fitted"):
        stability(PCA(2), a)


def test_prediction_agreement_by_hand():
    logits = np.array([[0.0, 0.0], [2.0, 0.0]])
    same = prediction_agreement(logits, logits + 5)
    assert same == {"accuracy": 1.0, "kl": pytest.approx(0.0, abs=1e-15)}
    flipped = prediction_agreement(logits, np.array([[0.0, 0.0], [0.0, 2.0]]))
    assert flipped["accuracy"] == 0.5
    # row 2: p = softmax(2, 0), q = softmax(0, 2) -> KL = 2 tanh(1); row 1 contributes 0
    assert flipped["kl"] == pytest.approx(2 * np.tanh(1) / 2)


def test_evaluate_a_dictionary_and_shape_errors():
    data = np.random.default_rng(2).normal(size=(60, 5))
    full = evaluate(PCA(5).fit(data), data)
    assert full["mse"] == pytest.approx(0, abs=1e-10) and full["r2"] == pytest.approx(1.0)
    assert full["wasserstein"] == pytest.approx(0, abs=1e-6) and full["fraction_nonzero"] == 1.0
    assert full["sparsity_ratio"] == pytest.approx(1 / 5)
    semi = SemiNMF(3, max_iter=50).fit(data)
    report = evaluate(semi, data)
    codes = semi.encode(data)
    assert report["mse"] == pytest.approx(mse(data.astype(np.float32), semi.decode(codes)))
    assert report["fraction_nonzero"] == fraction_nonzero(codes)
    with pytest.raises(InputError, match="one shape"):
        mse(X, X_HAT[:2])
    with pytest.raises(InputError, match="codes must be"):
        fraction_nonzero(np.zeros(3))
