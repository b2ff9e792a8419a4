"""Group subword tokens into words using character offsets, the same way for every tokenizer.

A word is a run of word characters (contractions such as "can't" included) or a run of punctuation
in the original text. Tokens are assigned by the characters they cover, so WordPiece `##`,
SentencePiece `▁` and byte-level BPE `Ġ` pieces all roll up alike; if a token straddles two such
runs, the runs merge into one word, so that every token belongs to exactly one word.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

WORD_PATTERN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]+")


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def group_words(
    text: str, offsets: Sequence[tuple[int, int]], special: Sequence[bool]
) -> tuple[list[int], list[tuple[int, int]]]:
    """Word index of every token (-1 for special tokens) and the character span of every word."""
    runs = [m.span() for m in WORD_PATTERN.finditer(text)]
    parent = list(range(len(runs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    starts = [s for s, _ in runs]
    token_runs: list[int | None] = []
    for (start, end), is_special in zip(offsets, special, strict=True):
        start, end = _trim(text, start, end)
        if is_special or start >= end:
            token_runs.append(None)
            continue
        first = _run_at(starts, runs, start)
        last = _run_at(starts, runs, end - 1)
        for i in range(first + 1, last + 1):
            parent[root(i)] = root(first)
        token_runs.append(first)

    first_run: dict[int, int] = {}
    last_run: dict[int, int] = {}
    for i in range(len(runs)):  # one pass: the first and last run of every merged group
        top = root(i)
        first_run.setdefault(top, i)
        last_run[top] = i
    group_of: dict[int, int] = {}
    spans: list[tuple[int, int]] = []
    word_ids: list[int] = []
    for run in token_runs:
        if run is None:
            word_ids.append(-1)
            continue
        top = root(run)
        if top not in group_of:
            group_of[top] = len(spans)
            spans.append((runs[first_run[top]][0], runs[last_run[top]][1]))
        word_ids.append(group_of[top])
    _attach_empty_tokens(word_ids, offsets, special)
    return word_ids, spans


def _run_at(starts: list[int], runs: list[tuple[int, int]], char: int) -> int:
    """Index of the run containing `char` (a non-space character, so such a run always exists)."""
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= char:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _attach_empty_tokens(word_ids: list[int], offsets: Sequence[tuple[int, int]], special: Sequence[bool]) -> None:
    """A non-special token that covers only whitespace (a lone SentencePiece `▁`) joins the next word."""
    following = -1
    for i in range(len(word_ids) - 1, -1, -1):
        if word_ids[i] >= 0:
            following = word_ids[i]
        elif not special[i]:
            word_ids[i] = following if following >= 0 else _previous_word(word_ids, i)


def _previous_word(word_ids: list[int], i: int) -> int:
    for j in range(i - 1, -1, -1):
        if word_ids[j] >= 0:
            return word_ids[j]
    return -1
