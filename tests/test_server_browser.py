"""`trexplain serve` in a real browser: uvicorn on a free 127.0.0.1 port in a thread, Debian's Chromium through
Playwright: type, switch method and class, reopen a link, attention overview and head view, what-if editing,
exports, two models, the data table, and a hostile text that stays inert."""

from __future__ import annotations

import itertools
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import pytest

pytest.importorskip("fastapi", reason="the web app needs the app extra: pip install 'trexplain[app]'")
pytest.importorskip("uvicorn", reason="the web app needs the app extra: pip install 'trexplain[app]'")

from tests.chromium import ABSENT, CHROMIUM
from tests.test_server_load import Served
from trexplain.server import ServedModel

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
TEXT = "I loved the acting but the plot was terrible"
HOSTILE = "<img src=x onerror=alert(1)> bad\x07\x1b[31m day \u202etxet desrever<script>alert(2)</script>"
HOOK = "window.__alerts = 0; window.alert = function () { window.__alerts += 1; };"


# ------------------------------------------------------------------ the page
@pytest.fixture(scope="module")
def served(demo, tiny):
    server = Served([ServedModel(demo), ServedModel(tiny["bert"])])
    yield server
    server.stop()


if not CHROMIUM.exists():
    pytest.skip(ABSENT, allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright")


class Tab:
    """A page with console errors, page errors and every request URL recorded, alerts counted."""

    def __init__(self, browser, served: Served) -> None:
        self.context = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
        self.page = self.context.new_page()
        self.served = served
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.add_init_script(HOOK)

    def open(self, fragment: str = "") -> None:
        self.page.goto(f"{self.served.url}/{fragment}")
        self.page.wait_for_selector("html[data-ready=true]", timeout=20_000)

    def check_clean(self) -> None:
        assert self.errors == []
        local = (f"http://127.0.0.1:{self.served.port}/", "data:", "blob:")
        assert [u for u in self.requests if not u.startswith(local)] == []
        assert self.page.evaluate("window.__alerts") == 0
        assert self.context.cookies() == []

    def close(self) -> None:
        self.context.close()


def shot(tab: Tab, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    tab.page.screenshot(path=str(ARTIFACTS / f"serve_{name}.png"), full_page=True)


def test_explain_switch_method_and_class_and_reopen(browser, served):
    tab = Tab(browser, served)
    tab.open()
    page = tab.page
    page.fill("#app-text", TEXT)
    page.check("#app-method-gxi")
    page.click("#app-go")
    card = page.locator(".app-panel-explain .tx-card")
    sync_api.expect(card.locator("button.tx-method")).to_have_count(2, timeout=30_000)
    assert card.locator(".tx-probs .tx-predicted").inner_text().startswith("negative")
    card.locator('button.tx-method[data-method="gxi"]').click()
    assert card.locator('button.tx-method[data-method="gxi"]').get_attribute("aria-pressed") == "true"
    page.select_option("#app-target", "2")
    sync_api.expect(card.locator("button.tx-class")).to_have_text(["positive"], timeout=30_000)
    assert "target=2" in page.url and "methods=cp-lrp%2Cgxi" in page.url
    sync_api.expect(card.locator("details.tx-flow[open] canvas")).to_have_count(1)  # relevance by layer
    shot(tab, "explain")
    link = page.url
    again = Tab(browser, served)
    again.page.goto(link)
    again.page.wait_for_selector(".app-panel-explain .tx-card button.tx-class", timeout=30_000)
    assert again.page.input_value("#app-target") == "2" and again.page.input_value("#app-text") == TEXT
    assert again.page.is_checked("#app-method-gxi") and again.page.is_checked("#app-method-cp-lrp")
    tab.check_clean()
    again.check_clean()
    tab.close()
    again.close()


def test_attention_overview_head_and_token(browser, served):
    tab = Tab(browser, served)
    tab.open(f"#panel=attention&text={quote(TEXT)}")
    page = tab.page
    section = page.locator("details.tx-attention[open]")
    sync_api.expect(section.locator(".tx-thumb:not(.tx-thumb-agg)")).to_have_count(6 * 12, timeout=30_000)
    section.locator('.tx-thumb[aria-label="block 2 · head 3"]').click()
    sync_api.expect(section.locator(".tx-att-title")).to_have_text("block 2 · head 3", timeout=30_000)
    section.locator("button.tx-att-view", has_text="head view").click()
    section.locator(".tx-hv-q .tx-hv-tok").nth(3).click()
    assert "attends to:" in section.locator(".tx-readout").first.inner_text()
    fetched = [u for u in tab.requests if u.endswith("/api/attention")]
    assert len(fetched) == 2  # the aggregates, then block 2's heads on demand
    shot(tab, "attention")
    tab.check_clean()
    tab.close()


def test_what_if_edit_changes_the_prediction(browser, served):
    tab = Tab(browser, served)
    tab.open(f"#panel=whatif&text={quote(TEXT)}")
    page = tab.page
    page.wait_for_selector(".app-word", timeout=30_000)
    before = page.locator(".app-whatif-now").inner_text()
    page.locator(".app-word", has_text="terrible").click()
    page.fill(".app-replace", "wonderful")
    page.click(".app-apply")
    sync_api.expect(page.locator(".app-reset")).to_be_enabled(timeout=30_000)
    after = page.locator(".app-whatif-now").inner_text()
    assert after != before and "positive" in page.locator(".app-whatif-now .app-predicted").inner_text()
    assert "wonderful" in page.locator(".app-whatif-card .tx-text").inner_text()
    page.locator(".app-word", has_text="loved").click()
    page.click(".app-remove")
    sync_api.expect(page.locator(".app-whatif-card .tx-text")).not_to_contain_text("loved", timeout=30_000)
    page.click(".app-curve-run")
    sync_api.expect(page.locator("details.tx-curves[open] svg")).to_have_count(1, timeout=60_000)
    shot(tab, "whatif")
    tab.check_clean()
    tab.close()


def export(page, panel: str, kind: str, tmp_path: Path) -> bytes:
    """Click one panel's export button; the downloaded file's bytes."""
    with page.expect_download(timeout=30_000) as info:
        page.click(f".app-panel-{panel} .app-export-{kind}")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    return path.read_bytes()


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


SIZE = """v => ({width: v.scrollWidth, height: v.scrollHeight, canvases: v.querySelectorAll('canvas').length,
  inner: Math.max(0, ...Array.from(v.querySelectorAll('*'))
    .filter(n => /auto|scroll/.test(getComputedStyle(n).overflowY) && !n.closest('details:not([open])'))
    .map(n => n.scrollHeight - n.clientHeight))})"""  # the view's scroll size; what its inner scroll boxes hide


def check_vector_export(page, panel: str, tmp_path: Path) -> tuple[ET.Element, dict]:
    """Export a panel's SVG and PNG (scale 3): the SVG is vector drawing (text, rects, paths; canvases as images,
    no foreignObject) covering the view's full scroll size, and the PNG is that size × 3."""
    view = page.locator(f".app-panel-{panel} .app-view").first
    size = view.evaluate(SIZE)
    data = export(page, panel, "svg", tmp_path)
    assert b"foreignObject" not in data
    root = ET.fromstring(data)
    width, height = float(root.get("width")), float(root.get("height"))
    assert width >= size["width"] and height >= size["height"] + size["inner"] * 0.9
    tags = [e.tag.split("}")[-1] for e in root.iter()]
    assert tags.count("text") >= 5 and tags.count("rect") >= 2
    assert tags.count("image") >= size["canvases"]
    page.select_option(f".app-panel-{panel} .app-export-scale", "3")
    png = export(page, panel, "png", tmp_path)
    w, h = png_size(png)
    assert w >= 3 * width - 1 and h >= 3 * height - 1
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"serve_export_{panel}.png").write_bytes(png)
    (ARTIFACTS / f"serve_export_{panel}.svg").write_bytes(data)
    return root, size


def test_export_every_format(browser, served, tmp_path):
    tab = Tab(browser, served)
    tab.open(f"#text={quote(TEXT)}")
    page = tab.page
    page.wait_for_selector(".app-panel-explain .tx-card", timeout=30_000)
    root, _ = check_vector_export(page, "explain", tmp_path)
    words = {e.text for e in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"loved", "acting", "terrible"} <= words
    data = export(page, "explain", "json", tmp_path)
    assert json.loads(data)["texts"][0]["text"] == TEXT
    page.click('button.app-tab[data-panel="attention"]')
    section = page.locator("details.tx-attention[open]")
    sync_api.expect(section.locator(".tx-thumb:not(.tx-thumb-agg)")).to_have_count(6 * 12, timeout=30_000)
    root, size = check_vector_export(page, "attention", tmp_path)
    assert size["canvases"] >= 6 * 12
    words = [e.text for e in root.iter("{http://www.w3.org/2000/svg}text")]
    rows = [a + " " + b for a, b in itertools.pairwise(words)]
    assert all(f"block {b}" in rows for b in range(6))  # every block's row, not only those scrolled into sight
    tab.check_clean()
    tab.close()


def test_two_models_and_data_table(browser, served, tmp_path):
    tab = Tab(browser, served)
    tab.open(f"#panel=compare&text={quote(TEXT)}")
    page = tab.page
    sync_api.expect(page.locator(".app-column .tx-card")).to_have_count(2, timeout=30_000)
    assert page.locator(".app-column > h3").all_inner_texts() == list(served.app.state.models)
    shot(tab, "compare")
    texts = tmp_path / "texts.csv"
    texts.write_text('label,text\npositive,I loved it\n0,this is awful\nneutral,"the weather, is ok today"\n')
    page.click('button.app-tab[data-panel="table"]')
    assert page.input_value(".app-table-method") == "cp-lrp"  # the method chosen above, not a fixed one
    page.set_input_files(".app-file", str(texts))
    sync_api.expect(page.locator(".app-table-row")).to_have_count(3, timeout=60_000)
    assert "· cp-lrp ·" in page.locator(".app-panel-table .app-progress").inner_text()
    assert page.locator(".app-table-row td:nth-child(4)").all_inner_texts() == ["positive", "negative", "neutral"]
    page.locator("th.app-sort", has_text="confidence").click()
    values = [float(v) for v in page.locator(".app-table-row td:nth-child(5)").all_inner_texts()]
    assert values == sorted(values, reverse=True)
    page.select_option(".app-filter-class", "negative")
    assert all(t == "negative" for t in page.locator(".app-table-row td:nth-child(3)").all_inner_texts())
    shot(tab, "table")
    page.locator(".app-table-row").first.click()
    page.wait_for_selector(".app-panel-explain .tx-card", timeout=30_000)
    assert page.input_value("#app-text") == "this is awful"
    tab.check_clean()
    tab.close()


def test_too_long_text_offers_truncation_and_tabs_wrap(browser, served):
    tab = Tab(browser, served)
    tab.page.set_viewport_size({"width": 420, "height": 900})
    long = " ".join(["good"] * 600)  # over the demo's 512 tokens
    tab.open(f"#text={quote(long)}")
    page = tab.page
    error = page.locator(".app-panel-explain .app-error")
    sync_api.expect(error.locator("button.app-truncate")).to_have_count(1, timeout=30_000)
    assert "--truncate" not in error.inner_text() and "512" in error.inner_text()
    tops = {round(b["y"]) for b in (t.bounding_box() for t in page.locator("button.app-tab").all())}
    rights = [b["x"] + b["width"] for b in (t.bounding_box() for t in page.locator("button.app-tab").all())]
    assert len(tops) >= 2 and max(rights) <= 420  # the tabs wrap onto a second row instead of running off
    shot(tab, "narrow_too_long")
    error.locator("button.app-truncate").click()
    page.wait_for_selector(".app-panel-explain .tx-card", timeout=60_000)
    assert "truncate=1" in page.url
    assert [e for e in tab.errors if "status of 400" in e] == tab.errors[:1]  # the too-long answer, logged by Chromium
    tab.errors.clear()
    tab.check_clean()
    tab.close()


def test_hostile_text_stays_inert(browser, served):
    tab = Tab(browser, served)
    tab.open(f"#text={quote(HOSTILE)}")
    page = tab.page
    page.wait_for_selector(".app-panel-explain .tx-card", timeout=30_000)
    for panel in ("whatif", "attention"):
        page.click(f'button.app-tab[data-panel="{panel}"]')
        page.wait_for_selector(f".app-panel-{panel} .tx-card", timeout=30_000)
    assert page.locator("#app img, #app script").count() == 0
    assert "<img src=x onerror=alert(1)>" in page.locator(".app-panel-attention .tx-text").inner_text()
    shot(tab, "hostile")
    tab.check_clean()
    tab.close()


@pytest.fixture(scope="module")
def inside(tiny, tmp_path_factory):
    """The tiny BERT with a masked-LM head and a corpus index: the Masked words and Neighbours panels show."""
    from transformers import AutoModelForMaskedLM

    from tests.tiny import save_tiny
    from trexplain.inspect import build_index, load_masked_lm

    folder = save_tiny("bert", tmp_path_factory.mktemp("mlm") / "bert", head=AutoModelForMaskedLM)
    corpus = ["the movie was great", "the plot was thin", "a great film", "what a movie"]
    index = build_index(tiny["bert"], corpus, tmp_path_factory.mktemp("index"), model_source="tiny", batch_size=2)
    server = Served([ServedModel(tiny["bert"], masked=load_masked_lm(folder), index=index)])
    yield server
    server.stop()


def test_masked_words_and_neighbours_panels(browser, inside):
    tab = Tab(browser, inside)
    tab.open(f"#panel=masked&text={quote('the movie was great')}")
    page = tab.page
    page.get_by_role("button", name="was", exact=True).click()  # the tiny tokenizer splits "movie" and "great"
    sync_api.expect(page.locator(".app-panel-masked .app-table tr")).to_have_count(1 + 3, timeout=30_000)  # 3 layers
    assert "[MASK]" in page.locator(".app-panel-masked .tx-note").last.inner_text()
    page.click('button.app-tab[data-panel="neighbours"]')
    page.get_by_role("button", name="the", exact=True).click()
    sync_api.expect(page.locator(".app-panel-neighbours .app-table tr")).to_have_count(1 + 10, timeout=30_000)
    table = page.locator(".app-panel-neighbours .app-table")
    assert "[[" not in table.inner_text() and table.locator("mark.app-context-word").count() == 10
    shot(tab, "neighbours")
    tab.check_clean()
    tab.close()


@pytest.fixture(scope="module")
def extras(demo, tmp_path_factory):
    """The demo with a tiny concept folder (hostile label) and a tiny evaluated run: the Probe, Concepts and run
    table panels show."""
    import trexplain
    from trexplain.concepts.conceptset import ConceptSet, fit_concepts

    corpus = ["the movie was great", "the plot was thin", "a great film", "I hated it", "lovely day",
              "terrible, awful plot", "I love this phone", "worst service ever", HOSTILE]  # fmt: skip
    folder = tmp_path_factory.mktemp("concepts") / "demo-pca"
    fit_concepts(
        demo, corpus, n_concepts=4, method="pca", importance_texts=6, deletion_texts=3, fidelity_texts=6,
        min_count=1, words=4, top_k=2,
    ).save(folder)  # fmt: skip
    (folder / "labels.json").write_text(json.dumps({"1": {"label": HOSTILE}}))
    texts = tmp_path_factory.mktemp("run") / "texts.txt"
    texts.write_text("\n".join(corpus) + "\n", encoding="utf-8")
    trexplain.run_dataset(texts, texts.parent / "run", model=demo, methods=["gxi"], evaluate=True, shard_size=4)
    server = Served([ServedModel(demo)], concepts=[ConceptSet.load(folder)], run=texts.parent / "run")
    yield server
    server.stop()


def test_probe_concepts_and_run_panels(browser, extras):
    tab = Tab(browser, extras)
    tab.open(f"#panel=probe&text={quote('I absolutely love this new phone, the camera is amazing!')}")
    page = tab.page
    page.fill(".app-probe-budget", "200")
    page.click("button.app-probe-go")
    section = page.locator(".app-panel-probe section.tx-probe")
    sync_api.expect(section.locator(".tx-probe-row")).to_have_count(2, timeout=60_000)
    assert section.locator(".tx-probe-ok").inner_text().startswith("success")
    assert section.locator(".tx-probe-diff del").count() >= 1
    assert page.locator(".app-panel-probe .tx-card").count() == 2  # both texts' cards follow
    shot(tab, "probe")
    page.click('button.app-tab[data-panel="concepts"]')
    sync_api.expect(page.locator(".app-concepts-row")).to_have_count(4, timeout=30_000)
    assert page.locator(".app-panel-concepts .tx-cc-example").count() == 1  # the text's concept × token heatmap
    assert HOSTILE.split(" ")[0] in page.locator(".app-panel-concepts").inner_text()  # the label, as text
    shot(tab, "concepts")
    page.click('button.app-tab[data-panel="table"]')
    sync_api.expect(page.locator(".app-table-row")).to_have_count(9, timeout=30_000)
    page.locator("th.app-sort", has_text="confidence").click()
    sync_api.expect(page.locator("th.app-sorted")).to_have_text("confidence ▼", timeout=30_000)
    values = [float(v) for v in page.locator(".app-table-row td:nth-child(4)").all_inner_texts()]
    assert values == sorted(values, reverse=True)
    page.click("details.app-run-summary > summary")
    sync_api.expect(page.locator("details.app-run-summary section.tx-dataset h2")).to_have_text(
        "Across the dataset", timeout=30_000
    )
    shot(tab, "run_table")
    first = page.locator(".app-table-row td.app-cell-text").first.inner_text()
    page.locator(".app-table-row").first.click()
    page.wait_for_selector(".app-panel-explain .tx-card", timeout=30_000)
    assert page.input_value("#app-text") == first
    assert page.locator("#app img, #app script").count() == 0
    tab.check_clean()
    tab.close()
