"""Reading a labelling model's answers: a label and description (`parse_label`) and the texts a label was said to
describe (`parse_matches`). JSON is looked for first, plain text is read too; a reasoning model's `<think>` part
and markdown fences are skipped, and only the start of a long answer is read."""

from __future__ import annotations

import json
import re
from typing import Any

from trexplain.concepts.label_prompts import clean

MAX_LABEL_WORDS, MAX_LABEL_CHARS, MAX_DESCRIPTION_CHARS = 5, 60, 200
_SCAN_CHARS, _SCAN_TRIES = 20_000, 64  # how much of an answer, and how many openings, the JSON search reads
_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_WRAPPERS = {(c, c) for c in "\"'`*_"} | {("“", "”"), ("‘", "’"), ("«", "»")}
_THINKING = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)


def parse_label(answer: str) -> tuple[str, str]:
    """(label, description) from a model's answer (after any `<think>…</think>`): the first JSON object with a
    "label", else the first line (less a `Label:` prefix) and the next one. The label is cut to 5 words and 60
    characters, the description to one line of 200; control characters, quotes and markdown emphasis go."""
    text = _answer(answer)
    found = _first_json(text, lambda v: isinstance(v, dict) and any(str(k).lower() == "label" for k in v))
    if found is not None:
        fields = {str(k).lower(): v for k, v in found.items()}
        label, description = fields.get("label"), fields.get("description", "")
    else:
        lines = [clean(line) for line in text.splitlines() if clean(line)]
        label = _unprefix(lines[0], "label") if lines else ""
        rest = [_unprefix(line, "description") for line in lines[1:]]
        description = next((line for line in rest if line), "")
    return _short(_text(label), MAX_LABEL_CHARS, MAX_LABEL_WORDS), _short(_text(description), MAX_DESCRIPTION_CHARS)


def parse_matches(answer: str, count: int) -> tuple[set[int] | None, int]:
    """The 0-based indices of texts an answer lists (numbers 1..count, in the first JSON list, also one inside
    an object such as {"matches": [...]}) and how many listed items name no text; None when the answer has no
    list (a bare "none" is the empty list)."""
    text = _answer(answer)
    found = _first_json(
        text, lambda v: isinstance(v, list) or (isinstance(v, dict) and any(isinstance(x, list) for x in v.values()))
    )
    if found is None:
        return (set(), 0) if clean(text).lower().strip(".!") in ("none", "no", "nothing", "[]") else (None, 0)
    items = found if isinstance(found, list) else next(x for x in found.values() if isinstance(x, list))
    picked, invalid = set(), 0
    for item in items:
        number = item if isinstance(item, int) and not isinstance(item, bool) else _integer(item)
        if number is not None and 1 <= number <= count:
            picked.add(number - 1)
        else:
            invalid += 1
    return picked, invalid


def _answer(answer: str) -> str:
    """The part of an answer to parse: its first `_SCAN_CHARS` characters, less a reasoning model's
    `<think>…</think>` and a markdown code fence."""
    return _FENCE.sub("", _THINKING.sub("", answer[:_SCAN_CHARS]).strip())


def _first_json(text: str, accept: Any) -> Any:
    """The first JSON value starting at one of the first `_SCAN_TRIES` `{`/`[` of `text` that `accept`s."""
    decoder = json.JSONDecoder()
    for tries, found in enumerate(re.finditer(r"[\[{]", text)):
        if tries == _SCAN_TRIES:
            break
        try:
            value, _ = decoder.raw_decode(text, found.start())
        except (ValueError, RecursionError):
            continue
        if accept(value):
            return value
    return None


def _integer(item: Any) -> int | None:
    if isinstance(item, float) and item.is_integer():
        return int(item)
    if isinstance(item, str) and item.strip().isdigit() and len(item.strip()) < 10:
        return int(item.strip())
    return None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return ""


def _unprefix(line: str, name: str) -> str:
    """`line` less a leading `Label:` (also `**Label:**`, `- label :`)."""
    return re.sub(rf"^[\W_]*{name}\s*[*_]*\s*:[*_]*\s*", "", line, flags=re.IGNORECASE)


def _unwrap(text: str) -> str:
    """`text` less a markdown heading mark and the quotes or emphasis wrapping it whole (`**x**`, `"x"`)."""
    text = re.sub(r"^#+\s+", "", text)
    while len(text) >= 2 and (text[0], text[-1]) in _WRAPPERS:
        text = text[1:-1].strip()
    return text


def _short(text: str, max_chars: int, max_words: int | None = None) -> str:
    text = clean(text)
    if max_words is not None:  # a label: no closing punctuation (unless it is all there is)
        text = " ".join(_unwrap(text.rstrip(".,;:") or text).split()[:max_words])
        text = text.rstrip(".,;:") or text
    else:
        text = _unwrap(text)
    if len(text) > max_chars:
        cut = text[: max_chars - 1]
        text = (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"
    return text
