"""`trexplain serve`: a local web app over the library (FastAPI + uvicorn, the `app` extra).

`create_app(models, token=, limits=, index=)` builds the app; `trexplain.cli.serve` runs it. Modules:
`models` (what is served), `limits` (request bounds), `security` (bind address, token, origin, headers),
`jobs` (the bounded worker pool with progress and cancel), `compute` (library calls → JSON), `api` (routes),
`app` (the factory and the page), `static/` (the page's own controls; the renderer is the report's).
"""

from typing import Any

from trexplain.server.limits import Limits
from trexplain.server.models import ServedModel, load_served

__all__ = ["Limits", "ServedModel", "create_app", "load_served"]


def create_app(*args: Any, **kwargs: Any) -> Any:
    """The FastAPI app (see `trexplain.server.app.create_app`); imports FastAPI only when called."""
    from trexplain.server.app import create_app as factory

    return factory(*args, **kwargs)
