"""Self-contained HTML for explanations: highlighted words with hover values; every string escaped."""

from __future__ import annotations

import html
from collections.abc import Sequence

from trexplain.explanation import Explanation
from trexplain.viz.colors import rgba, scale

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#111}
.tx-card{border:1px solid #ddd;border-radius:6px;padding:.8rem 1rem;margin:.8rem 0}
.tx-head{font-size:.9rem;color:#444;margin-bottom:.4rem}
.tx-text{line-height:2;font-size:1.05rem}
.tx-w{border-radius:3px;padding:.1rem .15rem}
"""


def explanation_fragment(explanations: Sequence[Explanation]) -> str:
    """One card per (explanation, target): the text with each word coloured by its score."""
    cards = []
    for explanation in explanations:
        probs = explanation.probabilities
        for target in explanation.targets:
            scores = explanation.word_scores(target)
            peak = scale(scores)
            spans, cursor = [], 0
            for (start, end), score in zip(explanation.words, scores, strict=True):
                spans.append(html.escape(explanation.text[cursor:start]))
                r, g, b, a = rgba(float(score), peak)
                spans.append(
                    f'<span class="tx-w" style="background:rgba({r},{g},{b},{a})" title="{float(score):+.4f}">'
                    f"{html.escape(explanation.text[start:end])}</span>"
                )
                cursor = end
            spans.append(html.escape(explanation.text[cursor:]))
            head = (
                f"<b>{html.escape(explanation.method)}</b> → <b>{html.escape(explanation.labels[target])}</b>"
                f" · prediction {html.escape(explanation.predicted_label)} ({probs[explanation.predicted]:.2f})"
                f" · model {html.escape(explanation.model)}"
            )
            body = "".join(spans)
            card = f'<div class="tx-head">{head}</div><div class="tx-text">{body}</div>'
            cards.append(f'<div class="tx-card">{card}</div>')
    return f"<style>{STYLE}</style>" + "".join(cards)


def page(explanations: Sequence[Explanation], title: str = "trexplain") -> str:
    """A complete HTML page (no scripts, no network) for `explanations`."""
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f"<body><h1>{html.escape(title)}</h1>{explanation_fragment(explanations)}</body></html>"
    )
