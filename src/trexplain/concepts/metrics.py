"""How good a dictionary is: reconstruction, distribution match, sparsity, stability across seeds.

All take plain arrays (X and X̂ = decode(encode(X)) of shape [rows, dim], codes [rows, k], components
[k, dim]); `evaluate` computes the reconstruction and sparsity figures of one dictionary on some data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from trexplain.concepts.dictionaries import Data, Dictionary, as_array
from trexplain.errors import InputError
from trexplain.models.heads import SINGLE_LABEL, divergence

MEANINGS = {
    "mse": "mean squared error between the activations and their reconstruction from the concepts (lower is better)",
    "r2": "share of the activations' variance the concepts reconstruct (1 = all of it, 0 = no better than the mean)",
    "wasserstein": "per dimension, how far the reconstructed values' distribution is from the real one (0 = same)",
    "fraction_nonzero": "share of concepts active in a row, on average (lower = sparser, each row uses fewer)",
    "sparsity_ratio": "fraction_nonzero divided by the number of concepts (interpreto's SparsityRatio)",
    "stability": "cosine between matched concepts of this and a second seed's dictionary (1 = the same concepts)",
    "fidelity accuracy": "share of texts whose prediction stays the same when the layer is replaced by its "
    "reconstruction",
    "fidelity KL": "how far the predicted probabilities move on the reconstruction (KL divergence in nats, 0 = same)",
    "deletion AOPC": "mean drop of the predicted class's probability as concepts go, most important first "
    "(higher is better; random order is the floor)",
}
"""One line per metric `concepts show` prints (terminal and HTML): what it measures and which way is better."""


def _pair(X: Any, X_hat: Any) -> tuple[np.ndarray, np.ndarray]:
    X, X_hat = np.asarray(X, dtype=np.float64), np.asarray(X_hat, dtype=np.float64)
    if X.shape != X_hat.shape or X.ndim != 2 or not X.size:
        raise InputError(f"X and X̂ must be non-empty [rows, dim] arrays of one shape, got {X.shape} and {X_hat.shape}")
    return X, X_hat


def mse(X: Any, X_hat: Any) -> float:
    """Mean squared error over every entry: mean((X − X̂)²). (interpreto's `MSE` is a Euclidean norm instead.)"""
    X, X_hat = _pair(X, X_hat)
    return float(((X - X_hat) ** 2).mean())


def r2(X: Any, X_hat: Any) -> float:
    """Fraction of the variance of X that X̂ explains: 1 − Σ(X − X̂)² / Σ(X − column means of X)², summed over
    every entry (scikit-learn's `r2_score(..., multioutput="variance_weighted")`). 1 is perfect, 0 is no better
    than the mean; a constant X gives 1 if X̂ equals it, else −inf."""
    X, X_hat = _pair(X, X_hat)
    residual = float(((X - X_hat) ** 2).sum())
    total = float(((X - X.mean(axis=0)) ** 2).sum())
    if total == 0:
        return 1.0 if residual == 0 else float("-inf")
    return 1.0 - residual / total


def wasserstein(X: Any, X_hat: Any, *, per_dimension: bool = False) -> float | np.ndarray:
    """The 1-D Wasserstein-1 distance between the values of each dimension in X and in X̂ (as two empirical
    distributions of `rows` values: mean |sorted column − sorted column|), averaged over dimensions, or one
    per dimension. This is what interpreto calls `FID`; it is not the Fréchet distance of Gaussians fitted to
    X and X̂, and it ignores how dimensions co-vary."""
    X, X_hat = _pair(X, X_hat)
    distances = np.abs(np.sort(X, axis=0) - np.sort(X_hat, axis=0)).mean(axis=0)
    return distances if per_dimension else float(distances.mean())


def fraction_nonzero(codes: Any, *, epsilon: float = 0.0) -> float:
    """Mean fraction of active codes: the share of entries of codes [rows, k] with |code| > epsilon
    (interpreto's `Sparsity`); 1/k for one concept per row, lower is sparser."""
    codes = _codes(codes)
    return float((np.abs(codes) > epsilon).mean())


def sparsity_ratio(codes: Any, *, epsilon: float = 0.0) -> float:
    """interpreto's `SparsityRatio`, exactly as its code computes it: `fraction_nonzero(codes)` / k, i.e. the
    mean number of active concepts per row divided by k² (its docstring's formula, a sum over rows, is not
    what it computes)."""
    codes = _codes(codes)
    return fraction_nonzero(codes, epsilon=epsilon) / codes.shape[1]


def _codes(codes: Any) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.ndim != 2 or not codes.size:
        raise InputError(f"codes must be a non-empty [rows, concepts] array, got shape {list(codes.shape)}")
    return codes


def matched_cosines(
    A: Dictionary | Any, B: Dictionary | Any, *, absolute: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair each concept of A with one of B (Hungarian matching maximising the total cosine similarity; with
    unequal counts, the smaller set is matched fully): (rows of A, rows of B, their cosines). `absolute`
    compares directions up to sign, for methods whose signs are arbitrary (PCA, ICA)."""
    from scipy.optimize import linear_sum_assignment

    a, b = _unit(A), _unit(B)
    if a.shape[1] != b.shape[1]:
        raise InputError(f"the two dictionaries have widths {a.shape[1]} and {b.shape[1]}; compare equal widths")
    similarity = a @ b.T
    if absolute:
        similarity = np.abs(similarity)
    rows, cols = linear_sum_assignment(similarity, maximize=True)
    return rows, cols, similarity[rows, cols]


def stability(A: Dictionary | Any, B: Dictionary | Any, *, absolute: bool = False) -> float:
    """Mean Hungarian-matched cosine similarity of two dictionaries' concepts (e.g. fitted with two seeds):
    1 when they found the same directions."""
    return float(matched_cosines(A, B, absolute=absolute)[2].mean())


def _unit(components: Dictionary | Any) -> np.ndarray:
    if isinstance(components, Dictionary):
        if not components.fitted:
            raise InputError(f"this {type(components).__name__} is not fitted; call fit(X) first")
        components = components.components_
    components = np.asarray(components, dtype=np.float64)
    if components.ndim != 2 or not components.size:
        raise InputError(f"components must be a non-empty [concepts, dim] array, got {list(components.shape)}")
    norms = np.linalg.norm(components, axis=1, keepdims=True)
    return components / np.where(norms == 0, 1, norms)


def prediction_agreement(logits: Any, logits_hat: Any, problem: str = SINGLE_LABEL) -> dict[str, float]:
    """How far predictions from reconstructed activations match the original ones: `accuracy` (share of rows
    with the same predicted class) and `kl`, the mean KL(p ‖ p̂) in nats of the head's outputs
    (`models.heads.divergence`: softmax, each label's sigmoid, or the regression output)."""
    logits, logits_hat = _pair(logits, logits_hat)
    kl = divergence(torch.from_numpy(logits), torch.from_numpy(logits_hat), problem)
    return {
        "accuracy": float((logits.argmax(1) == logits_hat.argmax(1)).mean()),
        "kl": float(kl.mean()),
    }


def evaluate(dictionary: Dictionary, X: Data) -> dict[str, float]:
    """Reconstruction and sparsity of `dictionary` on X (loaded into memory): mse, r2, wasserstein,
    fraction_nonzero, sparsity_ratio."""
    X = as_array(X)
    codes = dictionary.encode(X)
    X_hat = dictionary.decode(codes)
    return {
        "mse": mse(X, X_hat),
        "r2": r2(X, X_hat),
        "wasserstein": wasserstein(X, X_hat),
        "fraction_nonzero": fraction_nonzero(codes),
        "sparsity_ratio": sparsity_ratio(codes),
    }
