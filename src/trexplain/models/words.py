"""The words of a text in every script, and the word of every token: the one word segmentation of trexplain.

The text is cut at Unicode's default word boundaries (UAX #29, the `regex` package's `(?w)\\b`), never inside an
extended grapheme cluster (`\\X`): combining marks, virama conjuncts, emoji ZWJ sequences, skin tones, variation
selectors and flags stay in their word. Pieces with a letter, number, mark, emoji or flag character are words;
a run of other non-space pieces ("!!!", "...") is one punctuation word; whitespace belongs to no word.

Scripts written without spaces (Thai, Lao, Khmer, Burmese, Chinese, Japanese) are cut by ICU's dictionaries
when PyICU is installed; otherwise their pieces are single clusters or ideographs, which the tokenizer's own
tokens join (below), so there the words follow the tokenizer. `segmenter_for` names the one used.

Tokens are assigned by the characters their offsets cover, so WordPiece `##`, SentencePiece `▁` and byte-level
`Ġ` pieces roll up alike; a token over several pieces joins them into one word, so every token belongs to
exactly one word.
"""

from __future__ import annotations

import itertools
import threading
import warnings
from collections.abc import Sequence

import regex

try:
    import icu
except ImportError:  # optional: the `icu` extra
    icu = None

_BOUNDARY = regex.compile(r"(?w)\b")
_GRAPHEME = regex.compile(r"\X")
_WORD_CHARACTER = regex.compile(r"[\p{L}\p{N}\p{M}\p{Extended_Pictographic}\p{Regional_Indicator}]")
_LETTER_OR_MARK = regex.compile(r"[\p{L}\p{M}]*\p{L}[\p{L}\p{M}]*")
_NO_SPACES = regex.compile(r"[\p{sc=Thai}\p{sc=Lao}\p{sc=Khmer}\p{sc=Myanmar}\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}]")
UNICODE = "uax29"
"""Segmenter name of a text with no script written without spaces: UAX #29 word boundaries alone."""
TOKENIZER = "uax29+tokenizer"
"""Segmenter name where such scripts occur and PyICU is missing: their clusters are joined by the tokens."""
_ICU = threading.local()


def graphemes(text: str) -> list[str]:
    """The extended grapheme clusters of `text` (what a reader sees as one character)."""
    return _GRAPHEME.findall(text)


def is_word(text: str) -> bool:
    """True when `text` has a letter, number, mark, emoji or flag character (a word, not punctuation)."""
    return _WORD_CHARACTER.search(text) is not None


def is_alphabetic(text: str) -> bool:
    """True when `text` is letters with their combining marks only (what a spelling edit may change)."""
    return _LETTER_OR_MARK.fullmatch(text) is not None


def icu_version() -> str | None:
    """The ICU version PyICU brings, None without PyICU."""
    return None if icu is None else str(icu.ICU_VERSION)


def segmenter_for(text: str) -> str:
    """Which segmentation gives the words of `text`: `uax29`, `uax29+icu-<version>` or `uax29+tokenizer`."""
    if _NO_SPACES.search(text) is None:
        return UNICODE
    return TOKENIZER if icu is None else f"uax29+icu-{icu_version()}"


def segment(text: str) -> list[tuple[int, int]]:
    """Character spans of the text's words and punctuation runs, in order; together they hold every
    non-whitespace character exactly once (whitespace only where a mark clusters with it)."""
    edges = _grapheme_edges(text)
    units: list[tuple[int, int, bool]] = []
    start = end = 0
    for piece in _BOUNDARY.split(text):  # pieces are joined until they end on a cluster boundary
        end += len(piece)
        if end > start and (edges is None or end in edges):
            _add_unit(units, text, start, end)
            start = end
    if icu is not None and edges is not None and _NO_SPACES.search(text):
        units = _dictionary_words(text, units, edges)
    return [(s, e) for s, e, _ in units]


def _grapheme_edges(text: str) -> set[int] | None:
    """Where the text's grapheme clusters end; None for ASCII, where every word boundary is one."""
    return None if text.isascii() else {0, *(m.end() for m in _GRAPHEME.finditer(text))}


def _add_unit(units: list[tuple[int, int, bool]], text: str, start: int, end: int) -> None:
    """Append text[start:end] as a word, or extend the punctuation run it touches; whitespace is skipped."""
    piece = text[start:end]
    if piece.isspace():
        return
    word = is_word(piece)
    if not word and units and not units[-1][2] and units[-1][1] == start:
        units[-1] = (units[-1][0], end, False)
    else:
        units.append((start, end, word))


def _dictionary_words(text: str, units: list[tuple[int, int, bool]], edges: set[int]) -> list[tuple[int, int, bool]]:
    """`units` with every run of touching words in spaceless scripts re-cut at ICU's dictionary boundaries."""
    out: list[tuple[int, int, bool]] = []
    i = 0
    while i < len(units):
        j = i
        while j < len(units) and units[j][2] and _NO_SPACES.search(text, units[j][0], units[j][1]):
            if j > i and units[j - 1][1] != units[j][0]:
                break
            j += 1
        if j == i:
            out.append(units[i])
            i += 1
            continue
        start, end = units[i][0], units[j - 1][1]
        cuts = [c for c in _icu_boundaries(text[start:end]) if start + c in edges]
        out.extend((start + a, start + b, True) for a, b in itertools.pairwise(cuts) if a < b)
        i = j
    return out


def _icu_boundaries(run: str) -> list[int]:
    """ICU's word boundaries in `run` as code-point indices (ICU counts UTF-16 units), from 0 to len(run)."""
    if not hasattr(_ICU, "iterator"):  # a break iterator is not thread-safe: one per thread
        _ICU.iterator = icu.BreakIterator.createWordInstance(icu.Locale.getRoot())
    iterator = _ICU.iterator
    iterator.setText(icu.UnicodeString(run))
    code_point, utf16 = {0: 0}, 0
    for i, char in enumerate(run):
        utf16 += 2 if ord(char) > 0xFFFF else 1
        code_point[utf16] = i + 1
    return sorted({0, len(run), *(code_point[b] for b in iterator if b in code_point)})


def group_words(
    text: str, offsets: Sequence[tuple[int, int]], special: Sequence[bool]
) -> tuple[list[int], list[tuple[int, int]]]:
    """Word index of every token (-1 for special tokens) and the character span of every word (words no token
    covers are left out)."""
    runs = segment(text)
    if icu is None and _NO_SPACES.search(text):
        warnings.warn(
            "Thai, Lao, Khmer, Burmese, Chinese or Japanese text: without PyICU its words are characters joined "
            "where one token covers several (segmenter 'uax29+tokenizer'); pip install 'trexplain[icu]' for "
            "dictionary words",
            stacklevel=2,
        )
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
        first = _run_at(starts, start)
        last = _run_at(starts, end - 1)
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


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    start, end = max(0, start), min(end, len(text))
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _run_at(starts: list[int], char: int) -> int:
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
