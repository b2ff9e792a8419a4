"""Occlusion, LIME and KernelSHAP: explain by removing words (or tokens) and watching the output move.

Shared by all three: features are the modality's feature groups (words, all subwords together; image patches)
or single tokens; special tokens never move. Removal is the modality's (`adapter.modality.strategies`: for texts
`delete` by default, or `mask`, `unk`, `pad`; for images the mean colour by default, or `blur`, `black`); a
strategy the modality lacks is a MethodError listing the ones it has. The explained quantity is the
target logit (default) or probability. All perturbed inputs of all texts run in one pooled, length-sorted
set of batches, and every target class is read from the same forwards. A feature's score is divided
equally among its tokens, so word sums (`Explanation.word_scores`) equal the feature scores.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from trexplain.diagnostics import TARGET, Diagnostics, Identity
from trexplain.errors import MethodError
from trexplain.methods.base import Attribution, Method, Targets, register
from trexplain.methods.coalitions import coalition_logits, select_outputs, spread
from trexplain.methods.samplers import cosine_distance_to_full, lime_coalitions, shapley_coalitions
from trexplain.methods.solvers import constrained_wls, weighted_ridge
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch
from trexplain.models.modalities import MODALITIES
from trexplain.perturb import LEVELS, Level, features

Output = Literal["logit", "probability"]
Removal = Literal["delete", "mask", "unk", "pad", "mean", "blur", "black"]
"""Every modality's removal strategies (`Modality.strategies`); which apply depends on the model's modality."""


def default_samples(m: int) -> int:
    """Default sample budget for m features: 100 + 20·m (grows with the text, as the regression needs)."""
    return 100 + 20 * m


@dataclass
class _Perturbation(Method):
    """Common parameters and the shared pipeline; subclasses choose coalitions and fit scores to outputs."""

    level: Level | None = None
    strategy: Removal | None = None
    output: Output = "logit"
    batch_size: int = 64

    def __post_init__(self) -> None:
        if self.level is not None and self.level not in LEVELS:
            raise MethodError(f"unknown level {self.level!r}; use one of {', '.join(LEVELS)} (default: the modality's)")
        known = {name: m.strategies for name, m in MODALITIES.items()}
        if self.strategy is not None and not any(self.strategy in offered for offered in known.values()):
            offered = "; ".join(f"{', '.join(s)} ({name})" for name, s in known.items())
            raise MethodError(f"unknown strategy {self.strategy!r}; use one of {offered}")
        if self.output not in ("logit", "probability"):
            raise MethodError(f"unknown output {self.output!r}; use 'logit' or 'probability'")
        if self.batch_size < 1:
            raise MethodError(f"batch_size must be at least 1, got {self.batch_size}")

    @abstractmethod
    def design(self, m: int) -> tuple[Tensor, Tensor | None, dict[str, Any]]:
        """Coalitions [S, m] (row 0 keeps everything), optional weights, and diagnostics about them."""

    @abstractmethod
    def fit(self, coalitions: Tensor, weights: Tensor | None, y: Tensor) -> tuple[Tensor, dict[str, Any]]:
        """Feature scores [K, m] from the outputs y [S, K] (float64, CPU), plus per-target diagnostics."""

    def identity_check(self, fitted: dict[str, Any]) -> Identity | None:
        """The identity the fitted scores satisfy, from the fit's diagnostics (None: the method has none)."""
        return None

    def attribute(self, adapter: ModelAdapter, batch: Batch, targets: Targets) -> Attribution:
        strategy, level = adapter.modality.strategy(self.strategy), adapter.modality.level(self.level)
        feats = [features(batch, row, level) for row in range(len(batch))]
        designs = [self.design(f.shape[0]) for f in feats]
        logits, forwards = coalition_logits(adapter, batch, feats, [d[0] for d in designs], strategy, self.batch_size)
        full = torch.stack([rows[0] for rows in logits])
        chosen = targets(full)
        scores = full.new_zeros(len(batch), chosen.shape[1], batch.inputs.input_ids.shape[1])
        diagnostics = []
        removal = {"strategy": strategy, "level": level}
        for row, ((coalitions, weights, info), rows) in enumerate(zip(designs, logits, strict=True)):
            y = select_outputs(rows, chosen[row], self.output, adapter.problem)
            values, fitted = self.fit(coalitions, weights, y)
            n = batch.lengths[row]
            scores[row, :, :n] = spread(values, feats[row]).to(scores)
            values = {"n_features": feats[row].shape[0], "forwards": forwards[row], **removal, **info, **fitted}
            diagnostics.append(Diagnostics(values, dict.fromkeys(fitted, TARGET), self.identity_check(fitted)))
        return Attribution(scores, full, chosen, diagnostics=diagnostics)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@register
@dataclass
class Occlusion(_Perturbation):
    """Leave-one-out: score of a feature = f(x) − f(x without that feature). One forward per feature."""

    name = "occlusion"
    cost = "multi-pass"
    summary = "remove one word at a time; score = drop of the target logit (1 forward per word)"

    def design(self, m: int) -> tuple[Tensor, Tensor | None, dict[str, Any]]:
        return torch.cat([torch.ones(1, m, dtype=torch.bool), ~torch.eye(m, dtype=torch.bool)]), None, {}

    def fit(self, coalitions: Tensor, weights: Tensor | None, y: Tensor) -> tuple[Tensor, dict[str, Any]]:
        return (y[0] - y[1:]).T, {}


@dataclass
class _Sampled(_Perturbation):
    """Perturbation methods that draw `n_samples` coalitions (default grows with the features) from `seed`."""

    n_samples: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_samples is not None and self.n_samples < 2:
            raise MethodError(f"n_samples must be at least 2, got {self.n_samples}")


@register
@dataclass
class Lime(_Sampled):
    """LIME for text: random word removals, exponential kernel on cosine distance, weighted ridge fit.

    Sampling and kernel follow lime's `LimeTextExplainer`: row 0 is the text itself, every other row removes
    k ~ U{1..m} random features; weight = sqrt(exp(−d² / width²)) with d the cosine distance between the
    binary row and the all-ones row. lime scales d by 100 and uses width 25, i.e. width 0.25 here. The
    local model is ridge regression (lime's default `Ridge(alpha=1)`) with an intercept, solved in closed form.
    `n_samples` (default 100 + 20·features) counts rows including the text itself; `seed` fixes them,
    and each text of a batch draws from its own generator seeded with `seed` (batching changes nothing).
    """

    name = "lime"
    cost = "sampling"
    summary = "local weighted ridge over random word removals (n_samples forwards, seeded)"
    kernel_width: float = 0.25
    alpha: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kernel_width <= 0 or self.alpha < 0:
            raise MethodError("kernel_width must be positive and alpha non-negative")

    def design(self, m: int) -> tuple[Tensor, Tensor | None, dict[str, Any]]:
        n = self.n_samples or default_samples(m)
        coalitions = lime_coalitions(m, n, _generator(self.seed))
        distance = cosine_distance_to_full(coalitions)
        weights = torch.exp(-(distance**2) / self.kernel_width**2).sqrt()
        return coalitions, weights, {"n_samples": n, "seed": self.seed}

    def fit(self, coalitions: Tensor, weights: Tensor | None, y: Tensor) -> tuple[Tensor, dict[str, Any]]:
        coef, intercept, r2 = weighted_ridge(coalitions.double(), y, weights, self.alpha)
        return coef, {"r2": r2.tolist(), "intercept": intercept.tolist()}


@register
@dataclass
class KernelShap(_Sampled):
    """KernelSHAP: Shapley values by Shapley-kernel weighted least squares with base + Σ scores = f(x) exactly.

    With at most `exact_features` features (default 12, i.e. 4094 coalitions) every coalition is
    enumerated and the result equals the Shapley values. Otherwise `n_samples` coalitions (default
    100 + 20·features, besides the full and the empty text) are drawn like the reference `shap` sampler:
    small and large sizes enumerated while the budget allows, the rest in complementary pairs. The base
    value is f(all features removed) under the chosen strategy.
    """

    name = "kernelshap"
    identity = "efficiency"
    cost = "sampling"
    summary = "Shapley values by constrained kernel regression; exact up to 12 words (seeded)"
    exact_features: int = 12

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.exact_features <= 20:
            raise MethodError(f"exact_features must be between 0 and 20 (2^20 forwards), got {self.exact_features}")

    def design(self, m: int) -> tuple[Tensor, Tensor | None, dict[str, Any]]:
        n = 2**m - 2 if m <= self.exact_features else (self.n_samples or default_samples(m))
        interior, weights, exact = shapley_coalitions(m, n, _generator(self.seed))
        ends = torch.stack([torch.ones(m, dtype=torch.bool), torch.zeros(m, dtype=torch.bool)])
        return torch.cat([ends, interior]), weights, {"exact": exact, "n_samples": len(interior), "seed": self.seed}

    def fit(self, coalitions: Tensor, weights: Tensor | None, y: Tensor) -> tuple[Tensor, dict[str, Any]]:
        full, base = y[0], y[1]
        values = constrained_wls(coalitions[2:], y[2:], weights, base, full)
        total = base + values.sum(1)
        return values, {
            "base_value": base.tolist(),
            "full_value": full.tolist(),
            "base_plus_sum": total.tolist(),
            "efficiency_error": (total - full).abs().tolist(),
        }

    def identity_check(self, fitted: dict[str, Any]) -> Identity:
        """Efficiency: base value + Σ Shapley values = f(x), per target."""
        return Identity.between("efficiency", fitted["base_plus_sum"], fitted["full_value"])
