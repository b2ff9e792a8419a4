"""Probe output: JSON, terminal diff, the CLI in both modes, the report section in Chromium, masked-LM edits."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from tests.tiny import wordpiece_tokenizer
from trexplain.cli import app
from trexplain.errors import InputError, ModelLoadError
from trexplain.probe import prober
from trexplain.probe.edits import CharEdits, MaskedLM, Neighbours, Slot, WordList, embedding_table, keep_case
from trexplain.probe.view import diff_text, probe_payload, result_view, table_view
from trexplain.viz.html import render

TEXT = "I absolutely love this new phone, the camera is amazing!"
HOSTILE = "I love \x1b[31mthis\x1b[0m <script>alert(1)</script> phone!"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def result(demo):
    return prober(demo, explain=True).run(TEXT)


def test_demo_probe_flips_with_few_words(result):
    assert result.success and result.new_class != result.original_class == 2
    assert 1 <= result.words_changed <= 2 and result.queries < 100
    # one ranking and one candidate-ordering gradient on the original, then both again per accepted edit
    assert result.attribution_passes == 2 * result.words_changed
    assert result.explanations[0].text == TEXT and result.explanations[1].text == result.edited
    data = json.loads(json.dumps(result.to_dict()))
    assert data["original_prediction"] == "positive" and data["queries"] == result.queries
    assert "".join(s["original"] for s in data["segments"]) == TEXT
    assert "".join(s["edited"] for s in data["segments"]) == result.edited
    assert len(data["explanations"]) == 2


def test_terminal_view_shows_diff_and_escapes(demo, result):
    console = Console(record=True, width=120, color_system="truecolor")
    console.print(result_view(result))
    shown = console.export_text()
    assert "success" in shown and f"{result.queries} queries" in shown and "→" in shown
    hostile = prober(demo, edits=("delete",)).run(HOSTILE)
    plain = diff_text(hostile).plain
    assert "\x1b" not in plain and "␛" in plain


def test_embedding_neighbours_are_whole_words_in_case(demo):
    table = embedding_table(demo)
    assert table is embedding_table(demo)  # built once per adapter
    assert not any(w.startswith("##") for w in table.words) and "[CLS]" not in table.words
    found = Neighbours(demo, 10)(Slot("Good day", 0, 4, random.Random(0)))
    assert len(found) == 10 and all(w[0].isupper() and w.lower() != "good" for w in found)
    assert Neighbours(demo, 5)(Slot("a , b", 2, 3, random.Random(0))) == []


def test_char_edits_seeded():
    slot = Slot("wonderful", 0, 9, random.Random("0:0:wonderful"))
    edits = CharEdits()(slot)
    again = CharEdits()(Slot("wonderful", 0, 9, random.Random("0:0:wonderful")))
    assert edits == again and len(edits) == 4 and all(e != "wonderful" for e in edits)
    assert abs(len(edits[1]) - 9) == 1 and len(edits[2]) == 10 and len(edits[0]) == len(edits[3]) == 9
    assert keep_case("LOVE", "hate") == "HATE" and keep_case("Love", "hate") == "Hate"


def test_word_list_files(tmp_path):
    (tmp_path / "w.json").write_text(json.dumps({"Good": ["fine", "ok"], "bad": "poor"}))
    (tmp_path / "w.csv").write_text("good,fine,ok\nbad,poor\n")
    for name in ("w.json", "w.csv"):
        words = WordList.read(tmp_path / name)
        assert words(Slot("Good day", 0, 4, random.Random(0))) == ["Fine", "Ok"]
    (tmp_path / "bad.json").write_text("[1]")
    with pytest.raises(InputError, match="JSON object"):
        WordList.read(tmp_path / "bad.json")
    with pytest.raises(InputError, match=r"\.json or \.csv"):
        WordList.read(tmp_path / "w.txt")


def test_masked_lm_edits(tmp_path):
    transformers = pytest.importorskip("transformers")
    tokenizer = wordpiece_tokenizer()
    config = transformers.BertConfig(
        vocab_size=len(tokenizer.get_vocab()), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64,
    )  # fmt: skip
    transformers.set_seed(0)
    transformers.BertForMaskedLM(config).save_pretrained(tmp_path / "mlm", safe_serialization=True)
    tokenizer.save_pretrained(tmp_path / "mlm")
    source = MaskedLM.load(tmp_path / "mlm", k=5)
    found = source(Slot("the movie was great", 4, 9, random.Random(0)))
    assert len(found) == 5 and source.calls == 1
    assert all(w.isalpha() and not w.startswith("##") and w != "movie" for w in found)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="safetensors"):
        MaskedLM.load(tmp_path / "empty")


def test_cli_one_text_json_and_html(tmp_path):
    runner = CliRunner()
    out = runner.invoke(app, ["probe", TEXT, "--json", "--edits", "delete,embed", "--budget", "50"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["queries"] <= 50 and data["edits"] == ["delete", "embed"] and data["success"]
    page = tmp_path / "probe.html"
    out = runner.invoke(app, ["probe", TEXT, "--html", str(page), "--target", "neutral", "--rank", "deletion"])
    assert out.exit_code == 0, out.output
    assert "tx-data" in page.read_text()
    bad = runner.invoke(app, ["probe", TEXT, "--edits", "nope"])
    assert bad.exit_code == 2 and "unknown edit source" in bad.output


def test_cli_dataset_table(tmp_path):
    data = tmp_path / "texts.csv"
    data.write_text('text,label\n"I love it, great!",positive\nworst service ever,negative\n')
    out = CliRunner().invoke(
        app,
        ["probe", "--input", str(data), "--label-column", "label", "--rank", "cp-lrp", "--rank", "random",
         "--budget", "40", "--edits", "delete,char"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "cp-lrp" in out.stdout and "random" in out.stdout and "accuracy" in out.stdout
    rows = [line.split() for line in out.stdout.splitlines() if line.split()[:1] in (["1"], ["2"])]
    assert sorted((row[0], row[1]) for row in rows) == [
        ("1", "cp-lrp"),
        ("1", "random"),
        ("2", "cp-lrp"),
        ("2", "random"),
    ]
    assert all(row[2] in ("positive", "negative", "neutral", "skipped") for row in rows), out.stdout


def test_table_view_unlabelled(demo):
    from trexplain.probe.table import attack_table

    table = attack_table([prober(demo, edits=("delete",), ranking="random")], ["great day", "awful day"])
    console = Console(record=True, width=160)
    console.print(table_view(table))
    assert "predicted" in console.export_text()


def test_probe_section_in_chromium(demo, tmp_path, browser):
    hostile = prober(demo, explain=True).run("<img src=x onerror=alert(1)> I love this amazing phone!")
    page_file = tmp_path / "probe.html"
    page_file.write_text(render(probe_payload(hostile, {"name": "demo"})))
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script("window.__alerts = 0; window.alert = function () { window.__alerts += 1; };")
    page.goto(page_file.as_uri())
    page.wait_for_selector("html[data-ready=true]", timeout=10_000)
    section = page.locator(".tx-probe")
    texts = section.locator(".tx-probe-text").all_inner_texts()
    assert texts == [hostile.original, hostile.edited]
    assert section.locator(".tx-probe-changed").count() == 2 * hostile.words_changed - sum(
        1 for c in hostile.changes if c["edited"] == ""
    )
    assert section.locator("del").count() == hostile.words_changed
    assert page.evaluate("window.__alerts") == 0 and errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    section.screenshot(path=str(ARTIFACTS / "probe-section.png"))


def test_similarity_constraint(demo):
    from trexplain.probe import Constraints
    from trexplain.probe.oracle import Oracle

    loose = prober(demo, constraints=Constraints(min_similarity=-1.0)).run(TEXT)
    assert loose.success and loose.similarity is not None and loose.similarity < 0.999
    strict = prober(demo, constraints=Constraints(min_similarity=loose.similarity + 1e-3)).run(TEXT)
    assert strict.words_changed == 0 or strict.similarity >= loose.similarity + 1e-3
    assert prober(demo).run(TEXT).similarity is None
    # pooled scoring counts the same rows and gives the same probabilities as the plain forward
    plain, pooled = Oracle(demo), Oracle(demo, pooled=True)
    a, b = plain.score([TEXT, "fine"]), pooled.score([TEXT, "fine"])
    assert plain.used == pooled.used == 2 and a[0].pooled is None and b[0].pooled.shape == (384,)
    assert all(float((x.probabilities - y.probabilities).abs().max()) < 1e-3 for x, y in zip(a, b, strict=True))
