"""`Explanation` → `shap.Explanation`, so shap's own plots (`shap.plots.text`, `bar`, `waterfall`) show trexplain's
scores: values per word (or token), base values where the method's identity gives them, data as text pieces."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from trexplain.errors import InputError
from trexplain.layout import TextLayout


def to_shap(explanation: Any, level: Literal["word", "token"] = "word") -> Any:
    """A `shap.Explanation` of `explanation`: values [features] for one target, [features, targets] for several.

    base_values: logit − the identity's expected total (IG: f(baseline); KernelSHAP: f(nothing kept); LRP: the
    logit share not conserved), so that base + Σ values ≈ the logit; None for methods without an identity.
    data: for text, the pieces of the text each word (token) starts, so that joining them gives the text again
    (what `shap.plots.text` shows); output_names: the target labels.
    """
    try:
        import shap
    except ImportError as exc:
        raise InputError("to_shap needs shap: pip install 'trexplain[shap]'") from exc
    if level not in ("word", "token"):
        raise InputError(f"level must be 'word' or 'token', got {level!r}")
    e = explanation
    if level == "word":
        values = np.stack([e.word_scores(t) for t in e.targets], axis=-1)
        names = e.word_texts()
        spans = e.layout.words if isinstance(e.layout, TextLayout) else None
    else:
        values = np.asarray(e.scores).T
        names = e.layout.position_labels()
        spans = e.layout.offsets if isinstance(e.layout, TextLayout) else None
    data = names if spans is None else _pieces(e.layout.text, spans)
    base = _base_values(e)
    single = len(e.targets) == 1
    return shap.Explanation(
        values=values[:, 0] if single else values,
        base_values=None if base is None else (base[0] if single else base),
        data=np.array(data, dtype=object),
        feature_names=list(names),
        output_names=[e.labels[t] for t in e.targets],
    )


def _base_values(explanation: Any) -> np.ndarray | None:
    """Per target: the logit minus the identity's expected total, or None without an identity."""
    identity = explanation.diagnostics.get("identity")
    if not identity or "expected" not in identity:
        return None
    logits = np.asarray([explanation.logits[t] for t in explanation.targets], dtype=np.float64)
    return logits - np.asarray(identity["expected"], dtype=np.float64)


def _pieces(text: str, spans: Any) -> list[str]:
    """The text from each span's start to the next span's start (the first from the text's start, the last to
    its end), so the pieces join back to the text; an empty span (a special token) gives ''."""
    starts = [s for s, e in spans if e > s]
    bounds = iter([*starts[1:], len(text)])
    pieces, first = [], True
    for start, end in spans:
        if end <= start:
            pieces.append("")
            continue
        stop = next(bounds)
        pieces.append(text[0 if first else start : stop])
        first = False
    return pieces
