"""A fake OpenAI-compatible chat completions server on 127.0.0.1 for the label tests.

Its answers are deterministic functions of the prompt: asked for a label, it names the word marked `[[…]]`
most often; asked which texts match a label, it lists the numbers of the texts that contain the label's
first word. `push(...)` queues scripted replies (a status, a raw body, a delay) served before that default.
Every request is recorded (path, headers, parsed body) in `requests`; `most_active` is the most requests
it answered at once.
"""

from __future__ import annotations

import collections
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    content: str | None = None  # the assistant message; None: the default answer
    body: bytes | None = None  # a raw body instead of a completion
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def default_answer(messages: list[dict[str, Any]]) -> str:
    """The fake model: a label from the marked words, or the numbers of the texts holding the label's word."""
    user = messages[-1]["content"]
    if user.startswith("Label:"):
        word = user.split("\n", 1)[0][len("Label:") :].strip().split()[0].lower()
        texts = re.findall(r"^(\d+)\. (.*)$", user.split("\nTexts:\n", 1)[1], flags=re.MULTILINE)
        hits = [int(n) for n, text in texts if re.search(rf"\b{re.escape(word)}\b", text.lower())]
        return json.dumps(hits)
    marked = [m.strip().lower() for m in re.findall(r"\[\[(.*?)\]\]", user)]
    if not marked:
        return '{"label": "nothing marked", "description": "No tokens were marked."}'
    word = collections.Counter(marked).most_common(1)[0][0]
    return json.dumps({"label": word, "description": f"Texts with the word {word}."})


class FakeLLM:
    """The server; `url` is its API root (`http://127.0.0.1:PORT/v1`). Use as a context manager."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: collections.deque[Reply] = collections.deque()
        self.active = self.most_active = 0  # requests being answered now, and the most at once
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"null")
                with fake._lock:
                    fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    reply = fake.script.popleft() if fake.script else Reply()
                    fake.active += 1
                    fake.most_active = max(fake.most_active, fake.active)
                if reply.delay:
                    time.sleep(reply.delay)
                with fake._lock:
                    fake.active -= 1
                if reply.body is not None:
                    payload = reply.body
                else:
                    content = default_answer(body["messages"]) if reply.content is None else reply.content
                    payload = json.dumps(
                        {
                            "id": "fake",
                            "object": "chat.completion",
                            "model": body.get("model"),
                            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
                        }
                    ).encode()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def push(self, **reply: Any) -> FakeLLM:
        """Queue one scripted reply (see `Reply`)."""
        self.script.append(Reply(**reply))
        return self

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
