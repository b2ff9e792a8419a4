"""Scores made elsewhere (captum, ferret, a notebook) as Explanations, so the same evaluation code scores them.

A record is a JSON object with `text` and either
- `tokens` + `scores` (one float per token; optional `offsets` [[start, end], ...] into the text), or
- `words` + `scores` (words as strings), or `words` as objects `{"text", "score"[, "start", "end"]}`;
plus optional `method` (default: the file name), `target` (label or index; default: the predicted class),
`seconds` (time it took) and `diagnostics` (e.g. `{"completeness_error": 0.01}`, kept as is). Scores, and the
diagnostics an identity check is read from, must be finite numbers: NaN or inf is an error naming the entry. A record
with an `explanations` list (what `trexplain explain --json/--jsonl` writes) contributes each entry.
Files: `.jsonl` (one record per line) or `.json` (a record or a list).

Scores are re-aligned to this model's tokenization by character spans: identical token lists map
directly; otherwise each external token or word is located in the text (case-insensitively, in order,
subword markers `##`, `Ġ`, `▁` stripped) and its score is shared evenly by the tokens it overlaps. A
token or word that cannot be found is an error naming it.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from trexplain.diagnostics import IDENTITY
from trexplain.errors import InputError, TargetError
from trexplain.explanation import Explanation
from trexplain.inputs import read_text
from trexplain.methods.base import target_index
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch

MARKERS = re.compile(r"^(##|Ġ|▁|Ċ)+")
SPECIAL = re.compile(r"^(\[[A-Z]+\]|<[a-z/]+>)$")
# Diagnostics an identity check is read from (see `trexplain.diagnostics._legacy_identity`), besides `identity`.
IDENTITY_KEYS: tuple[str, ...] = ("completeness_error", "efficiency_error", "relevance_sum", "logit")


def load_scores(path: str | Path, adapter: ModelAdapter, *, method: str | None = None) -> list[Explanation]:
    """Explanations of the records in a `.json` or `.jsonl` file, aligned to `adapter`'s tokens."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    content = read_text(path)
    try:
        if path.suffix.lower() == ".jsonl":
            records = [json.loads(line) for line in content.split("\n") if line.strip()]
        else:
            data = json.loads(content)
            records = data if isinstance(data, list) else [data]
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    return explanations_from_records(records, adapter, method=method or path.stem)


def explanations_from_records(
    records: Iterable[Mapping[str, Any]], adapter: ModelAdapter, *, method: str = "external"
) -> list[Explanation]:
    """Explanations of already parsed records (see the module doc for the fields)."""
    flat = list(_flatten(records))
    if not flat:
        raise InputError("no score records found")
    texts = list(dict.fromkeys(r["text"] for _, r in flat))
    batch = adapter.encode(texts, truncate=True)
    logits = adapter.logits(batch.inputs).cpu()
    row_of = {text: row for row, text in enumerate(texts)}
    out = []
    for number, record in flat:
        row = row_of[record["text"]]
        try:
            scores = _align(record, batch, row)
            target = record.get("target")
            target = int(logits[row].argmax()) if target is None else target_index(target, adapter)
            diagnostics = _diagnostics(record)
        except (InputError, TargetError) as exc:
            raise type(exc)(f"record {number}: {exc}") from exc
        out.append(
            Explanation(
                layout=batch.layouts[row],
                labels=adapter.labels,
                logits=logits[row].numpy(),
                targets=(target,),
                scores=scores.unsqueeze(0).numpy(),
                method=str(record.get("method") or method),
                model=adapter.name,
                params={"source": "external"},
                diagnostics=diagnostics,
            )
        )
    return out


def _flatten(records: Iterable[Mapping[str, Any]]) -> Iterable[tuple[int, Mapping[str, Any]]]:
    for number, record in enumerate(records, start=1):
        if not isinstance(record, Mapping) or not isinstance(record.get("text"), str):
            raise InputError(f"record {number}: needs a string field 'text'")
        if isinstance(record.get("explanations"), list):
            for entry in record["explanations"]:
                yield number, {**entry, "text": record["text"]}
        else:
            yield number, record


def _align(record: Mapping[str, Any], batch: Batch, row: int) -> torch.Tensor:
    """Token scores over this model's tokens of text `row`."""
    text, n = record["text"], batch.lengths[row]
    if "tokens" in record and not isinstance(record.get("scores"), Sequence):
        raise InputError("'tokens' needs a 'scores' list of the same length")
    if "tokens" in record:
        tokens = list(record["tokens"])
        scores = _floats(record["scores"], tokens, "token")
        ours = batch.tokens[row]
        movable = [t for t, special in enumerate(batch.special_mask[row, :n].tolist()) if not special]
        out = torch.zeros(n, dtype=torch.float64)
        if tokens == ours:
            return torch.tensor(scores, dtype=torch.float64)
        if tokens == [ours[t] for t in movable]:
            out[movable] = torch.tensor(scores, dtype=torch.float64)
            return out
        spans = record.get("offsets") or _locate(text, tokens, "token")
        return _spread(text, spans, scores, batch, row)
    if "words" in record:
        words = list(record["words"])
        if words and isinstance(words[0], Mapping):
            scores = _floats([w.get("score") for w in words], [w.get("text") for w in words], "word")
            spans = (
                [(int(w["start"]), int(w["end"])) for w in words]
                if all("start" in w and "end" in w for w in words)
                else _locate(text, [str(w.get("text", "")) for w in words], "word")
            )
        else:
            scores = _floats(record.get("scores"), words, "word")
            spans = _locate(text, [str(w) for w in words], "word")
        return _spread(text, spans, scores, batch, row)
    raise InputError("needs 'tokens' + 'scores' or 'words' (+ 'scores')")


def _floats(values: Any, names: Sequence[Any], what: str) -> list[float]:
    """One finite number per entry of `what` (`names`: the entries, to name a bad one)."""
    if not isinstance(values, Sequence) or isinstance(values, str) or len(values) != len(names):
        raise InputError(f"'scores' must be a list of {len(names)} numbers, one per entry of '{what}'")
    for i, (value, name) in enumerate(zip(values, names, strict=True)):
        if not _finite(value):
            raise InputError(
                f"'scores' entry {i} ({what} {name!r}) is {value!r}; every score must be a finite number "
                "(one target per record; NaN or inf cannot be ranked)"
            )
    return [float(v) for v in values]


def _finite(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _diagnostics(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record's diagnostics and `seconds`; the values an identity check is read from must be finite numbers,
    so a NaN or infinite error can never look like the best one."""
    given = record.get("diagnostics") or {}
    if not isinstance(given, Mapping):
        raise InputError("'diagnostics' must be an object, e.g. {\"completeness_error\": 0.01}")
    checked = {key: given[key] for key in IDENTITY_KEYS if key in given}
    identity = given.get(IDENTITY)
    if isinstance(identity, Mapping):
        checked |= {
            f"{IDENTITY}.{key}": identity[key]
            for key in ("error", "total", "expected")
            if identity.get(key) is not None
        }
    for key, value in checked.items():
        for v in value if isinstance(value, list) else [value]:
            if not _finite(v):
                raise InputError(
                    f"diagnostics {key!r} holds {v!r}; give finite numbers (a NaN or infinite error cannot be "
                    "compared) or leave it out"
                )
    out = dict(given)
    if record.get("seconds") is not None:
        seconds = record["seconds"]
        if not (_finite(seconds) and seconds >= 0):
            raise InputError(f"'seconds' must be a non-negative number, got {seconds!r}")
        out["seconds"] = float(seconds)
    return out


def _locate(text: str, pieces: Sequence[str], what: str) -> list[tuple[int, int] | None]:
    """Character span of each piece, found in order; special-token look-alikes and empty pieces get None."""
    lowered, cursor, spans = text.lower(), 0, []
    for i, piece in enumerate(pieces):
        clean = MARKERS.sub("", piece).strip()
        if not clean or (what == "token" and SPECIAL.match(clean)):
            spans.append(None)
            continue
        start = lowered.find(clean.lower(), cursor)
        if start < 0:
            raise InputError(
                f"{what} {i} {piece!r} not found in the text after character {cursor}; the scores do not match "
                "this text (give 'offsets', or 'words' instead of byte-level tokens)"
            )
        spans.append((start, start + len(clean)))
        cursor = start + len(clean)
    return spans


def _spread(
    text: str, spans: Sequence[Sequence[int] | None], scores: list[float], batch: Batch, row: int
) -> torch.Tensor:
    """Each span's score shared evenly by this model's non-special tokens that overlap it."""
    n = batch.lengths[row]
    special = batch.special_mask[row, :n].tolist()
    ours = [(s, e) if not special[t] and e > s else (0, 0) for t, (s, e) in enumerate(batch.offsets[row])]
    out = torch.zeros(n, dtype=torch.float64)
    if len(spans) != len(scores):
        raise InputError(f"{len(spans)} offsets for {len(scores)} scores")
    for i, (span, score) in enumerate(zip(spans, scores, strict=True)):
        if span is None or span[1] <= span[0]:
            continue
        start, end = int(span[0]), int(span[1])
        hit = [t for t, (s, e) in enumerate(ours) if e > s and s < end and e > start]
        if not hit:
            raise InputError(f"entry {i} (characters {start}:{end}, {text[start:end]!r}) covers no token of this model")
        out[hit] += score / len(hit)
    return out
