"""Terminal view of an image explanation: the patch scores as a small grid of signed colour cells.

Each patch is two character cells: a shade block (· ░ ▒ ▓ █) by |score| in fifths of the largest |patch score|
of the explanation, coloured green (supports the class) or red (opposes it); special tokens ([CLS], [DIST]) and the
strongest patches are listed with their numbers below. No model is run here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from trexplain.explanation import Explanation
from trexplain.layout import ImageLayout
from trexplain.viz.text_style import identity_lines, visible

STRONGEST = 5  # patches named below the grid
POSITIVE, NEGATIVE = (26, 150, 65), (215, 48, 39)  # green supports, red opposes (as the text view)
SHADES = "·░▒▓█"  # |score| in fifths of the largest


def _cell(share: float, signed: bool) -> tuple[str, str]:
    """Two characters for a patch: a shade block by |share| (so the grid reads without colour too) and its
    colour blending from white into green (share > 0) or red (share < 0); |share| ≤ 1."""
    weight = min(1.0, abs(share))
    shade = SHADES[min(len(SHADES) - 1, int(weight * len(SHADES)))]
    end = POSITIVE if share >= 0 or not signed else NEGATIVE
    r, g, b = (round(255 + (c - 255) * max(weight, 0.15)) for c in end)
    return shade * 2, f"rgb({r},{g},{b})"


def render_image(explanation: Explanation, target: int | str | None = None, top: float | None = None) -> Group:
    """Header, notes, the patch grid and the strongest patches of one image explanation for one target."""
    layout = explanation.layout
    if not isinstance(layout, ImageLayout):
        raise TypeError(f"render_image shows image explanations, not {layout.kind}")
    row = explanation.target_row(target)
    label = explanation.labels[explanation.targets[row]]
    scores = np.asarray(explanation.scores[row], dtype=np.float64)
    grid = layout.patch_grid(scores)
    signed = explanation.card.signed
    top = float(np.abs(grid).max()) if top is None else top
    top = top if top > 0 else 1.0
    probs = explanation.probabilities
    header = Text.assemble(
        (visible(explanation.method), "bold"), " → ", (visible(label), "bold"), f"   {visible(layout.source)}   "
    )
    for c, name in enumerate(explanation.labels):
        header.append(f"{visible(name)} {probs[c]:.2f}", style="bold" if c == explanation.predicted else "dim")
        header.append("  " if c + 1 < len(explanation.labels) else "")
    legend = f"green supports {visible(label)}, red opposes it" if signed else "unsigned"
    size = f"{layout.grid[0]}×{layout.grid[1]} patches, █ = |score| {top:.3g}"
    notes = [*identity_lines(explanation, row), legend, size]
    parts: list[Any] = [header, Text("   " + " · ".join(notes), style="dim")]
    for cells in grid:
        line = Text("   ")
        for value in cells:
            line.append(*_cell(float(value) / top, signed))
        parts.append(line)
    specials = [f"{visible(t)} {scores[i]:+.3g}" for i, t in enumerate(layout.special_tokens)]
    order = np.argsort(-(grid.ravel() if signed else np.abs(grid.ravel())), kind="stable")[:STRONGEST]
    strongest = [f"({i // layout.grid[1]}, {i % layout.grid[1]}) {grid.ravel()[i]:+.3g}" for i in order]
    parts.append(Text("   strongest patches (row, column): " + ", ".join(strongest), style="dim"))
    if specials:
        parts.append(Text("   " + ", ".join(specials), style="dim"))
    return Group(*parts, Text(""))


def render_images(explanations: Sequence[Explanation]) -> Group:
    """Every target of every image explanation, in order."""
    return Group(*(render_image(e, t) for e in explanations for t in e.targets))


def patch_curves_table(table: Mapping[str, Any]) -> Table:
    """The image curves of a patch faithfulness table (`rank_image_explanations(...).to_dict()`): deletion and
    insertion areas and Chefer's positive (↓) and negative (↑) perturbation AUCs per method, in its row order."""
    out = Table(
        title=Text(f"patch curves (fill: {visible(table['strategy'])})"),
        title_justify="left",
        caption=Text(
            "areas under p(target): deletion = most relevant first over 0–100 % of patches, insertion into the "
            "filled image; positive / negative = Chefer et al.'s perturbation tests over 0–90 %",
            style="dim",
        ),
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for column in ("method", "classes", "deletion ↓", "insertion ↑", "positive ↓", "negative ↑"):
        out.add_column(column, justify="left" if column in ("method", "classes") else "right", no_wrap=True)
    for row in table["rows"]:
        out.add_row(
            Text(visible(row["method"])),
            visible(row["classes"]),
            *(f"{row[key]:.3f}" for key in ("deletion_auc", "insertion_auc", "positive_auc", "negative_auc")),
            style="dim" if row["method"] == "random" else None,
        )
    return out
