"""Global words over a dataset run: a hand-built run folder with known scores against numpy and scipy, streaming
over shards, the t quantile against scipy, and the report's dataset section in Chromium (top words, escaping)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.chromium import launch
from trexplain.amortize import global_words
from trexplain.cli import app
from trexplain.errors import InputError
from trexplain.explanation import Explanation
from trexplain.report.run import run_report
from trexplain.runs.manifest import Manifest, RunConfig, write_manifest
from trexplain.runs.shards import shard_table, write_shard
from trexplain.runs.summary import summarize
from trexplain.runs.words import WordStats, t_quantile
from trexplain.viz.html import render

stats = pytest.importorskip("scipy.stats", reason="scipy gives the independent t-interval (test extra)")

SHOTS = Path("/work/wt/shots")
HOSTILE = "<img src=x onerror=window.__pwned=1>"
LABELS = ["neg", "pos"]
# (words, the "pos" score of each word); "neg" gets -0.5 × these, cp-lrp gets 2 × these
TEXTS = [
    (["great", "movie"], [2.0, 0.1]),
    (["Great", "plot", "great"], [1.0, 0.3, 3.0]),
    (["awful", "movie"], [-1.5, 0.2]),
    (["awful", "plot"], [-2.5, -0.1]),
    (["great", HOSTILE], [1.5, 0.4]),
    (["awful", HOSTILE, "day"], [-2.0, 0.6, 0.0]),
]
SCALE = {"kernelshap": 1.0, "cp-lrp": 2.0}


def explanation(words: list[str], scores: list[float], method: str) -> Explanation:
    """One explanation of both classes with one token per word, the text the words joined by spaces."""
    text = " ".join(words)
    spans, start = [], 0
    for w in words:
        spans.append((start, start + len(w)))
        start += len(w) + 1
    pos = np.asarray(scores) * SCALE[method]
    return Explanation(
        text,
        words,
        spans,
        list(range(len(words))),
        spans,
        [False] * len(words),
        labels=LABELS,
        logits=[0.0, float(pos.sum())],
        targets=[0, 1],
        scores=[-0.5 * pos, pos],
        method=method,
        model="hand",
    )


def write_run(folder: Path, texts: list[tuple[list[str], list[float]]], shard: int) -> Path:
    """A run folder of `texts`, both methods per text, `shard` texts a shard: the layout `trexplain run` writes."""
    folder.mkdir(parents=True)
    methods = tuple(SCALE)
    infos = []
    for first in range(0, len(texts), shard):
        chunk = texts[first : first + shard]
        xs = [explanation(w, s, m) for w, s in chunk for m in methods]
        ids = [f"t{first + i // len(methods)}" for i in range(len(xs))]
        rows = [first + i // len(methods) for i in range(len(xs))]
        table = shard_table(xs, {"id": ids, "row": rows}, len(chunk))
        infos.append(write_shard(folder, first, first + len(chunk) - 1, table).to_dict())
    config = RunConfig(
        model="hand",
        weights_sha256="0" * 64,
        methods=methods,
        params={m: {} for m in methods},
        target="all",
        evaluate=False,
        truncate=False,
        input_name="hand.jsonl",
        input_sha256="0" * 64,
        text_column=None,
        id_column=None,
        rationale_column=None,
        shard_size=shard,
    )
    write_manifest(folder, Manifest(config, shards=infos, complete=True))
    return folder


def expected(texts: list[tuple[list[str], list[float]]], factor: float, min_count: int) -> dict[str, dict]:
    """Mean, count, occurrences and the scipy t-interval per word, recomputed from the raw scores."""
    per_word: dict[str, list[float]] = {}
    occurrences: dict[str, int] = {}
    for words, scores in texts:
        seen: dict[str, list[float]] = {}
        for w, s in zip(words, scores, strict=True):
            seen.setdefault(w.lower(), []).append(factor * s)
        for w, values in seen.items():
            per_word.setdefault(w, []).append(float(np.mean(values)))
            occurrences[w] = occurrences.get(w, 0) + len(values)
    out = {}
    for w, values in per_word.items():
        if len(values) >= min_count:
            a = np.asarray(values)
            low, high = stats.t.interval(0.95, len(a) - 1, loc=a.mean(), scale=stats.sem(a))
            out[w] = {"mean": a.mean(), "count": len(a), "occurrences": occurrences[w], "low": low, "high": high}
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return write_run(tmp_path_factory.mktemp("global") / "run", TEXTS, shard=4)


def check(entry: dict, texts: list, factor: float, min_count: int) -> None:
    want = expected(texts, factor, min_count)
    rows = entry["for"] + entry["against"]
    assert entry["texts"] == len(texts) and entry["ranked"] == len(want)
    assert {r["word"] for r in rows} == {w for w, v in want.items() if v["mean"] != 0}
    for r in rows:
        w = want[r["word"]]
        assert r["mean"] == pytest.approx(w["mean"]) and r["count"] == w["count"]
        assert r["low"] == pytest.approx(w["low"]) and r["high"] == pytest.approx(w["high"])
        assert r["occurrences"] == w["occurrences"] and r["frequency"] == pytest.approx(w["count"] / len(texts))
    assert [r["mean"] for r in entry["for"]] == sorted((r["mean"] for r in entry["for"]), reverse=True)
    assert [r["mean"] for r in entry["against"]] == sorted(r["mean"] for r in entry["against"])
    assert all(r["mean"] > 0 for r in entry["for"]) and all(r["mean"] < 0 for r in entry["against"])


def test_global_words_of_a_hand_built_run_match_numpy_and_scipy(run, tmp_path):
    result = global_words(run, method="kernelshap", min_count=2, out=tmp_path / "g.json")
    assert json.loads((tmp_path / "g.json").read_text(encoding="utf-8")) == result
    pos, neg = result["classes"]["pos"], result["classes"]["neg"]
    check(pos, TEXTS, 1.0, 2)
    check(neg, TEXTS, -0.5, 2)
    great = pos["for"][0]
    assert great["word"] == "great" and great["mean"] == pytest.approx(11 / 6)  # per text 2, (1+3)/2, 1.5
    assert (great["count"], great["occurrences"], great["frequency"]) == (3, 4, 0.5)
    assert pos["against"][0]["word"] == "awful" and neg["for"][0]["word"] == "awful"
    assert "day" not in {r["word"] for r in pos["for"] + pos["against"]}  # one text: below the minimum count
    assert pos["for"][1]["positive_share"] == 1.0
    doubled = global_words(run, method="cp-lrp", min_count=2)["classes"]["pos"]
    check(doubled, TEXTS, 2.0, 2)
    assert global_words(run, method="kernelshap", min_count=4)["classes"]["pos"]["ranked"] == 0


def test_identical_values_give_a_zero_width_interval(tmp_path):
    run = write_run(tmp_path / "run", [(["a", "b"], [1.0, -1.0])] * 3, shard=2)
    (row,) = global_words(run, method="kernelshap", min_count=2)["classes"]["pos"]["for"]
    assert row["word"] == "a" and row["low"] == row["high"] == row["mean"] == 1.0


def test_streaming_over_many_shards_matches_the_whole_at_once(tmp_path):
    rng = np.random.default_rng(0)
    vocabulary = [f"w{i}" for i in range(12)]
    texts = []
    for _ in range(120):
        words = list(rng.choice(vocabulary, size=int(rng.integers(1, 7))))
        texts.append((words, list(rng.normal(0.3, 1.0, len(words)) + 100.0)))  # offset: catastrophic Σx² fails
    run = write_run(tmp_path / "run", texts, shard=7)
    result = global_words(run, method="kernelshap", top=50, min_count=3)["classes"]
    check(result["pos"], texts, 1.0, 3)
    check(result["neg"], texts, -0.5, 3)


def test_t_quantile_matches_scipy():
    for df in (1, 2, 3, 9, 30, 1000, 100_000):
        for confidence in (0.5, 0.9, 0.95, 0.999):
            assert t_quantile(confidence, df) == pytest.approx(stats.t.ppf((1 + confidence) / 2, df), rel=1e-9)


def test_bad_options_are_refused_before_the_run_is_read(run, tmp_path):
    with pytest.raises(InputError, match="min_count at least 2"):
        global_words(tmp_path / "not-a-run", min_count=1)
    with pytest.raises(InputError, match="name the method"):
        global_words(run)
    with pytest.raises(InputError, match="not 'lime'"):
        global_words(run, method="lime")
    with pytest.raises(InputError, match="confidence"):
        WordStats().table(5, 2, confidence=1.0)


def test_summary_and_terminal_share_the_computation(run):
    summary = summarize(run, min_count=2)
    assert summary["global_words"]["kernelshap"] == global_words(run, method="kernelshap", min_count=2)["classes"]
    assert summary["min_count"] == 2 and summary["confidence"] == 0.95
    result = CliRunner().invoke(app, ["amortize", "global", str(run), "--method", "cp-lrp", "--min-count", "2"])
    assert result.exit_code == 0, result.output
    assert "pos — words for" in result.stdout and "great" in result.stdout


def test_report_shows_words_that_matter_per_class_and_escapes_words(run, tmp_path):
    page = render(run_report(run, min_count=2))
    path = tmp_path / "run.html"
    path.write_text(page, encoding="utf-8")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with launch() as browser:  # skips here, after the checks above, without Chromium
        view = browser.new_page(viewport={"width": 1100, "height": 900})
        errors: list[str] = []
        view.on("pageerror", lambda e: errors.append(str(e)))
        view.goto(path.as_uri())
        view.wait_for_selector(".tx-gw")
        section = view.locator(".tx-gw")
        top = {}
        for label in ("neg", "pos"):
            section.locator(".tx-gw-class", has_text=label).click()
            top[label] = (
                section.locator(".tx-gw-for .tx-ds-word").first.text_content(),
                section.locator(".tx-gw-against .tx-ds-word").first.text_content(),
            )
        words = section.locator(".tx-gw-for .tx-ds-word").all_text_contents()
        labels = section.locator(".tx-gw-label").all_text_contents()
        caption = section.locator("p.tx-ds-caption").first.text_content()
        pressed = section.locator(".tx-gw-class[aria-pressed=true]").all_text_contents()
        section.screenshot(path=str(SHOTS / "global-words.png"))
        view.locator(".tx-ds-method", has_text="cp-lrp").click()
        view.locator(".tx-gw-class", has_text="pos").click()
        doubled = view.locator(".tx-gw .tx-gw-for td").nth(1).text_content()
        pwned = view.evaluate("window.__pwned === 1 || document.querySelectorAll('.tx-dataset img').length > 0")
    assert not errors and not pwned
    assert top == {"neg": ("awful", "great"), "pos": ("great", "awful")} and pressed == ["pos"]
    assert HOSTILE in words and HOSTILE[:23] + "…" in labels
    assert "at least 2 texts" in caption and "95% t-interval" in caption
    want = expected(TEXTS, 1.0, 2)["great"]
    assert words[0] == "great" and doubled.startswith(f"{2 * want['mean']:.3f} ± ")
