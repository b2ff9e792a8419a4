"""`create_app`: the FastAPI app: API routes, the page (its own controls plus the report's renderer, served from
the same files the HTML report inlines), offline API docs, and the security checks on every request."""

from __future__ import annotations

import html
import importlib.util
import os
from collections.abc import Mapping, Sequence
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from trexplain import __version__
from trexplain.errors import InputError, TrexplainError
from trexplain.server import security
from trexplain.server.api import error_response, router
from trexplain.server.jobs import Jobs
from trexplain.server.limits import LimitError, Limits
from trexplain.server.models import ServedModel
from trexplain.server.panels import ServedRun, attach_concepts, load_concept_sets

TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
PANEL_PREFIX = "panel-"


def static_files() -> dict[str, str]:
    """The page's own files (`server/static/`) by name: app.js, app.css and every `panel-*.js`."""
    folder = files("trexplain.server").joinpath("static")
    return {e.name: e.read_text(encoding="utf-8") for e in folder.iterdir() if e.name.endswith((".js", ".css"))}


def capabilities(concepts: Mapping[str, Any], run: Any) -> dict[str, bool]:
    """Which optional panels the page shows: probing when `trexplain.probe` is installed, concepts when concept
    folders are served, the run table when a run folder is."""
    return {
        "probe": importlib.util.find_spec("trexplain.probe") is not None,
        "concepts": bool(concepts),
        "runs": run is not None,
    }


def page(statics: Mapping[str, str]) -> str:
    """The app's HTML: the shared renderer, every panel (one file each, discovered like report sections), then
    app.js; scripts by URL from this server only (the CSP's `script-src 'self'`)."""
    panels = sorted(n for n in statics if n.startswith(PANEL_PREFIX) and n.endswith(".js"))
    scripts = ["/assets/report.js", *(f"/static/{n}" for n in panels), "/static/app.js"]
    styles = ["/assets/report.css", "/static/app.css"]
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="trexplain {html.escape(__version__)}"><title>trexplain serve</title>'
        + "".join(f'<link rel="stylesheet" href="{s}">' for s in styles)
        + '</head><body><div id="app"><noscript>This page needs JavaScript.</noscript></div>'
        + "".join(f'<script src="{s}"></script>' for s in scripts)
        + "</body></html>\n"
    )


def docs_page(spec: Mapping[str, Any]) -> str:
    """The API reference as static HTML from the OpenAPI spec (no CDN, no script): every route, its summary
    and its request body's fields."""
    rows = []
    schemas = spec.get("components", {}).get("schemas", {})
    for path, operations in spec.get("paths", {}).items():
        for verb, op in operations.items():
            fields = ""
            ref = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
            if ref:
                props = schemas.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
                fields = ", ".join(props)
            rows.append(
                f"<tr><td><code>{html.escape(verb.upper())}</code></td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(op.get('description') or op.get('summary') or '')}</td>"
                f"<td><code>{html.escape(fields)}</code></td></tr>"
            )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>trexplain API</title>'
        '<link rel="stylesheet" href="/static/app.css"></head><body class="docs"><h1>trexplain API</h1>'
        '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3). Errors are '
        '<code>{"error": {"type", "message", ...}}</code>; a limit adds <code>limit</code>, <code>allowed</code> and '
        "<code>got</code>. With a token, send <code>Authorization: Bearer T</code>.</p>"
        "<table><tr><th>method</th><th>path</th><th>what</th><th>body fields</th></tr>"
        + "".join(rows)
        + "</table></body></html>\n"
    )


def create_app(
    models: Sequence[ServedModel] | Mapping[str, ServedModel],
    *,
    token: str | None = None,
    limits: Limits | None = None,
    index: Any = None,
    concepts: Sequence[Any] = (),
    run: str | os.PathLike[str] | Any = None,
    host: str = security.LOOPBACK,
    port: int = 8000,
) -> FastAPI:
    """The app serving `models` (by name; the first is the default). `token`: required as a Bearer header on
    `/api/` (None: none, loopback only); `host`/`port`: where it is bound, for the Host and Origin checks.
    `index`: a corpus index (`inspect.neighbours.CorpusIndex`) for the served model it was built with (or set
    `ServedModel.index`); masked-LM heads travel on each `ServedModel`. `concepts`: `ConceptSet`s (or their
    folders), each served
    with the model it was fitted on (an InputError when none has its weights); `run`: a dataset run folder (or
    `panels.ServedRun`), served read-only to the data table."""
    entries = dict(models) if isinstance(models, Mapping) else {m.name: m for m in models}
    if not entries:
        raise InputError("serve needs at least one model")
    if index is not None:
        owner = entries.get(index.meta.get("model_name"))
        if owner is None:
            raise InputError(f"the index was built with {index.meta.get('model_name')!r}, which is not served")
        owner.index = index
    if token is None and not security.is_loopback(host):
        raise security.BindError(f"binding {host} needs a token")
    sets = [load_concept_sets([c])[0] if isinstance(c, str | os.PathLike) else c for c in concepts]
    served_concepts = attach_concepts(sets, entries)
    served_run = run if run is None or isinstance(run, ServedRun) else ServedRun.open(run)
    limits = limits or Limits()
    jobs = Jobs(limits)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        jobs.shutdown()

    app = FastAPI(
        title="trexplain",
        version=__version__,
        description="Explain transformer classifiers: the JSON API of `trexplain serve`.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.models, app.state.limits, app.state.jobs = entries, limits, jobs
    app.state.concepts, app.state.run = served_concepts, served_run
    app.state.capabilities = capabilities(served_concepts, served_run)
    app.state.token = token
    hosts = security.allowed_hosts(host, port)
    statics = static_files()
    index = page(statics)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        headers = request.headers
        if not security.host_ok(headers.get("host"), hosts):
            response = _error(421, "host", f"this server does not answer to Host {headers.get('host')!r}")
        elif not security.origin_ok(request.method, headers.get("origin"), headers.get("host")):
            response = _error(403, "origin", "cross-origin requests that change state are refused")
        elif request.url.path.startswith("/api/") and not security.token_ok(headers.get("authorization"), token):
            response = _error(401, "token", "this server needs 'Authorization: Bearer <token>' (printed at start)")
        elif _too_large(headers, limits):
            response = error_response(
                LimitError(
                    413,
                    "max_body",
                    limits.max_body,
                    headers.get("content-length"),
                    f"request bodies are limited to {limits.max_body} bytes",
                )
            )
        else:
            response = await call_next(request)
        for key, value in security.HEADERS.items():
            response.headers.setdefault(key, value)
        if "set-cookie" in response.headers:
            del response.headers["set-cookie"]
        return response

    @app.exception_handler(LimitError)
    async def limit_error(request: Request, exc: LimitError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(TrexplainError)
    async def library_error(request: Request, exc: TrexplainError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        message = "; ".join(f"{d['field'] or 'body'}: {d['message']}" for d in details)
        return JSONResponse({"error": {"type": "validation", "message": message, "details": details}}, 422)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        return error_response(exc)

    app.include_router(router)

    @app.get("/", include_in_schema=False)
    def home() -> HTMLResponse:
        return HTMLResponse(index)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(docs_page(app.openapi()))

    @app.get("/assets/{name}", include_in_schema=False)
    def assets(name: str) -> Response:
        from trexplain.viz.html import script, style

        if name == "report.js":
            return Response(script(), media_type=TYPES[".js"])
        if name == "report.css":
            return Response(style(), media_type=TYPES[".css"])
        return _error(404, "not_found", f"no asset {name!r}")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in statics:
            return _error(404, "not_found", f"no file {name!r}")
        return Response(statics[name], media_type=TYPES["." + name.rsplit(".", 1)[-1]])

    return app


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


def _too_large(headers: Any, limits: Limits) -> bool:
    length = headers.get("content-length")
    if length is None:
        return "chunked" in headers.get("transfer-encoding", "")
    return not length.isdigit() or int(length) > limits.max_body
