"""Command line: typer commands that parse arguments and call the library; no logic lives here.

Each module below adds its commands to the one `app` when imported.
"""

from trexplain.cli import (  # noqa: F401  (each module registers its commands)
    amortize,
    attention,
    concepts,
    evaluate,
    explain,
    probe,
    report,
    run,
    serve,
)
from trexplain.cli.common import app

__all__ = ["app", "main"]


def main() -> None:
    app(prog_name="trexplain")
