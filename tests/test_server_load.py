"""`trexplain serve` under load: uvicorn on a free 127.0.0.1 port in a thread, 50 concurrent clients × 20
requests each, within a hard time cap: no errors, every answer equal to the serial library result, memory
bounded."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the web app needs the app extra: pip install 'trexplain[app]'")
pytest.importorskip("uvicorn", reason="the web app needs the app extra: pip install 'trexplain[app]'")

import uvicorn

from trexplain.server import ServedModel, create_app
from trexplain.study import study

CLIENTS, REQUESTS, LOAD_CAP_S = 50, 20, 120
METHOD = "gxi"  # a forward and a backward pass per request: gradients under concurrency
LOAD_TEXTS = ["good", "bad movie", "not bad at all", "what a boring day", "I loved it"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """uvicorn serving an app on 127.0.0.1 in a daemon thread."""

    def __init__(self, models, **options) -> None:
        self.port = free_port()
        self.app = create_app(models, port=self.port, **options)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="module")
def served(tiny):
    """The tiny BERT: the load test is about the server (concurrency, queue, memory), not the model's speed."""
    server = Served([ServedModel(tiny["bert"])])
    yield server
    server.stop()


# ------------------------------------------------------------------ load
def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def post(port: int, path: str, body: dict) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def records_only(result: dict) -> list:
    return [{**r, "explanations": [{**e, "diagnostics": None} for e in r["explanations"]]} for r in result["records"]]


def test_load_50_clients(served, tiny):
    expected = {
        text: records_only(json.loads(json.dumps(study([text], tiny["bert"], [METHOD]).to_dict())))
        for text in LOAD_TEXTS
    }
    post(served.port, "/api/explain", {"texts": ["warm up"], "methods": [METHOD]})
    before = rss_mb()
    failures: list[str] = []

    def client(c: int) -> int:
        done = 0
        for r in range(REQUESTS):
            text = LOAD_TEXTS[(c + r) % len(LOAD_TEXTS)]
            status, body = post(served.port, "/api/explain", {"texts": [text], "methods": [METHOD]})
            if status != 200:
                failures.append(f"client {c} request {r}: HTTP {status} {body}")
            elif records_only(body) != expected[text]:
                failures.append(f"client {c} request {r}: a wrong answer for {text!r}")
            done += 1
        return done

    began = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(client, c) for c in range(CLIENTS)]
        finished, pending = wait(futures, timeout=LOAD_CAP_S)
    seconds = time.monotonic() - began
    assert not pending, f"the load test passed its cap of {LOAD_CAP_S} s"
    assert sum(f.result() for f in finished) == CLIENTS * REQUESTS
    assert failures == []
    grown = rss_mb() - before
    assert grown < 300, f"memory grew by {grown:.0f} MB over {CLIENTS * REQUESTS} requests"
    assert served.app.state.jobs.active == 0
    total = CLIENTS * REQUESTS
    print(f"load: {total} requests in {seconds:.1f} s ({total / seconds:.0f}/s), RSS +{grown:.0f} MB")
