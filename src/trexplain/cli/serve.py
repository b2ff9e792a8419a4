"""`trexplain serve`: the local web app (needs the `app` extra: pip install 'trexplain[app]')."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trexplain.cli.common import Command, LoadOptions, app, guarded, say, with_blocks
from trexplain.errors import InputError


@app.command(cls=Command)
@with_blocks
def serve(
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="Model to serve ('demo', a folder or a hub id); repeat for more."),
    ] = None,
    *,
    loading: LoadOptions,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    host: Annotated[
        str, typer.Option(help="Address to bind. Anything but 127.0.0.1 exposes the server and needs a token.")
    ] = "127.0.0.1",
    token: Annotated[
        str | None, typer.Option(help="Bearer token clients must send (generated and printed once off loopback).")
    ] = None,
    index: Annotated[Path | None, typer.Option(help="Corpus index folder (trexplain index) for neighbours.")] = None,
    masked_lm: Annotated[
        Path | None, typer.Option(help="Masked-LM folder of the first model's base: per-layer masked-word guesses.")
    ] = None,
    concepts: Annotated[
        list[Path] | None,
        typer.Option("--concepts", help="Concept folder (trexplain concepts fit) of a served model; repeatable."),
    ] = None,
    run: Annotated[Path | None, typer.Option("--run", help="Run folder (trexplain run) for the data table.")] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds one request may take.")] = 60.0,
    workers: Annotated[int, typer.Option(min=1, help="Model calls running at once.")] = 2,
    queue: Annotated[int, typer.Option(min=1, help="Model calls running or waiting; beyond it: 503.")] = 64,
) -> None:
    """Serve a local web app and JSON API to explore models; prints the URL and opens nothing."""
    with guarded():
        try:
            import uvicorn

            from trexplain.server.app import create_app
        except ImportError as exc:
            raise InputError(
                f"serve needs the app extra ({exc.name} is missing): pip install 'trexplain[app]'"
            ) from exc
        from trexplain.server.limits import Limits
        from trexplain.server.models import load_served
        from trexplain.server.panels import load_concept_sets
        from trexplain.server.security import check_bind, is_loopback

        required = check_bind(host, token, generate=True)
        served = load_served(model or ["demo"], index, masked_lm=masked_lm, **loading.load_keywords())
        limits = Limits(timeout_s=timeout, workers=workers, queue=queue)
        sets = load_concept_sets(concepts or [])
        web = create_app(served, token=required, limits=limits, concepts=sets, run=run, host=host, port=port)
        if not is_loopback(host):
            say(f"warning: serving on {host}, reachable from other machines; every API call needs the token")
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        fragment = f"#token={required}" if required else ""
        if required and token is None:
            say(f"token (shown once): {required}")
        say(f"trexplain serve: {', '.join(s.name for s in served)} at http://{shown}:{port}/{fragment}")
        say(f"API docs: http://{shown}:{port}/docs · stop with Ctrl-C")
        uvicorn.run(web, host=host, port=port, log_level="warning", server_header=False)
