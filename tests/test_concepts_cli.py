"""`trexplain concepts fit | show | explain`: a folder from a file or the demo corpus, tables, JSON, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from trexplain.cli import app
from trexplain.concepts import extract, load

pytest.importorskip("sklearn", reason="scikit-learn is an optional part: pip install 'trexplain[concepts]'")

runner = CliRunner()
TEXTS = [
    "Boring movie, boring actors.",
    "The movie was wonderful, the acting superb.",
    "boring",
    "Nothing special: an average day.",
    "what a wonderful and happy surprise",
    "The BORING day again",
] * 2
SMALL = ["-k", "3", "--importance-texts", "4", "--deletion-texts", "3", "--param", "max_iter=20"]


@pytest.fixture(scope="module")
def folder(tiny_dirs, tmp_path_factory):
    root = tmp_path_factory.mktemp("concepts-cli")
    (root / "texts.txt").write_text("\n".join(TEXTS) + "\n")
    out = root / "concepts"
    args = ["concepts", "fit", "--input", str(root / "texts.txt"), "--model", str(tiny_dirs["bert"])]
    result = runner.invoke(app, [*args, "--layer", "0", "--out", str(out), *SMALL])
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (3 concepts of {len(TEXTS)} texts)" in result.stderr
    return out


def test_fit_writes_a_folder_whose_dictionary_reloads(folder, tiny):
    meta = json.loads((folder / "concepts.json").read_text())["meta"]
    assert meta["site"] == "block_output:0" and meta["n_concepts"] == 3 and meta["params"]["max_iter"] == 20
    store = extract(tiny["bert"], TEXTS[:3], "block_output:0", "cls")
    codes = load(folder).encode(store)
    assert codes.shape == (3, 3) and np.isfinite(codes).all()


def test_show_prints_tables_labels_visibly_and_json(folder):
    (folder / "labels.json").write_text(json.dumps({"0": {"label": "bored\x1b[31m stiff"}}))
    shown = runner.invoke(app, ["concepts", "show", str(folder)], env={"COLUMNS": "160"})
    assert shown.exit_code == 0, shown.output
    assert "semi-nmf × 3 at block_output:0 (cls)" in shown.stdout and "deletion AOPC: ablation" in shown.stdout
    assert "bored␛[31m stiff" in shown.stdout and "\x1b[31m" not in shown.stdout
    data = json.loads(runner.invoke(app, ["concepts", "show", str(folder), "--json"]).stdout)
    assert data["labels"]["0"]["label"].startswith("bored") and len(data["interpretation"]["concepts"]) == 3
    bad = runner.invoke(app, ["concepts", "show", str(folder), "--importance", "nope"])
    assert bad.exit_code == 2 and "unknown importance 'nope'" in bad.stderr
    (folder / "labels.json").unlink()


def test_explain_lists_the_firing_concepts(folder, tiny_dirs):
    args = ["concepts", "explain", "what a boring day", "--concepts", str(folder), "--json"]
    result = runner.invoke(app, args)  # the model comes from the folder's meta
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["predicted"] in ("negative", "neutral", "positive") and len(data["concepts"]) == 3
    table = runner.invoke(app, args[:-1], env={"COLUMNS": "160"})
    assert table.exit_code == 0 and "ablation" in table.stdout and "predicted" in table.stdout
    other = runner.invoke(app, [*args, "--model", str(tiny_dirs["distilbert"])])
    assert other.exit_code == 2 and "other weights" in other.stderr


def test_fit_refuses_bad_options_in_one_line(tiny_dirs, tmp_path):
    (tmp_path / "t.txt").write_text("good day\nbad day\n")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "mine.txt").write_text("keep")
    base = ["concepts", "fit", "--input", str(tmp_path / "t.txt"), "--model", str(tiny_dirs["bert"]), "-k", "1"]
    for extra, message in (
        (["--out", str(tmp_path / "busy")], "holds other files"),
        (["--out", str(tmp_path / "o"), "--granularity", "sentence"], "unknown granularity"),
        (["--out", str(tmp_path / "o"), "--method", "lda"], "unknown concept method"),
        (["--out", str(tmp_path / "o"), "--class", "angry"], "unknown class 'angry'"),
    ):
        result = runner.invoke(app, [*base, *extra])
        assert result.exit_code == 2 and message in result.stderr, result.output
        assert len(result.stderr.strip().splitlines()) == 1
    assert (tmp_path / "busy" / "mine.txt").read_text() == "keep" and not (tmp_path / "o").exists()


def test_fit_on_the_demo_corpus_and_a_class(tmp_path):
    out = tmp_path / "demo"
    args = ["concepts", "fit", "--input", "demo", "--limit", "40", "--class", "negative", "--out", str(out)]
    result = runner.invoke(app, [*args, *SMALL, "--granularity", "mean", "--layer", "3"])
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "concepts.json").read_text())["meta"]
    assert meta["class"] == "negative" and meta["granularity"] == "mean" and meta["texts"] == 40
    assert 0 < meta["texts_used"] < 40


def test_label_names_and_scores_concepts_through_a_local_endpoint(folder, tiny_dirs, tmp_path):
    from tests.fake_llm import FakeLLM

    held_out = tmp_path / "held-out.txt"
    held_out.write_text("\n".join(["a boring evening", "wonderful news", "an average lunch", "boring again"]) + "\n")
    args = ["concepts", "label", str(folder), "--llm-model", "fake", "--api-key-env", "TX_TEST_KEY"]
    with FakeLLM() as llm:
        result = runner.invoke(
            app,
            [*args, "--llm-url", llm.url, "--held-out", str(held_out), "--model", str(tiny_dirs["bert"])],
            env={"TX_TEST_KEY": "sk-secret"},
        )
        assert result.exit_code == 0, result.output
        sent = len(llm.requests)
        assert sent >= 3 + 1  # one label per concept, then at least one scoring prompt
        assert all(r["headers"]["Authorization"] == "Bearer sk-secret" for r in llm.requests)
        again = runner.invoke(app, [*args, "--llm-url", llm.url, "--no-score"], env={"TX_TEST_KEY": "sk-secret"})
        assert again.exit_code == 0, again.output
        assert len(llm.requests) == sent  # every label answer came from the cache
    labels = json.loads((folder / "labels.json").read_text())
    assert sorted(labels) == ["0", "1", "2"] and all(entry["model"] == "fake" for entry in labels.values())
    assert "sk-secret" not in "".join(p.read_text() for p in (folder / "labels-cache").iterdir())
    shown = runner.invoke(app, ["concepts", "show", str(folder), "--json"])
    assert json.loads(shown.stdout)["labels"]["0"]["label"] == labels["0"]["label"]
    missing = runner.invoke(app, [*args, "--llm-url", "http://127.0.0.1:9/v1"])
    assert missing.exit_code == 2 and "--held-out" in missing.stderr
    (folder / "labels.json").unlink()
