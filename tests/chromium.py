"""The one way the browser tests start Chromium: Debian's package driven by Playwright through `executable_path`
(never `playwright install`), headless, skipping with the reason when either is missing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ABSENT = "Chromium is absent: apt-get install -y chromium (make test does it)"


@contextmanager
def launch() -> Iterator[Any]:
    """A headless Chromium browser for the block (closed after it)."""
    if not CHROMIUM.exists():
        pytest.skip(ABSENT)
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()
