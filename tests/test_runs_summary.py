"""Dataset views of a run checked against values recomputed from the loaded explanations; the run report with
its dataset section (and in a real browser when chromium is there)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.chromium import launch
from tests.tiny import CORPUS, save_tiny
from trexplain.evaluate.plausibility import plausibility, rationale_words, word_scores
from trexplain.evaluate.ranks import spearman
from trexplain.report.run import run_report
from trexplain.runs import load_run, run_dataset
from trexplain.runs.reader import parse_rationale
from trexplain.runs.summary import special_share, summarize
from trexplain.viz.html import render


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("summary")
    model = save_tiny("bert", root / "tiny-bert")
    source = root / "marked.jsonl"
    rows = [{"id": f"r{i}", "text": f"{CORPUS[i % 8]} {i}", "why": [0, 1] if i % 3 else None} for i in range(18)]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = root / "run"
    run_dataset(
        source,
        out,
        model=model,
        methods=["cp-lrp", "saliency"],
        evaluate=True,
        id_column="id",
        rationale_column="why",
        shard_size=7,
    )
    return out, rows


def test_summary_matches_values_recomputed_from_the_run(run):
    out, rows = run
    summary = summarize(out, top=5, min_count=2, size=4)
    explanations, table = load_run(out), load_run(out, "arrow")
    assert summary["texts"] == 18 and summary["methods"] == ["cp-lrp", "saliency"]
    cp = [e for e in explanations if e.method == "cp-lrp"]
    totals: dict[tuple[str, str], list[float]] = {}
    for e in cp:
        for word, score in zip(e.layout.feature_labels(), word_scores(e), strict=True):
            totals.setdefault((e.predicted_label, word.lower()), []).append(score)
    for label, tables in summary["words"]["cp-lrp"].items():
        expected = sorted(((sum(v), w) for (c, w), v in totals.items() if c == label), key=lambda x: (-x[0], x[1]))
        assert [r["word"] for r in tables["total"]] == [w for _, w in expected[:5]]
        for r in tables["total"] + tables["mean"]:
            values = totals[(label, r["word"])]
            assert r["count"] == len(values) and r["total"] == pytest.approx(sum(values))
            assert r["mean"] == pytest.approx(np.mean(values))
        assert all(r["count"] >= 2 for r in tables["mean"])
    confidence = sorted(float(np.exp(e.logits).max() / np.exp(e.logits).sum()) for e in cp)
    assert [x["confidence"] for x in summary["lists"]["lowest_confidence"]] == pytest.approx(confidence[:4])
    rho = sorted(
        spearman(word_scores(a), word_scores(b)) for a, b in zip(explanations[::2], explanations[1::2], strict=True)
    )
    assert [x["correlation"] for x in summary["lists"]["method_disagreement"]] == pytest.approx(rho[:4])
    shares = sorted((special_share(e, 0) for e in cp), reverse=True)
    found = [x["share"] for x in summary["lists"]["special_or_punctuation"] if x["method"] == "cp-lrp"]
    assert found == pytest.approx(shares[:4])
    comp = [
        c[e.targets.index(int(np.argmax(e.logits)))]
        for e, c in zip(explanations, table.column("comprehensiveness").to_pylist(), strict=True)
        if e.method == "saliency"
    ]
    histogram = summary["faithfulness"]["saliency"]["comprehensiveness"]
    assert histogram["n"] == 18 and sum(histogram["counts"]) == 18 and histogram["mean"] == pytest.approx(np.mean(comp))
    marked = [
        rationale_words(e, parse_rationale(rows[i // 2]["why"], "", "")) if rows[i // 2]["why"] else None
        for i, e in enumerate(explanations)
    ]
    for mine, theirs in zip(summary["plausibility"], plausibility(explanations, marked), strict=True):
        assert mine == pytest.approx(theirs)
    assert summary["plausibility"][0]["texts"] == 12


def test_run_report_samples_texts_and_carries_the_dataset_section(run, tmp_path):
    out, _ = run
    payload = run_report(out, sample=5, seed=1)
    listed = {e["id"] for entries in payload["dataset"]["lists"].values() for e in entries}
    assert 5 <= len(payload["texts"]) <= 5 + len(listed)
    assert all(len(t["explanations"]) == 2 for t in payload["texts"])  # both methods of each shown text
    assert payload["params"]["texts in the run"] == 18
    page = render(payload)
    assert 'key: "dataset"' in page
    path = tmp_path / "run.html"
    path.write_text(page)
    with launch() as browser:  # skips here, after the checks above, without Chromium
        view = browser.new_page()
        errors: list[str] = []
        view.on("pageerror", lambda e: errors.append(str(e)))
        view.goto(path.as_uri())
        view.wait_for_selector(".tx-dataset")
        headings = view.locator(".tx-dataset h3").all_text_contents()
        view.locator(".tx-ds-method", has_text="saliency").click()
        after = view.locator(".tx-dataset h3").all_text_contents()
    assert not errors
    assert headings[0].startswith("Plausibility") and "Words per predicted class · cp-lrp" in headings
    assert (
        "Words per predicted class · saliency" in after and "Faithfulness over the dataset (predicted class)" in after
    )
    assert len(headings) >= 8


def test_cli_report_run(run, tmp_path):
    from typer.testing import CliRunner

    from trexplain.cli import app

    out, _ = run
    page = tmp_path / "run.html"
    result = CliRunner().invoke(app, ["report", "--run", str(out), "--out", str(page), "--sample", "3", "--quiet"])
    assert result.exit_code == 0, result.output
    assert page.exists() and "wrote" in result.output and '"dataset"' in page.read_text()
    result = CliRunner().invoke(app, ["report", "some text", "--run", str(out), "--out", str(page), "--quiet"])
    assert result.exit_code == 2 and "--run reports on a run folder" in result.output
    result = CliRunner().invoke(app, ["report", "--run", str(tmp_path), "--out", str(page), "--quiet"])
    assert result.exit_code == 2 and "is not a run folder" in result.output
