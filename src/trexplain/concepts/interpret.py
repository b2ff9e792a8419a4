"""What each concept means: the inputs and words that activate it most, and its activation over any text's tokens.

- `top_inputs(store, dictionary, k)`: per concept, the k texts with the strongest activation (the code of a
  `cls`/`mean` row; the largest code among a text's rows for `token`/`word`), each with its `tokens`: the
  character span and activation of every word of the text, for highlighting and for LLM prompts. Words, never
  subword pieces: `words_of` rolls token rows up to the words of `models.words.group_words` (the one word
  segmentation), a word's activation being the largest of its tokens'. Token rows come from the store for
  `token`/`word`; for `cls`/`mean` they need the `adapter` and are the same dictionary's codes of each token's
  vector at the site (as interpreto highlights), left empty without.
- `top_words(store, dictionary, k)`: per concept, the k unique words (case-folded, seen at least `min_count`
  times, not punctuation: `models.words.is_word`) with the highest activation. For `token`/`word` stores, a
  word's activation is the mean code of its occurrences in context (for `token`, each occurrence's code is
  `words_of`'s: the largest of its tokens'); for `cls`/`mean` ones (one row per text) each word
  runs through the model alone and its row is encoded (interpreto's `use_unique_words`), which needs `adapter`.
  `lemmatize=True` groups words by lemma with NLTK's WordNet lemmatiser, only where NLTK and its WordNet data
  are installed (trexplain does not depend on them); otherwise a clear error.
- `concept_activations(adapter, dictionary, text, site)`: the codes of every token (or word) of one text;
  `words_of(found)` rolls token codes up to words.
- `interpret(...)`: both lists for every concept, JSON-ready (what `ConceptSet` saves and views show).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trexplain.concepts.activations import ActivationStore, extract
from trexplain.concepts.dictionaries import Dictionary, row_batches
from trexplain.errors import InputError
from trexplain.models.protocol import Adapter
from trexplain.models.words import group_words, is_word
from trexplain.progress import stage

ROW_UNITS = ("token", "word")


def encode_store(dictionary: Dictionary, store: ActivationStore) -> np.ndarray:
    """Codes [rows, k] of every row of `store` (read from disk in batches)."""
    with stage("encoding activations", total=len(store)) as advance:
        parts = []
        for batch in row_batches(store):
            parts.append(dictionary.encode(batch))
            advance(len(batch))
    return np.concatenate(parts).astype(np.float32)


@dataclass(frozen=True)
class TextConcepts:
    """The concept codes of every token (or word) of one text: `spans` [n, 2] characters, `codes` [n, k]."""

    text: str
    spans: np.ndarray
    codes: np.ndarray

    @property
    def pieces(self) -> list[str]:
        return [self.text[s:e] for s, e in self.spans]

    def concept(self, index: int) -> list[dict[str, Any]]:
        """Concept `index` over the text: one {start, end, activation} per token."""
        return [
            {"start": int(s), "end": int(e), "activation": float(a)}
            for (s, e), a in zip(self.spans, self.codes[:, index], strict=True)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "spans": self.spans.tolist(), "codes": self.codes.tolist()}


def words_of(found: TextConcepts) -> TextConcepts:
    """The codes of `found`'s text per word (`models.words.group_words` over its token spans): each word's code is
    the largest of its tokens' codes, so the strongest piece marks its whole word."""
    spans = [(int(s), int(e)) for s, e in found.spans]
    word_ids, words = group_words(found.text, spans, [False] * len(spans))
    ids = np.asarray(word_ids, dtype=np.int64)
    codes = np.full((len(words), found.codes.shape[1]), -np.inf, dtype=np.float32)
    np.maximum.at(codes, ids[ids >= 0], found.codes[ids >= 0])
    return TextConcepts(found.text, np.asarray(words, dtype=np.int64).reshape(-1, 2), codes)


def _per_text(store: ActivationStore, codes: np.ndarray, rows: np.ndarray | None = None) -> dict[int, TextConcepts]:
    """Per text with rows (among `rows`, default all): its rows' spans and codes, token rows rolled up to words."""
    text_ids, spans = np.asarray(store.text_ids), np.asarray(store.spans)
    rows = np.arange(len(text_ids)) if rows is None else rows
    order = rows[np.argsort(text_ids[rows], kind="stable")]
    ids, starts = np.unique(text_ids[order], return_index=True)
    out = {}
    for t, group in zip(ids.tolist(), np.split(order, starts[1:]), strict=True):
        found = TextConcepts(store.texts[t], spans[group], codes[group])
        out[t] = words_of(found) if store.granularity == "token" else found
    return out


def concept_activations(
    adapter: Adapter,
    dictionary: Dictionary,
    text: str | Sequence[str],
    site: str,
    *,
    unit: str = "token",
    word_reduce: str = "mean",
    truncate: bool = False,
) -> TextConcepts | list[TextConcepts]:
    """The codes of every non-special token (`unit="token"`) or word (`"word"`, `word_reduce` of its tokens) of
    `text` at `site`: one `TextConcepts` (a list of them for a list of texts)."""
    if unit not in ROW_UNITS:
        raise InputError(f"unit must be one of {', '.join(ROW_UNITS)}, got {unit!r}")
    texts = [text] if isinstance(text, str) else list(text)
    store = extract(adapter, texts, site, unit, word_reduce=word_reduce, dtype="float32", truncate=truncate)
    codes = dictionary.encode(store.to_numpy()) if len(store) else np.zeros((0, len(dictionary.components_)))
    ids, spans = np.asarray(store.text_ids), np.asarray(store.spans)
    out = [TextConcepts(t, spans[ids == i], codes[ids == i].astype(np.float32)) for i, t in enumerate(texts)]
    return out[0] if isinstance(text, str) else out


def top_inputs(
    store: ActivationStore,
    dictionary: Dictionary,
    k: int = 10,
    *,
    codes: np.ndarray | None = None,
    adapter: Adapter | None = None,
) -> list[list[dict[str, Any]]]:
    """Per concept, its k most activating texts: {text_id, text, activation, tokens: [{start, end, activation}]}
    (see the module doc for where token activations come from)."""
    codes = encode_store(dictionary, store) if codes is None else codes
    text_ids = np.asarray(store.text_ids)
    n_texts, n_concepts = len(store.logits), codes.shape[1]
    best = np.full((n_texts, n_concepts), -np.inf, dtype=np.float32)
    np.maximum.at(best, text_ids, codes)
    seen = np.isfinite(best[:, 0])
    top = []
    for c in range(n_concepts):
        order = np.flatnonzero(seen)[np.argsort(-best[seen, c], kind="stable")][:k]
        top.append([int(t) for t in order])
    tokens = _input_words(store, dictionary, codes, sorted({t for ids in top for t in ids}), adapter)
    texts = store.texts
    return [
        [
            {
                "text_id": t,
                "text": texts[t],
                "activation": float(best[t, c]),
                "tokens": [] if t not in tokens else tokens[t].concept(c),
            }
            for t in ids
        ]
        for c, ids in enumerate(top)
    ]


def _input_words(
    store: ActivationStore, dictionary: Dictionary, codes: np.ndarray, ids: list[int], adapter: Adapter | None
) -> dict[int, TextConcepts]:
    """Word-level codes of the texts `ids`: from the store's own rows, or computed with the adapter."""
    texts = store.texts
    if store.granularity in ROW_UNITS:
        return _per_text(store, codes, np.flatnonzero(np.isin(np.asarray(store.text_ids), ids)))
    if adapter is None or not ids:
        return {}
    found = concept_activations(adapter, dictionary, [texts[t] for t in ids], store.site, truncate=True)
    return {t: words_of(one) for t, one in zip(ids, found, strict=True)}


def top_words(
    store: ActivationStore,
    dictionary: Dictionary,
    k: int = 10,
    *,
    min_count: int = 2,
    lemmatize: bool = False,
    codes: np.ndarray | None = None,
    adapter: Adapter | None = None,
    batch_size: int = 64,
) -> list[list[dict[str, Any]]]:
    """Per concept, its k most activating unique words: {word, activation, count} (see the module doc)."""
    if min_count < 1:
        raise InputError(f"min_count must be at least 1, got {min_count}")
    normal = _normaliser(lemmatize)
    if store.granularity in ROW_UNITS:
        codes = encode_store(dictionary, store) if codes is None else codes
        words, values = _in_context(store, codes, normal)
        counts = Counter(words)
        vocabulary = sorted(w for w, n in counts.items() if n >= min_count)
        index = {w: i for i, w in enumerate(vocabulary)}
        sums = np.zeros((len(vocabulary), codes.shape[1]))
        for word, row in zip(words, values, strict=True):
            if word in index:
                sums[index[word]] += row
        scores = sums / np.maximum([counts[w] for w in vocabulary], 1)[:, None] if vocabulary else sums
    else:
        if adapter is None:
            raise InputError(
                f"top words of a {store.granularity!r} dictionary run each word through the model; pass the adapter"
            )
        counts = _word_counts(adapter, store.texts, normal, batch_size)
        vocabulary = sorted(w for w, n in counts.items() if n >= min_count)
        if vocabulary:
            alone = extract(
                adapter,
                vocabulary,
                store.site,
                store.granularity,
                word_reduce=store.manifest.get("word_reduce") or "mean",
                dtype="float32",
                batch_size=batch_size,
                truncate=True,
            )
            scores = dictionary.encode(alone.to_numpy())
        else:
            scores = np.zeros((0, len(dictionary.components_)))
    result = []
    for c in range(scores.shape[1]):
        order = np.argsort(-scores[:, c], kind="stable")[:k]
        result.append(
            [
                {"word": vocabulary[i], "activation": float(scores[i, c]), "count": int(counts[vocabulary[i]])}
                for i in order
            ]
        )
    return result


def _in_context(
    store: ActivationStore, codes: np.ndarray, normal: Callable[[str], str]
) -> tuple[list[str], np.ndarray]:
    """The normalised word of every word occurrence (not punctuation; token rows rolled up to words), with its
    codes."""
    words, values = [], []
    for found in _per_text(store, codes).values():
        for (s, e), row in zip(found.spans, found.codes, strict=True):
            word = found.text[s:e]
            if is_word(word):
                words.append(normal(word))
                values.append(row)
    return words, np.asarray(values, dtype=np.float32).reshape(-1, codes.shape[1])


def _word_counts(adapter: Adapter, texts: list[str], normal: Callable[[str], str], batch_size: int) -> Counter:
    """How often each normalised word (the model's word segmentation) occurs in `texts`."""
    counts: Counter = Counter()
    with stage("counting words", total=len(texts)) as advance:
        for start in range(0, len(texts), batch_size):
            chunk = texts[start : start + batch_size]
            for text, layout in zip(chunk, adapter.encode(chunk, truncate=True).layouts, strict=True):
                counts.update(normal(text[s:e]) for s, e in layout.words if is_word(text[s:e]))
            advance(len(chunk))
    return counts


def _normaliser(lemmatize: bool) -> Callable[[str], str]:
    """Case-folding, then NLTK's WordNet lemma when `lemmatize` (an InputError where it is not installed)."""
    if not lemmatize:
        return str.casefold
    try:
        from nltk.stem import WordNetLemmatizer

        lemmatizer = WordNetLemmatizer()
        lemmatizer.lemmatize("tests")
    except (ImportError, LookupError) as exc:
        raise InputError(
            "lemmatize=True needs NLTK with its WordNet data (pip install nltk; python -m nltk.downloader wordnet); "
            "without them words are only case-folded"
        ) from exc
    return lambda word: lemmatizer.lemmatize(word.casefold())


def interpret(
    store: ActivationStore,
    dictionary: Dictionary,
    *,
    k: int = 10,
    words: int = 10,
    min_count: int = 2,
    lemmatize: bool = False,
    adapter: Adapter | None = None,
) -> dict[str, Any]:
    """Top inputs and top words of every concept (JSON-ready): {granularity, words_mode, lemmatized,
    concepts: [{index, top_inputs, top_words}]}; `adapter` adds token highlights and word lists for
    `cls`/`mean` stores."""
    codes = encode_store(dictionary, store)
    inputs = top_inputs(store, dictionary, k, codes=codes, adapter=adapter)
    in_context = store.granularity in ROW_UNITS
    top = (
        top_words(store, dictionary, words, min_count=min_count, lemmatize=lemmatize, codes=codes, adapter=adapter)
        if in_context or adapter is not None
        else [[] for _ in inputs]
    )
    return {
        "granularity": store.granularity,
        "words_mode": "in context" if in_context else ("alone" if adapter is not None else None),
        "lemmatized": lemmatize,
        "min_count": min_count,
        "concepts": [{"index": c, "top_inputs": inputs[c], "top_words": top[c]} for c in range(len(inputs))],
    }
