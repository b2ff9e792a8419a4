"""Integrated Gradients: against captum at equal steps, steps and time to completeness ≤ 1e-3, all classes vs one."""

from __future__ import annotations

import statistics
import time

import torch
from captum.attr import LayerIntegratedGradients

from benchmarks.common import Context
from benchmarks.families import family_contexts, paired_row
from trexplain.methods import Targets, get_method
from trexplain.methods.baselines import baseline_embeddings
from trexplain.methods.paths import EMBEDDING, Rows, endpoints, integrate_rows
from trexplain.methods.quadrature import RULES, nodes
from trexplain.models.batch import ModelInputs

SECTION = "integrated"
RTOL, ATOL = 1e-3, 1e-3  # docs/methods.md G: relative 1e-3 above an absolute floor of 1e-3 logit units
LADDER = (8, 16, 32, 64, 128)
CAPTUM_STEPS = 50  # captum's default n_steps (Gauss–Legendre)


def captum_ig(ctx: Context, text: str, target: str = "predicted", steps: int = CAPTUM_STEPS) -> tuple[bool, float]:
    """captum LayerIntegratedGradients on the embedding module, pad baseline: (complete?, worst relative error)."""
    adapter = ctx.adapter
    batch = adapter.encode([text])
    inputs = batch.inputs

    def forward(ids, mask, positions, types):
        return adapter.forward(ModelInputs(ids, mask, positions, types)).logits

    baseline = torch.where(batch.maskable, adapter.pad_token_id, inputs.input_ids)
    with torch.no_grad():
        logits = adapter.forward(inputs).logits
        base_logits = adapter.forward(inputs.with_ids(baseline)).logits
    classes = Targets(target, adapter)(logits)[0].tolist()
    lig = LayerIntegratedGradients(forward, adapter.embedding_module)
    worst, complete = 0.0, True
    for c in classes:
        _, delta = lig.attribute(
            inputs.input_ids,
            baseline,
            target=c,
            additional_forward_args=(inputs.attention_mask, inputs.position_ids, inputs.token_type_ids),
            n_steps=steps,
            return_convergence_delta=True,
        )
        scale = abs(float(logits[0, c] - base_logits[0, c]))
        worst = max(worst, abs(float(delta[0])) / max(scale, 1e-12))
        complete &= abs(float(delta[0])) <= ATOL + RTOL * scale
    return complete, worst


def ours(ctx: Context, text: str, target: str = "predicted", **params) -> tuple[bool, int]:
    """trexplain IG on one text: (completeness error ≤ atol + rtol·|f(x) − f(x')| for every target?, steps used)."""
    result = get_method("ig", **params).attribute(ctx.adapter, ctx.adapter.encode([text]), Targets(target, ctx.adapter))
    entry = result.diagnostics[0]
    scale = [abs(a - b) for a, b in zip(entry["f_input"], entry["f_baseline"], strict=True)]
    complete = all(e <= ATOL + RTOL * s for e, s in zip(entry["completeness_error"], scale, strict=True))
    return complete, entry["steps"]


def backward_bound(ctx: Context, text: str, rows: int = 24) -> float:
    """(forward + backward for all 3 classes) ÷ (forward + backward for one) on the same interpolated rows.

    Exact IG for K classes needs K vector-Jacobian products per node, each about one forward of matrix work,
    so this ratio is the floor for "all classes ÷ one class" at the same nodes.
    """
    adapter = ctx.adapter
    batch = adapter.encode([text])
    real = adapter.embed(batch.inputs)
    inputs = batch.inputs.rows(torch.zeros(rows, dtype=torch.long))
    points = real * torch.linspace(0.1, 1, rows).view(-1, 1, 1)

    def run(classes: int) -> None:
        leaf = points.clone().requires_grad_(True)
        logits = adapter.forward(inputs, embeddings=leaf, logits_only=True).logits
        seeds = torch.eye(logits.shape[1])[:classes].unsqueeze(1).expand(classes, *logits.shape)
        torch.autograd.grad(logits, leaf, seeds if classes > 1 else seeds[0], is_grads_batched=classes > 1)

    one = min(_timed(run, 1)[0] for _ in range(3))
    every = min(_timed(run, 3)[0] for _ in range(3))
    return every / one


def oracle_nodes(ctx: Context, text: str, grid: int = 257, cuts: int = 40, most: int = 6) -> int:
    """Fewest nodes any composite Gauss–Legendre rule needs when the integrand is known in advance.

    The predicted class's per-token integrands are sampled on `grid` points and interpolated by cubic
    splines; pieces end on multiples of 1/`cuts`, each with 1..`most` nodes; a rule passes when its per-token
    errors sum to within atol + rtol·|f(x) − f(x')|. A floor for any method that must find the bump itself.
    """
    from scipy.interpolate import CubicSpline

    adapter = ctx.adapter
    batch = adapter.encode([text])
    real = adapter.embed(batch.inputs)
    ends = endpoints(adapter, batch.inputs, real, baseline_embeddings(adapter, batch, "pad"), [EMBEDDING])
    target = ends.logits.detach().argmax(-1, keepdim=True)
    tolerance = ATOL + RTOL * float((ends.logits.detach() - ends.base_logits).gather(1, target).abs())
    alphas = torch.linspace(0, 1, grid, dtype=torch.float64)
    every = torch.arange(grid)  # one group per row, weight 1: the integrand itself at each α
    rows = Rows(torch.full((grid,), EMBEDDING), torch.zeros(grid, dtype=torch.long), alphas, torch.ones(grid), every)
    samples = integrate_rows(adapter, batch.inputs, real, ends, target, rows, grid, max_rows=32)[:, 0]
    spline = CubicSpline(alphas.numpy(), samples.double().numpy())
    cut = [i / cuts for i in range(cuts + 1)]
    error = {}
    for i in range(cuts):
        for j in range(i + 1, cuts + 1):
            a, b = cut[i], cut[j]
            exact = spline.integrate(a, b)
            for n in range(1, most + 1):
                x, w = nodes("gausslegendre", n)
                estimate = (b - a) * (w.numpy()[:, None] * spline(a + (b - a) * x.numpy())).sum(0)
                error[i, j, n] = float(abs(estimate - exact).sum())
    budget = 8 * most
    best = [[float("inf")] * (budget + 1) for _ in cut]  # best[j][k]: least error reaching cut j with k nodes
    best[0][0] = 0.0
    for j in range(1, cuts + 1):
        for i in range(j):
            for n in range(1, most + 1):
                for k in range(budget + 1 - n):
                    best[j][k + n] = min(best[j][k + n], best[i][k] + error[i, j, n])
    return next((k for k in range(budget + 1) if best[cuts][k] <= tolerance), budget + 1)


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return (time.perf_counter() - start) * 1000, value


def _paired(first, second, texts: list[str], warmup: int = 1) -> tuple[float, float, float]:
    """Median ms of `first(text)` and `second(text)` timed back to back per text, and the median per-text ratio.

    Timing the two calls next to each other keeps the ratio honest on a machine whose load drifts.
    """
    for text in texts[:warmup]:
        first(text)
        second(text)
    a, b = [], []
    for text in texts:
        a.append(_timed(first, text)[0])
        b.append(_timed(second, text)[0])
    return statistics.median(a), statistics.median(b), statistics.median(x / y for x, y in zip(a, b, strict=True))


def _steps_needed(ctx: Context, rule: str) -> tuple[list[int | None], list[float], list[float]]:
    """Per text: the first ladder step count complete within tolerance; its ms, and ms / captum's default."""
    needed, times, ratios = [], [], []
    ladder = LADDER if rule != "riemann_trapezoid" else tuple(s + 1 for s in LADDER)
    for text in ctx.texts:
        found = next((n for n in ladder if ours(ctx, text, method=rule, steps=n, adaptive=False)[0]), None)
        needed.append(found)
        if found is not None:
            mine = _timed(ours, ctx, text, method=rule, steps=found, adaptive=False)[0]
            times.append(mine)
            ratios.append(mine / _timed(captum_ig, ctx, text)[0])
    return needed, times, ratios


def run(ctx: Context) -> list[dict]:
    rows = []
    texts = ctx.texts
    fixed_ms, captum_ms, ratio = _paired(
        lambda t: ours(ctx, t, steps=CAPTUM_STEPS, adaptive=False), lambda t: captum_ig(ctx, t), texts
    )
    rows.append(ctx.row(SECTION, f"captum LIG, {CAPTUM_STEPS} GL steps (predicted)", captum_ms))
    rows.append(ctx.row(SECTION, f"ig, {CAPTUM_STEPS} GL steps (predicted)", fixed_ms, vs_captum=round(ratio, 2)))

    captum_errors = [captum_ig(ctx, t) for t in texts]
    rows.append(
        ctx.row(
            SECTION,
            f"captum default ({CAPTUM_STEPS} GL): share of texts ≤1e-3",
            captum_ms,
            within_tol=round(sum(ok for ok, _ in captum_errors) / len(texts), 2),
            median_rel_error=f"{statistics.median(e for _, e in captum_errors):.1e}",
        )
    )
    adaptive = [ours(ctx, t) for t in texts]
    adaptive_ms, _, ratio = _paired(lambda t: ours(ctx, t), lambda t: captum_ig(ctx, t), texts)
    rows.append(
        ctx.row(
            SECTION,
            "ig default (adaptive GL, 4 pieces × 4 nodes, worst pieces halved) to ≤1e-3",
            adaptive_ms,
            within_tol=round(sum(ok for ok, _ in adaptive) / len(texts), 2),
            median_steps=statistics.median(n for _, n in adaptive),
            max_steps=max(n for _, n in adaptive),
            vs_captum_default=round(ratio, 2),
        )
    )
    for rule in RULES:
        needed, times, ratios = _steps_needed(ctx, rule)
        reached = [n for n in needed if n is not None]
        rows.append(
            ctx.row(
                SECTION,
                f"ig {rule}, uniform steps to ≤1e-3",
                statistics.median(times) if times else 0.0,
                within_tol=round(len(reached) / len(texts), 2),
                median_steps=statistics.median(reached) if reached else f">{LADDER[-1]}",
                max_steps=max(reached) if len(reached) == len(texts) else f">{LADDER[-1]}",
                vs_captum_default=round(statistics.median(ratios), 2) if ratios else "",
            )
        )

    for label, params in (("adaptive", {}), (f"{CAPTUM_STEPS} GL steps", {"steps": CAPTUM_STEPS, "adaptive": False})):
        every, _, ratio = _paired(
            lambda t, p=params: ours(ctx, t, target="all", **p), lambda t, p=params: ours(ctx, t, **p), texts
        )
        rows.append(ctx.row(SECTION, f"ig {label}: all 3 classes vs one", every, x_one_class=round(ratio, 2)))
    every, _, ratio = _paired(lambda t: captum_ig(ctx, t, target="all"), lambda t: captum_ig(ctx, t), texts)
    rows.append(ctx.row(SECTION, "captum LIG: all 3 classes vs one", every, x_one_class=round(ratio, 2)))
    oracle = [oracle_nodes(ctx, t) for t in texts]
    rows.append(
        ctx.row(
            SECTION,
            "floor: nodes with the integrand known in advance (per-token errors ≤ tolerance)",
            0.0,
            median_steps=statistics.median(oracle),
            max_steps=max(oracle),
        )
    )
    bound = statistics.median(backward_bound(ctx, t) for t in texts)
    rows.append(ctx.row(SECTION, "floor: fwd + 3 bwd ÷ fwd + 1 bwd, same 24 rows", 0.0, x_one_class=round(bound, 2)))

    targets = Targets("predicted", ctx.adapter)
    for name in ("layer-ig", "ca-lig"):
        method = get_method(name)
        ms, _, ratio = _paired(
            lambda t, m=method: m.attribute(ctx.adapter, ctx.adapter.encode([t]), targets),
            lambda t: captum_ig(ctx, t),
            texts,
        )
        rows.append(ctx.row(SECTION, f"{name} default (predicted)", ms, vs_captum_default=round(ratio, 2)))
    rows.extend(per_family(ctx))
    return rows


def per_family(ctx: Context) -> list[dict]:
    """ig default (adaptive, predicted class) on a random small model of every family: time and steps."""
    rows = []
    for family, own in family_contexts(ctx):
        steps = statistics.median(ours(own, t)[1] for t in own.texts)
        name = f"ig default [{family}, random 256×4]"
        rows.append(paired_row(own, SECTION, name, lambda t, own=own: ours(own, t), median_steps=steps))
    return rows
