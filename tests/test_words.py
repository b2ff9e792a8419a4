"""Words in every script (issue 26): UAX #29 segmentation that never splits a grapheme cluster, ICU dictionaries
for scripts written without spaces, tokens mapped onto words by offsets, and the same words everywhere."""

from __future__ import annotations

import itertools
import json
import random
import unicodedata
import warnings
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import trexplain.models.words as words
from trexplain import explain
from trexplain.arrow import from_arrow, to_arrow
from trexplain.cli import app
from trexplain.layout import group_scores
from trexplain.models.words import (
    graphemes,
    group_words,
    is_alphabetic,
    is_word,
    segment,
    segmenter_for,
)
from trexplain.probe.edits import CharEdits, Slot

HINDI = "यह फिल्म बहुत अच्छी है"

# (script, text, words and punctuation runs in order) — UAX #29 alone (ICU's agree for every script with spaces)
CASES = [
    (
        "Latin",
        "Don't re-enter the U.S. at 3.14pm, e.g. foo_bar!",
        "Don't re - enter the U.S . at 3.14pm , e.g . foo_bar !",
    ),
    ("Latin", "Don’t state-of-the-art 1,000.50$", "Don’t state - of - the - art 1,000.50 $"),
    ("French", "L'homme aujourd'hui", "L'homme aujourd'hui"),
    ("German NFD", "Gro\u0308\u00dfe u\u0308ber", "Gro\u0308\u00dfe u\u0308ber"),
    ("Latin NFD", "cafe\u0301!!", "cafe\u0301 !!"),
    ("Greek", "Καλημέρα κόσμε", "Καλημέρα κόσμε"),
    ("Cyrillic", "Привет, мир!", "Привет , мир !"),
    ("Georgian", "გამარჯობა მსოფლიო", "გამარჯობა მსოფლიო"),
    ("Arabic", "مَرْحَبًا بِالْعَالَمِ", "مَرْحَبًا بِالْعَالَمِ"),
    ("Hebrew", 'שָׁלוֹם עולם צה"ל', 'שָׁלוֹם עולם צה"ל'),
    ("Devanagari", HINDI, HINDI),
    ("Bengali", "আমি বাংলায় গান গাই", "আমি বাংলায় গান গাই"),
    ("Tamil", "வணக்கம் உலகம்", "வணக்கம் உலகம்"),
    ("Korean", "안녕하세요 세계", "안녕하세요 세계"),
    ("Emoji", "I ❤️ 👨‍👩‍👧 🇩🇪🇫🇷 👍🏽!", "I ❤️ 👨‍👩‍👧 🇩🇪 🇫🇷 👍🏽 !"),
    ("URL", "see https://example.com/a?b=c now", "see https :// example.com / a ? b = c now"),
]

# scripts written without spaces: UAX #29 gives clusters and ideographs; ICU 72's dictionaries give words
SPACELESS = [
    ("Thai", "สวัสดีชาวโลก", "ส วั ส ดี ช า ว โ ล ก", "สวัสดี ชาว โลก"),
    ("Lao", "ສະບາຍດີ", "ສ ະ ບ າ ຍ ດີ", "ສະບາຍດີ"),
    ("Khmer", "សួស្តីពិភពលោក", "សួ ស្តី ពិ ភ ព លោ ក", "សួស្តី ពិភពលោក"),
    ("Burmese", "မင်္ဂလာပါ", "မ င်္ဂ လာ ပါ", "မင်္ဂလာ ပါ"),
    ("Chinese", "我爱北京天安门", "我 爱 北 京 天 安 门", "我 爱 北京 天安门"),
    ("Japanese", "東京タワーへ行きました", "東 京 タワー へ 行 き ま し た", "東京タワー へ 行き ま した"),
    ("Chinese, astral", "𠮷野家a北京", "𠮷 野 家 a 北 京", "𠮷 野家 a 北京"),
]


def pieces(text: str) -> list[str]:
    return [text[s:e] for s, e in segment(text)]


def needs_icu():
    """PyICU as trexplain imported it; the test skips where it is missing (an optional extra)."""
    if words.icu is None:
        pytest.skip("PyICU (the optional `icu` extra: pip install 'trexplain[icu]') gives dictionary words")
    return words.icu


@pytest.fixture
def no_icu():
    with mock.patch.object(words, "icu", None):
        yield


@pytest.mark.parametrize(("script", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_words_in_scripts_with_spaces(script, text, expected):
    assert pieces(text) == expected.split(" ")
    assert segmenter_for(text) == "uax29"


@pytest.mark.parametrize(("script", "text", "plain", "icu"), SPACELESS, ids=[c[0] for c in SPACELESS])
def test_spaceless_scripts_without_a_dictionary_are_clusters(no_icu, script, text, plain, icu):
    assert pieces(text) == plain.split(" ")
    assert segmenter_for(text) == "uax29+tokenizer"


@pytest.mark.parametrize(("script", "text", "plain", "icu"), SPACELESS, ids=[c[0] for c in SPACELESS])
def test_spaceless_scripts_with_icu_are_dictionary_words(script, text, plain, icu):
    module = needs_icu()
    if not str(module.ICU_VERSION).startswith("72."):
        pytest.skip(f"the expected words are ICU 72's; this is ICU {module.ICU_VERSION}")
    assert pieces(text) == icu.split(" ")
    assert segmenter_for(text) == f"uax29+icu-{module.ICU_VERSION}"


def test_character_classes():
    assert graphemes("नमस्ते") == ["न", "म", "स्ते"]
    assert graphemes("e\u0301x") == ["e\u0301", "x"]
    assert graphemes("👨‍👩‍👧🇩🇪") == ["👨‍👩‍👧", "🇩🇪"]
    assert [is_word(t) for t in ("बहुत", "3", "👍🏽", "🇩🇪", "!!", "—", "_")] == [True] * 4 + [False] * 3
    assert [is_alphabetic(t) for t in ("बहुत", "cafe\u0301", "Größe", "e.g", "abc1", "👍", "\u0301")] == [
        True,
        True,
        True,
        False,
        False,
        False,
        False,
    ]


def test_hindi_through_the_cli_on_the_demo_model():
    result = CliRunner().invoke(app, ["explain", HINDI, "--method", "gxi", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    entry = record["explanations"][0]
    assert [w["text"] for w in entry["words"]] == ["यह", "फिल्म", "बहुत", "अच्छी", "है"]
    assert record["segmenter"] == "uax29"
    # the demo's uncased WordPiece drops the vowel signs ु and ै from its tokens; offsets still map every token
    assert record["tokens"] == ["[CLS]", "य", "##ह", "[UNK]", "ब", "##ह", "##त", "[UNK]", "ह", "[SEP]"]
    assert record["word_ids"] == [-1, 0, 0, 1, 2, 2, 2, 3, 4, -1]
    assert record["words"] == [[0, 2], [3, 8], [9, 13], [14, 19], [20, 22]]
    scores = entry["scores"]
    for i, w in enumerate(entry["words"]):
        mine = [s for s, word in zip(scores, record["word_ids"], strict=True) if word == i]
        assert w["score"] == pytest.approx(sum(mine), abs=1e-6)


@pytest.mark.parametrize(
    "text",
    [
        "cafe\u0301 Gro\u0308\u00dfe",
        "مَرْحَبًا بِالْعَالَمِ",
        "আমি বাংলায় গান গাই",
        "வணக்கம் உலகம்",
        HINDI,
        "I ❤️ 👨‍👩‍👧 🇩🇪🇫🇷 👍🏽!",
    ],
)
@pytest.mark.parametrize("family", ["roberta", "bert", "xlm-roberta"])
def test_every_tokenizer_gives_whole_words(tiny, family, text):
    """Byte-level BPE splits characters into bytes, WordPiece strips accents and marks, SentencePiece gives <unk>:
    the words are the text's words all the same (a token over two words, as WordPiece's one [UNK] for two flags,
    joins them)."""
    layout = tiny[family].encode([text]).layouts[0]
    got = [text[s:e] for s, e in layout.words]
    expected = pieces(text)
    if family != "roberta":
        expected = [w if w != "🇩🇪" else "🇩🇪🇫🇷" for w in expected if w != "🇫🇷"]
    assert got == expected
    assert layout.segmenter == "uax29"


def test_spaceless_words_follow_the_tokens_without_icu(no_icu, demo):
    text = "東京タワーへ行きました"
    with pytest.warns(UserWarning, match="PyICU"):
        layout = demo.encode([text]).layouts[0]
    # demo tokens: 東 京 タ ##ワ ##ー ##へ 行 き ##ま ##し ##た — WordPiece pieces join the clusters they cover
    assert [text[s:e] for s, e in layout.words] == ["東", "京", "タワー", "へ", "行", "き", "ま", "し", "た"]
    assert layout.segmenter == "uax29+tokenizer"


def test_spaceless_words_with_icu(demo):
    module = needs_icu()
    text = "我爱北京天安门"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (e,) = explain(text, demo, "gxi")
    assert e.layout.feature_labels() == ["我", "爱", "北京", "天安门"]
    assert e.layout.segmenter == f"uax29+icu-{module.ICU_VERSION}"
    (back,) = from_arrow(to_arrow([e]))
    assert back.layout.segmenter == e.layout.segmenter and back.layout.words == e.layout.words


def test_a_token_over_several_words_joins_them():
    text = "a.b c"
    word_ids, spans = group_words(text, [(0, 0), (0, 3), (4, 5), (0, 0)], [True, False, False, True])
    assert word_ids == [-1, 0, 1, -1] and [text[s:e] for s, e in spans] == ["a.b", "c"]
    # byte tokens that split one character carry its span: one word; a lone ▁ joins the next word
    text = "👍 ok"
    word_ids, spans = group_words(text, [(0, 1)] * 4 + [(1, 2), (2, 4)], [False] * 6)
    assert word_ids == [0, 0, 0, 0, 1, 1] and spans == [(0, 1), (2, 4)]


def test_character_edits_keep_clusters_whole():
    rng = random.Random(3)
    out = CharEdits()(Slot("बहुत अच्छी", 0, 4, rng))
    assert out, "a Devanagari word gets character edits"
    for edited in out:
        assert all(unicodedata.category(g[0]) != "Mn" for g in graphemes(edited)), edited
    swapped = out[0]
    assert sorted(graphemes(swapped)) == sorted(graphemes("बहुत"))
    assert CharEdits()(Slot("e.g. 12", 0, 3, rng)) == []


# -------------------------------------------------------------- properties over random Unicode text
INTERESTING = [
    *"aZé5_'.,-!? \t\n\u00a0",
    "\u0301",  # combining acute
    "\u0941",  # Devanagari vowel sign u
    "\u094d",  # virama
    "\u200d",  # zero-width joiner
    "\ufe0f",  # variation selector 16
    "\U0001f3fd",  # skin tone
    "\U0001f1e9",  # regional indicator D
    "\U0001f1ea",  # regional indicator E
    "\U0001f44d",  # thumbs up
    "\U0001f468",  # man
    "\u2764",  # heavy heart
    *"बहतक",
    *"สวัดี",
    *"北京我",
    *"タワへ",
    *"مَب",
    "\u0600",  # Arabic number sign (a prepended cluster)
    "\u200b",  # zero-width space
    "\r",
    "\U00020bb7",  # an astral ideograph
]
TEXTS = st.text(st.sampled_from(INTERESTING) | st.characters(exclude_categories=("Cs",)), max_size=40)


def check_partition(text: str, spans: list[tuple[int, int]]) -> None:
    """Spans in order, not overlapping, on cluster boundaries, holding every non-space character exactly once
    (whitespace only where a mark clusters with it)."""
    edges = set(np.cumsum([0, *map(len, graphemes(text))]).tolist())
    covered = np.zeros(len(text), dtype=int)
    previous = 0
    for s, e in spans:
        assert previous <= s < e and s in edges and e in edges, (text, spans)
        covered[s:e] += 1
        previous = e
    assert covered.max(initial=0) <= 1
    assert all(covered[i] == 1 for i, char in enumerate(text) if not char.isspace()), (text, spans)


@pytest.mark.parametrize("dictionary", [False, True])
@settings(max_examples=300, deadline=None)
@given(text=TEXTS)
def test_segments_partition_every_text(dictionary, text):
    if dictionary:
        needs_icu()
    with mock.patch.object(words, "icu", words.icu if dictionary else None):
        check_partition(text, segment(text))


@settings(max_examples=150, deadline=None)
@given(text=TEXTS, cuts=st.lists(st.integers(0, 40), max_size=12), specials=st.integers(0, 2))
def test_any_tokenization_maps_onto_whole_words(text, cuts, specials):
    """Tokens cut anywhere (inside clusters too), some special: every token lands in the word holding its
    characters, and the words are unions of consecutive segments."""
    bounds = sorted({0, len(text), *(c for c in cuts if c <= len(text))})
    offsets = [(0, 0)] * specials + list(itertools.pairwise(bounds))
    special = [True] * specials + [False] * (len(offsets) - specials)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        word_ids, spans = group_words(text, offsets, special)
    units = segment(text)
    starts, ends = {s for s, _ in units}, {e for _, e in units}
    assert all(s in starts and e in ends for s, e in spans)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    for (s, e), w, fixed in zip(offsets, word_ids, special, strict=True):
        piece = text[s:e]
        if fixed:
            assert w == -1
        elif piece.strip():
            ws, we = spans[w]
            assert ws <= s + len(piece) - len(piece.lstrip()) and e - len(piece) + len(piece.rstrip()) <= we


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.sampled_from(INTERESTING), min_size=1, max_size=12).filter(lambda t: t.strip()))
def test_real_explanations_cover_every_character_and_keep_the_totals(tiny, text):
    """Byte-level BPE covers every character: the words of a real explanation partition the text's non-space
    characters exactly, and each word's score is the sum of its tokens' scores."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (e,) = explain(text, tiny["roberta"], "gxi")
    layout = e.layout
    check_partition(text, list(layout.words))
    scores = np.asarray(e.scores[0], dtype=np.float64)
    per_word = group_scores(scores, layout.feature_ids, layout.num_features)
    for w in range(layout.num_features):
        assert per_word[w] == pytest.approx(scores[np.asarray(layout.word_ids) == w].sum())
    assert per_word.sum() == pytest.approx(scores[~np.asarray(layout.special)].sum())
