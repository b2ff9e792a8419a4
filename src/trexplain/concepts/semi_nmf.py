"""Semi-NMF (Ding, Li & Jordan 2010): X ≈ G Fᵀ with non-negative codes G and free (signed) concepts F.

The fit alternates the exact least-squares F = Xᵀ G (GᵀG)⁻¹ with the paper's multiplicative update of G,
G ← G ∘ √(([XF]⁺ + G[FᵀF]⁻) / ([XF]⁻ + G[FᵀF]⁺)), which never increases ‖X − G Fᵀ‖² (their Theorem 1);
G starts from k-means cluster indicators + 0.2 as in the paper. The loss after every iteration is kept in
`loss_history_`. Codes of new data solve the non-negative least squares min_{G ≥ 0} ‖X − G Fᵀ‖² for the fitted
F, by exact coordinate descent. Concepts are rescaled to unit norm after the fit (the codes absorb the scale).
"""

from __future__ import annotations

import numpy as np

from trexplain.concepts.dictionaries import Data, Dictionary, as_array, sklearn_class
from trexplain.errors import InputError, MethodError

EPS = 1e-12


def _positive(a: np.ndarray) -> np.ndarray:
    return (np.abs(a) + a) / 2


def _negative(a: np.ndarray) -> np.ndarray:
    return (np.abs(a) - a) / 2


class SemiNMF(Dictionary):
    """Semi-NMF concepts: signed directions, non-negative codes (the method of interpreto's SemiNMFConcepts)."""

    method = "semi-nmf"
    _scalars = ("n_iter_", "loss_history_")
    INITS = ("kmeans", "random")

    def __init__(
        self,
        n_concepts: int,
        *,
        seed: int = 0,
        max_iter: int = 200,
        tol: float = 1e-6,
        init: str = "kmeans",
        encode_iter: int = 200,
    ) -> None:
        super().__init__(n_concepts, seed=seed)
        if init not in self.INITS:
            raise MethodError(f"unknown init {init!r}; use one of {', '.join(self.INITS)}")
        self.max_iter, self.tol, self.init, self.encode_iter = int(max_iter), float(tol), init, int(encode_iter)

    def _fit(self, X: Data) -> None:
        X = as_array(X).astype(np.float64)
        if self.n_concepts > len(X):
            raise InputError(f"semi-nmf needs at least n_concepts={self.n_concepts} rows, got {len(X)}")
        G = self._initial_codes(X)
        total = float((X * X).sum())
        history: list[float] = []
        for _ in range(self.max_iter):
            F = np.linalg.lstsq(G.T @ G, G.T @ X, rcond=None)[0].T  # [dim, k] = Xᵀ G (GᵀG)⁻¹
            XF, FF = X @ F, F.T @ F
            G *= np.sqrt((_positive(XF) + G @ _negative(FF)) / (_negative(XF) + G @ _positive(FF) + EPS))
            history.append(total - 2 * float((G * XF).sum()) + float(((G.T @ G) * FF).sum()))
            if len(history) > 1 and history[-2] - history[-1] <= self.tol * history[0]:
                break
        norms = np.linalg.norm(F, axis=0)
        norms[norms == 0] = 1
        self.components_ = (F / norms).T.astype(np.float32)
        self.bias_ = np.zeros(X.shape[1], dtype=np.float32)
        self.n_iter_, self.loss_history_ = len(history), history

    def _initial_codes(self, X: np.ndarray) -> np.ndarray:
        if self.init == "random":
            return np.random.default_rng(self.seed).uniform(0.0, 1.0, (len(X), self.n_concepts)) + 0.2
        labels = sklearn_class("KMeans")(n_clusters=self.n_concepts, n_init=1, random_state=self.seed).fit_predict(X)
        return np.eye(self.n_concepts)[labels] + 0.2

    def _encode(self, X: Data) -> np.ndarray:
        X = self._check_width(as_array(X)).astype(np.float64)
        F = self.components_.T.astype(np.float64)
        gram, XF = F.T @ F, X @ F
        G = np.maximum(np.linalg.lstsq(gram, XF.T, rcond=None)[0].T, 0)
        diagonal = np.diag(gram)
        for _ in range(self.encode_iter):
            change = 0.0
            for j in np.flatnonzero(diagonal > EPS):
                new = np.maximum(G[:, j] + (XF[:, j] - G @ gram[:, j]) / diagonal[j], 0)
                change = max(change, float(np.abs(new - G[:, j]).max()))
                G[:, j] = new
            if change <= 1e-7 * max(1.0, float(np.abs(G).max())):
                break
        return G.astype(np.float32)
