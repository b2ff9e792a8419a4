"""Execute the tutorials (jupytext Markdown notebooks in docs/tutorials/) and write them with their outputs.

Each notebook runs in a fresh kernel from the repository root (so `tests.fake_llm` and `examples/` resolve),
with a timeout per cell; an error in any cell stops the run with exit code 1 and the failing cell's
traceback. The executed copy of `docs/tutorials/NAME.md` goes to `build/tutorials/NAME.md`: code cells as
Python blocks, text outputs as text blocks, figures inlined as PNG data, which the site's hook
(`scripts/docs_hooks.py`) shows in place of the source.
Run: `python scripts/run_tutorials.py [NAME ...] [--timeout 600]`.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

from trexplain.io import write_text

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "docs" / "tutorials"
OUT = ROOT / "build" / "tutorials"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
THIRD_PARTY_WARNING = re.compile(r"site-packages/\S+: \w*Warning")  # import-time noise of other packages


def tutorials(names: list[str]) -> list[Path]:
    """The tutorial sources to run: the named ones, or every one but the index."""
    every = sorted(p for p in SOURCES.glob("*.md") if p.name != "index.md")
    if not names:
        return every
    known = {p.stem: p for p in every}
    unknown = [n for n in names if n not in known]
    if unknown:
        sys.exit(f"unknown tutorial {', '.join(unknown)}; available: {', '.join(known)}")
    return [known[n] for n in names]


def text_block(text: str) -> str:
    """A fenced text block (ANSI colours stripped), or nothing for blank output."""
    text = ANSI.sub("", text).rstrip()
    return f"```text\n{text}\n```\n" if text.strip() else ""


def output_markdown(output: nbformat.NotebookNode) -> str:
    """One cell output as Markdown: a figure, an HTML table, or text."""
    if output.output_type == "stream":
        if output.name == "stderr" and THIRD_PARTY_WARNING.search(output.text):
            return ""
        return text_block(output.text)
    if output.output_type not in ("display_data", "execute_result"):
        return ""
    data = output.get("data", {})
    if "image/png" in data:
        return f"![figure](data:image/png;base64,{data['image/png'].strip()})\n"
    html = data.get("text/html", "")
    if html and "<script" not in html and "<iframe" not in html:
        return f'<div class="tutorial-output" markdown="0">\n{html.strip()}\n</div>\n'
    return text_block(data.get("text/plain", ""))


def notebook_markdown(notebook: nbformat.NotebookNode) -> str:
    """The executed notebook as Markdown: prose as written, code in Python blocks, then its outputs."""
    parts = []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            parts.append(cell.source.strip() + "\n")
        elif cell.cell_type == "code" and cell.source.strip():
            parts.append(f"```python\n{cell.source.strip()}\n```\n")
            parts.extend(filter(None, (output_markdown(o) for o in cell.get("outputs", []))))
    return "\n".join(parts)


def run(path: Path, timeout: int) -> float:
    """Execute one tutorial and write its Markdown with outputs; the seconds it took."""
    notebook = jupytext.read(path)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    started = time.perf_counter()
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": ROOT}})
    client.execute()
    seconds = time.perf_counter() - started
    write_text(OUT / path.name, notebook_markdown(notebook), what="executed tutorial")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="Tutorials to run (file names without .md); default: all.")
    parser.add_argument("--timeout", type=int, default=600, help="Seconds allowed per cell.")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    total = 0.0
    for path in tutorials(args.names):
        try:
            seconds = run(path, args.timeout)
        except (CellExecutionError, CellTimeoutError) as exc:
            sys.exit(f"{path.relative_to(ROOT)} failed:\n{exc}")
        total += seconds
        print(f"{path.relative_to(ROOT)}: executed in {seconds:.1f} s → {(OUT / path.name).relative_to(ROOT)}")
    print(f"tutorials: {total:.1f} s in all")


if __name__ == "__main__":
    main()
