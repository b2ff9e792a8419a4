"""Integrated Gradients at the embedding output, layer-wise IG at every block input, and CA-LIG.

All three share one engine: the interpolated rows of every (site, text, step) go through the model in
chunks under a row bound, each chunk is run forward once, and every requested target reuses that forward
(one weighted backward per target column). A "site" is where the interpolant is written: the embedding
module's output, or the input of block l (captum's `attribute_to_layer_input=True`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from trexplain.errors import InputError, MethodError
from trexplain.methods.autograd import target_gradients
from trexplain.methods.base import Attribution, Method, Targets, register
from trexplain.methods.quadrature import nodes
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch, ModelInputs

BASELINES: tuple[str, ...] = ("pad", "mask", "zero")
EMBEDDING = -1  # site index of the embedding output; blocks are 0..L-1
TOKEN_BUDGET = 4096  # tokens per forward when internal_batch_size is None
START_PIECES = 4  # adaptive mode starts from [0, 1] cut in this many pieces
SPLIT_SHARE = 0.5  # each round halves the pieces whose error is at least this share of the path's largest


# ------------------------------------------------------------------------------------------ baselines
def baseline_embeddings(adapter: ModelAdapter, batch: Batch, baseline: str | Tensor) -> Tensor:
    """Embedding output of the baseline: special tokens and padding kept, every other token replaced.

    `pad`/`mask` replace the token ids (positions and token types unchanged, so RoBERTa-family position
    embeddings never move); `zero` sets those tokens' embedding vectors to 0; any other string is a text
    whose tokens fill the replaceable positions in order (pad ids after it ends, cut where it is longer).
    A tensor is the baseline's embedding output itself, used as given except at padding.
    """
    inputs, movable = batch.inputs, batch.maskable
    if isinstance(baseline, Tensor):
        return _tensor_baseline(adapter, batch, baseline)
    if baseline == "zero":
        return adapter.embed(inputs) * (~movable).unsqueeze(-1)
    if baseline in ("pad", "mask"):
        replacement = adapter.pad_token_id if baseline == "pad" else adapter.mask_token_id
        if replacement is None:
            raise MethodError(f"the tokenizer of {adapter.name} has no mask token; use baseline='pad' or 'zero'")
        ids = torch.where(movable, torch.full_like(inputs.input_ids, int(replacement)), inputs.input_ids)
    else:
        tokens = adapter.tokenizer(baseline, add_special_tokens=False)["input_ids"]
        if not tokens:
            raise MethodError(f"baseline text {baseline!r} has no tokens; use {', '.join(BASELINES)} or a real text")
        tokens = torch.tensor(tokens, device=inputs.input_ids.device)
        rank = movable.long().cumsum(1) - 1
        filled = torch.where(rank < len(tokens), tokens[rank.clamp(0, len(tokens) - 1)], adapter.pad_token_id)
        ids = torch.where(movable, filled, inputs.input_ids)
    return adapter.embed(inputs.with_ids(ids))


def _tensor_baseline(adapter: ModelAdapter, batch: Batch, baseline: Tensor) -> Tensor:
    """A user's embedding-output baseline, [T, d] (every text) or [B, T, d], checked against the batch."""
    real = adapter.embed(batch.inputs)
    if baseline.dim() == 2:
        baseline = baseline.unsqueeze(0).expand_as(real) if baseline.shape == real.shape[1:] else baseline
    if baseline.shape != real.shape:
        raise MethodError(
            f"baseline tensor of shape {tuple(baseline.shape)} does not fit these inputs: pass the embedding "
            f"output's shape {tuple(real.shape)} (or {tuple(real.shape[1:])} for every text), e.g. built from "
            "adapter.embed(adapter.encode(texts).inputs)"
        )
    padding = ~batch.inputs.attention_mask.bool().unsqueeze(-1)
    return torch.where(padding, real, baseline.to(real))


# ---------------------------------------------------------------------------------------- block hooks
@contextmanager
def block_inputs(layers: list[nn.Module], edit: Callable[[int, Tensor], Tensor | None]) -> Iterator[None]:
    """Call `edit(l, hidden)` on the input of every block; a returned tensor replaces that input."""

    def hook_for(index: int) -> Callable[..., Any]:
        def hook(_module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
            hidden = args[0] if args else kwargs["hidden_states"]
            new = edit(index, hidden)
            if new is None:
                return None
            if args:
                return (new, *args[1:]), kwargs
            return args, {**kwargs, "hidden_states": new}

        return hook

    handles = [layer.register_forward_pre_hook(hook_for(i), with_kwargs=True) for i, layer in enumerate(layers)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def skipped_blocks(layers: list[nn.Module]) -> Iterator[None]:
    """These blocks hand their input on unchanged: when every row's interpolant is written at a later block's
    input, their output is overwritten anyway, so running them is wasted work."""
    saved = [layer.__dict__.get("forward") for layer in layers]
    for layer in layers:
        layer.forward = _passthrough
    try:
        yield
    finally:
        for layer, old in zip(layers, saved, strict=True):
            if old is None:
                del layer.forward
            else:
                layer.forward = old


def _passthrough(*args: Any, **kwargs: Any) -> Tensor:
    return args[0] if args else kwargs["hidden_states"]


@dataclass
class Endpoints:
    """The two ends of the straight path at every site and the logits at both ends, from one forward.

    `attentions`, when collected, cover input and baseline rows (graph kept, for attention gradients).
    """

    real: dict[int, Tensor]
    base: dict[int, Tensor]
    logits: Tensor
    base_logits: Tensor
    attentions: tuple[Tensor, ...] | None = None


def endpoints(
    adapter: ModelAdapter, inputs: ModelInputs, real: Tensor, base: Tensor, sites: list[int], attentions: bool = False
) -> Endpoints:
    """Run input and baseline as one batch; collect block inputs at `sites` (and attentions with grads kept)."""
    count = len(inputs)
    both = inputs.rows(torch.cat([torch.arange(count), torch.arange(count)]))
    captured: dict[int, Tensor] = {}

    def capture(index: int, hidden: Tensor) -> None:
        if index in sites:
            captured[index] = hidden.detach()

    with torch.set_grad_enabled(attentions), block_inputs(adapter.layers, capture):
        out = adapter.forward(both, embeddings=torch.cat([real, base]), output_attentions=attentions)
    if attentions and not out.attentions:
        raise MethodError(f"{adapter.name} returns no attention probabilities; this method needs them")
    ends = {**captured, EMBEDDING: torch.cat([real, base])}
    return Endpoints(
        {s: ends[s][:count] for s in sites},
        {s: ends[s][count:] for s in sites},
        out.logits[:count],
        out.logits[count:].detach(),
        out.attentions if attentions else None,
    )


# ------------------------------------------------------------------------------------------ the engine
@dataclass
class Rows:
    """Evaluation points: row r interpolates site `site[r]` of text `text[r]` at `alpha[r]`."""

    site: Tensor
    text: Tensor
    alpha: Tensor
    weight: Tensor | None = None  # quadrature weight (gradient rows only)
    group: Tensor | None = None  # output group the weighted gradient is added to (gradient rows only)


def _forward_rows(
    adapter: ModelAdapter, inputs: ModelInputs, embeddings: Tensor, ends: Endpoints, rows: Rows, grad: bool
) -> tuple[Tensor, dict[int, tuple[Tensor, Tensor, Tensor]]]:
    """Logits of one chunk with each row's interpolant written at its site; leaves are (where, point, diff)."""
    leaves: dict[int, tuple[Tensor, Tensor, Tensor]] = {}
    alpha = rows.alpha.to(embeddings.dtype)
    for s in rows.site.unique().tolist():
        where = torch.nonzero(rows.site == s).squeeze(1)
        diff = (ends.real[s] - ends.base[s])[rows.text[where]]
        point = ends.base[s][rows.text[where]] + alpha[where].view(-1, 1, 1) * diff
        leaves[s] = (where, point.requires_grad_(grad), diff)
    chunk = embeddings[rows.text]
    if EMBEDDING in leaves:
        where, point, _ = leaves[EMBEDDING]
        chunk = chunk.index_copy(0, where, point)

    def replace(index: int, hidden: Tensor) -> Tensor | None:
        if index not in leaves:
            return None
        where, point, _ = leaves[index]
        return hidden.index_copy(0, where, point)

    first = int(rows.site.min())
    skip = first if first > 0 and adapter.family.layers else 0  # known families only: their blocks return a tensor
    with torch.set_grad_enabled(grad), block_inputs(adapter.layers, replace), skipped_blocks(adapter.layers[:skip]):
        logits = adapter.forward(inputs.rows(rows.text), embeddings=chunk, logits_only=True).logits
    return logits, leaves


def _chunks(rows: Rows, size: int) -> Iterator[Rows]:
    """Runs of rows with the same site (so `skipped_blocks` applies), each cut into parts of at most `size`."""
    change = (torch.nonzero(rows.site[1:] != rows.site[:-1]).squeeze(1) + 1).tolist()
    for begin, end in zip([0, *change], [*change, len(rows.site)], strict=True):
        for start in range(begin, end, size):
            part = slice(start, min(start + size, end))
            yield Rows(*(None if t is None else t[part] for t in vars(rows).values()))


def integrate_rows(
    adapter: ModelAdapter,
    inputs: ModelInputs,
    embeddings: Tensor,
    ends: Endpoints,
    chosen: Tensor,
    rows: Rows,
    groups: int,
    max_rows: int,
) -> Tensor:
    """Σ_rows in group w · Σ_d (end − start) · ∂f_k/∂(point): token scores [groups, K, T].

    Rows run in chunks of at most `max_rows`: one forward per chunk and one weighted backward per target
    column, so every target reuses the same interpolated forwards.
    """
    out = embeddings.new_zeros(groups, chosen.shape[1], embeddings.shape[1])
    for part in _chunks(rows, max_rows):
        logits, leaves = _forward_rows(adapter, inputs, embeddings, ends, part, grad=True)
        weighted = logits * part.weight.to(logits.dtype).unsqueeze(1)
        grads = target_gradients(weighted, chosen[part.text], [point for _, point, _ in leaves.values()])
        for (where, _, diff), grad in zip(leaves.values(), grads, strict=True):
            out.index_add_(0, part.group[where], torch.einsum("ntd,nktd->nkt", diff.detach(), grad))
    return out


@torch.no_grad()
def path_logits(
    adapter: ModelAdapter,
    inputs: ModelInputs,
    embeddings: Tensor,
    ends: Endpoints,
    chosen: Tensor,
    rows: Rows,
    max_rows: int,
) -> Tensor:
    """Target logits [N, K] at each row's point of its path (no gradients)."""
    parts = [
        _forward_rows(adapter, inputs, embeddings, ends, part, grad=False)[0].gather(1, chosen[part.text])
        for part in _chunks(rows, max_rows)
    ]
    return torch.cat(parts)


def completeness(scores: Tensor, ends: Endpoints, chosen: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Σ_t scores, |Σ_t scores − (f_k(x) − f_k(baseline))| and |f_k(x) − f_k(baseline)|, each [B, K]."""
    total = scores.sum(-1)
    delta = ends.logits.detach().gather(1, chosen) - ends.base_logits.gather(1, chosen)
    return total, (total - delta).abs(), delta.abs()


@dataclass
class _Panel:
    """A piece [a, b] of one path (site, text) and its integrated token scores [K, T]."""

    path: int
    a: float
    b: float
    scores: Tensor | None = None


def integrate_paths(
    adapter: ModelAdapter,
    inputs: ModelInputs,
    embeddings: Tensor,
    ends: Endpoints,
    chosen: Tensor,
    rule: str,
    steps: int,
    max_rows: int,
    refine: tuple[float, float, int] | None = None,
) -> tuple[dict[int, Tensor], Tensor]:
    """IG token scores [B, K, T] for every site, and gradient evaluations used per (site, text) [S, B].

    Without `refine`, each path gets `steps` nodes of `rule` on [0, 1]. With `refine=(rtol, atol,
    max_steps)` the path starts as `START_PIECES` pieces, refined where needed: completeness holds on every
    piece [a, b] (Σ_t IG = f(point(b)) − f(point(a))), so each piece's error is known exactly; each round
    halves the pieces with the largest errors (within `SPLIT_SHARE` of the worst, as adaptive quadrature
    does), each half again with `steps` nodes, until the path's total error is within
    atol + rtol·|f(x) − f(x')| or it has used `max_steps` nodes.
    """
    sites = list(ends.real)
    count, k_total = chosen.shape
    alphas, weights = nodes(rule, steps)
    f_real = ends.logits.detach().gather(1, chosen)
    f_base = ends.base_logits.gather(1, chosen)
    tolerance = None if refine is None else refine[1] + refine[0] * (f_real - f_base).abs()
    known: list[dict[float, Tensor]] = [{0.0: f_base[i], 1.0: f_real[i]} for _ in sites for i in range(count)]
    used = torch.zeros(len(sites) * count, dtype=torch.long)
    done: list[list[_Panel]] = [[] for _ in known]
    pieces = 1 if refine is None else START_PIECES
    todo = [_Panel(p, i / pieces, (i + 1) / pieces) for p in range(len(known)) for i in range(pieces)]
    while todo:
        path = torch.tensor([p.path for p in todo])
        site = torch.tensor(sites)[path // count].repeat_interleave(steps)
        text = (path % count).repeat_interleave(steps)
        lower = torch.tensor([p.a for p in todo], dtype=torch.float64).repeat_interleave(steps)
        width = torch.tensor([p.b - p.a for p in todo], dtype=torch.float64).repeat_interleave(steps)
        rows = Rows(
            site,
            text,
            lower + width * alphas.repeat(len(todo)),
            width * weights.repeat(len(todo)),
            torch.arange(len(todo)).repeat_interleave(steps),
        )
        device = embeddings.device
        rows = Rows(*(t.to(device) for t in vars(rows).values()))
        found = integrate_rows(adapter, inputs, embeddings, ends, chosen, rows, len(todo), max_rows)
        for panel, value in zip(todo, found, strict=True):
            panel.scores = value
            done[panel.path].append(panel)
            used[panel.path] += steps
        if refine is None:
            break
        todo = _refine(
            adapter, inputs, embeddings, ends, chosen, sites, done, known, used, tolerance, refine[2], steps, max_rows
        )
    scores = torch.stack([sum(p.scores for p in panels) for panels in done]).view(len(sites), count, k_total, -1)
    return {s: scores[i] for i, s in enumerate(sites)}, used.view(len(sites), count)


def _refine(
    adapter: ModelAdapter,
    inputs: ModelInputs,
    embeddings: Tensor,
    ends: Endpoints,
    chosen: Tensor,
    sites: list[int],
    done: list[list[_Panel]],
    known: list[dict[float, Tensor]],
    used: Tensor,
    tolerance: Tensor,
    max_steps: int,
    steps: int,
    max_rows: int,
) -> list[_Panel]:
    """The halves of the worst pieces of every path that is not yet within tolerance (and has steps left)."""
    count = chosen.shape[0]
    missing = [(p, x) for p, panels in enumerate(done) for q in panels for x in (q.a, q.b) if x not in known[p]]
    missing = list(dict.fromkeys(missing))
    if missing:
        path = torch.tensor([p for p, _ in missing])
        rows = Rows(
            torch.tensor(sites)[path // count].to(embeddings.device),
            (path % count).to(embeddings.device),
            torch.tensor([x for _, x in missing], dtype=torch.float64, device=embeddings.device),
        )
        values = path_logits(adapter, inputs, embeddings, ends, chosen, rows, max_rows)
        for (p, x), value in zip(missing, values, strict=True):
            known[p][x] = value
    todo: list[_Panel] = []
    for p, panels in enumerate(done):
        tol = tolerance[p % count]
        errors = torch.stack([q.scores.sum(-1) - (known[p][q.b] - known[p][q.a]) for q in panels])
        if bool((errors.sum(0).abs() <= tol).all()):
            continue
        worst = (errors.abs() / tol.clamp_min(torch.finfo(tol.dtype).tiny)).amax(-1)
        split = [q for q, e in zip(panels, worst.tolist(), strict=True) if e >= SPLIT_SHARE * float(worst.max())]
        if int(used[p]) + 2 * steps * len(split) > max_steps:
            continue
        for q in split:
            middle = (q.a + q.b) / 2
            panels.remove(q)
            todo += [_Panel(p, q.a, middle), _Panel(p, middle, q.b)]
    return todo


# ------------------------------------------------------------------------------------------- methods
@dataclass
class _PathMethod(Method):
    """Shared parameters of the path-integral methods.

    baseline: `pad` (default), `mask`, `zero`, a text, or a tensor of the embedding output's shape (see
        `baseline_embeddings`; recorded in the Explanation as its shape).
    steps: quadrature nodes per piece of the path (default 4; adaptive mode starts with 4 pieces); with
        `adaptive=False`, nodes on the whole path (use 32 or more then: the demo model's paths have a sharp
        bump that 16 nodes miss by ~5%).
    method: quadrature rule, captum's names (`gausslegendre` default; see `quadrature.RULES`).
    adaptive: halve the pieces with the largest exact completeness errors until the path's error is
        ≤ atol + rtol·|f(x) − f(x')| for every target (default True) or `max_steps` nodes are spent; atol
        (logit units) is the floor for targets whose logit barely moves (methods.md G).
    internal_batch_size: interpolated rows per forward; None = as many as fit 4096 tokens.
    """

    baseline: str | Tensor = "pad"
    steps: int = 4
    method: str = "gausslegendre"
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
        diagnostics = [{"steps": int(used[:, i].max())} for i in range(len(batch))]
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
class IntegratedGradients(_PathMethod):
    """Integrated Gradients at the embedding output: (x − x') · ∫ ∂f_c(x' + α(x − x')) dα, summed per token.

    Signed, per target; Σ_t scores = f_c(x) − f_c(x') up to quadrature error. Diagnostics per text:
    `f_input`, `f_baseline`, `score_sum`, `completeness_error`, `relative_error` (lists over targets) and
    `steps` (gradient evaluations spent on the path, discarded pieces included).
    """

    name = "ig"
    cost = "multi-pass"
    summary = "Integrated Gradients at the embedding output (signed, completeness-checked, steps batched)"

    def attribute(self, adapter: ModelAdapter, batch: Batch, targets: Targets) -> Attribution:
        scores, ends, chosen, diagnostics = self.integrate(adapter, batch, targets)
        _record(diagnostics, scores[EMBEDDING], ends, chosen)
        return Attribution(scores[EMBEDDING], ends.logits.detach(), chosen, diagnostics=diagnostics)


def _require_layers(adapter: ModelAdapter, name: str) -> None:
    if not adapter.layers:
        raise MethodError(f"{name} needs the model's blocks; pass layers= to ModelAdapter.from_module")


@register
@dataclass
class LayerIntegratedGradients(_PathMethod):
    """IG at the input of every block (baseline: the baseline text's block input); `layer_scores` [B, L, K, T].

    Block inputs, not outputs: at the last block's output only the pooled token reaches the head, so every
    other token would get 0. Final `scores` are the embedding-level IG (as `ig`). Completeness holds at
    every block: diagnostics `layer_completeness_error` is [L][K] per text.
    """

    name = "layer-ig"
    cost = "multi-pass"
    summary = "Integrated Gradients at every block input (per-layer maps; scores = embedding-level IG)"

    def sites(self, adapter: ModelAdapter) -> list[int]:
        _require_layers(adapter, self.name)
        return [EMBEDDING, *range(len(adapter.layers))]

    def attribute(self, adapter: ModelAdapter, batch: Batch, targets: Targets) -> Attribution:
        scores, ends, chosen, diagnostics = self.integrate(adapter, batch, targets)
        _record(diagnostics, scores[EMBEDDING], ends, chosen)
        layers = torch.stack([scores[s] for s in range(len(adapter.layers))], dim=1)
        _record_layers(diagnostics, layers, ends, chosen)
        return Attribution(scores[EMBEDDING], ends.logits.detach(), chosen, layers, diagnostics)


def _record_layers(diagnostics: list[dict[str, Any]], layers: Tensor, ends: Endpoints, chosen: Tensor) -> None:
    per_layer = [completeness(layers[:, layer], ends, chosen)[1] for layer in range(layers.shape[1])]
    errors = torch.stack(per_layer, dim=1)
    for i, entry in enumerate(diagnostics):
        entry["layer_score_sum"] = layers[i].sum(-1).tolist()
        entry["layer_completeness_error"] = errors[i].tolist()


FUSIONS: tuple[str, ...] = ("additive", "multiplicative")
AGGREGATIONS: tuple[str, ...] = ("rollout", "mean")
CONTEXTS: tuple[str, ...] = ("cls", "mean")


@register
@dataclass
class ContextAwareLayerIG(_PathMethod):
    """CA-LIG (reconstructed, methods.md D): per-block layer IG fused with class-specific attention gradients.

    s^(l) = layer IG at block l's input (as `layer-ig`); a^(l)_t = E_h(∇A^(l) ⊙ A^(l))[query, t] with the
    [CLS] query (`context="cls"`) or the mean over real queries (`"mean"`), signed. Fusion: additive
    F = (1−λ)·s/‖s‖₁ + λ·a/‖a‖₁, or multiplicative F = s·(1 + λ·a/max|a|). Final scores:
    `aggregation="rollout"` R = (1/L) Σ_l F^(l) M^(l−1)⋯M^(0) with M = row-normalised (I + Ḡ),
    Ḡ = row-normalised E_h(∇A ⊙ A)^+ (each layer's total is kept); `"mean"` R = (1/L) Σ_l F^(l).
    The paper has no public code; this is our reconstruction from its abstract and summaries.
    """

    name = "ca-lig"
    cost = "multi-pass"
    summary = "CA-LIG (reconstructed): layer IG fused with attention gradients, relevance rollout over layers"
    lam: float = 0.5
    fusion: str = "additive"
    aggregation: str = "rollout"
    context: str = "cls"

    needs_attentions = True

    def __post_init__(self) -> None:
        super().__post_init__()
        for value, allowed, what in (
            (self.fusion, FUSIONS, "fusion"),
            (self.aggregation, AGGREGATIONS, "aggregation"),
            (self.context, CONTEXTS, "context"),
        ):
            if value not in allowed:
                raise MethodError(f"unknown {what} {value!r}; use one of {', '.join(allowed)}")
        if not 0.0 <= self.lam <= 1.0:
            raise MethodError(f"lam (the fusion weight λ) must lie in [0, 1], got {self.lam}")

    def sites(self, adapter: ModelAdapter) -> list[int]:
        _require_layers(adapter, self.name)
        return list(range(len(adapter.layers)))

    def attribute(self, adapter: ModelAdapter, batch: Batch, targets: Targets) -> Attribution:
        scores, ends, chosen, diagnostics = self.integrate(adapter, batch, targets)
        layer_ig = torch.stack([scores[s] for s in range(len(adapter.layers))], dim=1)
        _record_layers(diagnostics, layer_ig, ends, chosen)
        graphs = attention_gradients(ends, chosen)
        context = context_scores(graphs, batch.inputs.attention_mask, self.context)
        fused = fuse(layer_ig, context, self.lam, self.fusion)
        final = rollout(fused, graphs) if self.aggregation == "rollout" else fused.mean(1)
        for entry in diagnostics:
            entry["reconstructed"] = True
        return Attribution(final.detach(), ends.logits.detach(), chosen, fused.detach(), diagnostics)


def attention_gradients(ends: Endpoints, chosen: Tensor) -> Tensor:
    """E_h(∇A^(l) ⊙ A^(l)) per layer and target: [B, L, K, T, T] (signed; rows are queries)."""
    if ends.attentions is None:
        raise InputError("attention probabilities were not collected")
    count = len(chosen)
    grads = target_gradients(ends.logits, chosen, list(ends.attentions))
    maps = [(g[:count] * a[:count].detach().unsqueeze(1)).mean(2) for g, a in zip(grads, ends.attentions, strict=True)]
    return torch.stack(maps, 1)


def context_scores(graphs: Tensor, attention_mask: Tensor, context: str) -> Tensor:
    """a^(l)_t [B, L, K, T]: the [CLS] query's row of each graph, or the mean over real queries."""
    if context == "cls":
        return graphs[..., 0, :]
    mask = attention_mask.to(graphs.dtype)[:, None, None, :, None]
    return (graphs * mask).sum(-2) / mask.sum(-2)


def fuse(layer_ig: Tensor, context: Tensor, lam: float, fusion: str) -> Tensor:
    """Per-layer fused maps F^(l) [B, L, K, T] (see `ContextAwareLayerIG`)."""
    tiny = torch.finfo(layer_ig.dtype).tiny
    if fusion == "additive":
        s = layer_ig / layer_ig.abs().sum(-1, keepdim=True).clamp_min(tiny)
        a = context / context.abs().sum(-1, keepdim=True).clamp_min(tiny)
        return (1 - lam) * s + lam * a
    return layer_ig * (1 + lam * context / context.abs().amax(-1, keepdim=True).clamp_min(tiny))


def rollout(fused: Tensor, graphs: Tensor) -> Tensor:
    """(1/L) Σ_l F^(l) M^(l−1)⋯M^(0): each layer's relevance carried down to the input tokens."""
    positive = graphs.clamp_min(0)
    positive = positive / positive.sum(-1, keepdim=True).clamp_min(torch.finfo(graphs.dtype).tiny)
    eye = torch.eye(graphs.shape[-1], dtype=graphs.dtype, device=graphs.device)
    mixing = eye + positive
    mixing = mixing / mixing.sum(-1, keepdim=True)
    total = fused[:, -1]
    for layer in range(fused.shape[1] - 2, -1, -1):
        total = torch.einsum("bkt,bkts->bks", total, mixing[:, layer]) + fused[:, layer]
    return total / fused.shape[1]
