"""`trexplain compare --html` in Chromium: one column per model (named), every method, one colour scale per text
and method shared by the models, agreement figures (checked against SciPy's Spearman and a hand count of the top
words), the "N texts · M models" count and escaping; and the base value in `compare`'s terminal output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.test_browser import Tab
from tests.tiny import save_tiny
from trexplain.cli import app

stats = pytest.importorskip("scipy.stats", reason="scipy is not installed: pip install scipy")

HOSTILE_MODEL = "<img src=x onerror=alert(1)>"
TEXTS = [
    "The movie was wonderful.",
    "What a day \"';<script>alert(1)</script> ok",
    "Nothing special: an average day.",
]
METHODS = ["gxi", "kernelshap"]
TOP = 3
runner = CliRunner()


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """The page, its payload and the `--json` result of comparing two tiny models (one with a hostile name)."""
    root = tmp_path_factory.mktemp("compare")
    models = [save_tiny("bert", root / HOSTILE_MODEL, seed=0), save_tiny("bert", root / "plain", seed=1)]
    page = root / "c.html"
    args = ["compare", *TEXTS, "--top", str(TOP), "--html", str(page), "--json"]
    args += [a for m in models for a in ("-m", str(m))] + [a for m in METHODS for a in ("--method", m)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(re.search(r'id="tx-data">(.*?)</script>', page.read_text(), re.S).group(1))
    return page, payload, json.loads(result.stdout), models


def word_scores(entry: dict, m: int) -> np.ndarray:
    """Word scores (sum of each word's token scores) of the entry's m-th explanation, first target."""
    out = np.zeros(len(entry["words"]))
    for score, word in zip(entry["explanations"][m]["scores"][0], entry["word_ids"], strict=True):
        if word >= 0:
            out[word] += score
    return out


def expected_agreement(a: dict, b: dict, m: int) -> tuple[float, int, int, int]:
    """Spearman ρ (SciPy), shared words, k and top-k overlap of two models' word scores over their shared spans."""
    spans_b = {tuple(span): w for w, span in enumerate(b["words"])}
    pairs = [(w, spans_b[tuple(span)]) for w, span in enumerate(a["words"]) if tuple(span) in spans_b]
    sa, sb = word_scores(a, m), word_scores(b, m)
    xa, xb = np.array([sa[i] for i, _ in pairs]), np.array([sb[j] for _, j in pairs])
    k = min(TOP, len(pairs))
    top_a, top_b = set(np.argsort(-xa, kind="stable")[:k]), set(np.argsort(-xb, kind="stable")[:k])
    return float(stats.spearmanr(xa, xb).statistic), len(pairs), k, len(top_a & top_b)


def test_compare_page_shows_models_side_by_side(browser, compared):
    page_path, payload, result, _ = compared
    tab = Tab(browser, viewport=(1300, 900))
    tab.open(page_path)
    page = tab.page
    assert payload["texts"] == [] and payload["comparison"]["models"] == [HOSTILE_MODEL, "plain"]
    assert page.locator(".tx-cmp-count").text_content() == "3 texts · 2 models · 2 methods: gxi, kernelshap"
    cards = page.locator("article.tx-cmp-text")
    assert cards.count() == len(TEXTS)
    for i, text in enumerate(payload["comparison"]["texts"]):
        card = cards.nth(i)
        assert card.locator(".tx-cmp-quote").text_content() == TEXTS[i] == text["text"]
        assert card.locator(".tx-cmp-model").all_text_contents() == [HOSTILE_MODEL, "plain"]
        assert card.locator("tr.tx-cmp-method").evaluate_all("rs => rs.map(r => r.dataset.method)") == METHODS
        a, b = text["entries"]
        predicted = [e["labels"][e["predicted"]] for e in (a, b)]
        assert text["labels_agree"] == (predicted[0] == predicted[1])
        assert card.locator(".tx-cmp-labels").text_content() == (
            "same predicted label" if predicted[0] == predicted[1] else "predicted labels differ"
        )
        for m, method in enumerate(METHODS):
            row = card.locator(f'tr.tx-cmp-method[data-method="{method}"]')
            # one scale for the text and method: the largest |word score| over both models, in every column
            scale = text["methods"][m]["scale"]
            assert scale == pytest.approx(max(np.abs(word_scores(e, m)).max() for e in (a, b)), rel=1e-5)
            cells = row.locator("td.tx-cmp-cell")
            assert cells.evaluate_all("cs => cs.map(c => Number(c.dataset.peak))") == [scale, scale]
            stated = re.search(r"full colour at \|score\| (\S+) ", row.locator(".tx-cmp-scale").text_content())
            assert float(stated.group(1)) == pytest.approx(scale, rel=1e-3)
            for j, entry in enumerate((a, b)):
                spans = cells.nth(j).locator(".tx-u")
                shown = spans.evaluate_all("ss => ss.map(s => [Number(s.dataset.score), s.style.backgroundColor])")
                assert [v for v, _ in shown] == pytest.approx(word_scores(entry, m).tolist(), abs=1e-9)
                for value, colour in shown:
                    alpha = float(colour.rsplit(",", 1)[1].rstrip(")")) if colour.startswith("rgba") else 1.0
                    assert alpha == pytest.approx(min(1.0, abs(value) / scale), abs=1 / 255)  # 8-bit alpha
            rho, common, k, overlap = expected_agreement(a, b, m)
            figures = text["methods"][m]["agreement"][0]
            assert figures["spearman"] == pytest.approx(rho, abs=1e-4) and figures["common_words"] == common
            assert (figures["top_k"], figures["top_k_overlap"]) == (k, overlap)
            assert row.locator(".tx-cmp-agree").text_content() == (
                f"ρ {rho:+.2f} over {common} shared words · top-{k} overlap {overlap}/{k}"
            )
            bases = row.locator(".tx-cmp-base").all_text_contents()
            json_bases = result["texts"][i]["methods"][m]["base_values"]
            if method == "kernelshap":
                assert [float(t.split()[2]) for t in bases] == pytest.approx(json_bases, rel=1e-3)
            else:
                assert bases == [] and json_bases == [None, None]
    page.locator(".tx-cmp-cards > summary").first.click()
    assert cards.first.locator(".tx-cmp-column > h3").all_text_contents() == [HOSTILE_MODEL, "plain"]
    assert cards.first.locator(".tx-cmp-column article.tx-card").count() == 2
    assert page.locator("img, script:not([id=tx-data])").count() == 1  # the renderer's own script alone
    tab.check_clean(page_path)
    page.close()


def test_compare_terminal_shows_base_values(compared):
    models = compared[3]
    args = ["compare", TEXTS[0], "-m", str(models[0]), "-m", str(models[1]), "--method", "kernelshap"]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    as_json = runner.invoke(app, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    (row,) = json.loads(as_json.stdout)["texts"]
    bases = row["methods"][0]["base_values"]
    assert all(b is not None for b in bases) and [s["base_value"] for s in row["models"]] == bases
    for name, base in zip((Path(m).name for m in models), bases, strict=True):
        assert f"kernelshap base value of {name}: {base:.4g} (output with every word removed)" in out.stdout
    assert "predicted labels " in out.stdout and "Spearman ρ" in out.stdout
