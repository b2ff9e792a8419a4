"""Self-contained HTML: one page = inlined CSS + JS renderer + the report dict as embedded JSON.

No CDN, no build step, no server: the page works from a file, an e-mail attachment or a notebook's
`<iframe srcdoc>`. Data strings never become markup: the JSON is escaped for its `<script>` element and
the renderer writes strings with textContent only. A Content-Security-Policy allows no network and
only this renderer's own script (by hash), so even a bug in escaping could not run injected code.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import sys
import uuid
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import Any

from trexplain.explanation import Explanation
from trexplain.layout import TextLayout

IFRAME_MAX_HEIGHT = 900


@cache
def asset(name: str) -> str:
    """The text of a packaged renderer file (`report.js`, `report.css`)."""
    return files("trexplain.viz").joinpath("assets", name).read_text(encoding="utf-8")


def plugins(suffix: str) -> list[str]:
    """The packaged plug-in files `section-*<suffix>` (views that register themselves with report.js), by name."""
    folder = files("trexplain.viz").joinpath("assets")
    return sorted(e.name for e in folder.iterdir() if e.name.startswith("section-") and e.name.endswith(suffix))


REPORT_PARTS = ("util", "markdown", "charts", "summary", "card", "attention")
"""The renderer's parts (`report-<part>.js`), each using the names of those before it."""


@cache
def script() -> str:
    """The page's one script: the renderer's parts, every `section-*.js` plug-in, then `report.js`, which draws."""
    parts = [asset(f"report-{part}.js") for part in REPORT_PARTS]
    return "\n".join([*parts, *(asset(name) for name in plugins(".js")), asset("report.js")])


@cache
def style() -> str:
    """The page's style sheet: `report.css`, then every `section-*.css`."""
    return "\n".join([asset("report.css"), *(asset(name) for name in plugins(".css"))])


def script_json(payload: Mapping[str, Any]) -> str:
    """JSON safe inside `<script type="application/json">`: no `</` or `<!--` can end or alter the element."""
    text = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("</", "<\\/").replace("<!--", "\\u003c!--")


def render(payload: Mapping[str, Any]) -> str:
    """The complete page for a report dict (see `trexplain.report.payload.build_payload`)."""
    code = script()
    digest = base64.b64encode(hashlib.sha256(code.encode("utf-8")).digest()).decode("ascii")
    policy = (
        "default-src 'none'; "
        f"script-src 'sha256-{digest}'; "
        "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
    )
    title = html.escape(str(payload.get("title") or "trexplain"))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(policy)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="trexplain"><title>{title}</title>'
        f"<style>{style()}</style></head><body>"
        '<main id="tx-root"><noscript>This report draws with JavaScript; enable it to see the explanations.'
        "</noscript></main>"
        f'<script type="application/json" id="tx-data">{script_json(payload)}</script>'
        f"<script>{code}</script></body></html>\n"
    )


def page(explanations: Sequence[Explanation], title: str = "trexplain") -> str:
    """A complete interactive page for explanations (grouped per text), without a model at hand."""
    from trexplain.records import group_by_input
    from trexplain.viz.payload import build_payload

    return render(build_payload(group_by_input(explanations), title=title))


# Beside the frame in a notebook: resize the frame to the height its page posts (report.js, on load and on every
# change). It reads only a positive number from its own frame's window; where the notebook runs no scripts,
# the frame keeps its first height and scrolls.
LISTENER = (
    "<script>(function(){var f=document.getElementById('FRAME');"
    "window.addEventListener('message',function(e){var h=e.data&&e.data.trexplainHeight;"
    "if(f&&e.source===f.contentWindow&&typeof h==='number'&&isFinite(h)&&h>0)f.style.height=Math.ceil(h)+'px';});"
    "})();</script>"
)


def iframe(document: str, height: int = 480) -> str:
    """`document` in a sandboxed `<iframe srcdoc>` (escaped for the attribute) that grows and shrinks with its
    content; `height` is its size until the page reports its own (or for good where scripts do not run)."""
    frame = f"tx-frame-{uuid.uuid4().hex}"
    size = f"box-sizing:content-box;width:calc(100% - 2px);height:{int(height)}px"
    style = f"display:block;{size};border:1px solid #d0d7de"
    return (
        f'<iframe id="{frame}" srcdoc="{html.escape(document, quote=True)}" sandbox="allow-scripts" '
        f'title="trexplain" style="{style}"></iframe>' + LISTENER.replace("FRAME", frame)
    )


def explanation_fragment(explanations: Sequence[Explanation], title: str = "trexplain") -> str:
    """Notebook HTML for explanations: the interactive page inside an `<iframe srcdoc>`."""
    return iframe(page(explanations, title), height=_height(explanations))


class Explanations(list):
    """A list of explanations that shows itself in notebooks as one report (`Explanations(explain(...))`)."""

    def _repr_html_(self) -> str:
        return explanation_fragment(list(self))


def show(explanations: Explanation | Sequence[Explanation]) -> Explanations:
    """Wrap one explanation or a list so that a notebook cell displays them as one interactive report."""
    return Explanations([explanations] if isinstance(explanations, Explanation) else list(explanations))


def display_in_notebooks() -> None:
    """Have a running IPython show a lone Explanation as the interactive page (`explanation.py` itself imports no
    renderer); a no-op outside IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:
        shell.display_formatter.formatters["text/html"].for_type(Explanation, lambda e: explanation_fragment([e]))


def _height(explanations: Sequence[Explanation]) -> int:
    inputs = {e.layout: e for e in explanations}.values()
    per_input = [_input_height(e.layout) for e in inputs]
    return min(IFRAME_MAX_HEIGHT, 150 + sum(per_input[:10]) + (40 if len(inputs) > 10 else 0))


def _input_height(layout: Any) -> int:
    """A first guess of one input card's height: text cards grow with words and lines, image cards are fixed."""
    if not isinstance(layout, TextLayout):
        return 520
    return 200 + 26 * min(len(layout.words), 11) + 26 * len(layout.text) // 90
