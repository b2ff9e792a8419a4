"""Who may talk to the server and what the browser may do with its pages.

- Bind: 127.0.0.1 unless another host is named explicitly; any other host needs a token (given or generated,
  printed once) and prints a warning (`check_bind`).
- Token: `Authorization: Bearer <token>` on every `/api/` request when set; compared in constant time. The
  page reads it from its URL fragment (`#token=…`, never sent to the server or logged) and keeps it in
  memory: no cookies anywhere, so another site cannot ride on a visitor's credentials.
- Host: requests must name this server (127.0.0.1, localhost or the bound host) in `Host`: DNS-rebinding pages
  cannot reach a loopback server under their own name.
- Origin: a state-changing request (POST, PUT, PATCH, DELETE) that carries `Origin` must come from this
  server's own origin (cross-site forms and fetches are refused); clients without one (curl) pass.
- Headers: a Content-Security-Policy allowing only the server's own scripts and styles, no framing, no
  referrer, `nosniff`.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from trexplain.errors import InputError

LOOPBACK = "127.0.0.1"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class BindError(InputError):
    """A non-loopback bind address without a token."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None, *, generate: bool = False) -> str | None:
    """The token to require for binding `host`: None on loopback without one; elsewhere the given token, or a
    generated one when `generate` (the CLI's default), else a `BindError` naming the fix."""
    if token is not None and len(token) < 16:
        raise BindError("--token must be at least 16 characters; omit it to have one generated")
    if is_loopback(host):
        return token
    if token:
        return token
    if generate:
        return secrets.token_urlsafe(24)
    raise BindError(
        f"binding {host} exposes the server beyond this machine; it needs a token (--token T, or let serve "
        "generate one) and every client must send 'Authorization: Bearer T'"
    )


def token_ok(header: str | None, token: str | None) -> bool:
    """Whether an `Authorization` header carries the token (always true when none is required)."""
    if token is None:
        return True
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer ") :].strip().encode(), token.encode())


def allowed_hosts(host: str, port: int) -> set[str]:
    """`Host` header values that name this server."""
    names = {LOOPBACK, "localhost", "[::1]", host if ":" not in host else f"[{host.strip('[]')}]"}
    if host in ("0.0.0.0", "::"):  # every interface: the machine's names are not known here
        return set()
    return {name for n in names for name in (n, f"{n}:{port}")}


def host_ok(header: str | None, hosts: Iterable[str]) -> bool:
    """Whether the `Host` header names this server (an empty `hosts` accepts any, for 0.0.0.0 binds with a token)."""
    hosts = set(hosts)
    return not hosts or (header or "").lower() in hosts


def origin_ok(method: str, origin: str | None, host_header: str | None) -> bool:
    """A state-changing request with an `Origin` must come from the page's own origin (scheme http, same host)."""
    if method.upper() not in UNSAFE_METHODS or origin is None:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and bool(host_header) and parts.netloc.lower() == host_header.lower()
