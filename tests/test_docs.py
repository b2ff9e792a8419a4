"""The documentation site: it builds with --strict, offline (no asset from another host), with search; the
tutorial runner turns executed cells into Markdown; the hooks fill command help and parameter tables."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

pytest.importorskip("mkdocs", reason="the docs extra (pip install -e '.[docs]') builds the site")
pytest.importorskip("material", reason="the docs extra installs mkdocs-material")
pytest.importorskip("mkdocstrings_handlers.python", reason="the docs extra installs mkdocstrings[python]")
nbformat = pytest.importorskip("nbformat", reason="the docs extra installs nbformat")

import docs_hooks  # noqa: E402
import run_tutorials  # noqa: E402

EXTERNAL_ASSET = re.compile(
    r"<(?:script|img|iframe|source)\b[^>]*\bsrc=[\"']?(?:https?:)?//|<link\b[^>]*\bhref=[\"']?(?:https?:)?//"
    r"|url\([\"']?(?:https?:)?//|@import\s+[\"']?(?:https?:)?//",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_strict_build_has_every_page_and_search(site):
    for page in ("index.html", "cards/cp-lrp/index.html", "cli/layers/index.html", "api/trexplain/index.html"):
        assert (site / page).is_file(), page
    assert (site / "search" / "search_index.json").is_file()
    api = (site / "api" / "trexplain" / "index.html").read_text(encoding="utf-8")
    assert "trexplain.explain" in api and "Explain each text with one method" in api


def test_site_fetches_nothing_from_another_host(site):
    offenders = []
    for path in site.rglob("*"):
        if path.suffix in (".html", ".css", ".js") and path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            offenders += [f"{path.relative_to(site)}: {m.group(0)}" for m in EXTERNAL_ASSET.finditer(text)]
    assert offenders == []


def test_generated_blocks_hold_the_real_help_and_parameters(site):
    layers = (site / "cli" / "layers" / "index.html").read_text(encoding="utf-8")
    assert "Usage: trexplain layers" in layers and "--mask" in layers
    assert "trexplain-help" not in layers
    card = docs_hooks.parameter_table("ig")
    assert "| `steps` | `int` | `4` |" in card and "| `baseline` |" in card


def test_executed_cells_become_markdown_with_text_and_figures():
    cell = nbformat.v4.new_code_cell("print('hi')")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="hi\x1b[31m!\x1b[0m\n"),
        nbformat.v4.new_output("stream", name="stderr", text="/x/site-packages/tqdm/auto.py:21: TqdmWarning: no\n"),
        nbformat.v4.new_output("display_data", data={"image/png": "AAAA\n", "text/plain": "<Figure>"}),
        nbformat.v4.new_output("execute_result", data={"text/plain": "42"}, execution_count=1),
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title"), cell])
    assert run_tutorials.notebook_markdown(notebook) == (
        "# Title\n\n```python\nprint('hi')\n```\n\n```text\nhi!\n```\n\n"
        "![figure](data:image/png;base64,AAAA)\n\n```text\n42\n```\n"
    )


def test_every_tutorial_source_is_a_notebook_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for path in sorted((ROOT / "docs" / "tutorials").glob("*.md")):
        assert f"tutorials/{path.name}" in nav, path.name
        if path.name != "index.md":
            notebook = run_tutorials.jupytext.read(path)
            assert sum(c.cell_type == "code" for c in notebook.cells) >= 4, path.name
            assert "how far to trust" in path.read_text(encoding="utf-8").lower(), path.name
