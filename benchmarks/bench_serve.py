"""`trexplain serve`: what the web layer costs on top of the library, under load, and in the browser.

- latency: p50/p95 of `POST /api/explain` (cp-lrp, one demo text, a kept-alive loopback connection) against the
  same library call (`study(...).to_dict()`), the two interleaved so machine load hits both alike; goal ≤ 1.3× at p50.
- throughput: 50 concurrent clients × 20 requests (cp-lrp, demo, the benchmark texts) against the serial
  library rate measured in the same run; errors and wrong answers counted.
- attention: a 512-token text in Chromium: opening the Attention panel until the overview of every block × head
  is drawn (server: attention aggregates of 6 × 12 maps; browser: unpack and draw), and the browser's part alone;
  goal ≤ 1 s.
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from benchmarks.common import Context
from trexplain.server import ServedModel, create_app
from trexplain.study import study

REPEATS = 40
CLIENTS, REQUESTS = 50, 20
CHROMIUM = Path("/usr/bin/chromium")
SENTENCE = ["the", "movie", "was", "great", "but", "the", "ending", "felt", "rushed", "and", "somewhat", "flat"]


def long_text(ctx: Context, tokens: int = 512) -> str:
    """A text of exactly `tokens` tokens (with [CLS] and [SEP]) for the demo model."""
    words = [SENTENCE[i % len(SENTENCE)] for i in range(tokens - 2)]
    text = " ".join(words)
    assert ctx.adapter.encode([text]).lengths[0] == tokens
    return text


def _serve(ctx: Context):
    import socket

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app([ServedModel(ctx.adapter)], port=port)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, port


def _post(conn: http.client.HTTPConnection, body: dict) -> tuple[int, dict]:
    conn.request("POST", "/api/explain", json.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _scores(result: dict) -> list:
    return [[e["scores"] for e in r["explanations"]] for r in result["records"]]


def run(ctx: Context) -> list[dict]:
    server, thread, port = _serve(ctx)
    rows = []
    try:
        text = ctx.texts[0]
        body = {"texts": [text], "methods": ["cp-lrp"]}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        library, served = [], []
        for i in range(REPEATS + 3):
            start = time.perf_counter()
            study([text], ctx.adapter, ["cp-lrp"]).to_dict()
            lib_ms = (time.perf_counter() - start) * 1000
            start = time.perf_counter()
            status, _ = _post(conn, body)
            api_ms = (time.perf_counter() - start) * 1000
            assert status == 200
            if i >= 3:
                library.append(lib_ms)
                served.append(api_ms)
        for q in (50, 95):
            lib, api = _pct(library, q), _pct(served, q)
            rows.append(
                ctx.row(
                    "serve", f"/api/explain cp-lrp p{q}", api, library_ms=round(lib, 2), x_library=round(api / lib, 2)
                )
            )

        texts = ctx.texts[:10]
        expected = {t: _scores(study([t], ctx.adapter, ["cp-lrp"]).to_dict()) for t in texts}
        serial_start = time.perf_counter()
        for t in texts:
            study([t], ctx.adapter, ["cp-lrp"]).to_dict()
        serial_rate = len(texts) / (time.perf_counter() - serial_start)
        errors, wrong = [], []

        def client(c: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            for r in range(REQUESTS):
                t = texts[(c + r) % len(texts)]
                status, result = _post(connection, {"texts": [t], "methods": ["cp-lrp"]})
                if status != 200:
                    errors.append(status)
                elif _scores(result) != expected[t]:
                    wrong.append(t)

        start = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(client, range(CLIENTS)))
        seconds = time.perf_counter() - start
        rate = CLIENTS * REQUESTS / seconds
        rows.append(
            ctx.row(
                "serve",
                f"load {CLIENTS}×{REQUESTS} cp-lrp",
                1000 / rate,
                requests_per_s=round(rate, 1),
                serial_library_per_s=round(serial_rate, 1),
                x_serial=round(rate / serial_rate, 2),
                errors=len(errors),
                wrong=len(wrong),
            )
        )
        if CHROMIUM.exists():
            rows.extend(_browser(ctx, port))
        else:
            ctx.notes.append("serve: Chromium absent, attention render time not measured")
    finally:
        server.should_exit = True
        thread.join(30)
    return rows


def _browser(ctx: Context, port: int) -> list[dict]:
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"])
        totals, renders = [], []
        text = long_text(ctx)
        for _ in range(5):
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/#methods=gxi&text={quote(text)}")
            page.wait_for_selector(".app-panel-explain .tx-card", timeout=120_000)  # explanation cached first
            page.click('button.app-tab[data-panel="attention"]')
            page.wait_for_selector("html[data-attention-ms]", state="attached", timeout=120_000)
            data = page.evaluate(
                "[document.documentElement.dataset.attentionMs, document.documentElement.dataset.attentionRenderMs]"
            )
            tokens = page.evaluate("document.querySelectorAll('.tx-thumb').length")
            totals.append(float(data[0]))
            renders.append(float(data[1]))
            page.close()
        browser.close()
    rows.append(
        ctx.row("serve", "attention overview 512 tokens: open → drawn", statistics.median(totals), thumbs=tokens)
    )
    rows.append(ctx.row("serve", "attention overview 512 tokens: data in → drawn", statistics.median(renders)))
    return rows
