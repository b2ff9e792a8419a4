"""Command line: typer commands that parse arguments and call the library; no logic lives here.

Each module below adds its commands to the one `app` when imported.
"""

from trexplain.cli import attention  # noqa: F401
from trexplain.cli import evaluate  # noqa: F401
from trexplain.cli import explain  # noqa: F401  (registers commands)
from trexplain.cli import report  # noqa: F401
from trexplain.cli.common import app

__all__ = ["app", "main"]


def main() -> None:
    app()
