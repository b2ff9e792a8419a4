"""Dictionaries scikit-learn fits: PCA, ICA (FastICA), NMF and k-means, kept as plain arrays once fitted.

Each one is fitted by scikit-learn on the same float32 data with `random_state=seed`, so its concepts and
codes equal scikit-learn's; the fitted arrays are then copied out, and saving never pickles an estimator.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from trexplain.concepts.dictionaries import Data, Dictionary, as_array, sklearn_class
from trexplain.errors import InputError, MethodError


def _check_rank(dictionary: Dictionary, X: np.ndarray) -> None:
    if dictionary.n_concepts > min(X.shape):
        raise InputError(
            f"{dictionary.method} finds at most min(rows, dim) = {min(X.shape)} concepts in {list(X.shape)} data; "
            f"ask for fewer than {dictionary.n_concepts}"
        )


class PCA(Dictionary):
    """Principal components: orthonormal directions of most variance; codes are projections of X − mean."""

    method = "pca"
    _arrays = ("components_", "bias_", "explained_variance_ratio_")

    def _fit(self, X: Data) -> None:
        X = as_array(X)
        _check_rank(self, X)
        pca = sklearn_class("PCA")(n_components=self.n_concepts, random_state=self.seed).fit(X)
        self.components_, self.bias_ = pca.components_, pca.mean_
        self.explained_variance_ratio_ = pca.explained_variance_ratio_

    def _encode(self, X: Data) -> np.ndarray:
        X = self._check_width(as_array(X))
        # scikit-learn's order of operations (project, then subtract the projected mean), for equal codes
        return X @ self.components_.T - self.bias_[None] @ self.components_.T


class ICA(Dictionary):
    """Independent components (FastICA): `components_` are the mixing directions (scikit-learn's `mixing_.T`),
    codes the recovered sources, i.e. (X − mean) @ `unmixing_`.T (scikit-learn's `components_`)."""

    method = "ica"
    _arrays = ("components_", "bias_", "unmixing_")
    _scalars = ("n_iter_",)

    def __init__(self, n_concepts: int, *, seed: int = 0, max_iter: int = 200, tol: float = 1e-4) -> None:
        super().__init__(n_concepts, seed=seed)
        self.max_iter, self.tol = int(max_iter), float(tol)

    def _fit(self, X: Data) -> None:
        X = as_array(X)
        _check_rank(self, X)
        ica = sklearn_class("FastICA")(
            n_components=self.n_concepts, random_state=self.seed, max_iter=self.max_iter, tol=self.tol
        ).fit(X)
        self.components_ = np.ascontiguousarray(ica.mixing_.T)
        self.bias_, self.unmixing_, self.n_iter_ = ica.mean_, ica.components_, int(ica.n_iter_)

    def _encode(self, X: Data) -> np.ndarray:
        X = self._check_width(as_array(X))
        return (X - self.bias_) @ self.unmixing_.T


class NMF(Dictionary):
    """Non-negative matrix factorisation X ≈ W H with W, H ≥ 0 (codes W, `components_` H).

    Activations are usually signed: NMF then refuses them unless `shift="min"`, which subtracts each
    dimension's minimum over the fitted data (kept as `bias_` and added back by `decode`); when encoding new
    data, values below that minimum are clipped to it. Codes of new data are scikit-learn's `transform`.
    """

    method = "nmf"
    _scalars = ("n_iter_", "reconstruction_err_")
    SHIFTS = (None, "min")

    def __init__(
        self, n_concepts: int, *, seed: int = 0, shift: str | None = None, max_iter: int = 200, init: str | None = None
    ) -> None:
        super().__init__(n_concepts, seed=seed)
        if shift not in self.SHIFTS:
            raise MethodError(f"unknown shift {shift!r}; use None (data must be non-negative) or 'min'")
        self.shift, self.max_iter, self.init = shift, int(max_iter), init

    def _estimator(self) -> Any:
        return sklearn_class("NMF")(
            n_components=self.n_concepts, init=self.init, max_iter=self.max_iter, random_state=self.seed
        )

    def _fit(self, X: Data) -> None:
        X = as_array(X)
        if self.shift == "min":
            bias = X.min(axis=0)
            X = X - bias
        elif X.min() < 0:
            raise InputError(
                f"NMF needs non-negative data, but these activations go down to {X.min():.4g}; pass shift='min' "
                "to shift each dimension by its minimum (recorded), or use semi-nmf, which takes signed data"
            )
        else:
            bias = np.zeros(X.shape[1], dtype=X.dtype)
        nmf = self._estimator().fit(X)
        self.components_, self.bias_ = nmf.components_, bias
        self.n_iter_, self.reconstruction_err_ = int(nmf.n_iter_), float(nmf.reconstruction_err_)

    def _encode(self, X: Data) -> np.ndarray:
        X = self._check_width(as_array(X)) - self.bias_
        if self.shift == "min":
            X = np.maximum(X, 0, out=X)
        elif X.min() < 0:
            raise InputError(
                f"NMF codes need non-negative data, but X goes down to {X.min():.4g}; fit with shift='min'"
            )
        nmf = self._estimator()  # scikit-learn's transform on the fitted components
        nmf.components_, nmf.n_components_, nmf.n_features_in_ = self.components_, self.n_concepts, self.dim
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "X does not have valid feature names"
            return nmf.transform(X)


class KMeans(Dictionary):
    """k-means clusters: `components_` are the centroids and a row's code is the one-hot of its nearest
    centroid, so `decode` gives that centroid."""

    method = "kmeans"
    _scalars = ("inertia_", "n_iter_")

    def __init__(self, n_concepts: int, *, seed: int = 0, n_init: int = 1, max_iter: int = 300) -> None:
        super().__init__(n_concepts, seed=seed)
        self.n_init, self.max_iter = int(n_init), int(max_iter)

    def _fit(self, X: Data) -> None:
        X = as_array(X)
        if self.n_concepts > len(X):
            raise InputError(f"kmeans needs at least n_concepts={self.n_concepts} rows, got {len(X)}")
        kmeans = sklearn_class("KMeans")(
            n_clusters=self.n_concepts, n_init=self.n_init, max_iter=self.max_iter, random_state=self.seed
        ).fit(X)
        self.components_ = kmeans.cluster_centers_
        self.bias_ = np.zeros(X.shape[1], dtype=self.components_.dtype)
        self.inertia_, self.n_iter_ = float(kmeans.inertia_), int(kmeans.n_iter_)

    def _encode(self, X: Data) -> np.ndarray:
        X = self._check_width(as_array(X))
        return np.eye(self.n_concepts, dtype=X.dtype)[self.assign(X)]

    def assign(self, X: Data) -> np.ndarray:
        """The nearest centroid of every row (scikit-learn's `predict`)."""
        X = self._check_width(as_array(X))
        distances = (X * X).sum(1)[:, None] - 2 * X @ self.components_.T + (self.components_**2).sum(1)[None]
        return distances.argmin(axis=1)
