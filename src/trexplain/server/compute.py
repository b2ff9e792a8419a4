"""Library calls behind each route, returning JSON-ready dicts: explanations in the records of `explain --json`
(`Study.to_dict`) or, for the page, the report payload (`viz.payload.build_payload`) the shared renderer draws.

Everything here runs in a worker thread (`jobs.Jobs`) under the model's lock (`adapter.session()`), so calls on
one model never interleave; the attention maps go out as aggregates first (mean and max over heads per block,
and max-pooled thumbnails of every head), one block's full per-head maps on request.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from trexplain.errors import InputError
from trexplain.server.models import ServedModel
from trexplain.study import Study, StudyOptions, run_study
from trexplain.viz.payload import ATTENTION_MAX_TOKENS, build_payload, model_info

THUMB = 52  # px per head thumbnail in the report's overview (report.js THUMB)


def served_study(served: ServedModel, texts: Sequence[str], options: StudyOptions) -> Study:
    """`study` on the served model with its checked `options`, holding the model's lock throughout."""
    with served.adapter.session():
        return run_study(list(texts), served.adapter, options)


def study_json(result: Study, served: ServedModel, form: str, title: str | None = None) -> dict[str, Any]:
    """`Study.to_dict()` (form "records": the schema of `explain --json`), or the report payload ("report")."""
    if form == "records":
        return result.to_dict()
    if form != "report":
        raise InputError(f"unknown format {form!r}; use 'records' or 'report'")
    evaluation, summary = None, None
    if result.table is not None:
        from trexplain.report.run import evaluation_per_text

        evaluation = evaluation_per_text(result.table, result.per_input)
        summary = {"table": result.table.rows, "verdict": result.table.verdict}
    payload = build_payload(
        result.per_input,
        title=title or f"trexplain · {served.name}",
        model=model_info(served.adapter),
        params={"methods": result.methods, "skipped": result.skipped}
        if result.skipped
        else {"methods": result.methods},
        evaluation=evaluation,
        summary=summary,
        sanity=[check.to_dict() for check in result.sanity] or None,
    )
    return payload


def table_rows(result: Study, method: str) -> list[dict[str, Any]]:
    """One row per text: prediction, confidence and the faithfulness (AOPC comprehensiveness, sufficiency) of
    `method`'s explanation of the predicted class."""
    from trexplain.report.run import evaluation_per_text

    per_text = evaluation_per_text(result.table, result.per_input) if result.table is not None else None
    rows = []
    for i, group in enumerate(result.per_input):
        first = group[0]
        found = [e for e in (per_text[i] if per_text else []) if e.get("method") == method]
        rows.append(
            {
                "index": i,
                "text": first.text,
                "predicted": first.predicted_label,
                "confidence": float(first.probabilities[first.predicted]),
                "comprehensiveness": found[0].get("aopc_comprehensiveness") if found else None,
                "sufficiency": found[0].get("aopc_sufficiency") if found else None,
            }
        )
    return rows


def _pack(array: np.ndarray) -> str:
    """Probabilities as uint8 (× 255), zlib-compressed, base64: the report's attention encoding (uint8 kept)."""
    quantized = array if array.dtype == np.uint8 else np.clip(np.rint(array * 255), 0, 255).astype(np.uint8)
    return base64.b64encode(zlib.compress(quantized.tobytes(), 1)).decode("ascii")


def _pool(weights: np.ndarray, size: int) -> np.ndarray:
    """Max-pool the last two axes from n to `size` buckets the way report.js does (bucket of i: i·size // n)."""
    n = weights.shape[-1]
    starts = np.searchsorted((np.arange(n) * size) // n, np.arange(size))
    return np.maximum.reduceat(np.maximum.reduceat(weights, starts, axis=-1), starts, axis=-2)


@torch.no_grad()
def attention_stack(served: ServedModel, text: str) -> tuple[Any, np.ndarray]:
    """(the text's batch, attention [L, H, T, T] as float32) under the model's lock."""
    adapter = served.adapter
    with adapter.session():
        batch = adapter.encode([text])
        _, attentions = adapter.attention_probabilities(batch.inputs)
    n = batch.lengths[0]
    stacked = torch.stack([a.float() for a in attentions], dim=1)[0, :, :, :n, :n].cpu().numpy()
    return batch, stacked


def attention_summary(served: ServedModel, text: str) -> dict[str, Any]:
    """The aggregates of a text's attention: per block the mean and max over heads ([T, T] each) and every head
    max-pooled to at most THUMB × THUMB; report.js draws the overview from these and asks for a block's heads."""
    batch, weights = attention_stack(served, text)
    layers, heads, size, _ = weights.shape
    if size > ATTENTION_MAX_TOKENS:
        return {"skipped": f"{size} tokens: attention maps are shown for texts of at most {ATTENTION_MAX_TOKENS}"}
    thumb = min(size, THUMB)
    quantized = np.clip(np.rint(weights * 255), 0, 255).astype(np.uint8)  # max and pooling commute with rounding
    return {
        "layers": layers,
        "heads": heads,
        "size": size,
        "tokens": list(batch.tokens[0]),
        "offsets": [list(o) for o in batch.offsets[0]],
        "lazy": True,
        "mean": [_pack(weights[layer].mean(axis=0)) for layer in range(layers)],
        "max": [_pack(quantized[layer].max(axis=0)) for layer in range(layers)],
        "thumb": thumb,
        "thumbs": [_pack(_pool(quantized[layer], thumb)) for layer in range(layers)],
    }


def attention_layer(served: ServedModel, text: str, layer: int) -> dict[str, Any]:
    """One block's per-head maps [H, T, T] in the report's encoding (`viz.payload.attention_entry`'s `data[l]`)."""
    _, weights = attention_stack(served, text)
    if not -weights.shape[0] <= layer < weights.shape[0]:
        raise InputError(f"block {layer} does not exist; this model has blocks 0 to {weights.shape[0] - 1}")
    layer %= weights.shape[0]
    return {"layer": layer, "heads": weights.shape[1], "size": weights.shape[2], "data": _pack(weights[layer])}


def neighbours_json(served: ServedModel, text: str, token: int | str, layer: int, k: int) -> dict[str, Any]:
    from trexplain.inspect.neighbours import neighbours

    if served.index is None:
        raise InputError(f"no corpus index is served for {served.name}; start serve with --index DIR")
    with served.adapter.session():
        return neighbours(served.adapter, served.index, text, token, layer, k).to_dict()


def masked_json(served: ServedModel, text: str, word: str | None, k: int) -> dict[str, Any]:
    from trexplain.inspect.masked_layers import NEIGHBOURS_HINT, NoMaskedLMHeadError, layer_predictions

    if served.masked is None:
        raise NoMaskedLMHeadError(f"{served.name} has no masked-LM head; {NEIGHBOURS_HINT}")
    with served.adapter.session():
        return layer_predictions(served.masked, text, word, k).to_dict()
