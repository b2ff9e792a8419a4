"""Model-parameter randomisation (Adebayo et al. 2018; docs/methods.md F5) on a deep copy of the model.

Re-initialise the head (classifier, pooler: everything outside the embeddings and blocks), then the blocks
from the top down, then the embeddings; after each step explain the same texts for the same target
classes and compare with the original explanation by Spearman rank correlation (signed, and of absolute
values) over the non-special tokens. A faithful method's maps should decorrelate once the blocks are
random; one that still matches (ρ ≥ `threshold` with head and all blocks random) is flagged: its maps do
not depend on what the model computes. Each result names the step at which the maps stop matching
(`stops_at`) and is "partial" when they matched for some randomised steps first. The independent variant
re-initialises one part at a time. `sanity_cost` says up front how many explanation passes a run makes.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from trexplain.evaluate.ranks import spearman
from trexplain.methods.base import Method, Targets, TargetSpec, get_method
from trexplain.models.adapter import ModelAdapter
from trexplain.models.contrast import contrast_view

THRESHOLD = 0.8
_GLOBAL_RNG = threading.Lock()
"""Held while torch's process-wide generator is seeded and drawn from (`_reinitialise`)."""


class FixedTargets(Targets):
    """The target classes of the original explanations, whatever the randomised model predicts."""

    def __init__(self, targets: Tensor) -> None:
        self.spec, self.fixed, self.num_labels = "fixed", None, None
        self.fixed_rows = targets

    def __call__(self, logits: Tensor) -> Tensor:
        return self.fixed_rows.to(logits.device)


@dataclass(frozen=True)
class Decorrelation:
    """Where a method's maps stop depending on the model: `status` ("ok", "partial" or "flagged"), the first
    step whose similarity drops below the threshold (`stops_at`; None if none does) and `matching`, the
    randomised steps that left the maps matching (cascading: those before `stops_at`; independent: the parts
    of the head and blocks whose randomisation alone does not change them)."""

    status: str
    stops_at: str | None
    matching: int


def decorrelation(
    steps: Sequence[dict[str, Any]], threshold: float = THRESHOLD, mode: str = "cascading"
) -> Decorrelation:
    """Status of a list of steps: "ok" when the maps change at the first step (cascading) or with every part
    (independent), "flagged" when they still match with the head and every block random (cascading) or with
    any single part random (independent), "partial" in between."""
    model_steps = [s for s in steps if s["step"] != "embeddings"] or list(steps)
    stops_at = next((s["step"] for s in steps if not _matches(s, threshold)), None)
    if mode == "independent":
        matching = sum(_matches(s, threshold) for s in model_steps)
        flagged = matching == len(model_steps)
    else:
        matching = next((i for i, s in enumerate(steps) if not _matches(s, threshold)), len(steps))
        flagged = _matches(model_steps[-1], threshold)
    return Decorrelation("flagged" if flagged else "ok" if matching == 0 else "partial", stops_at, matching)


@dataclass
class SanityResult:
    """Correlation with the original maps after each step, whether the method is flagged, and where its
    maps stop depending on the model (`status`, `stops_at`, `matching`: see `Decorrelation`)."""

    method: str
    steps: list[dict[str, Any]]
    flagged: bool
    threshold: float = THRESHOLD
    seed: int = 0
    texts: int = 0
    mode: str = "cascading"
    status: str = field(init=False)
    stops_at: str | None = field(init=False)
    matching: int = field(init=False)

    def __post_init__(self) -> None:
        found = decorrelation(self.steps, self.threshold, self.mode)
        self.status, self.stops_at, self.matching = found.status, found.stops_at, found.matching

    def to_dict(self) -> dict[str, Any]:
        """`{"method", "mode", "flagged", "status", "stops_at", "matching", "threshold", "seed", "texts",
        "steps": [{"step", "spearman", "spearman_abs"}]}`."""
        return {
            "method": self.method,
            "mode": self.mode,
            "flagged": self.flagged,
            "status": self.status,
            "stops_at": self.stops_at,
            "matching": self.matching,
            "threshold": self.threshold,
            "seed": self.seed,
            "texts": self.texts,
            "steps": self.steps,
        }


def sanity_cost(adapter: ModelAdapter, n_texts: int, methods: str | Sequence[str]) -> int:
    """Explanation passes a sanity run will make (either mode): the original maps plus one pass per
    randomisation step, for every text and method. A multi-pass method (IG, LIME) spends its own cost per pass."""
    names = [methods] if isinstance(methods, str) else list(methods)
    return (len(_cascade(adapter)) + 1) * n_texts * len(names)


def model_randomization(
    adapter: ModelAdapter,
    texts: Sequence[str],
    method: str | Method,
    *,
    independent: bool = False,
    target: TargetSpec = "predicted",
    seed: int = 0,
    threshold: float = THRESHOLD,
    batch_size: int = 16,
    **params: Any,
) -> SanityResult:
    """Randomise a copy of the model step by step from the top; never touches `adapter.model`.

    Cascading (default): each step adds one more random part; flagged when the maps still match (ρ ≥
    `threshold`) with the head and every block random, partial when they match for some steps first.
    `independent`: each step re-initialises one part alone, the others trained, which shows which parts the
    maps depend on; flagged when no single part of the head and blocks changes them.
    """
    chosen = get_method(method, **params)
    texts = [texts] if isinstance(texts, str) else list(texts)
    adapter, target = contrast_view(adapter, target)  # a contrast "A-B": the maps of logit A − logit B
    steps = _randomized(adapter, texts, chosen, target, seed, batch_size, cumulative=not independent)
    mode = "independent" if independent else "cascading"
    flagged = decorrelation(steps, threshold, mode).status == "flagged"
    return SanityResult(chosen.name, steps, flagged, threshold, seed, len(texts), mode=mode)


def _randomized(
    adapter: ModelAdapter,
    texts: list[str],
    chosen: Method,
    target: TargetSpec,
    seed: int,
    batch_size: int,
    cumulative: bool,
) -> list[dict[str, Any]]:
    """Similarity to the original maps after each step of `_cascade`, on a deep copy of the model; without
    `cumulative` every step starts again from the trained weights."""
    original = _explain(adapter, texts, chosen, Targets(target, adapter), batch_size)
    fixed = [r.targets for r in original]
    with adapter.lock:  # no other call's hooks or patches may be copied along with the model
        copy_ = copy.deepcopy(adapter, memo={id(adapter.tokenizer): adapter.tokenizer})  # and so its lock
    steps = []
    for i, (name, modules) in enumerate(_cascade(copy_)):
        trained = None if cumulative else [copy.deepcopy(m.state_dict()) for m in modules]
        _reinitialise(modules, seed + i)
        again = _explain(copy_, texts, chosen, fixed, batch_size)
        signed, absolute = _similarity(original, again)
        steps.append({"step": name, "spearman": signed, "spearman_abs": absolute})
        if trained is not None:
            for module, state in zip(modules, trained, strict=True):
                module.load_state_dict(state)
    return steps


def _matches(step: dict[str, Any], threshold: float) -> bool:
    return bool(max(step["spearman"], step["spearman_abs"]) >= threshold)


@dataclass
class _Maps:
    scores: np.ndarray  # [K, tokens] of the non-special tokens
    targets: Tensor  # [K]


def _explain(
    adapter: ModelAdapter, texts: list[str], method: Method, targets: Targets | list[Tensor], batch_size: int
) -> list[_Maps]:
    out: list[_Maps] = []
    for start in range(0, len(texts), batch_size):
        batch = adapter.encode(texts[start : start + batch_size], truncate=True)
        spec = (
            targets if isinstance(targets, Targets) else FixedTargets(torch.stack(targets[start : start + len(batch)]))
        )
        result = method.attribute(adapter, batch, spec)
        keep = batch.maskable
        for row in range(len(batch)):
            scores = result.scores[row][:, keep[row]].detach().double().cpu().numpy()
            out.append(_Maps(scores, result.targets[row].detach().cpu()))
    return out


def _similarity(original: list[_Maps], again: list[_Maps]) -> tuple[float, float]:
    signed, absolute = [], []
    for a, b in zip(original, again, strict=True):
        for k in range(a.scores.shape[0]):
            signed.append(spearman(a.scores[k], b.scores[k]))
            absolute.append(spearman(np.abs(a.scores[k]), np.abs(b.scores[k])))
    return _nanmean(signed), _nanmean(absolute)


def _cascade(adapter: ModelAdapter) -> list[tuple[str, list[nn.Module]]]:
    """(step name, modules to re-initialise): head, blocks from the top, embeddings; a block shared by several
    layers is re-initialised once, in the step of its last layer."""
    inner = {id(p) for m in [adapter.embedding_module, *adapter.layers] for p in m.parameters()}
    head = [
        m
        for m in adapter.model.modules()
        if list(m.parameters(recurse=False)) and all(id(p) not in inner for p in m.parameters(recurse=False))
    ]
    steps = [("head", head)] if head else []
    for i in reversed(range(len(adapter.layers))):  # a shared block (ALBERT) is one step, named by all its layers
        layer = adapter.layers[i]
        calls = [j for j, other in enumerate(adapter.layers) if other is layer]
        if i == calls[-1]:
            steps.append((f"block {i}" if len(calls) == 1 else f"blocks {', '.join(map(str, calls))}", [layer]))
    steps.append(("embeddings", [adapter.embedding_module]))
    return steps


@torch.no_grad()
def _reinitialise(modules: list[nn.Module], seed: int) -> None:
    """Fresh parameters: each submodule's own `reset_parameters`, else N(0, 0.02²) (seeded). `reset_parameters`
    draws from torch's global generator, so seeding and drawing happen under `_GLOBAL_RNG` (concurrent runs would
    otherwise draw from each other's seeds)."""
    with _GLOBAL_RNG, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for root in modules:
            for module in root.modules():
                own = list(module.parameters(recurse=False))
                if not own:
                    continue
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
                else:
                    for p in own:
                        p.normal_(0.0, 0.02)


def _nanmean(values: list[float]) -> float:
    known = [v for v in values if not np.isnan(v)]
    return float(np.mean(known)) if known else float("nan")
