"""A tiny Hugging Face Hub for tests: a stdlib HTTP server on 127.0.0.1 (random port) that serves model repos held
in memory, with the endpoints huggingface_hub 2.x uses to download (see docs/loading.md and methods.md K4).

Endpoints: `GET /api/models/{repo}[/revision/{rev}]` (id, sha, siblings), `GET /api/models/{repo}/tree/{rev}`
(file listing), `HEAD|GET /{repo}/resolve/{rev}/{file}` (X-Repo-Commit, quoted ETag, Content-Length). Errors carry
`X-Error-Code` as the real hub's do. `FakeHub.fail` makes a repo answer 401, 403 (gated), 404, or drop the
connection; `requests` records every request (method, path, headers) for assertions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit


@dataclass
class Repo:
    """A repo: revisions (branch or tag name → commit) and the files of each commit."""

    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    failure: str | None = None  # "401", "403", "404" or "drop"

    def add(self, folder: Path, ref: str = "main", *, skip: tuple[str, ...] = ()) -> str:
        """Add every file of `folder` as a new commit that `ref` points to; its 40-hex sha comes back."""
        files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and p.name not in skip}
        digest = hashlib.sha1(b"".join(hashlib.sha1(name.encode() + data).digest() for name, data in files.items()))
        sha = digest.hexdigest()
        self.commits[sha] = files
        self.refs[ref] = sha
        return sha

    def add_revisions(self, folders: dict[str, Path]) -> dict[str, str]:
        """Add each folder as a commit that its ref (branch or tag name) points to; the shas by ref."""
        return {ref: self.add(folder, ref) for ref, folder in folders.items()}

    def commit(self, revision: str) -> str | None:
        return revision if revision in self.commits else self.refs.get(revision)


class FakeHub:
    """Start with `with FakeHub() as hub:`; `hub.endpoint` is its address for `HF_ENDPOINT`."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None
        self.connections: list[socket.socket] = []

    def repo(self, repo_id: str) -> Repo:
        return self.repos.setdefault(repo_id, Repo())

    def fail(self, repo_id: str, failure: str | None) -> None:
        """Make every request for `repo_id` answer `failure` ("401", "403", "404", "drop"), or None to heal it."""
        self.repo(repo_id).failure = failure

    @property
    def endpoint(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def serve_to(self, monkeypatch: Any, home: Path) -> None:
        """Point huggingface_hub at this hub for one test (`monkeypatch`): HF_ENDPOINT, an empty HF_HOME at `home`,
        no token, online, plain HTTP downloads (no Xet)."""
        monkeypatch.setenv("HF_ENDPOINT", self.endpoint)
        monkeypatch.setenv("HF_HOME", str(home))
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
        for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE"):
            monkeypatch.delenv(name, raising=False)

    def start(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                hub.connections.append(self.connection)

            def do_GET(self) -> None:
                hub.answer(self, body=True)

            def do_HEAD(self) -> None:
                hub.answer(self, body=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop answering: the listening socket and every open (keep-alive) connection are closed."""
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self.connections.clear()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ answering
    def answer(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        path = unquote(urlsplit(handler.path).path)
        self.requests.append((handler.command, path, dict(handler.headers)))
        if path.startswith("/api/models/"):
            rest = path.removeprefix("/api/models/")
            for marker in ("/revision/", "/tree/"):
                if marker in rest:
                    repo_id, _, revision = rest.partition(marker)
                    break
            else:
                repo_id, marker, revision = rest, "", "main"
            revision = revision.split("/", 1)[0] if marker == "/tree/" else revision
            self.api(handler, repo_id, revision, marker == "/tree/")
        elif "/resolve/" in path:
            repo_id, _, rest = path.strip("/").partition("/resolve/")
            revision, _, filename = rest.partition("/")
            self.resolve(handler, repo_id, revision, filename, body)
        else:
            self.send(handler, 404, b"{}", {"X-Error-Code": "EntryNotFound"})

    def checked(self, handler: BaseHTTPRequestHandler, repo_id: str, revision: str) -> str | None:
        """The commit of `repo_id@revision`, or None after answering the error it calls for."""
        repo = self.repos.get(repo_id)
        if repo is not None and repo.failure == "drop":
            handler.close_connection = True
            handler.connection.close()
            return None
        if repo is not None and repo.failure in ("401", "403"):
            code = "RepoNotFound" if repo.failure == "401" else "GatedRepo"
            self.send(handler, int(repo.failure), b'{"error": "refused"}', {"X-Error-Code": code})
            return None
        if repo is None or repo.failure == "404":
            self.send(handler, 404, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"})
            return None
        sha = repo.commit(revision)
        if sha is None:
            self.send(handler, 404, b'{"error": "Invalid rev id"}', {"X-Error-Code": "RevisionNotFound"})
        return sha

    def api(self, handler: BaseHTTPRequestHandler, repo_id: str, revision: str, tree: bool) -> None:
        sha = self.checked(handler, repo_id, revision)
        if sha is None:
            return
        files = self.repos[repo_id].commits[sha]
        if tree:
            listing = [
                {"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                for name, data in files.items()
            ]
            self.send(handler, 200, json.dumps(listing).encode())
            return
        info = {"id": repo_id, "modelId": repo_id, "sha": sha, "siblings": [{"rfilename": name} for name in files]}
        self.send(handler, 200, json.dumps(info).encode())

    def resolve(self, handler: BaseHTTPRequestHandler, repo_id: str, revision: str, filename: str, body: bool) -> None:
        sha = self.checked(handler, repo_id, revision)
        if sha is None:
            return
        data = self.repos[repo_id].commits[sha].get(filename)
        if data is None:
            self.send(handler, 404, b"{}", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": sha}, body)
            return
        headers = {"X-Repo-Commit": sha, "ETag": f'"{hashlib.sha256(data).hexdigest()}"'}
        self.send(handler, 200, data, headers, body)

    @staticmethod
    def send(
        handler: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict[str, str] | None = None, body=True
    ) -> None:
        handler.send_response(status)
        for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if body:
            handler.wfile.write(data)
