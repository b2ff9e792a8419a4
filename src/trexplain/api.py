"""`explain`: texts in, one `Explanation` per text and method out, batched."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from trexplain.diagnostics import Diagnostics
from trexplain.errors import InputError, TrexplainError
from trexplain.explanation import Explanation
from trexplain.methods.base import DEFAULT_METHOD, Attribution, Method, Targets, TargetSpec, get_method
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch
from trexplain.models.loading import load_model


def explain(
    texts: str | Sequence[str],
    model: ModelAdapter | str | None = None,
    method: str | Method = DEFAULT_METHOD,
    *,
    target: TargetSpec = "predicted",
    batch_size: int = 16,
    truncate: bool = False,
    progress: bool = False,
    **params: Any,
) -> list[Explanation]:
    """Explain each text with one method; `params` go to the method (e.g. `steps=32` for `ig`)."""
    adapter = model if isinstance(model, ModelAdapter) else load_model(model)
    chosen = get_method(method, **params)
    targets = Targets(target, adapter)
    texts = [texts] if isinstance(texts, str) else list(texts)
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    out: list[Explanation] = []
    for start in _progress(range(0, len(texts), batch_size), len(texts), batch_size, progress, chosen.name):
        batch = adapter.encode(texts[start : start + batch_size], truncate=truncate)
        began = time.perf_counter()
        result = chosen.attribute(adapter, batch, targets)
        seconds = (time.perf_counter() - began) / len(batch)
        out.extend(to_explanations(adapter, batch, result, chosen, seconds))
    return out


def explain_methods(
    texts: Sequence[str],
    adapter: ModelAdapter,
    methods: Sequence[str | Method],
    *,
    explicit: bool = True,
    target: TargetSpec = "predicted",
    params: Mapping[str, Mapping[str, Any]] | None = None,
    batch_size: int = 16,
    truncate: bool = False,
    progress: bool = False,
) -> tuple[dict[str, list[Explanation]], dict[str, str]]:
    """Each method's explanations of `texts` (by method name), and the methods left out with the reason.

    Methods the caller named (`explicit`) must all work: the first failure is raised. Otherwise (a default
    list) a method this model cannot run is left out and reported, not fatal. `params` maps method names to
    their parameters.
    """
    done: dict[str, list[Explanation]] = {}
    skipped: dict[str, str] = {}
    for method in methods:
        name = method if isinstance(method, str) else method.name
        try:
            done[name] = explain(
                texts,
                adapter,
                method,
                target=target,
                batch_size=batch_size,
                truncate=truncate,
                progress=progress,
                **(params or {}).get(name, {}),
            )
        except (TrexplainError, NotImplementedError) as exc:
            if explicit:
                raise
            skipped[name] = str(exc)
    return done, skipped


def to_explanations(
    adapter: ModelAdapter, batch: Batch, result: Attribution, method: Method, seconds: float | None = None
) -> list[Explanation]:
    """Split a batch `Attribution` into one `Explanation` per text (padding dropped)."""
    out = []
    params = {**method.params()}
    for row in range(len(batch)):
        n = batch.lengths[row]
        extra: dict[str, Any] = {}
        if seconds is not None:
            extra["seconds"] = round(seconds, 6)
        if batch.truncated[row]:
            extra["truncated_tokens"] = batch.truncated[row]
        diagnostics = (result.diagnostics[row] if result.diagnostics else Diagnostics()).with_values(**extra)
        layer = None if result.layer_scores is None else result.layer_scores[row, :, :, :n].detach().cpu().numpy()
        out.append(
            Explanation(
                layout=batch.layouts[row],
                labels=adapter.labels,
                logits=result.logits[row].detach().cpu().numpy(),
                targets=result.targets[row].tolist(),
                scores=result.scores[row, :, :n].detach().cpu().numpy(),
                method=method.name,
                model=adapter.name,
                params=params,
                diagnostics=diagnostics,
                layer_scores=layer,
            )
        )
    return out


def _progress(steps: range, total: int, batch_size: int, enabled: bool, label: str) -> Iterable[int]:
    if not enabled or total <= batch_size:
        yield from steps
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(f"{label}", total=total)
        for start in steps:
            yield start
            bar.update(task, advance=min(batch_size, total - start))
