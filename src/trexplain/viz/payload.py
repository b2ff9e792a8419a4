"""The data the HTML/JS renderer and the figures draw: explanations (plus optional attention and evaluation
dicts) as one JSON-ready dict, each input a text record (`trexplain.records`) with per-explanation entries.

Everything the HTML renderer and the matplotlib figures draw comes from this dict, so it is the one
place that decides what a report contains. Inputs are plain dicts where other packages produce them
(attention maps, evaluation results), so a report can be built from saved JSON as well as live runs.
"""

from __future__ import annotations

import base64
import math
import zlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from trexplain.diagnostics import IDENTITIES, IDENTITY_NAMES
from trexplain.errors import InputError
from trexplain.explanation import SCHEMA_VERSION, Explanation
from trexplain.records import text_record
from trexplain.version import __version__

if TYPE_CHECKING:
    from trexplain.evaluate.compare import Comparison

DIGITS = 6  # significant digits kept for scores: hover shows 4 decimals, the file stays small
ATTENTION_MAX_TOKENS = 512  # attention maps grow as tokens²; longer texts keep a note instead


def build_payload(
    per_text: Sequence[Sequence[Explanation]],
    *,
    title: str = "trexplain",
    model: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    methods: Mapping[str, Mapping[str, Any]] | None = None,
    attention: Sequence[Mapping[str, Any] | None] | None = None,
    evaluation: Sequence[Sequence[Mapping[str, Any]] | None] | None = None,
    summary: Mapping[str, Any] | None = None,
    sanity: Sequence[Mapping[str, Any]] | None = None,
    attention_max_tokens: int = ATTENTION_MAX_TOKENS,
) -> dict[str, Any]:
    """The report dict for explanations grouped per text.

    `attention[i]`: `{"tokens", "offsets", "attention": [L][H][T][T]}` for text i (or None);
    `evaluation[i]`: the evaluation dicts of text i's explanations (`method`, `target`, `curves`, AOPC ...);
    `summary`: `{"table": [...], "verdict": str}` over all texts; `model`: `{"name", "card", ...}`;
    `sanity`: one cascading-randomisation result per method (`SanityResult.to_dict()`).
    """
    if not per_text or any(not group for group in per_text):
        raise InputError("a report needs at least one explanation per text")
    for name, extra in (("attention", attention), ("evaluation", evaluation)):
        if extra is not None and len(extra) != len(per_text):
            raise InputError(f"{name} has {len(extra)} entries for {len(per_text)} texts; give one per text (or None)")
    first = per_text[0][0]
    texts = []
    for i, group in enumerate(per_text):
        entry = text_entry(group)
        if attention is not None and attention[i] is not None:
            entry["attention"] = attention_entry(attention[i], group[0], attention_max_tokens)
        if evaluation is not None and evaluation[i]:
            entry["evaluation"] = [_clean(e) for e in evaluation[i]]
        texts.append(entry)
    return {
        "schema_version": SCHEMA_VERSION,
        "version": __version__,
        "title": title,
        "model": _clean(dict(model or {"name": first.model})),
        "params": _clean(dict(params or {})),
        "methods": _clean({k: dict(v) for k, v in (methods or method_info(per_text)).items()}),
        "summary": _clean(dict(summary)) if summary else None,
        "sanity": [_clean(dict(check)) for check in sanity] if sanity else None,
        "identities": dict(IDENTITIES),
        "identity_names": dict(IDENTITY_NAMES),
        "texts": texts,
    }


def comparison_payload(comparison: Comparison, *, title: str) -> dict[str, Any]:
    """The report dict of `compare`: under `comparison.texts[i]`, text i's record per model (`entries`, in model
    order, each with every shown method's explanation) and per method each model's base value, the agreement
    with the first model and the colour `scale` all models share on this text (their largest |word score|).
    The flat `texts` list stays empty: the compare section (section-compare.js) draws the texts."""
    models, shown = comparison.models, list(comparison.by_method[0])
    groups = [[model[m][i] for m in shown] for i in range(len(comparison.texts)) for model in comparison.by_method]
    payload = build_payload(groups, title=title, model={"name": " vs ".join(models)})
    records, texts = payload["texts"], []
    for i, row in enumerate(comparison.texts):
        methods = [
            {**entry, "scale": _round(max(_word_peak(model[entry["method"]][i]) for model in comparison.by_method))}
            for entry in row["methods"]
        ]
        entries = records[i * len(models) : (i + 1) * len(models)]
        texts.append({"text": row["text"], "labels_agree": row["labels_agree"], "entries": entries, "methods": methods})
    return {**payload, "texts": [], "comparison": _clean({"models": models, "methods": shown, "texts": texts})}


def _word_peak(explanation: Explanation) -> float:
    """The largest |word score| of an explanation's first target (what its words are coloured up to)."""
    scores = explanation.word_scores(explanation.targets[0])
    return float(np.max(np.abs(scores))) if scores.size else 0.0


def text_entry(group: Sequence[Explanation]) -> dict[str, Any]:
    """One input: its text record with per-explanation entries, scores rounded to `DIGITS` significant digits."""
    entry = text_record(group, "explanation")
    for item in entry["explanations"]:
        item["scores"] = _round(item["scores"])
        if item["layer_scores"] is not None:
            item["layer_scores"] = _round(item["layer_scores"])
    entry["logits"], entry["probabilities"] = _round(entry["logits"]), _round(entry["probabilities"])
    return {**entry, "attention": None, "evaluation": None}


def attention_entry(data: Mapping[str, Any], explanation: Explanation, max_tokens: int) -> dict[str, Any]:
    """Attention [L][H][T][T] as one string per layer: uint8 (probability × 255, so values to 1/255),
    zlib-compressed, base64. Most weights of a long text round to 0, so this stays small: the demo model
    (6 layers × 12 heads) takes about 0.1 MB for a 50-token text, 0.4 MB at 150 tokens and 2.4 MB at 512 tokens
    (18.9 MB uncompressed)."""
    weights = np.asarray(data["attention"], dtype=np.float32)
    if weights.ndim != 4 or weights.shape[2] != weights.shape[3]:
        raise InputError(f"attention must be [layers][heads][tokens][tokens], got shape {list(weights.shape)}")
    tokens = list(data.get("tokens", explanation.tokens))
    if len(tokens) != weights.shape[2]:
        raise InputError(f"attention covers {weights.shape[2]} tokens but lists {len(tokens)} token strings")
    layers, heads, size, _ = weights.shape
    if size > max_tokens:
        return {"skipped": f"{size} tokens: attention maps are kept for texts of at most {max_tokens} tokens"}
    quantized = np.clip(np.rint(weights * 255), 0, 255).astype(np.uint8)
    return {
        "layers": layers,
        "heads": heads,
        "size": size,
        "tokens": tokens,
        "data": [
            base64.b64encode(zlib.compress(quantized[layer].tobytes())).decode("ascii") for layer in range(layers)
        ],
    }


def decode_attention(entry: Mapping[str, Any]) -> np.ndarray:
    """The [L, H, T, T] probabilities back from `attention_entry` (to 1/255)."""
    layers, heads, size = entry["layers"], entry["heads"], entry["size"]
    raw = [np.frombuffer(zlib.decompress(base64.b64decode(d)), dtype=np.uint8) for d in entry["data"]]
    return np.stack(raw).reshape(layers, heads, size, size).astype(np.float32) / 255


def method_info(per_text: Sequence[Sequence[Explanation]]) -> dict[str, dict[str, Any]]:
    """Summary, signedness, meanings of its diagnostics and (for methods with per-layer rows) layer site of every
    method used, from the cards the explanations carry (no registry: a user's own method shows the same)."""
    info: dict[str, dict[str, Any]] = {}
    for e in (e for group in per_text for e in group):
        if e.method in info:
            continue
        card = e.card
        info[e.method] = {"summary": card.summary, "signed": card.signed, "meanings": dict(card.meanings)}
        if card.layer_site:
            info[e.method]["layer_site"] = card.layer_site
    return info


def model_info(adapter: Any) -> dict[str, Any]:
    """Name, family, labels, size and model card of an adapter, as plain strings and numbers."""
    config = getattr(adapter, "config", None)
    info: dict[str, Any] = {
        "name": adapter.name,
        "family": getattr(getattr(adapter, "family", None), "name", ""),
        "labels": list(adapter.labels),
        "layers": len(getattr(adapter, "layers", []) or []),
        "max_length": getattr(adapter, "max_length", None),
        "card": adapter.card or "",
    }
    if config is not None:
        info["architecture"] = ", ".join(getattr(config, "architectures", None) or [type(adapter.model).__name__])
    model = getattr(adapter, "model", None)
    if model is not None:
        info["parameters"] = int(sum(p.numel() for p in model.parameters()))
    return info


def _round(values: Any) -> Any:
    array = np.asarray(values, dtype=np.float64)
    rounded = [float(f"{v:.{DIGITS}g}") if math.isfinite(v) else None for v in array.ravel().tolist()]
    return np.array(rounded, dtype=object).reshape(array.shape).tolist() if array.ndim else rounded[0]


def _clean(value: Any) -> Any:
    """JSON-safe copy: numpy to lists, non-finite floats to None (JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, np.generic):
        return _clean(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "tolist"):
        return _clean(value.tolist())
    return value
