"""Integrated Gradients at the embedding output and layer-wise IG at every block input.

Both are thin methods over the path engine (`paths`): `PathMethod` holds their shared parameters and runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from trexplain.diagnostics import LAYER_TARGET, TARGET, Diagnostics, Identity
from trexplain.errors import MethodError
from trexplain.methods.base import Attribution, Method, Targets, register
from trexplain.methods.baselines import baseline_embeddings, baseline_name
from trexplain.methods.paths import EMBEDDING, TOKEN_BUDGET, Endpoints, completeness, endpoints, integrate_paths
from trexplain.methods.quadrature import Rule, nodes
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch


@dataclass
class PathMethod(Method):
    """Shared parameters of the path-integral methods.

    baseline: None (default: the modality's, `pad` for texts and `black` for images), a name the modality
        offers (texts: `pad`, `mask`, `zero` or a text; images: `black`, `mean`, `blur`, `zero` or an image), or
        a tensor of the embedding output's shape (see `baseline_embeddings`; recorded in the Explanation as its
        shape). The baseline used is recorded in the diagnostics.
    steps: quadrature nodes per piece of the path (default 4; adaptive mode starts with 4 pieces); with
        `adaptive=False`, nodes on the whole path (use 32 or more then: the demo model's paths have a sharp
        bump that 16 nodes miss by ~5%).
    method: quadrature rule, captum's names (`gausslegendre` default; see `quadrature.RULES`).
    adaptive: halve the pieces with the largest exact completeness errors until the path's error is
        ≤ atol + rtol·|f(x) − f(x')| for every target (default True) or `max_steps` nodes are spent; atol
        (logit units) is the floor for targets whose logit barely moves (docs/methods.md G).
    internal_batch_size: interpolated rows per forward; None = as many as fit 4096 tokens.
    """

    baseline: str | Tensor | None = None
    steps: int = 4
    method: Rule = "gausslegendre"
    adaptive: bool = True
    rtol: float = 1e-3
    atol: float = 1e-3
    max_steps: int = 256
    internal_batch_size: int | None = None

    needs_attentions: ClassVar[bool] = False

    def __post_init__(self) -> None:
        nodes(self.method, self.steps)
        if isinstance(self.baseline, Tensor) and (
            self.baseline.dim() not in (2, 3) or not self.baseline.is_floating_point()
        ):
            raise MethodError("a baseline tensor must be a float [tokens, hidden] or [texts, tokens, hidden] embedding")
        if self.internal_batch_size is not None and self.internal_batch_size < 1:
            raise MethodError(f"internal_batch_size must be at least 1, got {self.internal_batch_size}")
        if self.max_steps < self.steps:
            raise MethodError(f"max_steps ({self.max_steps}) must be at least steps ({self.steps})")
        if self.rtol < 0 or self.atol < 0:
            raise MethodError("rtol and atol must not be negative")

    def sites(self, adapter: ModelAdapter) -> list[int]:
        return [EMBEDDING]

    def params(self) -> dict[str, Any]:
        """As recorded in each Explanation: a tensor baseline is named by its shape (records stay JSON)."""
        params = super().params()
        if isinstance(self.baseline, Tensor):
            params["baseline"] = f"tensor{list(self.baseline.shape)}"
        return params

    def integrate(
        self, adapter: ModelAdapter, batch: Batch, targets: Targets
    ) -> tuple[dict[int, Tensor], Endpoints, Tensor, list[dict[str, Any]]]:
        """Scores per site, the path ends, the targets and per-text diagnostics (steps used)."""
        sites = self.sites(adapter)
        real = adapter.embed(batch.inputs)
        base = baseline_embeddings(adapter, batch, self.baseline)
        ends = endpoints(adapter, batch.inputs, real, base, sites, self.needs_attentions)
        chosen = targets(ends.logits.detach())
        shared = _shared_first_block(ends, sites)
        work = Endpoints(
            {s: t for s, t in ends.real.items() if s != shared},
            {s: t for s, t in ends.base.items() if s != shared},
            ends.logits,
            ends.base_logits,
        )
        refine = (self.rtol, self.atol, self.max_steps) if self.adaptive else None
        scores, used = integrate_paths(
            adapter, batch.inputs, real, work, chosen, self.method, self.steps, self._max_rows(batch), refine
        )
        if shared is not None:
            scores[shared] = scores[EMBEDDING]
        name = baseline_name(adapter, self.baseline)
        diagnostics = [{"steps": int(used[:, i].max()), "baseline": name} for i in range(len(batch))]
        return scores, ends, chosen, diagnostics

    def _max_rows(self, batch: Batch) -> int:
        if self.internal_batch_size is not None:
            return self.internal_batch_size
        return max(1, TOKEN_BUDGET // batch.inputs.input_ids.shape[1])


def _shared_first_block(ends: Endpoints, sites: list[int]) -> int | None:
    """Block 0 when its input is the embedding output itself (every family but ELECTRA): integrate once."""
    if 0 not in sites or EMBEDDING not in sites:
        return None
    same = torch.equal(ends.real[0], ends.real[EMBEDDING]) and torch.equal(ends.base[0], ends.base[EMBEDDING])
    return 0 if same else None


AXES = {
    **dict.fromkeys(("f_input", "f_baseline", "score_sum", "completeness_error", "relative_error"), TARGET),
    **dict.fromkeys(("layer_score_sum", "layer_completeness_error"), LAYER_TARGET),
}
"""Axes of every per-target or per-layer value the path methods record."""


def typed(diagnostics: list[dict[str, Any]], completeness: bool) -> list[Diagnostics]:
    """Per-text diagnostics with their axes; with `completeness`, the identity Σ scores = f(x) − f(x')."""
    out = []
    for entry in diagnostics:
        identity = None
        if completeness:
            expected = [a - b for a, b in zip(entry["f_input"], entry["f_baseline"], strict=True)]
            identity = Identity.between("completeness", entry["score_sum"], expected)
        out.append(Diagnostics(entry, {k: v for k, v in AXES.items() if k in entry}, identity))
    return out


def _record(diagnostics: list[dict[str, Any]], scores: Tensor, ends: Endpoints, chosen: Tensor) -> None:
    total, error, scale = completeness(scores, ends, chosen)
    relative = error / scale.clamp_min(torch.finfo(scale.dtype).tiny)
    for i, entry in enumerate(diagnostics):
        entry["f_input"] = ends.logits.detach()[i].gather(0, chosen[i]).tolist()
        entry["f_baseline"] = ends.base_logits[i].gather(0, chosen[i]).tolist()
        entry["score_sum"] = total[i].tolist()
        entry["completeness_error"] = error[i].tolist()
        entry["relative_error"] = relative[i].tolist()


@register
@dataclass
class IntegratedGradients(PathMethod):
    """Integrated Gradients at the embedding output: (x − x') · ∫ ∂f_c(x' + α(x − x')) dα, summed per token.

    Signed, per target; Σ_t scores = f_c(x) − f_c(x') up to quadrature error. Diagnostics per text:
    `f_input`, `f_baseline`, `score_sum`, `completeness_error`, `relative_error` (lists over targets) and
    `steps` (gradient evaluations spent on the path, discarded pieces included).
    """

    name = "ig"
    identity = "completeness"
    cost = "multi-pass"
    summary = "Integrated Gradients at the embedding output (signed, completeness-checked, steps batched)"

    def attribute(self, adapter: ModelAdapter, batch: Batch, targets: Targets) -> Attribution:
        scores, ends, chosen, diagnostics = self.integrate(adapter, batch, targets)
        _record(diagnostics, scores[EMBEDDING], ends, chosen)
        return Attribution(scores[EMBEDDING], ends.logits.detach(), chosen, diagnostics=typed(diagnostics, True))


def require_layers(adapter: ModelAdapter, name: str) -> None:
    if not adapter.layers:
        raise MethodError(f"{name} needs the model's blocks; pass layers= to ModelAdapter.from_module")


@register
@dataclass
class LayerIntegratedGradients(PathMethod):
    """IG at the input of every block (baseline: the baseline text's block input); `layer_scores` [B, L, K, T].

    Block inputs, not outputs: at the last block's output only the pooled token reaches the head, so every
    other token would get 0. Final `scores` are the embedding-level IG (as `ig`). Completeness holds at
    every block: diagnostics `layer_completeness_error` is [L][K] per text (axes layer, target).
    """

    name = "layer-ig"
    layer_site = "block input"
    identity = "completeness"
    cost = "multi-pass"
    summary = "Integrated Gradients at every block input (per-layer maps; scores = embedding-level IG)"

    def sites(self, adapter: ModelAdapter) -> list[int]:
        require_layers(adapter, self.name)
        return [EMBEDDING, *range(len(adapter.layers))]

    def attribute(self, adapter: ModelAdapter, batch: Batch, targets: Targets) -> Attribution:
        scores, ends, chosen, diagnostics = self.integrate(adapter, batch, targets)
        _record(diagnostics, scores[EMBEDDING], ends, chosen)
        layers = torch.stack([scores[s] for s in range(len(adapter.layers))], dim=1)
        record_layers(diagnostics, layers, ends, chosen)
        return Attribution(scores[EMBEDDING], ends.logits.detach(), chosen, layers, typed(diagnostics, True))


def record_layers(diagnostics: list[dict[str, Any]], layers: Tensor, ends: Endpoints, chosen: Tensor) -> None:
    per_layer = [completeness(layers[:, layer], ends, chosen)[1] for layer in range(layers.shape[1])]
    errors = torch.stack(per_layer, dim=1)
    for i, entry in enumerate(diagnostics):
        entry["layer_score_sum"] = layers[i].sum(-1).tolist()
        entry["layer_completeness_error"] = errors[i].tolist()
