"""The HTML report in a real browser: Debian's chromium, headless, driven by Playwright (no browser download).

One browser for the module. Each page counts console errors, page errors and network requests, and
replaces `window.alert` so an injected script that ran would be counted.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tests.chromium import ABSENT, CHROMIUM
from trexplain import explain
from trexplain.diagnostics import IDENTITIES
from trexplain.explanation import Explanation
from trexplain.report.run import attention_maps
from trexplain.viz import figures
from trexplain.viz.html import explanation_fragment, page, render
from trexplain.viz.payload import build_payload, decode_attention

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
INJECT = [
    "I can't believe it <script>alert(1)</script> happened!",
    "What a day \"';<img src=x onerror=alert(1)> ok",
]
CLICK_MS = "s => { const t = performance.now(); document.querySelector(s).click(); return performance.now() - t; }"
HOOK = "window.__alerts = 0; window.alert = function () { window.__alerts += 1; };"

if not CHROMIUM.exists():
    pytest.skip(ABSENT, allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright")


class Tab:
    """A page with its console errors, page errors and requests recorded."""

    def __init__(self, browser, viewport=(1100, 900)):
        self.page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.add_init_script(HOOK)

    def open(self, path: Path) -> float:
        began = time.perf_counter()
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("html[data-ready=true]", timeout=10_000)
        return time.perf_counter() - began

    def check_clean(self, path: Path | None = None) -> None:
        assert self.errors == []
        assert self.requests == ([path.as_uri()] if path else [])
        assert self.page.evaluate("window.__alerts") == 0

    def colours(self, card) -> list[str]:
        return card.locator(".tx-text .tx-u").evaluate_all("els => els.map(e => e.style.backgroundColor)")


@pytest.fixture(scope="module")
def study(demo):
    """Two hostile texts with two methods (every class), a layer-wise one, attention and evaluation dicts."""
    gxi = explain(INJECT, demo, "gxi", target="all")
    saliency = explain(INJECT, demo, "saliency", target="all")
    data = gxi[0].to_dict()
    rng = np.random.default_rng(0)
    layers = rng.normal(size=(len(demo.layers), 3, len(data["tokens"])))
    layered = Explanation.from_dict({**data, "method": "layered", "layer_scores": layers})
    fractions = np.linspace(0, 1, 11).tolist()
    curve = {"fractions": fractions, "probabilities": [1 - f for f in fractions]}
    result = {
        "method": "gxi",
        "target": gxi[0].predicted_label,
        "strategy": "delete",
        "level": "word",
        "curves": {"morf": curve, "lerf": curve, "insertion": curve},
        "aopc_comprehensiveness": 0.4,
        "aopc_sufficiency": 0.1,
        "delta_af": 0.3,
        "completeness_error": 1e-7,
    }
    row = {"comprehensiveness": 0.4, "sufficiency": 0.1, "delta_af": 0.3, "seconds": 0.01, "n": 2}
    payload = build_payload(
        [[gxi[0], saliency[0], layered], [gxi[1], saliency[1]]],
        title="study <script>alert(1)</script>",
        model={"name": "<img src=x onerror=alert(1)>", "card": "# card\n<script>alert(1)</script>\"';"},
        params={"note": "<script>alert(1)</script>"},
        attention=attention_maps(demo, [[gxi[0]], [gxi[1]]]),
        evaluation=[[result], None],
        summary={"table": [{"method": "gxi", **row}], "verdict": "<b onmouseover=alert(1)>trust gxi</b>"},
    )
    return gxi, payload


@pytest.fixture(scope="module")
def files(tmp_path_factory, study):
    folder = tmp_path_factory.mktemp("pages")
    paths = {"study": folder / "study.html"}
    paths["study"].write_text(render(study[1]))
    words = [f"w{i % 97}" for i in range(510)]
    paths["long"] = folder / "long.html"
    paths["long"].write_text(page([synthetic(" ".join(words), layers=6)]))
    paths["many"] = folder / "many.html"
    paths["many"].write_text(page([synthetic(f"text number {i} says <b>{'ok ' * (i % 30)}</b>") for i in range(200)]))
    return paths


def synthetic(text: str, layers: int = 0) -> Explanation:
    """An explanation with one token per word plus [CLS]/[SEP] and seeded scores, without a model."""
    spans, cursor = [], 0
    for word in text.split(" "):
        spans.append((cursor, cursor + len(word)))
        cursor += len(word) + 1
    n = len(spans) + 2
    rng = np.random.default_rng(n)
    return Explanation(
        text=text,
        tokens=["[CLS]", *(text[s:e] for s, e in spans), "[SEP]"],
        offsets=[(0, 0), *spans, (0, 0)],
        word_ids=[-1, *range(len(spans)), -1],
        words=spans,
        special=[True, *[False] * len(spans), True],
        labels=("negative", "positive"),
        logits=[0.2, 1.0],
        targets=[0, 1],
        scores=rng.normal(size=(2, n)),
        method="made-up",
        layer_scores=rng.normal(size=(layers, 2, n)) if layers else None,
    )


def test_study_page(browser, files, study):
    gxi, _ = study
    tab = Tab(browser)
    tab.open(files["study"])
    p = tab.page
    card = p.locator("article.tx-card").first
    # injected strings are shown as text, never as elements
    assert "<script>alert(1)</script>" in card.locator(".tx-text").inner_text()
    assert p.locator("img").count() == 0 and p.locator("script").count() == 2
    sync_api.expect(p.locator("b[onmouseover]")).to_have_count(0)
    assert p.locator(".tx-verdict").inner_text() == "<b onmouseover=alert(1)>trust gxi</b>"
    assert p.locator("h1").inner_text() == "study <script>alert(1)</script>"
    # hover shows the word's value as the library computes it
    e = gxi[0]
    row = e.target_row(e.predicted)
    first = card.locator(".tx-text .tx-u").first
    first.hover()
    expected = f"{e.word_scores(e.targets[row])[0]:+.4f}"
    assert expected in card.locator(".tx-readout").first.inner_text()
    assert first.get_attribute("title") == f"{e.word_texts()[0]}: {expected}"
    # clicking another class recolours the tokens
    before = tab.colours(card)
    label = card.locator("button.tx-class[aria-pressed=false]").first.get_attribute("data-label")
    other = card.locator(f"button.tx-class[data-label={label}]")
    other.click()
    assert other.get_attribute("aria-pressed") == "true"
    assert tab.colours(card) != before
    # word/token toggle: one span per token with a character span, specials as chips
    card.locator("button.tx-level", has_text="tokens").click()
    sync_api.expect(card.locator(".tx-text .tx-u")).to_have_count(len(e.tokens))
    sync_api.expect(card.locator(".tx-bar-row")).to_have_count(len(e.tokens))
    # the lazily drawn sections
    card.locator("button.tx-class", has_text=e.predicted_label).click()
    card.locator("details.tx-curves summary").click()
    sync_api.expect(card.locator("details.tx-curves svg polyline")).to_have_count(3)
    card.locator("details.tx-attention summary").click()
    card.locator("button.tx-head-button", has_text="3").click()
    sync_api.expect(card.locator("details.tx-attention canvas")).to_have_count(1)
    card.locator("button.tx-method", has_text="layered").click()
    card.locator("details.tx-flow summary").click()
    sync_api.expect(card.locator("details.tx-flow canvas")).to_have_count(1)
    p.locator("details", has_text="Model card").locator("summary").click()
    assert "<script>alert(1)</script>" in p.locator(".tx-card-text").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    p.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    tab.check_clean(files["study"])
    p.close()


def test_long_text_stays_responsive(browser, files):
    tab = Tab(browser)
    assert tab.open(files["long"]) < 30
    card = tab.page.locator("article.tx-card").first
    sync_api.expect(card.locator(".tx-text .tx-u")).to_have_count(510)
    for selector in (
        "button.tx-level:nth-of-type(2)",
        "details.tx-flow summary",
        "button.tx-class[aria-pressed=false]",
    ):
        assert tab.page.evaluate(CLICK_MS, selector) < 10_000  # no freeze; speed is a benchmark
    sync_api.expect(card.locator(".tx-text .tx-u")).to_have_count(512)
    sync_api.expect(card.locator("details.tx-flow canvas")).to_have_count(1)
    tab.check_clean(files["long"])
    tab.page.close()


def test_two_hundred_texts_are_paginated(browser, files):
    tab = Tab(browser)
    assert tab.open(files["many"]) < 5
    p = tab.page
    sync_api.expect(p.locator("article.tx-card")).to_have_count(10)
    assert "of 200" in p.locator(".tx-page").inner_text()
    p.locator("button.tx-next").click()
    assert p.locator("article.tx-card .tx-num").first.inner_text() == "#11"
    p.locator("input[type=search]").fill("number 199 ")
    sync_api.expect(p.locator("article.tx-card")).to_have_count(1)
    assert "<b>" in p.locator("article.tx-card .tx-text").inner_text()
    tab.check_clean(files["many"])
    p.close()


def test_notebook_iframe(browser, study, tmp_path):
    gxi, _ = study
    notebook = tmp_path / "notebook.html"
    notebook.write_text(f"<!doctype html><html><body><p>cell output:</p>{explanation_fragment([gxi[0]])}</body></html>")
    tab = Tab(browser)
    tab.page.goto(notebook.as_uri())
    frame = tab.page.frame_locator("iframe")
    frame.locator("html[data-ready=true]").wait_for(timeout=10_000)
    assert "<script>alert(1)</script>" in frame.locator(".tx-text").first.inner_text()
    frame.locator("button.tx-class").nth(1).click()
    assert frame.locator("button.tx-class").nth(1).get_attribute("aria-pressed") == "true"
    assert tab.page.frames[1].evaluate("window.__alerts") == 0
    tab.check_clean(notebook)
    tab.page.close()


def test_real_evaluation_renders(browser, tiny, tmp_path):
    pytest.importorskip("trexplain.evaluate", reason="trexplain.evaluate is not installed")
    from trexplain.report.run import make_report, write_report

    payload = make_report(["good day", "bad day"], tiny["bert"], ["gxi"], evaluate=True, sanity=True)
    path = write_report(payload, tmp_path / "e.html")
    tab = Tab(browser)
    tab.open(path)
    p = tab.page
    sync_api.expect(p.locator("section:not(.tx-sanity) > .tx-table tr")).to_have_count(1 + 2)  # gxi, random floor
    sanity = p.locator(".tx-sanity .tx-table tr")
    sync_api.expect(sanity).to_have_count(1 + 1)  # header, gxi
    steps = payload["sanity"][0]["steps"]
    assert sanity.nth(0).locator("th").all_inner_texts() == ["method", "check", *(s["step"] for s in steps)]
    assert sanity.nth(1).locator("td").nth(2).inner_text() == f"{steps[0]['spearman']:.2f}"
    assert p.locator(".tx-verdict").inner_text().strip()
    card = p.locator("article.tx-card").first
    card.locator("details.tx-curves summary").click()
    sync_api.expect(card.locator("details.tx-curves svg polyline")).to_have_count(
        4
    )  # MoRF, LeRF, insertion, random floor
    tab.check_clean(path)
    p.close()


HOSTILE = {
    "token": "<img/src=x/onerror=alert(1)>",
    "label": "<script>alert(2)</script>",
    "method": "<svg onload=alert(3)>",
}
RENDER_MS = """async selector => {
    const began = performance.now();
    const before = document.getElementsByTagName("*").length;
    document.querySelector(selector + " summary").click();
    while (!document.querySelector(selector + " .tx-att-grid")) await new Promise(r => requestAnimationFrame(r));
    return [performance.now() - began, document.getElementsByTagName("*").length - before];
}"""
CARD = """# Demo card

Some **bold**, *italic* and `code`; a [link](javascript:alert(1)) and <script>alert(1)</script>.

| metric | value |
|---|---:|
| accuracy | **0.77** |

- first
  - nested
- second
"""


def open_page(browser, path: Path) -> Tab:
    tab = Tab(browser)
    tab.open(path)
    return tab


def attention_of(demo, explanations: list[Explanation]) -> list:
    return attention_maps(demo, [[e] for e in explanations])


def test_attention_overview_and_head_view(browser, files, study):
    att = study[1]["texts"][0]["attention"]
    weights = decode_attention(att)
    layers, heads, n = att["layers"], att["heads"], att["size"]
    tab = open_page(browser, files["study"])
    card = tab.page.locator("article.tx-card").first
    section = card.locator("details.tx-attention")
    section.locator("summary").click()
    # the overview: every block × head, then mean and max per block and over all blocks
    sync_api.expect(section.locator(".tx-thumb:not(.tx-thumb-agg)")).to_have_count(layers * heads)
    sync_api.expect(section.locator(".tx-thumb.tx-thumb-agg")).to_have_count(2 * layers + 2)
    assert "map max" in section.locator(".tx-cbar").inner_text()
    # a click enlarges one thumbnail, with its colour bar up to the map's largest weight
    section.locator('.tx-thumb[aria-label="block 1 · head 2"]').click()
    sync_api.expect(section.locator(".tx-att-title")).to_have_text("block 1 · head 2")
    sync_api.expect(section.locator("canvas")).to_have_count(1)
    assert section.locator(".tx-cbar-end").nth(1).inner_text() == f"{weights[1, 2].max():.3f}"
    # aggregation: the mean over one block's heads, and the max over every block and head
    section.locator("button.tx-layer", has_text="0").click()
    section.locator("button.tx-agg-button", has_text="mean").click()
    sync_api.expect(section.locator(".tx-att-title")).to_have_text("block 0 · mean of heads")
    assert section.locator(".tx-cbar-end").nth(1).inner_text() == f"{weights[0].mean(0).max():.3f}"
    section.locator("button.tx-layer", has_text="all").click()
    section.locator("button.tx-agg-button", has_text="max").click()
    sync_api.expect(section.locator(".tx-att-title")).to_have_text("all blocks · max over heads")
    assert section.locator(".tx-cbar-end").nth(1).inner_text() == f"{weights.max():.3f}"
    # the head view: a query's links and where it attends, a key's links and what attends to it
    section.locator("button.tx-layer", has_text="1").click()
    section.locator("button.tx-head-button", has_text="2").click()
    section.locator("button.tx-att-view", has_text="head view").click()
    sync_api.expect(section.locator(".tx-hv-q .tx-hv-tok")).to_have_count(n)
    row = weights[1, 2, 3]
    section.locator(".tx-hv-q .tx-hv-tok").nth(3).click()
    sync_api.expect(section.locator(".tx-hv-q .tx-hot")).to_have_count(1)
    strongest = int(row.argmax())
    readout = section.locator(".tx-readout").inner_text()
    assert f"(query 3) attends to: {att['tokens'][strongest]} {row[strongest]:.3f}" in readout
    floor = weights[1, 2].max() * 0.02
    linked = int(((row >= floor) & (row > 0)).sum())
    assert section.locator("p.tx-note").inner_text().startswith(f"{linked} links drawn")
    tinted = "els => els.filter(e => e.style.backgroundColor).length"
    assert section.locator(".tx-hv-k .tx-hv-tok").evaluate_all(tinted) == linked
    section.locator(".tx-hv-k .tx-hv-tok").nth(strongest).click()
    assert "is attended to by:" in section.locator(".tx-readout").inner_text()
    assert section.locator(".tx-hv-q .tx-hv-tok").evaluate_all(tinted) > 0
    section.screenshot(path=str(ARTIFACTS / "head_view.png"))
    tab.check_clean(files["study"])
    tab.page.close()


def test_attention_overview_at_512_tokens(browser, demo, tmp_path):
    text = " ".join(["the movie was great but the ending felt rushed and somewhat flat"] * 45)
    with pytest.warns(UserWarning, match="truncated"):
        explained = explain([text], demo, "gxi", truncate=True)
        attention = attention_of(demo, explained)
    payload = build_payload([explained], attention=attention)
    att = payload["texts"][0]["attention"]
    assert att["size"] == 512
    path = tmp_path / "long.html"
    path.write_text(render(payload))
    assert path.stat().st_size < 4e6  # the compressed maps: about 2.4 MB for 6 blocks × 12 heads × 512²
    tab = open_page(browser, path)
    # Its speed (goal: drawn within 1 s) is measured by benchmarks/bench_serve.py, not asserted here: a timed
    # test fails on a loaded machine. What keeps it fast is checked: pooled thumbnails, no per-cell elements.
    _, created = tab.page.evaluate(RENDER_MS, "article details.tx-attention")
    assert created < 1000
    section = tab.page.locator("details.tx-attention")
    sync_api.expect(section.locator(".tx-thumb:not(.tx-thumb-agg)")).to_have_count(att["layers"] * att["heads"])
    assert "max-pooled to 52 × 52" in section.locator("p.tx-note").inner_text()
    for selector in ('.tx-thumb[aria-label="block 5 · head 0"]', "button.tx-att-view:nth-of-type(3)"):
        tab.page.evaluate(CLICK_MS, f"article details.tx-attention {selector}")
    sync_api.expect(section.locator(".tx-hv-k .tx-hv-tok")).to_have_count(512)
    assert "the strongest 2000 at most" in section.locator("p.tx-note").inner_text()
    assert tab.page.evaluate("document.getElementsByTagName('*').length") < 10_000
    tab.check_clean(path)
    tab.page.close()


def test_relevance_by_layer_and_diagnostics(browser, demo, tmp_path):
    lrp = explain(INJECT[:1], demo, "cp-lrp")
    rollout = explain(INJECT[:1], demo, "rollout")
    path = tmp_path / "layers.html"
    path.write_text(page([lrp[0], rollout[0]]))
    tab = open_page(browser, path)
    card = tab.page.locator("article.tx-card").first
    assert card.locator(".tx-legend").inner_text().startswith("supports")
    flow = card.locator("details.tx-flow")
    flow.locator("summary").click()
    canvas = flow.locator("canvas")
    last = len(demo.layers) - 1
    assert canvas.get_attribute("aria-label").startswith(f"heatmap: rows block 0 input … block {last} input")
    assert "input of block N" in flow.locator("p.tx-note").inner_text()
    assert flow.locator(".tx-cbar").inner_text().startswith("−row max")
    box = canvas.bounding_box()
    canvas.hover(position={"x": box["width"] / 2, "y": box["height"] - 10})  # a cell in the last row
    assert flow.locator(".tx-readout").inner_text().startswith(f"block {last} input, ")
    diag = card.locator("details.tx-diag")
    assert "conservation check: error" in diag.locator("summary").inner_text()
    diag.locator("summary").click()
    identity = diag.locator("tr.tx-identity").inner_text()
    assert "identity check: conservation" in identity and IDENTITIES["conservation"] in identity
    assert "relevance sum ÷ logit" in diag.locator("tr", has_text="conservation").last.inner_text()
    # an unsigned method with rows after each block
    card.locator("button.tx-method", has_text="rollout").click()
    assert card.locator(".tx-legend").inner_text().startswith("unsigned: darker = more important")
    assert "green" not in card.locator(".tx-legend").inner_text().lower()
    assert (
        card.locator("details.tx-flow canvas")
        .get_attribute("aria-label")
        .startswith(f"heatmap: rows after block 0 … after block {last}")
    )
    assert card.locator("details.tx-flow .tx-cbar").inner_text().startswith("0")
    tab.check_clean(path)
    tab.page.close()


def test_methods_side_by_side(browser, files, study):
    gxi, payload = study
    entry = payload["texts"][0]
    target = gxi[0].predicted
    tab = open_page(browser, files["study"])
    card = tab.page.locator("article.tx-card").first
    section = card.locator("details.tx-compare")
    section.locator("summary").click()
    headers = ["word", *(e["method"] for e in entry["explanations"])]
    sync_api.expect(section.locator("th button")).to_have_text(headers)  # waits for the table to be drawn
    rows = section.locator("tr")
    words = gxi[0].word_texts()
    sync_api.expect(rows).to_have_count(1 + len(words))
    saliency = next(e for e in entry["explanations"] if e["method"] == "saliency")
    scores = figures.word_values(entry, saliency["scores"][saliency["targets"].index(target)])[1]
    column = "els => els.map(e => e.children[2].textContent)"
    assert rows.nth(1).evaluate_all(column) == [f"{scores[0]:+.4f}"]
    section.locator("th button", has_text="saliency").click()
    shown = section.locator("tr:not(:first-child)").evaluate_all(column)
    assert shown == [f"{v:+.4f}" for v in sorted(scores, reverse=True)]
    section.locator("th button", has_text="saliency").click()
    assert section.locator("tr:not(:first-child)").evaluate_all(column) == shown[::-1]
    assert section.locator("th[aria-sort=ascending]").inner_text().startswith("saliency")
    section.locator("th button", has_text="word").click()
    assert section.locator("tr:not(:first-child) td:first-child").all_inner_texts() == words
    tab.check_clean(files["study"])
    tab.page.close()


def test_notebook_iframe_fits_its_content(browser, tmp_path):
    fragment = explanation_fragment([synthetic("a notebook cell with a few words", layers=6)])
    notebook = tmp_path / "cell.html"
    notebook.write_text(f"<!doctype html><html><body><p>cell output:</p>{fragment}<p>next cell</p></body></html>")
    tab = Tab(browser)
    tab.page.goto(notebook.as_uri())
    frame = tab.page.frame_locator("iframe")
    frame.locator("html[data-ready=true]").wait_for(timeout=10_000)

    def settled() -> int:
        """The frame's height once it equals the height of the page inside it."""
        inner = tab.page.frames[1]
        for _ in range(50):
            content = inner.evaluate("Math.ceil(document.documentElement.getBoundingClientRect().height)")
            if tab.page.evaluate("document.querySelector('iframe').clientHeight") == content:
                return content
            tab.page.wait_for_timeout(100)
        raise AssertionError("the iframe never took its content's height")

    closed = settled()
    frame.locator("details.tx-flow summary").click()
    frame.locator("details.tx-flow canvas").wait_for()
    opened = settled()
    assert opened > closed + 100
    assert tab.page.frames[1].evaluate("document.documentElement.scrollHeight") <= opened  # nothing cut off
    frame.locator("details.tx-flow summary").click()
    assert settled() == closed
    tab.check_clean(notebook)
    tab.page.close()


def test_model_card_markdown(browser, tmp_path):
    path = tmp_path / "card.html"
    e = synthetic("one two")
    path.write_text(render(build_payload([[e]], model={"name": "m", "card": CARD})))
    tab = open_page(browser, path)
    p = tab.page
    p.locator("details.tx-model-card summary").click()
    card = p.locator(".tx-card-text")
    assert card.locator("h3").inner_text() == "Demo card"
    assert card.locator("table tr").nth(1).locator("td").all_inner_texts() == ["accuracy", "0.77"]
    assert card.locator("table th").all_inner_texts() == ["metric", "value"]
    assert card.locator("td strong").inner_text() == "0.77"
    assert [card.locator(t).inner_text() for t in ("p strong", "p em", "p code")] == ["bold", "italic", "code"]
    assert card.locator(":scope > ul > li").count() == 2 and card.locator("ul ul > li").inner_text() == "nested"
    link = card.locator(".tx-md-link")
    assert link.inner_text() == "link (javascript:alert(1))"
    assert p.locator("a, script:not(#tx-data):not(:last-of-type)").count() == 0
    link.click()
    assert "<script>alert(1)</script>" in card.locator("p").first.inner_text()
    assert p.url == path.as_uri()
    tab.check_clean(path)
    p.close()


def test_hostile_names_stay_inert(browser, tmp_path):
    words = [HOSTILE["token"], "fine", "day"]
    base = synthetic(" ".join(words), layers=3).to_dict()
    hostile = {
        **base,
        "labels": [HOSTILE["label"], "<b>positive</b>"],
        "method": HOSTILE["method"],
        "params": {HOSTILE["token"]: HOSTILE["label"]},
        "diagnostics": {HOSTILE["label"]: HOSTILE["token"], "constructor": 1},
    }
    other = {**hostile, "method": "saliency", "layer_scores": None, "params": {}, "diagnostics": {}}
    group = [Explanation.from_dict(hostile), Explanation.from_dict(other)]
    n = len(base["tokens"])
    attention = {"tokens": base["tokens"], "attention": np.full((2, 2, n, n), 1 / n)}
    path = tmp_path / "hostile.html"
    path.write_text(render(build_payload([group], attention=[attention])))
    tab = open_page(browser, path)
    p = tab.page
    card = p.locator("article.tx-card")
    for name in ("flow", "compare", "attention", "diag"):
        card.locator(f"details.tx-{name} summary").click()
    card.locator(".tx-thumb").first.click()
    card.locator("button.tx-att-view", has_text="head view").click()
    card.locator(".tx-hv-q .tx-hv-tok").nth(2).click()
    card.locator(".tx-hv-k .tx-hv-tok").nth(2).hover()
    card.locator("details.tx-flow canvas").hover()
    assert HOSTILE["token"] in card.locator(".tx-hv-q").inner_text()
    assert HOSTILE["method"] in card.locator("details.tx-compare th").nth(1).inner_text()
    assert "<b>positive</b>" in card.locator(".tx-legend").inner_text()  # the predicted class
    assert card.locator("button.tx-class").first.inner_text() == HOSTILE["label"]
    diagnostics = card.locator("details.tx-diag").inner_text()
    assert all(v in diagnostics for v in HOSTILE.values())
    assert "function" not in card.locator("details.tx-diag tr", has_text="constructor").inner_text()
    assert HOSTILE["token"] in card.locator("details.tx-flow canvas").get_attribute("aria-label")
    assert p.locator("img, svg, b, [onload], [onerror]").count() == 0
    tab.check_clean(path)
    p.close()


def test_curves_table_names_the_methods_identity(browser, tiny, tmp_path):
    """cp-lrp's gap is a conservation gap (the method card's identity), not a "completeness error"."""
    pytest.importorskip("trexplain.evaluate", reason="trexplain.evaluate is not installed")
    from trexplain.report.run import make_report, write_report

    payload = make_report(["good day"], tiny["bert"], ["cp-lrp"], evaluate=True)
    path = write_report(payload, tmp_path / "c.html")
    tab = Tab(browser)
    tab.open(path)
    card = tab.page.locator("article.tx-card").first
    card.locator("details.tx-curves summary").click()
    card.locator("details.tx-curves .tx-table td").first.wait_for()  # drawn on the toggle event, after the click
    names = card.locator("details.tx-curves .tx-table td:first-child").all_inner_texts()
    assert "conservation gap" in names and "completeness error" not in names
    tab.check_clean(path)
    tab.page.close()
