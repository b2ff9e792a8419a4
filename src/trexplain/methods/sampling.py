"""Shared machinery of the perturbation methods: coalition samplers, one pooled model run, closed-form fits.

A coalition is a bool row over a text's features (True = the feature stays). `coalition_logits` turns the
coalitions of every text of a batch into perturbed inputs with `perturb.remove`, drops duplicates, sorts
all rows of all texts by length (deletion makes many of them short) and runs them in full batches, each
batch cut to its own longest row.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor

from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch, ModelInputs
from trexplain.perturb import Strategy, remove


def coalition_logits(
    adapter: ModelAdapter,
    batch: Batch,
    features: list[Tensor],
    coalitions: list[Tensor],
    strategy: Strategy,
    batch_size: int,
) -> tuple[list[Tensor], list[int]]:
    """Logits [S_b, C] of each text b with only the features where `coalitions[b]` is True kept.

    `features[b]` is bool [M_b, tokens] (from `perturb.features`), `coalitions[b]` bool [S_b, M_b]. Also
    returns how many distinct inputs of each text went through the model.
    """
    device = batch.inputs.input_ids.device
    parts, inverses = [], []
    for row, (feats, keep) in enumerate(zip(features, coalitions, strict=True)):
        if keep.shape[1] == 0:
            unique, inverse = keep[:1], torch.zeros(len(keep), dtype=torch.long)
        else:
            unique, inverse = torch.unique(keep.to(torch.uint8), dim=0, return_inverse=True)
        removed = ((1 - unique.float()) @ feats.float()) > 0
        parts.append(remove(adapter, batch, row, removed.to(device), strategy))
        inverses.append(inverse)
    logits = _run_pooled(adapter, parts, batch_size)
    out, start = [], 0
    for part, inverse in zip(parts, inverses, strict=True):
        out.append(logits[start : start + len(part)][inverse.to(logits.device)])
        start += len(part)
    return out, [len(p) for p in parts]


def _run_pooled(adapter: ModelAdapter, parts: list[ModelInputs], batch_size: int) -> Tensor:
    """Logits of all rows of `parts`, run longest first in batches trimmed to their longest row."""
    width = max(p.input_ids.shape[1] for p in parts)
    filler = adapter.position_ids(torch.zeros(1, width, dtype=torch.long)).to(parts[0].input_ids.device)
    padded = [_pad(p, width, adapter.pad_token_id, filler) for p in parts]
    pool = ModelInputs(
        torch.cat([p.input_ids for p in padded]),
        torch.cat([p.attention_mask for p in padded]),
        torch.cat([p.position_ids for p in padded]),
        None if padded[0].token_type_ids is None else torch.cat([p.token_type_ids for p in padded]),
    )
    lengths = (width - pool.attention_mask.flip(1).argmax(1)).clamp(min=1)
    order = torch.argsort(lengths, descending=True, stable=True)
    chunks = []
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        chunks.append(adapter.logits(_columns(pool.rows(rows), int(lengths[rows].max())), batch_size=batch_size))
    ordered = torch.cat(chunks)
    logits = torch.empty_like(ordered)
    logits[order] = ordered
    return logits


def _pad(inputs: ModelInputs, width: int, pad_id: int, filler: Tensor) -> ModelInputs:
    extra = width - inputs.input_ids.shape[1]
    if extra == 0:
        return inputs
    rows = len(inputs)

    def grow(t: Tensor, value: Tensor | int) -> Tensor:
        tail = value.expand(rows, -1) if isinstance(value, Tensor) else torch.full((rows, extra), value)
        return torch.cat([t, tail.to(t)], dim=1)

    types = None if inputs.token_type_ids is None else grow(inputs.token_type_ids, 0)
    return ModelInputs(
        grow(inputs.input_ids, pad_id),
        grow(inputs.attention_mask, 0),
        grow(inputs.position_ids, filler[:, -extra:]),
        types,
    )


def _columns(inputs: ModelInputs, width: int) -> ModelInputs:
    cut = [None if t is None else t[:, :width] for t in vars(inputs).values()]
    return ModelInputs(*cut)


def select_outputs(logits: Tensor, targets: Tensor, output: str) -> Tensor:
    """The explained quantity [S, K] in float64 on the CPU (where the fits run): target logits or probabilities."""
    values = logits.double()
    if output == "probability":
        values = values.softmax(-1)
    return values[:, targets.to(values.device)].cpu()


def spread(feature_scores: Tensor, features: Tensor) -> Tensor:
    """Token scores [K, tokens]: each feature's score divided equally among its tokens (sums stay exact)."""
    if features.shape[0] == 0:
        return feature_scores.new_zeros(feature_scores.shape[0], features.shape[1])
    weights = features.to(feature_scores.dtype)
    return (feature_scores / weights.sum(1).clamp(min=1)) @ weights


# ---------------------------------------------------------------- samplers
def random_subsets(sizes: Tensor, m: int, generator: torch.Generator) -> Tensor:
    """Bool [len(sizes), m]: row i marks `sizes[i]` of the m features, chosen uniformly at random."""
    ranks = torch.rand(len(sizes), m, generator=generator).argsort(1).argsort(1)
    return ranks < sizes.unsqueeze(1)


def lime_coalitions(m: int, n: int, generator: torch.Generator) -> Tensor:
    """Bool [n, m]: row 0 keeps everything; each other row removes k ~ U{1..m} features at random (as lime does)."""
    keep = torch.ones(max(n, 1), m, dtype=torch.bool)
    if m and n > 1:
        removed = torch.randint(1, m + 1, (n - 1,), generator=generator)
        keep[1:] = ~random_subsets(removed, m, generator)
    return keep


def cosine_distance_to_full(coalitions: Tensor) -> Tensor:
    """Cosine distance between each binary row and the all-ones row: 1 − sqrt(kept / m) (1 for the empty row)."""
    m = max(coalitions.shape[1], 1)
    return 1 - (coalitions.double().sum(1) / m).sqrt()


def all_coalitions(m: int) -> Tensor:
    """Bool [2^m − 2, m]: every coalition except the empty and the full one."""
    codes = torch.arange(1, 2**m - 1).unsqueeze(1)
    return (codes >> torch.arange(m)) & 1 == 1


def shapley_kernel(m: int, sizes: Tensor) -> Tensor:
    """Shapley kernel weight (m − 1) / (C(m, s) · s · (m − s)) of one coalition of each size s (0 < s < m)."""
    binom = torch.tensor([math.comb(m, int(s)) for s in sizes], dtype=torch.float64)
    s = sizes.double()
    return (m - 1) / (binom * s * (m - s))


def shapley_coalitions(m: int, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor, bool]:
    """Interior coalitions and their weights for KernelSHAP with a budget of `n` model runs.

    Like the reference `shap` sampler: size pairs (s, m − s) are enumerated completely, smallest s first, while
    the budget covers their expected share of samples; the remaining sizes are sampled in complementary
    (antithetic) pairs with sizes drawn ∝ the kernel mass and share the remaining mass equally. Returns
    (coalitions [S, m], weights [S], exact) where exact means every coalition was enumerated.
    """
    if m < 2:
        return torch.zeros(0, m, dtype=torch.bool), torch.zeros(0, dtype=torch.float64), True
    if n >= 2**m - 2:
        rows = all_coalitions(m)
        return rows, shapley_kernel(m, rows.sum(1)), True
    sizes = torch.arange(1, m)
    mass = 1.0 / (sizes * (m - sizes)).double()
    mass /= mass.sum()
    free = mass.clone()
    rows, weights, left = [], [], n
    for s in range(1, m // 2 + 1):
        pair = sorted({s, m - s})
        count = sum(math.comb(m, t) for t in pair)
        if left * float(free[[t - 1 for t in pair]].sum() / free.sum()) < count - 1e-8:
            break
        for t in pair:
            subsets = torch.tensor(list(itertools.combinations(range(m), t)))
            block = torch.zeros(len(subsets), m, dtype=torch.bool)
            block[torch.arange(len(subsets)).unsqueeze(1), subsets] = True
            rows.append(block)
            weights.append(torch.full((len(subsets),), float(mass[t - 1]) / len(subsets), dtype=torch.float64))
            free[t - 1] = 0
        left -= count
    remaining = float(free.sum())
    pairs = left // 2
    if pairs and remaining > 0:
        drawn = torch.multinomial(free.float(), pairs, replacement=True, generator=generator) + 1
        sampled = random_subsets(drawn, m, generator)
        rows.extend([sampled, ~sampled])
        weights.append(torch.full((2 * pairs,), remaining / (2 * pairs), dtype=torch.float64))
    if not rows:
        return torch.zeros(0, m, dtype=torch.bool), torch.zeros(0, dtype=torch.float64), False
    return torch.cat(rows), torch.cat(weights), False


# ------------------------------------------------------------------ solvers
def weighted_ridge(x: Tensor, y: Tensor, weights: Tensor, alpha: float) -> tuple[Tensor, Tensor, Tensor]:
    """Weighted ridge with an unpenalised intercept, closed form (as sklearn `Ridge(alpha).fit(x, y, w)`).

    x [S, M], y [S, K], weights [S] (float64). Returns coefficients [K, M], intercepts [K] and the weighted R² [K].
    """
    total = weights.sum()
    x_mean = weights @ x / total
    y_mean = weights @ y / total
    xc, yc = x - x_mean, y - y_mean
    gram = xc.T @ (weights.unsqueeze(1) * xc) + alpha * torch.eye(x.shape[1], dtype=x.dtype)
    coef = torch.linalg.lstsq(gram, xc.T @ (weights.unsqueeze(1) * yc), driver="gelsd").solution
    residual = (weights.unsqueeze(1) * (yc - xc @ coef) ** 2).sum(0)
    spread_ = (weights.unsqueeze(1) * yc**2).sum(0)
    r2 = torch.where(spread_ > 0, 1 - residual / spread_.clamp(min=1e-300), torch.ones_like(spread_))
    return coef.T, y_mean - x_mean @ coef, r2


def constrained_wls(z: Tensor, y: Tensor, weights: Tensor, base: Tensor, full: Tensor) -> Tensor:
    """Shapley values [K, M]: min Σ w (y − base − zφ)² subject to Σφ = full − base (KKT system, float64).

    z [S, M] coalitions, y [S, K] their outputs, base [K] = f(nothing kept), full [K] = f(everything kept).
    """
    m = z.shape[1]
    x = z.double()
    kkt = torch.zeros(m + 1, m + 1, dtype=torch.float64)
    kkt[:m, :m] = x.T @ (weights.unsqueeze(1) * x)
    kkt[:m, m] = 1
    kkt[m, :m] = 1
    rhs = torch.cat([x.T @ (weights.unsqueeze(1) * (y - base)), (full - base).unsqueeze(0)])
    return torch.linalg.lstsq(kkt, rhs, driver="gelsd").solution[:m].T
