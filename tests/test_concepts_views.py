"""The concepts page in a real browser (Debian's chromium via Playwright): class → ranked concepts, details with
tinted tokens, heatmaps, hostile strings kept as text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trexplain.concepts.conceptset import fit_concepts
from trexplain.concepts.report import payload, write_html
from trexplain.viz.html import script_json

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
HOOK = "window.__alerts = 0; window.alert = function () { window.__alerts += 1; };"
TEXTS = [
    "Boring movie <script>alert(1)</script> boring actors.",
    "The movie was wonderful, the acting superb.",
    "boring",
    "Nothing special: an average day <img src=x onerror=alert(1)>",
    "what a wonderful and happy surprise",
    "The BORING day again",
] * 2

pytest.importorskip("sklearn", reason="scikit-learn is an optional part: pip install 'trexplain[concepts]'")


@pytest.fixture(scope="module")
def page_file(tiny, tmp_path_factory):
    adapter = tiny["bert"]
    concepts = fit_concepts(
        adapter, TEXTS, site="block_output:0", n_concepts=4, importance_texts=12, deletion_texts=4, top_k=3
    )
    concepts.labels = {"1": {"label": "<b onmouseover=alert(1)>bored</b>"}}
    path = tmp_path_factory.mktemp("concepts-page") / "concepts.html"
    write_html(concepts, path, adapter=adapter, texts=TEXTS[:2])
    return path, concepts


def test_the_payload_is_strict_json_with_labels_and_examples(page_file, tiny):
    _, concepts = page_file
    data = payload(concepts, [concepts.explain(tiny["bert"], TEXTS[0])])
    json.loads(script_json(data))  # no NaN, nothing unserialisable
    assert data["concepts"]["interpretation"]["concepts"][1]["label"].startswith("<b")
    assert len(data["concepts"]["examples"]) == 1 and data["texts"] == []


def test_concepts_page_ranks_concepts_per_class_and_draws_heatmaps(page_file, browser):
    path, concepts = page_file
    table = np.array(concepts.importance["per_class"]["ablation"], dtype=float)
    tab = browser.new_page(viewport={"width": 1100, "height": 900})
    errors, requests = [], []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.on("request", lambda r: requests.append(r.url))
    tab.add_init_script(HOOK)
    tab.goto(path.as_uri())
    tab.wait_for_selector("html[data-ready=true]", timeout=10_000)
    assert tab.locator(".tx-concepts h2").inner_text() == "Concepts"
    assert tab.locator("button.tx-cc-head").count() == 4
    for c, name in enumerate(concepts.meta["labels"]):
        tab.locator("button.tx-cc-class", has_text=name).click()
        names = tab.locator(".tx-cc-name").all_inner_texts()
        if np.isfinite(table[c]).any():
            expected = np.argsort(-table[c], kind="stable")
            assert [int(n.split()[0][1:]) for n in names] == expected.tolist()
        else:
            assert "No text of the importance sample" in tab.locator(".tx-concepts").inner_text()
    assert "#1 <b onmouseover=alert(1)>bored</b>" in tab.locator(".tx-cc-name").all_inner_texts()
    tab.locator("button.tx-cc-head").first.click()
    detail = tab.locator(".tx-cc-detail")
    assert detail.count() == 1 and detail.locator(".tx-cc-inputs li").count() == 3
    assert detail.locator(".tx-cc-tok").count() > 0
    tab.locator("button", has_text="concept × gradient").click()
    assert tab.locator("button.tx-cc-head").count() == 4
    assert tab.locator(".tx-cc-example canvas").count() == 2
    assert "<script>alert(1)</script>" in tab.locator(".tx-cc-example").first.inner_text()
    assert tab.locator(".tx-cc-aopc tr").count() == 5  # header + 3 importances + random
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / "concepts-view.png"), full_page=True)
    assert errors == [] and requests == [path.as_uri()]
    assert tab.evaluate("window.__alerts") == 0
