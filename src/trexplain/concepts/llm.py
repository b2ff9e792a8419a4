"""A small client for any OpenAI-compatible chat completions endpoint, and a disk cache of its answers.

`ChatClient(base_url, model)` posts `{"model", "messages", "temperature": 0, "max_tokens"}` to
`{base_url}/chat/completions` with the standard library only (no SDK): OpenAI, vLLM, llama.cpp's
`llama-server`, Ollama (`http://127.0.0.1:11434/v1`) and most gateways speak this. Nothing is sent anywhere
unless the caller names the base URL: there is no default endpoint. The API key is read from the environment
variable the caller names (default `OPENAI_API_KEY`; none is sent when it is unset, as local servers need
none); it appears in no message, repr or cache file. Timeouts, connection resets, 429 and 5xx answers are
retried with exponential backoff (honouring `Retry-After`); other 4xx answers fail at once. Redirects are
not followed, so neither the request nor the key is forwarded to another host. Every failure is an
`LLMError` naming the URL (never with credentials) and the fix.

`cached_chat(client, messages, cache_dir)` keeps each answer in `cache_dir/<sha256>.json`, keyed by the model
name, the generation settings and the messages, so a rerun sends nothing.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
import math
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from trexplain.errors import InputError, TrexplainError
from trexplain.io import atomic_file

Message = dict[str, str]
CACHE_FORMAT, CACHE_VERSION = "trexplain-llm-answer", 1
MAX_RETRY_AFTER = 60.0
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class LLMError(TrexplainError):
    """A chat endpoint could not be reached, refused the request, or answered something unusable.

    `url` is the endpoint without credentials, `status` the HTTP status when there was one."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


@runtime_checkable
class Chat(Protocol):
    """What labelling needs from a language model: its name and one chat turn (messages in, answer text out)."""

    model: str

    def chat(self, messages: Sequence[Message]) -> str: ...


class ChatClient:
    """An OpenAI-compatible chat completions client with timeouts, retries and a response size limit.

    `base_url` is the API root (e.g. `https://api.openai.com/v1`, `http://127.0.0.1:8080/v1`); requests go to
    `{base_url}/chat/completions`. `requests` counts the HTTP requests sent (retries included)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 1.0,
        max_tokens: int | None = 256,
        max_response_bytes: int = 1_000_000,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = chat_url(base_url)
        if not isinstance(model, str) or not model.strip() or _CONTROL.search(model):
            raise LLMError(f"model name {model!r} is empty or has control characters; pass the model's name")
        if not timeout > 0:
            raise LLMError(f"timeout must be positive seconds, got {timeout}")
        if int(retries) != retries or retries < 0:
            raise LLMError(f"retries must be a whole number ≥ 0, got {retries}")
        if backoff < 0 or (max_tokens is not None and max_tokens < 1) or max_response_bytes < 1:
            raise LLMError("backoff must be ≥ 0, max_tokens (or None) and max_response_bytes ≥ 1")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.max_response_bytes = int(max_response_bytes)
        self.requests = 0
        self._count = threading.Lock()
        self._sleep = sleep
        self._key = os.environ.get(api_key_env, "") if api_key_env else ""
        if self._key and any(c in self._key for c in "\r\n\0"):
            raise LLMError(f"the API key in ${api_key_env} has a line break or NUL; set it to the key alone")
        host = urllib.parse.urlsplit(self.url).hostname or ""
        self._local = _loopback(host)
        if self._key and self.url.startswith("http:") and not self._local:
            warnings.warn(
                f"the API key in ${api_key_env} goes to {self.url} unencrypted (http); use https", stacklevel=2
            )
        handlers: list[Any] = [_NoRedirect()]
        if self._local:
            handlers.append(urllib.request.ProxyHandler({}))  # a proxy cannot reach this machine's loopback
        self._opener = urllib.request.build_opener(*handlers)

    def __repr__(self) -> str:
        key = f"${self.api_key_env}" + ("" if self._key else " (unset)") if self.api_key_env else "none"
        return (
            f"ChatClient({self.url}, model={self.model!r}, key={key}, timeout={self.timeout}, retries={self.retries})"
        )

    @property
    def settings(self) -> dict[str, Any]:
        """What, besides the messages, decides the answer: sent with them, and part of every cache key.
        `max_tokens=None` leaves it out (models that want `max_completion_tokens` refuse it)."""
        limit = {} if self.max_tokens is None else {"max_tokens": self.max_tokens}
        return {"model": self.model, "temperature": 0, **limit}

    def chat(self, messages: Sequence[Message]) -> str:
        """The assistant's answer to `messages` (a list of {"role", "content"}), retried on transient failures."""
        body = json.dumps({**self.settings, "messages": _check_messages(messages)}).encode("utf-8")
        attempt = 0
        while True:
            try:
                return self._post(body)
            except _Transient as exc:
                if attempt == self.retries:
                    tries = f" after {self.retries + 1} tries" if self.retries else ""
                    message = f"{self.url}: {exc.reason}{tries}; {exc.fix}"
                    raise LLMError(message, url=self.url, status=exc.status) from exc
                self._sleep(exc.wait if exc.wait is not None else self.backoff * 2**attempt)
                attempt += 1

    def _post(self, body: bytes) -> str:
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "trexplain"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        with self._count:
            self.requests += 1
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                raw = self._read(response)
        except urllib.error.HTTPError as exc:
            try:
                detail = self._read(exc, quiet=True) if exc.fp is not None else b""
            except (http.client.HTTPException, OSError):
                detail = b""
            finally:
                exc.close()
            self._fail(exc.code, detail, exc.headers)
        except TimeoutError as exc:
            raise _Transient(f"no answer within {self.timeout:g} s", "raise --timeout or check the server") from exc
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                raise _Transient(f"no answer within {self.timeout:g} s", "raise --timeout or check the server") from exc
            if isinstance(reason, ConnectionRefusedError):
                raise LLMError(
                    f"{self.url}: connection refused; start the server or fix --llm-url", url=self.url
                ) from exc
            if isinstance(reason, (ConnectionResetError, ConnectionAbortedError)):
                raise _Transient(f"connection lost ({reason})", "check the server") from exc
            raise LLMError(f"{self.url}: cannot connect ({reason}); check --llm-url", url=self.url) from exc
        except (http.client.RemoteDisconnected, ConnectionResetError, ConnectionAbortedError) as exc:
            raise _Transient(f"connection lost ({exc})", "check the server") from exc
        except (http.client.HTTPException, OSError, ValueError) as exc:
            raise LLMError(f"{self.url}: the request failed ({exc}); check --llm-url", url=self.url) from exc
        return self._content(raw)

    def _read(self, response: Any, *, quiet: bool = False) -> bytes:
        """The body, at most `max_response_bytes` (an error past that, or a short snippet with `quiet`)."""
        limit = 2000 if quiet else self.max_response_bytes
        try:
            raw = response.read(limit + 1)
        except TimeoutError as exc:
            if quiet:
                return b""
            raise _Transient(f"no answer within {self.timeout:g} s", "raise --timeout or check the server") from exc
        if len(raw) > limit and not quiet:
            raise LLMError(
                f"{self.url}: the answer is larger than {self.max_response_bytes} bytes; lower max_tokens or raise "
                "max_response_bytes",
                url=self.url,
            )
        return raw[:limit]

    def _fail(self, status: int, raw: bytes, headers: Any) -> None:
        detail = self._detail(raw)
        said = f" ({detail})" if detail else ""
        if status == 429 or status >= 500:
            raise _Transient(f"HTTP {status}{said}", "wait, or raise --retries", status, _retry_after(headers))
        if status in (401, 403):
            key = "no key sent" if not self.api_key_env else f"${self.api_key_env} is {'set' if self._key else 'unset'}"
            fix = f"check the API key ({key}; --api-key-env names the variable)"
        elif 300 <= status < 400:
            target = urllib.parse.urlsplit(str(headers.get("Location", "") if headers is not None else ""))
            moved = f" to {_without_credentials(target)}" if target.netloc else ""
            fix = f"it redirects{moved}, which is not followed; give the final API root as --llm-url"
        elif status == 404:
            fix = "check --llm-url (the API root, e.g. http://127.0.0.1:8080/v1) and --llm-model"
        else:
            fix = "check --llm-url and --llm-model"
        raise LLMError(f"{self.url}: HTTP {status}{said}; {fix}", url=self.url, status=status)

    def _detail(self, raw: bytes) -> str:
        """A short, printable, key-free excerpt of an error body (its `error.message` when it is JSON)."""
        text = raw.decode("utf-8", "replace")
        try:
            data = json.loads(text)
            error = data.get("error") if isinstance(data, dict) else None
            text = str(error.get("message", error) if isinstance(error, dict) else error or text)
        except (ValueError, RecursionError):
            pass
        if self._key:
            text = text.replace(self._key, "***")
        text = " ".join(_CONTROL.sub(" ", text).split())
        return text[:200] + ("…" if len(text) > 200 else "")

    def _content(self, raw: bytes) -> str:
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise LLMError(
                f"{self.url}: the answer is not JSON ({exc}); is --llm-url an OpenAI-compatible API root?",
                url=self.url,
            ) from exc
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError(
                f"{self.url}: the answer has no choices[0].message.content; is this an OpenAI-compatible chat "
                "completions endpoint?",
                url=self.url,
            ) from exc
        if not isinstance(content, str):
            raise LLMError(
                f"{self.url}: the answer's message content is {type(content).__name__}, not text; try another model",
                url=self.url,
            )
        return content


class _Transient(Exception):
    """A failure worth retrying: a timeout, a lost connection, 429 or 5xx."""

    def __init__(self, reason: str, fix: str, status: int | None = None, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.fix, self.status, self.wait = reason, fix, status, wait


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects become errors: a POST and its API key are never forwarded elsewhere."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None


def chat_url(base_url: str) -> str:
    """`{base_url}/chat/completions` for an http(s) API root with a host and no credentials, query or fragment."""
    if not isinstance(base_url, str) or not base_url.strip():
        raise LLMError("no LLM endpoint given; pass its API root, e.g. --llm-url http://127.0.0.1:8080/v1")
    try:
        parts = urllib.parse.urlsplit(base_url.strip())
        parts.port  # noqa: B018 — raises on a malformed port
    except ValueError as exc:
        raise LLMError(f"LLM URL is malformed ({exc}); give e.g. http://127.0.0.1:8080/v1") from exc
    shown = _without_credentials(parts)
    if parts.scheme not in ("http", "https"):
        raise LLMError(f"LLM URL {shown} must start with http:// or https://")
    if not parts.hostname:
        raise LLMError(f"LLM URL {shown} has no host; give e.g. http://127.0.0.1:8080/v1")
    if parts.username is not None or parts.password is not None:
        raise LLMError(f"LLM URL {shown} holds credentials; put the key in an environment variable (--api-key-env)")
    if parts.query or parts.fragment:
        raise LLMError(f"LLM URL {shown} has a query or fragment; give the API root only")
    if _CONTROL.search(base_url) or " " in base_url.strip():
        raise LLMError("LLM URL has spaces or control characters; give e.g. http://127.0.0.1:8080/v1")
    path = parts.path.rstrip("/")
    if path.endswith("/chat/completions"):
        path = path[: -len("/chat/completions")]
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path + "/chat/completions", "", ""))


def _without_credentials(parts: urllib.parse.SplitResult) -> str:
    netloc = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _retry_after(headers: Any) -> float | None:
    """Seconds a 429/503 asks to wait (`Retry-After: N`), capped at `MAX_RETRY_AFTER`; None when absent."""
    value = headers.get("Retry-After") if headers is not None else None
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None  # an HTTP date: the usual backoff
    return min(max(seconds, 0.0), MAX_RETRY_AFTER) if math.isfinite(seconds) else None


def _check_messages(messages: Sequence[Message]) -> list[Message]:
    if isinstance(messages, (str, bytes)) or not messages:
        raise LLMError("messages must be a non-empty list of {'role', 'content'} dicts")
    checked = []
    for message in messages:
        if (
            not isinstance(message, dict)
            or message.get("role") not in ("system", "user", "assistant")
            or not isinstance(message.get("content"), str)
        ):
            raise LLMError("each message must be {'role': 'system'|'user'|'assistant', 'content': str}")
        checked.append({"role": message["role"], "content": message["content"]})
    return checked


# ------------------------------------------------------------------ cache
def cache_key(client: Chat, messages: Sequence[Message]) -> str:
    """sha256 of the client's settings (model name, temperature, max_tokens) and the messages."""
    settings = getattr(client, "settings", None) or {"model": client.model}
    blob = json.dumps({"settings": settings, "messages": list(messages)}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def cached_chat(client: Chat, messages: Sequence[Message], cache_dir: str | os.PathLike[str] | None) -> str:
    """`client.chat(messages)`, or the answer stored for the same model, settings and messages in `cache_dir`
    (None: no cache). A new answer is stored atomically as JSON holding the key, model and answer only."""
    if cache_dir is None:
        return client.chat(messages)
    key = cache_key(client, messages)
    path = Path(cache_dir) / f"{key}.json"
    answer = _cached(path, key)
    if answer is not None:
        return answer
    answer = client.chat(messages)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the LLM answer cache {path.parent} ({exc}); choose another folder") from exc
    entry = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "key": key, "model": client.model, "answer": answer}
    with atomic_file(path, what="LLM answer cache") as handle:
        json.dump(entry, handle, ensure_ascii=False)
    return answer


def _cached(path: Path, key: str) -> str | None:
    """The stored answer, or None when there is none or the file is not one of ours (it is then rewritten)."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        isinstance(entry, dict)
        and entry.get("format") == CACHE_FORMAT
        and entry.get("key") == key
        and isinstance(entry.get("answer"), str)
    ):
        return entry["answer"]
    return None


def ask_all(
    client: Chat,
    prompts: Sequence[list[Message]],
    cache_dir: str | os.PathLike[str] | None,
    workers: int,
    advance: Callable[[], Any],
) -> list[str]:
    """The answers to `prompts` (`cached_chat` each), in order, `workers` requests at a time, calling `advance`
    after each; the first failure cancels the requests not yet started (the answers already received stay cached)."""
    if int(workers) != workers or workers < 1:
        raise InputError(f"workers must be a whole number ≥ 1, got {workers}")
    if workers == 1 or len(prompts) < 2:
        answers = []
        for messages in prompts:
            answers.append(cached_chat(client, messages, cache_dir))
            advance()
        return answers
    pool = ThreadPoolExecutor(max_workers=int(workers), thread_name_prefix="trexplain-llm")
    try:
        futures = [pool.submit(cached_chat, client, messages, cache_dir) for messages in prompts]
        for done in as_completed(futures):
            done.result()
            advance()
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
