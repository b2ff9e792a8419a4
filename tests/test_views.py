"""Views without a browser: report dict, escaping, page and notebook HTML, figures, terminal, `report` CLI."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from trexplain import explain
from trexplain.cli import app
from trexplain.errors import InputError
from trexplain.explanation import Explanation
from trexplain.records import group_by_input
from trexplain.report.run import attention_maps, make_report, write_report
from trexplain.viz import figures, terminal
from trexplain.viz.html import display_in_notebooks, explanation_fragment, iframe, page, render, script_json, show
from trexplain.viz.html import script as html_script
from trexplain.viz.payload import attention_entry, build_payload, decode_attention

INJECT = ["I love it <script>alert(1)</script> really", "so bad <img src=x onerror=alert(1)> \"';"]


@pytest.fixture(scope="module")
def adapter(tiny):
    return tiny["bert"]


@pytest.fixture(scope="module")
def explanations(adapter):
    return explain(INJECT, adapter, "gxi", target="all")


def _start_tags(document: str) -> list[str]:
    """Element names as a browser's tokenizer sees them (script content is raw text, not markup)."""
    tags: list[str] = []
    parser = HTMLParser()
    parser.handle_starttag = lambda tag, attrs: tags.append(tag)
    parser.feed(document)
    return tags


def test_script_json_cannot_close_its_element():
    payload = {"text": "</script><script>alert(1)</script> <!-- x --> </SCRIPT>", "n": [1.5, None]}
    text = script_json(payload)
    assert "</" not in text and "<!--" not in text
    assert json.loads(text) == payload


def test_page_escapes_everything_and_pins_its_script(explanations):
    document = page(explanations, title="<script>alert(1)</script>")
    assert _start_tags(document).count("script") == 2  # the data element and the renderer, nothing injected
    assert "img" not in _start_tags(document)
    assert "<script>alert(1)</script>" not in document
    script = document.rsplit("<script>", 1)[1].removesuffix("</script></body></html>\n")
    assert script == html_script()
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src &#x27;sha256-{digest}&#x27;" in document
    assert "default-src &#x27;none&#x27;" in document
    data = re.search(r'<script type="application/json" id="tx-data">(.*?)</script>', document, re.S).group(1)
    payload = json.loads(data)
    assert [t["text"] for t in payload["texts"]] == INJECT
    assert payload["title"] == "<script>alert(1)</script>"


def test_notebook_iframe_round_trips_the_page(explanations):
    fragment = explanation_fragment([explanations[0]])
    source = re.search(r'srcdoc="([^"]*)"', fragment).group(1)
    assert "<" not in source and '"' not in source
    assert html.unescape(source) == page([explanations[0]])
    assert 'sandbox="allow-scripts"' in fragment
    assert html.unescape(re.search(r'srcdoc="([^"]*)"', show(explanations)._repr_html_()).group(1)) == page(
        explanations
    )
    assert iframe("<p>&\"'</p>").count("&quot;") == 1


def test_ipython_shows_an_explanation_as_the_page(explanations):
    shell = pytest.importorskip("IPython.core.interactiveshell", reason="IPython not installed").InteractiveShell
    ip = shell.instance()
    try:
        display_in_notebooks()
        shown, _ = ip.display_formatter.format(explanations[0])
        assert html.unescape(re.search(r'srcdoc="([^"]*)"', shown["text/html"]).group(1)) == page([explanations[0]])
    finally:
        shell.clear_instance()


def test_payload_values_match_the_explanation(explanations):
    payload = build_payload(group_by_input(explanations))
    assert len(payload["texts"]) == 2
    for entry, e in zip(payload["texts"], explanations, strict=True):
        assert entry["tokens"] == list(e.tokens) and entry["predicted"] == e.predicted
        np.testing.assert_allclose(entry["probabilities"], e.probabilities, rtol=1e-4)
        [exp] = entry["explanations"]
        np.testing.assert_allclose(exp["scores"], e.scores, rtol=1e-4, atol=1e-9)
        for k, target in enumerate(e.targets):
            words, values = figures.word_values(entry, exp["scores"][k])
            assert words == e.word_texts()
            np.testing.assert_allclose(values, e.word_scores(target), rtol=1e-3, atol=1e-6)
    assert payload["methods"]["gxi"]["signed"] is True


def test_payload_rejects_mismatched_inputs(explanations):
    with pytest.raises(InputError, match="must share text"):
        build_payload([explanations])  # two texts in one group
    with pytest.raises(InputError, match="one per text"):
        build_payload(group_by_input(explanations), attention=[None])
    bad = {"tokens": ["a"], "attention": np.zeros((1, 1, 2, 2))}
    with pytest.raises(InputError, match="lists 1 token"):
        attention_entry(bad, explanations[0], 128)


def test_attention_round_trip_and_limit(adapter, explanations):
    [maps, _] = attention_maps(adapter, [[e] for e in explanations])
    weights = np.asarray(maps["attention"])
    assert weights.shape[:2] == (len(adapter.layers), adapter.config.num_attention_heads)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)  # rows of probabilities
    entry = attention_entry(maps, explanations[0], 128)
    np.testing.assert_allclose(decode_attention(entry), weights, atol=0.5 / 255 + 1e-6)
    assert "at most 4 tokens" in attention_entry(maps, explanations[0], 4)["skipped"]


def test_make_report_with_evaluation(adapter):
    pytest.importorskip("trexplain.evaluate", reason="trexplain.evaluate is not installed")
    texts = ["good day", "bad day", "good day"]
    payload = make_report(texts, adapter, ["gxi", "saliency"], target="all", evaluate=True, attention_texts=1)
    assert [t["text"] for t in payload["texts"]] == texts
    assert payload["texts"][0]["attention"]["layers"] == len(adapter.layers)
    assert payload["texts"][1]["attention"] is None
    for entry in payload["texts"]:  # 2 methods + the random floor, 3 classes each; duplicates not doubled
        found = sorted((e["method"], e["target"]) for e in entry["evaluation"])
        assert found == sorted((m, c) for m in ("gxi", "saliency", "random") for c in entry["labels"])
        curve = entry["evaluation"][0]["curves"]["morf"]
        assert curve["fractions"][0] == 0 and len(curve["fractions"]) == len(curve["probabilities"])
    methods = {row["method"] for row in payload["summary"]["table"]}
    assert methods == {"gxi", "saliency", "random"}
    assert isinstance(payload["summary"]["verdict"], str) and payload["summary"]["verdict"]
    assert payload["model"]["parameters"] == sum(p.numel() for p in adapter.model.parameters())


def test_make_report_with_sanity_check(adapter):
    payload = make_report(["good day", "bad day", "fine"], adapter, ["gxi", "saliency"], sanity=True, sanity_texts=2)
    checks = {c["method"]: c for c in payload["sanity"]}
    assert set(checks) == {"gxi", "saliency"} and payload["params"]["sanity"] == "first 2 texts"
    for check in checks.values():
        assert check["texts"] == 2 and isinstance(check["flagged"], bool)
        names = [s["step"] for s in check["steps"]]
        assert names == ["head", *(f"block {i}" for i in reversed(range(len(adapter.layers)))), "embeddings"]
        assert all(-1 <= s["spearman"] <= 1 for s in check["steps"])
    assert make_report(["good day"], adapter, ["gxi"])["sanity"] is None
    data = re.search(r'<script type="application/json" id="tx-data">(.*?)</script>', render(payload), re.S).group(1)
    assert json.loads(data)["sanity"] == payload["sanity"]


def test_figures(tmp_path, explanations):
    data = explanations[0].to_dict()
    layers = np.arange(2 * 3 * len(data["tokens"]), dtype=float).reshape(2, 3, -1) - 5
    layered = Explanation.from_dict({**data, "method": "made$up", "layer_scores": layers})
    fractions = [0.0, 0.5, 1.0]
    curves = {
        name: {"fractions": fractions, "probabilities": [0.9, 0.5, 0.1]} for name in ("morf", "lerf", "insertion")
    }
    result = {"method": "gxi", "target": data["labels"][0], "curves": curves, "aopc_comprehensiveness": 0.3}
    payload = build_payload(
        [[explanations[0], layered]],
        attention=[{"tokens": data["tokens"], "attention": np.full((2, 2, len(layers[0, 0]), len(layers[0, 0])), 0.5)}],
        evaluation=[[result]],
    )
    written = figures.write_figures(payload, tmp_path / "svg", "svg")
    names = sorted(p.name for p in written)
    assert len(names) == 3 * 2 + 3 + 1 + 1  # bars per class × 2 methods, layer maps, one curve, attention
    assert "text000_made-up_negative_layers.svg" in names and "text000_attention.svg" in names
    assert "text000_negative_curves.svg" in names  # every method of the text and class in one figure
    for path in written:
        ET.parse(path)  # well-formed SVG
    with pytest.raises(InputError, match="png, svg"):
        figures.write_figures(payload, tmp_path, "gif")


def test_terminal_view(explanations):
    e = explanations[0]
    checked = Explanation.from_dict({**e.to_dict(), "diagnostics": {"completeness_error": [0.5, 0.00123, 2.0]}})
    console = Console(record=True, width=100, color_system=None)
    console.print(terminal.render_all([e]), terminal.render(checked, target=checked.targets[1]))
    out = console.export_text()
    probs = "  ".join(f"{label} {p:.2f}" for label, p in zip(e.labels, e.probabilities, strict=True))
    assert "completeness error 0.0012" in out and probs in out
    assert "<script>alert(1)</script>" in out  # shown as text
    for word, score in zip(e.word_texts(), e.word_scores(), strict=True):
        assert f"{score:+.3f}" in out and word in out


def test_report_cli(tmp_path, tiny_dirs):
    runner = CliRunner()
    out = tmp_path / "r.html"
    options = ["--method", "gxi", "--out", str(out), "--png", str(tmp_path / "png"), "--attention", "1"]
    result = runner.invoke(app, ["report", *INJECT, "--model", str(tiny_dirs["bert"]), *options, "--title", "<b>t</b>"])
    assert result.exit_code == 0, result.output
    document = out.read_text()
    assert "<b>t</b>" not in document and "&lt;b&gt;t&lt;/b&gt;" in document
    payload = json.loads(re.search(r'id="tx-data">(.*?)</script>', document, re.S).group(1))
    assert payload["params"]["methods"] == ["gxi"] and payload["texts"][1]["attention"] is None
    assert len(list((tmp_path / "png").glob("*.png"))) == 2 + 1
    missing = runner.invoke(
        app, ["report", "x", "--model", str(tiny_dirs["bert"]), "--out", str(tmp_path / "no/r.html")]
    )
    assert missing.exit_code == 2 and "error:" in missing.output


def test_write_report_names_missing_folder(tmp_path, explanations):
    with pytest.raises(InputError, match="no such folder"):
        write_report(build_payload(group_by_input(explanations)), tmp_path / "missing" / "r.html")
    assert render(build_payload(group_by_input(explanations))).startswith("<!doctype html>")
