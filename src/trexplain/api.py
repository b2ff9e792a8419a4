"""`explain`: texts in, one `Explanation` per text and method out, batched; every argument checked first."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from os import PathLike
from typing import Any

import numpy as np

from trexplain import checks
from trexplain.diagnostics import Diagnostics
from trexplain.errors import InputError, MethodError, TrexplainError
from trexplain.explanation import Explanation
from trexplain.interop.pipelines import is_pipeline
from trexplain.methods.base import (
    DEFAULT_METHOD,
    Attribution,
    Method,
    Targets,
    TargetSpec,
    short_repr,
    type_name,
)
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch
from trexplain.models.contrast import contrast_view
from trexplain.models.devices import method_precision
from trexplain.models.heads import SINGLE_LABEL
from trexplain.models.images import read_images
from trexplain.models.loading import load_model
from trexplain.models.protocol import Adapter
from trexplain.models.windows import split
from trexplain.progress import shown, stage


def explain(
    texts: str | Sequence[str | tuple[str, str]] | None = None,
    model: ModelAdapter | str | PathLike[str] | None = None,
    method: str | Method | Sequence[str | Method] = DEFAULT_METHOD,
    *,
    params: Mapping[str, Any] | None = None,
    images: Any = None,
    target: TargetSpec = "predicted",
    batch_size: int = 16,
    truncate: bool = False,
    progress: bool = False,
    pairs: Sequence[tuple[str, str]] | None = None,
    windows: bool = False,
    stride: int | None = None,
    contrast: Any = None,
    **unexpected: Any,
) -> list[Explanation]:
    """Explain each text with one method, or several; `params` go to the method (e.g. `params={"steps": 32}` for
    `ig`), never mixed with explain's own arguments, so a method parameter named `batch_size` or `method` works.

    `pairs=[(premise, hypothesis), ...]` explains sentence pairs instead (as does a `(first, second)` tuple among
    `texts`): encoded as the tokenizer encodes pairs, shown as one text with both segments (`TextLayout.segments`).

    `windows=True` explains each text in overlapping windows the model accepts (`stride` tokens apart, default half
    a window; `trexplain.models.windows`): token scores are the mean over the windows containing the token, the
    logits the mean of the windows' logits; the windows and their logits are recorded in the diagnostics.

    With a list of methods the result is text-major, as `study` orders it: every method (in the order given)
    for the first text, then for the second, ...; give their parameters as instances (`get_method("ig", steps=32)`).
    Any other keyword is a MethodError pointing to `params=` (see docs/parameters.md).
    Every argument is checked before the model loads or any work starts; a bad one is a typed error.
    `images` (instead of texts): image files, arrays (H×W×C uint8, or floats in [0, 1]), tensors or PIL
    images, for an image classifier (default model: the bundled `vit-demo`); see docs/vision.md.
    """
    if unexpected:
        raise MethodError(
            f"explain() has no argument {', '.join(map(repr, unexpected))}; give method parameters as "
            f"params={dict(unexpected)!r} (one method) or get_method(name, **parameters)"
        )
    if images is not None and (texts is not None or pairs is not None):
        raise InputError("give texts (or pairs) or images, not both")
    if images is not None and windows:
        raise InputError("windows split long texts; an image is resized to the model's input instead")
    if pairs is not None:
        if texts is not None:
            raise InputError("give texts or pairs=, not both; a pair can also be a (first, second) tuple in texts")
        texts = _pairs(pairs)
    items: list[Any] = _texts(texts) if images is None else read_images(images)
    if images is not None and model is None:
        model = "vit-demo"
    chosen = _methods(method, params)
    batch_size = checks.whole(batch_size, "batch_size", least=1)
    for option, value in (("truncate", truncate), ("progress", progress)):
        checks.flag(value, option)
    stride = windowing(windows, stride, truncate)
    target = checks.target(target)  # its types, before the model loads; Targets resolves the labels after
    adapter = adapter_of(model)
    if (adapter.modality.kind == "image") != (images is not None):
        kind = "an image classifier: pass images=[...]" if images is None else "a text model: pass texts"
        raise InputError(f"{adapter.name} is {kind}")
    adapter, target = contrast_view(adapter, target, contrast)  # "A-B" / contrast=(A, B): logit A − logit B
    targets = Targets(target, adapter)
    with shown(progress), method_precision(adapter, chosen):  # gradient methods in float32
        if windows:
            runs = [_explain_windows(items, adapter, m, target, batch_size, stride) for m in chosen]
        else:
            runs = [_explain_one(items, adapter, m, targets, batch_size, truncate) for m in chosen]
    return [run[i] for i in range(len(items)) for run in runs]


def _texts(texts: object) -> list[str]:
    """The texts as a list of strings; None, bytes, a mapping, a set, a non-string or bad Unicode: InputError."""
    if isinstance(texts, str):
        return [texts]
    if texts is None:
        raise InputError("no text given (None); pass a string or a list of strings")
    if isinstance(texts, (bytes, bytearray)):
        raise InputError("texts are bytes, not a string; decode them first, e.g. data.decode('utf-8')")
    if isinstance(texts, (Mapping, AbstractSet)) or not isinstance(texts, Iterable):
        raise InputError(f"texts must be a string or a list of strings, got {type_name(texts)}")
    items = list(texts)
    if not items:
        raise InputError("no text given (an empty list); pass at least one string")
    for i, text in enumerate(items):
        if isinstance(text, tuple) and len(text) == 2 and all(isinstance(t, str) for t in text):
            _texts(list(text))  # a sentence pair: each of its texts checked as a text
            continue
        if not isinstance(text, str):
            fix = "decode it first" if isinstance(text, (bytes, bytearray)) else "pass strings only"
            raise InputError(f"text {i} is {type_name(text)} ({short_repr(text)}), not a string; {fix}")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InputError(
                f"text {i} has a lone surrogate {text[exc.start]!r} at character {exc.start}, which is not valid "
                "Unicode; repair it, e.g. text.encode('utf-8', 'replace').decode()"
            ) from None
    return items


def _pairs(pairs: object) -> list[tuple[str, str]]:
    """`pairs` as a list of (first, second) string tuples; anything else is an InputError saying what a pair is."""
    if isinstance(pairs, (str, bytes, Mapping, AbstractSet)) or not isinstance(pairs, Iterable):
        raise InputError(f"pairs must be a list of (first, second) text tuples, got {type_name(pairs)}")
    items = list(pairs)
    if not items:
        raise InputError("no pair given (an empty list); pass at least one (first, second) tuple")
    for i, pair in enumerate(items):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise InputError(f"pair {i} is {type_name(pair)} ({short_repr(pair)}), not a (first, second) tuple")
    return [tuple(pair) for pair in items]


def _methods(method: object, params: object) -> list[Method]:
    """The method instances to run: one by name or instance with `params`, or a list of names and instances."""
    chosen = checks.method_names(method)
    given = checks.method_params(params)
    if given and len(chosen) > 1:
        raise MethodError(
            f"with several methods, give parameters per method, e.g. [get_method('ig', steps=32), 'lime']; "
            f"got {', '.join(given)} for all of them"
        )
    first = chosen[0].name if isinstance(chosen[0], Method) else chosen[0]
    return checks.methods(chosen, {first: given} if given else None)


def windowing(windows: object, stride: object, truncate: object) -> int | None:
    """The checked `stride` of windowed explanation (None: half a window); `stride` needs `windows`."""
    checks.flag(windows, "windows")
    if stride is not None and not windows:
        raise InputError("stride sets the step between windows; pass windows=True (CLI: --windows) too")
    if windows and truncate:
        raise InputError("windows and truncate are two ways to handle long texts; choose one")
    return checks.optional_whole(stride, "stride", least=1)


def adapter_of(model: object) -> ModelAdapter:
    """The adapter a `model` argument names: itself, or `load_model` of a checked source (None: the demo)."""
    if isinstance(model, ModelAdapter):
        return model
    if is_pipeline(model):
        return load_model(model)
    return load_model(checks.model_source(model, adapters=True))


def _explain_one(
    texts: list[Any],
    adapter: ModelAdapter,
    method: Method,
    targets: Targets,
    batch_size: int,
    truncate: bool,
) -> list[Explanation]:
    out: list[Explanation] = []
    with stage(f"explaining with {method.name}", total=len(texts)) as advance:
        for start in range(0, len(texts), batch_size):
            batch = adapter.encode(texts[start : start + batch_size], truncate=truncate)
            began = time.perf_counter()
            result = method.attribute(adapter, batch, targets)
            seconds = (time.perf_counter() - began) / len(batch)
            out.extend(to_explanations(adapter, batch, result, method, seconds))
            advance(len(batch))
    return out


def _explain_windows(
    texts: list[str], adapter: ModelAdapter, method: Method, target: TargetSpec, batch_size: int, stride: int | None
) -> list[Explanation]:
    """Each text explained in windows (see `explain`): the target is chosen on the mean logits of its windows."""
    out: list[Explanation] = []
    with stage(f"explaining with {method.name} in windows", total=len(texts)) as advance:
        for text in texts:
            parts = split(adapter, text, stride)
            began = time.perf_counter()
            window_logits = adapter.logits(parts.batch.inputs, batch_size=batch_size).double().cpu()
            chosen = Targets(target, adapter)(window_logits.mean(0, keepdim=True))[0].tolist()
            fixed = Targets(chosen, adapter)
            rows = range(len(parts.batch))
            results = [
                method.attribute(adapter, parts.batch.rows(list(rows[start : start + batch_size])), fixed)
                for start in rows[::batch_size]
            ]
            scores = parts.combine(np.concatenate([r.scores.detach().cpu().double().numpy() for r in results]))
            layers = None
            if results[0].layer_scores is not None:
                layers = parts.combine(
                    np.concatenate([r.layer_scores.detach().cpu().double().numpy() for r in results])
                )
            values: dict[str, Any] = {
                "windows": len(parts.starts),
                "window_stride": parts.stride,
                "window_starts": parts.starts,
                "window_chars": parts.start_chars(),
                "window_logits": window_logits.tolist(),
                "seconds": round(time.perf_counter() - began, 6),
            }
            values |= model_values(adapter)
            own = results[0].diagnostics[0] if len(parts.starts) == 1 and results[0].diagnostics else Diagnostics()
            out.append(
                Explanation(
                    layout=parts.layout,
                    labels=adapter.labels,
                    logits=window_logits.mean(0).numpy(),
                    targets=chosen,
                    scores=scores,
                    method=method.name,
                    model=adapter.name,
                    model_revision=getattr(adapter, "model_revision", None),
                    params={**method.params()},
                    diagnostics=own.with_values(**values),
                    layer_scores=layers,
                )
            )
            advance(1)
    return out


def explain_methods(
    texts: Sequence[Any],
    adapter: Adapter,
    methods: Sequence[str | Method],
    *,
    explicit: bool = True,
    target: TargetSpec = "predicted",
    params: Mapping[str, Mapping[str, Any]] | None = None,
    batch_size: int = 16,
    truncate: bool = False,
    progress: bool = False,
    windows: bool = False,
    stride: int | None = None,
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
        inputs = {"images": texts} if adapter.modality.kind == "image" else {"texts": texts}
        try:
            done[name] = explain(
                model=adapter,
                method=method,
                target=target,
                batch_size=batch_size,
                truncate=truncate,
                progress=progress,
                **({"windows": True, "stride": stride} if windows else {}),
                params=(params or {}).get(name),
                **inputs,
            )
        except (TrexplainError, NotImplementedError) as exc:
            if explicit:
                raise
            skipped[name] = str(exc)
    return done, skipped


def model_values(adapter: Any) -> dict[str, Any]:
    """What every explanation records of the model itself: its head when not single-label, a decoder's pad token."""
    values: dict[str, Any] = {}
    if getattr(adapter, "problem", SINGLE_LABEL) != SINGLE_LABEL:
        values["head"] = adapter.problem
    if getattr(adapter, "pad_record", None):
        values["pad_token"] = adapter.pad_record
    return values


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
        extra |= model_values(adapter)
        diagnostics = (result.diagnostics[row] if result.diagnostics else Diagnostics()).with_values(**extra)
        layer = (
            None if result.layer_scores is None else result.layer_scores[row, :, :, :n].detach().cpu().float().numpy()
        )
        out.append(
            Explanation(
                layout=batch.layouts[row],
                labels=adapter.labels,
                logits=result.logits[row].detach().cpu().float().numpy(),
                targets=result.targets[row].tolist(),
                scores=result.scores[row, :, :n].detach().cpu().float().numpy(),
                method=method.name,
                model=adapter.name,
                model_revision=getattr(adapter, "model_revision", None),
                params=params,
                diagnostics=diagnostics,
                layer_scores=layer,
            )
        )
    return out
