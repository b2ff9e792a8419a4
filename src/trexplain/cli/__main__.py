"""`python -m trexplain.cli`: the command line."""

from trexplain.cli import main

main()
