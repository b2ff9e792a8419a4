"""Command line: typer commands that parse arguments and call the library; no logic lives here.

Each module below adds its commands to the one `app` when imported.
"""

from trexplain.cli import attention, concepts, evaluate, explain, report, run, serve  # noqa: F401  (registers them)
from trexplain.cli.common import app

__all__ = ["app", "main"]


def main() -> None:
    app(prog_name="trexplain")
