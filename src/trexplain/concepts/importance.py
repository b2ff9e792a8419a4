"""How much each concept matters for each class: gradients, concept × gradient, ablation, deletion curves.

Per text and class c, for concept j (rows of a text: 1 for `cls`/`mean`, its tokens or words otherwise; per-row
values are summed over the text's rows):
- `gradient`: ∂ logit_c / ∂ code_j, through `decode` (interpreto's `concept_output_gradient`): the model runs
  on A + scatter(decode(codes) − decode(c₀)) so the reconstruction error stays in place (`editing`);
- `concept_x_gradient`: code_j · ∂ logit_c / ∂ code_j (a first-order estimate of the ablation);
- `ablation`: logit_c(x) − logit_c(x with concept j removed from every row), the exact effect, one forward
  per concept.
`per_class(kind)` averages a kind over the texts predicted as each class, for that class's logit.
`deletion` removes concepts one at a time in each text's order of importance for its predicted class (most
supporting first) and records the predicted class's probability (the head's: softmax, its label's sigmoid, or the
regression output); AOPC = 1/(k+1) Σ_{i=0..k} (p(x) − p(x∖top-i))
as for tokens (`evaluate.aopc.comprehensiveness`). A random order per text is the floor: an importance is only
worth trusting where its AOPC clearly beats random.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from trexplain.concepts.dictionaries import Dictionary
from trexplain.concepts.editing import SiteEdit, batches
from trexplain.evaluate.aopc import comprehensiveness
from trexplain.models.heads import outputs, problem_for
from trexplain.models.protocol import Adapter
from trexplain.progress import stage

KINDS: tuple[str, ...] = ("gradient", "concept_x_gradient", "ablation")


@dataclass(frozen=True)
class Importance:
    """Per text [N, classes, k] importances of every concept for every class, with the codes and logits."""

    labels: tuple[str, ...]
    logits: np.ndarray
    codes: np.ndarray
    gradient: np.ndarray
    concept_x_gradient: np.ndarray
    ablation: np.ndarray | None = None

    @property
    def predicted(self) -> np.ndarray:
        return self.logits.argmax(1)

    def kind(self, name: str) -> np.ndarray:
        """The [N, classes, k] array of `name` (gradient, concept_x_gradient, ablation)."""
        if name not in KINDS:
            raise ValueError(f"unknown importance {name!r}; use one of {', '.join(KINDS)}")
        value = getattr(self, name)
        if value is None:
            raise ValueError("this importance was computed without ablation; pass ablation=True")
        return value

    def per_class(self, name: str) -> np.ndarray:
        """[classes, k]: the mean of `name` for class c's logit over the texts predicted as c (NaN if none)."""
        value = self.kind(name)
        out = np.full(value.shape[1:], np.nan)
        for c in range(value.shape[1]):
            chosen = self.predicted == c
            if chosen.any():
                out[c] = value[chosen, c].mean(0)
        return out

    def for_predicted(self, name: str) -> np.ndarray:
        """[N, k]: each text's importance of every concept for its predicted class."""
        return self.kind(name)[np.arange(len(self.logits)), self.predicted]

    def to_dict(self) -> dict[str, Any]:
        """Per-class means of every kind (JSON-ready; NaN as None) and the number of texts per class."""
        kinds = [k for k in KINDS if getattr(self, k) is not None]
        return {
            "labels": list(self.labels),
            "texts": len(self.logits),
            "texts_per_class": np.bincount(self.predicted, minlength=len(self.labels)).tolist(),
            "per_class": {k: _json(self.per_class(k)) for k in kinds},
        }


def importance(
    adapter: Adapter,
    dictionary: Dictionary,
    texts: Sequence[str],
    site: str,
    granularity: str = "cls",
    *,
    word_reduce: str = "mean",
    ablation: bool = True,
    batch_size: int = 16,
    truncate: bool = False,
) -> Importance:
    """Gradient, concept × gradient and (with `ablation`) ablation importance of every concept for every class,
    for each text (see the module doc)."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("logits", "codes", *KINDS)}
    k = dictionary.n_concepts if not dictionary.fitted else len(dictionary.components_)
    with stage(f"concept importance at {site}", total=len(texts)) as advance:
        for start, chunk in batches(texts, batch_size):
            edit = SiteEdit(
                adapter, dictionary, chunk, site, granularity, word_reduce=word_reduce, truncate=truncate, start=start
            )
            grads = _gradients(edit)  # [C, R, k]
            parts["logits"].append(edit.logits.cpu().numpy())
            parts["codes"].append(edit.per_text(edit.codes).cpu().numpy())
            parts["gradient"].append(edit.per_text(grads).permute(1, 0, 2).cpu().numpy())
            parts["concept_x_gradient"].append(edit.per_text(grads * edit.codes).permute(1, 0, 2).cpu().numpy())
            if ablation:
                masks = torch.eye(k, dtype=torch.bool, device=edit.codes.device)[:, None].expand(k, len(edit), k)
                ablated = edit.removed(masks)  # [k, B, C]
                parts["ablation"].append((edit.logits[None] - ablated).permute(1, 2, 0).cpu().numpy())
            advance(len(chunk))
    joined = {name: np.concatenate(p) if p else None for name, p in parts.items()}
    return Importance(tuple(adapter.labels), **joined)


def _gradients(edit: SiteEdit) -> torch.Tensor:
    """∂ logit_c / ∂ codes for every class c: [C, R, k]."""
    codes = edit.codes.clone().requires_grad_(True)
    with torch.enable_grad():
        logits = edit.run(edit.delta_codes(codes)[None])[0]
        grads = [
            torch.autograd.grad(logits[:, c].sum(), codes, retain_graph=c < logits.shape[1] - 1)[0]
            for c in range(logits.shape[1])
        ]
    return torch.stack(grads).detach()


@dataclass(frozen=True)
class Deletion:
    """Deletion curves: `curves[kind]` [N, k+1] the predicted class's probability after removing the top 0..k
    concepts of each text in that kind's order; `aopc[kind]` their mean AOPC (↑: the ranking finds the concepts
    that matter)."""

    curves: dict[str, np.ndarray]
    aopc: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Per kind, the mean AOPC and the mean deletion curve, JSON-ready."""
        return {
            "aopc": dict(self.aopc),
            "mean_curve": {name: _json(curve.mean(0)) for name, curve in self.curves.items()},
        }


def deletion(
    adapter: Adapter,
    dictionary: Dictionary,
    texts: Sequence[str],
    site: str,
    granularity: str,
    scores: Importance,
    *,
    kinds: Sequence[str] = KINDS,
    random: int = 1,
    seed: int = 0,
    word_reduce: str = "mean",
    batch_size: int = 16,
    truncate: bool = False,
) -> Deletion:
    """Deletion curves and AOPC of each importance kind in `kinds` (orders from `scores`, computed on the same
    texts) and of `random` seeded random orders (reported together as "random")."""
    if len(scores.logits) != len(texts):
        raise ValueError(f"scores cover {len(scores.logits)} texts, not the {len(texts)} given")
    k = scores.codes.shape[1]
    rng, problem = np.random.default_rng(seed), problem_for(adapter)
    orders = {name: np.argsort(-scores.for_predicted(name), axis=1, kind="stable") for name in kinds}
    for r in range(random):
        orders[f"random:{r}"] = np.stack([rng.permutation(k) for _ in range(len(texts))])
    curves: dict[str, list[np.ndarray]] = {name: [] for name in orders}
    with stage("concept deletion curves", total=len(texts)) as advance:
        for start, chunk in batches(texts, batch_size):
            edit = SiteEdit(
                adapter, dictionary, chunk, site, granularity, word_reduce=word_reduce, truncate=truncate, start=start
            )
            target = edit.logits.argmax(1)
            rows = torch.arange(len(edit))
            for name, order in orders.items():
                rank = torch.empty((len(edit), k), dtype=torch.long)
                rank[rows[:, None], torch.as_tensor(order[start : start + len(edit)])] = torch.arange(k)
                masks = torch.stack([rank < i for i in range(k + 1)]).to(edit.codes.device)  # [k+1, B, k]
                probs = outputs(edit.removed(masks), problem)[:, rows, target]  # [k+1, B]
                curves[name].append(probs.T.cpu().numpy())
            advance(len(chunk))
    joined = {name: np.concatenate(parts) for name, parts in curves.items()}
    if random:
        joined["random"] = np.mean([joined.pop(f"random:{r}") for r in range(random)], axis=0)
    aopc = {
        name: float(np.mean([comprehensiveness(float(c[0]), torch.as_tensor(c[1:])) for c in curve]))
        for name, curve in joined.items()
    }
    return Deletion(joined, aopc)


def _json(values: np.ndarray) -> Any:
    """An array as nested lists with NaN as None."""
    return [_json(v) for v in values] if np.ndim(values) > 1 else [None if np.isnan(v) else float(v) for v in values]
