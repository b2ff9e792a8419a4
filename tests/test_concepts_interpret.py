"""Concept interpretation: top inputs, top words (in context and alone), token activations of any text."""

from __future__ import annotations

import numpy as np
import pytest

from trexplain.concepts import PCA, SemiNMF, extract
from trexplain.concepts.interpret import TextConcepts, concept_activations, interpret, top_inputs, top_words, words_of
from trexplain.errors import InputError

pytest.importorskip("sklearn", reason="scikit-learn is an optional part: pip install 'trexplain[concepts]'")

TEXTS = [
    "Boring movie, boring actors.",
    "The movie was wonderful, the acting superb.",
    "boring",
    "Nothing special: an average day.",
    "what a wonderful and happy surprise",
    "The BORING day again",
]
SITE = "block_output:0"


@pytest.fixture(scope="module")
def adapter(tiny):
    return tiny["bert"]


def test_top_inputs_of_a_cls_dictionary_are_the_highest_codes_with_word_highlights(adapter):
    store = extract(adapter, TEXTS, SITE, "cls", dtype="float32")
    pca = PCA(3).fit(store)
    codes = pca.encode(store)
    top = top_inputs(store, pca, 2, adapter=adapter)
    tokens = concept_activations(adapter, pca, TEXTS, SITE)
    for c in range(3):
        expected = np.argsort(-codes[:, c], kind="stable")[:2]
        assert [e["text_id"] for e in top[c]] == expected.tolist()
        for entry in top[c]:
            assert entry["text"] == TEXTS[entry["text_id"]]
            assert entry["activation"] == pytest.approx(codes[entry["text_id"], c], rel=1e-5)
            assert entry["tokens"] == words_of(tokens[entry["text_id"]]).concept(c)
    assert top_inputs(store, pca, 2)[0][0]["tokens"] == []  # without an adapter: no token rows for cls


def test_top_inputs_of_a_token_dictionary_use_the_strongest_token_and_show_words(adapter):
    store = extract(adapter, TEXTS, SITE, "token", dtype="float32")
    dictionary = SemiNMF(3, max_iter=30).fit(store)
    codes = dictionary.encode(store)
    top = top_inputs(store, dictionary, 3)
    ids = np.asarray(store.text_ids)
    for c in range(3):
        best = np.array([codes[ids == t, c].max() for t in range(len(TEXTS))])
        assert [e["text_id"] for e in top[c]] == np.argsort(-best, kind="stable")[:3].tolist()
        first = top[c][0]
        rows = np.flatnonzero(ids == first["text_id"])
        words = words_of(TextConcepts(first["text"], np.asarray(store.spans)[rows], codes[rows]))
        assert first["tokens"] == words.concept(c)
        assert max(tok["activation"] for tok in first["tokens"]) == pytest.approx(first["activation"], rel=1e-6)
        assert first["activation"] == pytest.approx(best[first["text_id"]], rel=1e-6)


def test_top_words_in_context_are_case_folded_means_over_occurrences(adapter):
    store = extract(adapter, TEXTS, SITE, "word", dtype="float32")
    dictionary = SemiNMF(2, max_iter=30).fit(store)
    codes = dictionary.encode(store)
    words = [store.span_text(i).casefold() for i in range(len(store))]
    result = top_words(store, dictionary, 50, min_count=2)
    for c in range(2):
        listed = {e["word"]: e for e in result[c]}
        assert listed["boring"]["count"] == 4  # Boring, boring, boring, BORING
        rows = [i for i, w in enumerate(words) if w == "boring"]
        assert listed["boring"]["activation"] == pytest.approx(codes[rows, c].mean(), rel=1e-5)
        assert "superb" not in listed and "," not in listed  # seen once; no letter or digit
        values = [e["activation"] for e in result[c]]
        assert values == sorted(values, reverse=True)


def test_top_words_of_a_cls_dictionary_run_each_word_alone(adapter):
    store = extract(adapter, TEXTS, SITE, "cls", dtype="float32")
    pca = PCA(2).fit(store)
    with pytest.raises(InputError, match="pass the adapter"):
        top_words(store, pca, 5)
    result = top_words(store, pca, 5, min_count=2, adapter=adapter)
    listed = {e["word"]: e for e in result[0]}
    alone = pca.encode(extract(adapter, ["boring", "movie", "wonderful"], SITE, "cls", dtype="float32"))
    vocabulary = {"boring": alone[0], "movie": alone[1], "wonderful": alone[2]}
    for word, code in vocabulary.items():
        if word in listed:
            assert listed[word]["activation"] == pytest.approx(code[0], rel=1e-3, abs=1e-6)
    assert {e["word"] for e in result[0]} <= {"boring", "movie", "wonderful", "the", "day"}


def test_concept_activations_encode_every_token_of_a_text(adapter):
    store = extract(adapter, TEXTS, SITE, "token", dtype="float32")
    dictionary = SemiNMF(2, max_iter=30).fit(store)
    one = concept_activations(adapter, dictionary, TEXTS[1], SITE)
    rows = np.asarray(store.text_ids) == 1
    np.testing.assert_allclose(one.codes, dictionary.encode(store.to_numpy()[rows]), rtol=1e-5, atol=1e-6)
    assert one.pieces == [store.span_text(i) for i in np.flatnonzero(rows)] and one.pieces[0] == "The"
    words = concept_activations(adapter, dictionary, TEXTS[1], SITE, unit="word")
    assert len(words.spans) <= len(one.spans)
    with pytest.raises(InputError, match="unit"):
        concept_activations(adapter, dictionary, TEXTS[1], SITE, unit="cls")


def test_interpret_bundles_both_lists_and_lemmatising_is_optional(adapter):
    store = extract(adapter, TEXTS, SITE, "token", dtype="float32")
    dictionary = SemiNMF(2, max_iter=30).fit(store)
    result = interpret(store, dictionary, k=2, words=3)
    assert result["words_mode"] == "in context" and len(result["concepts"]) == 2
    assert all(len(c["top_inputs"]) == 2 and len(c["top_words"]) <= 3 for c in result["concepts"])
    try:
        from nltk.stem import WordNetLemmatizer

        WordNetLemmatizer().lemmatize("tests")
    except (ImportError, LookupError):
        with pytest.raises(InputError, match="WordNet"):
            interpret(store, dictionary, lemmatize=True)
    else:
        assert interpret(store, dictionary, lemmatize=True)["lemmatized"] is True
