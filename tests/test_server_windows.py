"""Over-long texts in the web app: the explain endpoint takes `windows` (as the library and `explain --windows`)
within the same limits, and the page offers both of its own ways out (truncate, windows) as buttons."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

pytest.importorskip("fastapi", reason="the web app needs the app extra: pip install 'trexplain[app]'")
pytest.importorskip("httpx", reason="FastAPI's test client needs httpx: pip install httpx")

from tests.chromium import ABSENT, CHROMIUM
from tests.test_server_api import client, plain, timeless
from trexplain.server import Limits, ServedModel
from trexplain.study import study

LONG = " ".join(["good", "plot", "bad", "acting"] * 30)  # 120 words, over the tiny BERT's 64 tokens
SHOTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def api(tiny):
    with client([ServedModel(tiny["bert"])]) as c:
        yield c


def test_windows_explain_equals_the_librarys_windowed_study(api, tiny):
    r = api.post("/api/explain", json={"texts": [LONG], "methods": ["gxi"], "windows": True})
    assert r.status_code == 200, r.text
    batch = api.app.state.limits.batch_texts  # windows run in batches of this size: the same float sums
    expected = study([LONG], tiny["bert"], ["gxi"], windows=True, batch_size=batch).to_dict()
    assert timeless(r.json()) == plain(expected)
    diagnostics = r.json()["records"][0]["explanations"][0]["diagnostics"]
    assert diagnostics["windows"] >= 3 and "truncated_tokens" not in diagnostics


def test_without_a_choice_an_over_long_text_is_refused(api):
    r = api.post("/api/explain", json={"texts": [LONG], "methods": ["gxi"]})
    assert r.status_code == 400 and r.json()["error"]["type"] == "InputTooLongError"


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/api/explain", {"texts": [LONG], "windows": True, "truncate": True}, "choose one"),
        ("/api/evaluate", {"texts": [LONG], "windows": True}, "evaluate with truncate"),
    ],
)
def test_windows_misuse_is_a_typed_error(api, path, body, words):
    r = api.post(path, json=body)
    assert r.status_code in (400, 422), r.text
    assert words in str(r.json()["error"])


def test_windows_keep_the_servers_limits(tiny):
    with client([ServedModel(tiny["bert"])], limits=Limits(max_chars=200, max_steps=8)) as c:
        r = c.post("/api/explain", json={"texts": [LONG * 2], "methods": ["gxi"], "windows": True})
        assert r.status_code == 413 and r.json()["error"]["limit"] == "max_chars"
        body = {"texts": [LONG[:190]], "methods": ["ig"], "params": {"ig": {"steps": 9}}, "windows": True}
        r = c.post("/api/explain", json=body)
        assert r.status_code == 422 and r.json()["error"]["limit"] == "max_steps"


# ------------------------------------------------------------------ the page
@pytest.fixture(scope="module")
def page_served(tiny):
    pytest.importorskip("uvicorn", reason="the web app needs the app extra: pip install 'trexplain[app]'")
    if not CHROMIUM.exists():
        pytest.skip(ABSENT)
    from tests.test_server_load import Served

    server = Served([ServedModel(tiny["bert"], "tiny")])
    yield server
    server.stop()


def test_too_long_text_offers_truncate_and_windows_buttons(browser, page_served):
    from playwright.sync_api import expect

    from tests.test_server_browser import Tab

    tab = Tab(browser, page_served)
    tab.open(f"#methods=gxi&text={quote(LONG)}")
    page = tab.page
    error = page.locator(".app-panel-explain .app-too-long")
    expect(error.locator("button")).to_have_text(
        ["explain its first part (truncate)", "explain all of it in windows"], timeout=30_000
    )
    message = error.inner_text()
    assert "--" not in message and "this text has 362 tokens; bert accepts at most 64" in message  # no CLI flag
    SHOTS.mkdir(exist_ok=True)
    error.screenshot(path=str(SHOTS / "serve_too_long_choice.png"))
    error.locator("button.app-windows").click()
    note = page.locator(".app-panel-explain .app-windows-note")
    expect(note).to_contain_text("overlapping windows", timeout=60_000)
    windows = int(note.inner_text().split()[2])
    assert windows >= 3 and "windows=1" in page.url and "truncate" not in page.url
    assert page.locator(".app-panel-explain .tx-card").count() == 1
    page.screenshot(path=str(SHOTS / "serve_windows.png"), full_page=True)
    page.fill("#app-text", "a short text")
    page.click("#app-go")  # a new text is not explained in windows unasked
    page.wait_for_selector(".app-panel-explain .tx-card", timeout=30_000)
    assert "windows" not in page.url
    assert [e for e in tab.errors if "status of 400" in e] == tab.errors[:1]  # the too-long answer, logged by Chromium
    tab.errors.clear()
    tab.check_clean()
    tab.close()


def test_views_that_need_the_whole_text_offer_no_cutting(browser, page_served):
    """The attention view reads one model input: no truncate / windows buttons that could not help it."""
    from playwright.sync_api import expect

    from tests.test_server_browser import Tab

    tab = Tab(browser, page_served)
    tab.open(f"#panel=attention&methods=gxi&windows=1&text={quote(LONG)}")
    error = tab.page.locator(".app-panel-attention .app-too-long")
    expect(error).to_contain_text("shorten it above", timeout=30_000)
    assert error.locator("button").count() == 0
    tab.close()
