"""Path-integral engine shared by IG, layer IG and CA-LIG: straight paths from the baseline to the input.

All three share one engine: the interpolated rows of every (site, text, step) go through the model in
chunks under a row bound, each chunk is run forward once, and every requested target reuses that forward
(one weighted backward per target column). A "site" is where the interpolant is written: the embedding
module's output, or the input of block l (captum's `attribute_to_layer_input=True`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from trexplain.methods.autograd import target_gradients
from trexplain.methods.quadrature import nodes
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import ModelInputs
from trexplain.models.capture import block_input

EMBEDDING = -1  # site index of the embedding output; blocks are 0..L-1
TOKEN_BUDGET = 4096  # tokens per forward when internal_batch_size is None
START_PIECES = 4  # adaptive mode starts from [0, 1] cut in this many pieces
SPLIT_SHARE = 0.5  # each round halves the pieces whose error is at least this share of the path's largest


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
    blocks = [s for s in sites if s != EMBEDDING]
    with torch.set_grad_enabled(attentions):
        out = adapter.forward(
            both,
            embeddings=torch.cat([real, base]),
            capture=[block_input(s) for s in blocks],
            output_attentions=attentions,
        )
    ends = {s: out.captured[block_input(s)].detach() for s in blocks}
    ends[EMBEDDING] = torch.cat([real, base])
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

    def written(where: Tensor, point: Tensor) -> Callable[[Tensor], Tensor]:
        return lambda hidden: hidden.index_copy(0, where, point)

    replace = {block_input(s): written(where, point) for s, (where, point, _) in leaves.items() if s != EMBEDDING}
    first = int(rows.site.min())
    skip = first if first > 0 and adapter.family.layers else 0  # known families only: their blocks return a tensor
    with torch.set_grad_enabled(grad):
        out = adapter.forward(
            inputs.rows(rows.text), embeddings=chunk, replace=replace, skip_blocks=skip, logits_only=True
        )
    return out.logits, leaves


def _chunks(rows: Rows, size: int) -> Iterator[Rows]:
    """Runs of rows with the same site (so blocks before it can be skipped), each cut into parts of at most `size`."""
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
