"""Concepts as a user meets them (issue 26): a warning when k is large for the texts, one line per metric, top
inputs and words as whole words, `concepts explain --html`, progress for `show --html`."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from tests.test_progress import Recorder
from trexplain import progress
from trexplain.cli import app
from trexplain.concepts import ConceptSet, extract
from trexplain.concepts.conceptset import TooManyConceptsWarning, warn_if_too_many
from trexplain.concepts.interpret import TextConcepts, top_inputs, top_words, words_of
from trexplain.concepts.metrics import MEANINGS
from trexplain.concepts.report import payload, write_html
from trexplain.concepts.semi_nmf import SemiNMF
from trexplain.concepts.terminal import concepts_view
from trexplain.errors import InputError

pytest.importorskip("sklearn", reason="scikit-learn is an optional part: pip install 'trexplain[concepts]'")

runner = CliRunner()
TEXTS = [
    "Unbelievable weather, the acting superb.",
    "The music was lovely and wonderful.",
    "boring awful waste of time",
    "Nothing special: an average day.",
    "what a wonderful and happy surprise",
    "The BORING day again",
] * 2
SITE = "block_output:0"
SMALL = ["--importance-texts", "4", "--deletion-texts", "3", "--param", "max_iter=20"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def fit(tiny_dirs, root: Path, k: int, name: str):
    (root / "texts.txt").write_text("\n".join(TEXTS) + "\n")
    args = ["concepts", "fit", "--input", str(root / "texts.txt"), "--model", str(tiny_dirs["bert"])]
    return runner.invoke(app, [*args, "--layer", "0", "--out", str(root / name), "-k", str(k), *SMALL])


@pytest.fixture(scope="module")
def folder(tiny_dirs, tmp_path_factory):
    root = tmp_path_factory.mktemp("concepts-ux")
    result = fit(tiny_dirs, root, 3, "concepts")
    assert result.exit_code == 0, result.output
    assert "warning: 3 concepts fitted on 12 texts: fewer than 10 rows per concept" in result.stderr
    assert "fit k ≤ 1 concepts (-k) or give about 30 texts or more" in result.stderr
    return root / "concepts"


def words_in(adapter, text: str) -> list[tuple[int, int]]:
    """The word spans of `text` by the layout's word grouping (`models.words.group_words`)."""
    return [tuple(w) for w in adapter.encode([text], truncate=True).layouts[0].words]


# ------------------------------------------------------------------ 1. k large for the texts
def test_the_warning_counts_rows_per_concept_and_names_the_fix():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_too_many(8, 80, 80)  # 10 rows per concept: quiet
        warn_if_too_many(3, 300, 12)  # token rows: many rows per concept
    with pytest.warns(TooManyConceptsWarning) as caught:
        warn_if_too_many(8, 9, 9)
        warn_if_too_many(8, 75, 9)
    first, second = (str(w.message) for w in caught)
    assert first.startswith("8 concepts fitted on 9 texts: fewer than 10 rows per concept")
    assert first.endswith("fit k ≤ 1 concepts (-k) or give about 80 texts or more")
    assert second.startswith("8 concepts fitted on 75 activation rows of 9 texts")
    assert second.endswith("fit k ≤ 7 concepts (-k) or give about 10 texts or more")  # ceil(10·8·9/75) = 10


def test_fit_with_enough_rows_per_concept_says_nothing(tiny_dirs, tmp_path):
    result = fit(tiny_dirs, tmp_path, 1, "one")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr and "wrote" in result.stderr


# ------------------------------------------------------------------ 2. what each metric means
def test_show_says_what_each_metric_means_in_one_line(folder):
    shown = runner.invoke(app, ["concepts", "show", str(folder)], env={"COLUMNS": "250"})
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    for name, meaning in (
        ("r2", MEANINGS["r2"]),
        ("fraction_nonzero", MEANINGS["fraction_nonzero"]),
        ("fidelity accuracy", MEANINGS["fidelity accuracy"]),
        ("fidelity KL (nats)", MEANINGS["fidelity KL"]),
        ("deletion AOPC: gradient", MEANINGS["deletion AOPC"]),
    ):
        assert any(line.strip().startswith(name) and line.rstrip().endswith(meaning) for line in lines), name


# ------------------------------------------------------------------ 3. words, not subword pieces
def test_words_of_takes_each_words_strongest_piece():
    found = TextConcepts(
        "unbelievable day!",
        np.array([[0, 2], [2, 8], [8, 12], [13, 16], [16, 17]]),
        np.array([[1.0, 0.0], [3.0, -1.0], [2.0, 5.0], [0.5, 0.25], [4.0, 4.0]], dtype=np.float32),
    )
    words = words_of(found)
    assert words.pieces == ["unbelievable", "day", "!"]
    np.testing.assert_array_equal(words.codes, [[3.0, 5.0], [0.5, 0.25], [4.0, 4.0]])


def test_top_inputs_and_words_are_whole_words_for_every_granularity(tiny):
    adapter = tiny["bert"]  # a 200-piece WordPiece vocabulary: most words are several pieces
    layouts = adapter.encode(TEXTS[:6]).layouts
    assert any(len(lay.word_ids) - lay.word_ids.count(-1) > len(lay.words) for lay in layouts)
    for granularity in ("cls", "token"):
        store = extract(adapter, TEXTS, SITE, granularity, dtype="float32")
        dictionary = SemiNMF(2, max_iter=20).fit(store)
        for concept in top_inputs(store, dictionary, 3, adapter=adapter):
            for entry in concept:
                spans = [(t["start"], t["end"]) for t in entry["tokens"]]
                assert spans == words_in(adapter, entry["text"]), granularity
    every = {t[s:e].casefold() for t in TEXTS for s, e in words_in(adapter, t)}
    listed = {w["word"] for words in top_words(store, dictionary, 20) for w in words}  # the token store's
    assert listed <= every and {"unbelievable", "wonderful"} <= listed  # whole words, not "un", "##able"


def test_the_terminal_bolds_a_whole_word_of_each_top_input(folder, tiny):
    concepts = ConceptSet.load(folder)
    console = Console(record=True, width=250, force_terminal=True, color_system="truecolor")
    console.print(concepts_view(concepts, inputs=2))
    bold = re.findall(r"\x1b\[1;[0-9;]+m([^\x1b]+)\x1b\[0m", console.export_text(styles=True))  # bold, coloured
    words = {t[s:e] for t in TEXTS for s, e in words_in(tiny["bert"], t)}
    assert len(bold) == 2 * concepts.n_concepts and set(bold) <= words


# ------------------------------------------------------------------ 4. explain --html, 5. progress
def test_explain_writes_one_page_of_the_text(folder, tmp_path):
    page = tmp_path / "explain.html"
    args = ["concepts", "explain", "the music was unbelievable", "--concepts", str(folder), "--json"]
    result = runner.invoke(app, [*args, "--html", str(page)])
    assert result.exit_code == 0, result.output
    assert f"wrote {page}" in result.stderr
    data = json.loads(result.stdout)
    body = page.read_text(encoding="utf-8")
    embedded = json.loads(re.search(r'id="tx-data">(.*?)</script>', body, re.S).group(1).replace("<\\/", "</"))
    assert embedded["concepts"]["view"] == "explain" and embedded["concepts"]["examples"][0]["text"] == data["text"]
    assert embedded["concepts"]["metric_meanings"] == MEANINGS
    spans = [tuple(s) for s in data["tokens"]["spans"]]
    assert [data["text"][s:e] for s, e in spans] == ["the", "music", "was", "unbelievable"]
    again = runner.invoke(app, [*args[:-1], "--html", str(folder / "concepts.json")])
    assert again.exit_code == 2 and "is the input file" in again.stderr  # the folder is never overwritten
    for view, examples in (("explain", []), ("nope", [data])):
        with pytest.raises(InputError, match="view must be one of set, explain"):
            payload(ConceptSet.load(folder), examples, view=view)


def test_show_html_reports_progress_unless_quiet(folder, tmp_path, monkeypatch):
    recorders: list[Recorder] = []

    def reporter(quiet: bool = False):
        if quiet:
            return None
        recorders.append(Recorder())
        return recorders[-1]

    monkeypatch.setattr(progress, "terminal_reporter", reporter)
    args = ["concepts", "show", str(folder), "--text", "good day", "--text", "bad day"]
    result = runner.invoke(app, [*args, "--html", str(tmp_path / "a.html")])
    assert result.exit_code == 0, result.output
    stages = [s for s in recorders[0].stages.values() if s["label"].startswith("explaining the page's texts")]
    assert [(s["total"], s["done"], s["open"]) for s in stages] == [(2, 2, False)]
    quiet = runner.invoke(app, [*args, "--html", str(tmp_path / "b.html"), "--quiet"])
    assert quiet.exit_code == 0 and len(recorders) == 1 and (tmp_path / "b.html").is_file()


def test_write_html_reports_one_step_per_text(folder, tiny, tmp_path):
    recorder = Recorder()
    with progress.reporting(recorder):
        write_html(ConceptSet.load(folder), tmp_path / "c.html", adapter=tiny["bert"], texts=TEXTS[:3])
    [stage] = [s for s in recorder.stages.values() if s["label"].startswith("explaining the page's texts")]
    assert stage["total"] == stage["done"] == 3 and not stage["open"]


def test_the_pages_show_words_metric_lines_and_the_explained_text(folder, tiny, tmp_path, browser):
    concepts = ConceptSet.load(folder)
    show, explain = tmp_path / "show.html", tmp_path / "explain.html"
    write_html(concepts, show, adapter=tiny["bert"], texts=[TEXTS[0]])
    text = "the music was unbelievable"
    result = runner.invoke(app, ["concepts", "explain", text, "--concepts", str(folder), "--html", str(explain)])
    assert result.exit_code == 0, result.output
    ranked = concepts.explain(tiny["bert"], text)["concepts"]
    tab = browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.goto(show.as_uri())
    tab.wait_for_selector("html[data-ready=true]", timeout=10_000)
    rows = tab.locator(".tx-cc-metrics tr").all_inner_texts()
    assert any(r.startswith("r2") and r.endswith(MEANINGS["r2"]) for r in rows)
    assert any(r.startswith("fidelity KL (nats)") and r.endswith(MEANINGS["fidelity KL"]) for r in rows)
    tab.locator("button.tx-cc-head").first.click()
    tinted = tab.locator(".tx-cc-detail .tx-cc-tok").all_inner_texts()
    words = {t[s:e] for t in TEXTS for s, e in words_in(tiny["bert"], t)}
    assert tinted and set(tinted) <= words and "Unbelievable" in tinted  # not "Un", "believ", "able"
    assert tab.locator(".tx-concepts h3", has_text="Concepts over a text's words").count() == 1
    tab.goto(explain.as_uri())
    tab.wait_for_selector("html[data-ready=true]", timeout=10_000)
    assert tab.locator(".tx-cc-explain h2").inner_text() == "One text in terms of concepts"
    names = tab.locator(".tx-cc-fire td.tx-cc-name").all_inner_texts()
    assert [int(n.split()[0][1:]) for n in names] == [c["index"] for c in ranked]
    line = tab.locator(".tx-cc-explain .tx-cc-line .tx-cc-tok").all_inner_texts()
    assert line == ["the", "music", "was", "unbelievable"]
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / "concepts-explain.png"), full_page=True)
    assert errors == []
