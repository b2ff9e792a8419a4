"""Coalition samplers and weights of LIME and KernelSHAP: bool rows over m features, drawn from a generator.

Kept apart from the model runs, so sampling can be tested and seeded without a model.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor


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
