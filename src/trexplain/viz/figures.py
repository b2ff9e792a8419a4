"""Static figures for papers (matplotlib, Agg backend): bar charts, layer flows, attention maps, curves.

They draw from the same report dict as the HTML page, so a figure and the page never disagree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trexplain.errors import InputError
from trexplain.layout import group_scores
from trexplain.viz.colors import NEGATIVE, POSITIVE

FORMATS = ("png", "svg")
REMOVAL_PANELS = (
    ("morf", "most relevant removed first", "aopc_comprehensiveness"),
    ("lerf", "least relevant removed first", "aopc_sufficiency"),
)
PAPER_SIZE = (6.5, 3.5)  # inches: one column of a two-column paper page's full width
PAPER = {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 7.5, "legend.title_fontsize": 7.5,
         "xtick.labelsize": 8, "ytick.labelsize": 8, "figure.titlesize": 10}  # fmt: skip
PNG_DPI = 300
TITLE_CHARS = 90
MAX_BARS = 40  # longer texts show their 40 largest |scores| in the bar chart


def pyplot():
    """matplotlib.pyplot on the Agg backend (figures are written to files), or an InputError naming the extra."""
    try:
        import matplotlib
    except ImportError as exc:
        raise InputError("figures need matplotlib: pip install 'trexplain[figures]' (or matplotlib)") from exc

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def safe_name(name: str) -> str:
    """A file-name-safe version of a method or label name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "x"


def plain_text(value: str) -> str:
    """User text for matplotlib: `$` would start mathtext, so it is escaped."""
    return str(value).replace("$", r"\$")


def method_card(payload: Mapping[str, Any], exp: Mapping[str, Any]) -> Mapping[str, Any]:
    """The method card an explanation entry of a report dict carries (`Explanation.card`), else the report's
    summary of its method."""
    return exp.get("method_card") or (payload.get("methods") or {}).get(exp["method"]) or {}


def word_values(entry: Mapping[str, Any], row: list[float]) -> tuple[list[str], np.ndarray]:
    """Word texts and summed scores of one score row (as `Explanation.word_scores`)."""
    values = np.array([0.0 if v is None else v for v in row], dtype=np.float64)
    words = [entry["text"][s:e] for s, e in entry["words"]]
    return words, group_scores(values, entry["word_ids"], len(words))


def bar_figure(labels: list[str], values: np.ndarray, title: str):
    """Signed horizontal bars in text order: green supports the class, red opposes it."""
    plt = pyplot()
    order = np.arange(len(values))
    if len(values) > MAX_BARS:
        order = np.sort(np.argsort(-np.abs(values), kind="stable")[:MAX_BARS])
        title += f" (top {MAX_BARS} of {len(values)} by |score|)"
    colours = [np.array(POSITIVE if values[i] >= 0 else NEGATIVE) / 255 for i in order]
    fig, ax = plt.subplots(figsize=(6.4, 0.6 + 0.24 * len(order)))
    ax.barh(np.arange(len(order)), values[order], color=colours)
    ax.set_yticks(np.arange(len(order)), [plain_text(labels[i]) for i in order], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="#57606a", linewidth=0.8)
    ax.set_xlabel("relevance")
    ax.set_title(plain_text(title), fontsize=9)
    fig.tight_layout()
    return fig


def heatmap_figure(matrix: np.ndarray, rows: list[str], cols: list[str], title: str, signed: bool):
    """A heatmap with token labels (when they fit); signed maps use a red–white–green scale around 0."""
    plt = pyplot()
    from matplotlib.colors import LinearSegmentedColormap

    size = (min(12.0, 2 + 0.22 * len(cols)), min(12.0, 1.4 + 0.22 * len(rows)))
    fig, ax = plt.subplots(figsize=size)
    if signed:
        peak = float(np.nanmax(np.abs(matrix))) or 1.0
        cmap = LinearSegmentedColormap.from_list("tx", [np.array(NEGATIVE) / 255, (1, 1, 1), np.array(POSITIVE) / 255])
        image = ax.imshow(matrix, cmap=cmap, vmin=-peak, vmax=peak, aspect="auto", interpolation="nearest")
    else:
        image = ax.imshow(matrix, cmap="Blues", vmin=0, aspect="auto", interpolation="nearest")
    if len(cols) <= 64:
        ax.set_xticks(np.arange(len(cols)), [plain_text(c) for c in cols], rotation=90, fontsize=7)
    if len(rows) <= 64:
        ax.set_yticks(np.arange(len(rows)), [plain_text(r) for r in rows], fontsize=7)
    ax.set_title(plain_text(title), fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def removal_figure(results: Sequence[Mapping[str, Any]], floor: Mapping[str, Any] | None, text: str, label: str):
    """Removal curves of several methods for one text and class, in a paper's size and fonts: MoRF (most relevant
    words removed first; a faithful method drops fast) and LeRF (least relevant first; it stays high), one line
    per method with its AOPC, the random-order floor dashed, the text in the title."""
    plt = pyplot()
    with plt.rc_context(PAPER):
        fig, axes = plt.subplots(1, 2, figsize=PAPER_SIZE, sharey=True, layout="constrained")
        for ax, (kind, heading, key) in zip(axes, REMOVAL_PANELS, strict=True):
            for i, result in enumerate(results):
                curve = (result.get("curves") or {}).get(kind) or {}
                if curve.get("fractions"):
                    aopc = result.get(key)
                    name = plain_text(result["method"]) + (f" ({aopc:.3f})" if isinstance(aopc, (int, float)) else "")
                    ax.plot(curve["fractions"], curve["probabilities"], color=f"C{i}", marker=".", label=name)
            curve = ((floor or {}).get("curves") or {}).get(kind) or {}
            if curve.get("fractions"):
                ax.plot(
                    curve["fractions"], curve["probabilities"], color="#57606a", linestyle="--", label="random order"
                )
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_title(heading)
            ax.set_xlabel("fraction of words removed")
            ax.grid(alpha=0.3, linewidth=0.5)
            ax.legend(title="AOPC " + ("comprehensiveness ↑" if kind == "morf" else "sufficiency ↓"), loc="best")
        axes[0].set_ylabel(plain_text(f"p({label})"))
        fig.suptitle(plain_text(f"“{shorten(text)}” → {label}"))
    return fig


def shorten(text: str, most: int = TITLE_CHARS) -> str:
    """A text on one title line: whitespace runs as one space, cut with "…" past `most` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= most else flat[: most - 1] + "…"


FIGURE_KINDS = ("bars", "layers", "curves", "attention")


def write_figures(
    payload: Mapping[str, Any], folder: str | Path, fmt: str = "png", kinds: Sequence[str] = FIGURE_KINDS
) -> list[Path]:
    """The figures of a report dict (those of `kinds`) into `folder` (created if missing, each file written whole);
    returns them.

    Per text i: `textNNN_<method>_<class>_bars`, `..._layers` (when layer scores exist), `textNNN_<class>_curves`
    (when evaluated: every method's removal curves and the random floor) and `textNNN_attention` (heads averaged,
    one panel per block, one colour bar). PNGs are 300 dpi.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown figure format {fmt!r}; use one of {', '.join(FORMATS)}")
    from trexplain.io import atomic_file, output_path
    from trexplain.viz.payload import decode_attention

    plt = pyplot()
    output_path(folder, folder=True)
    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    written: list[Path] = []

    def save(fig, name: str) -> None:
        path = folder / f"{name}.{fmt}"
        try:
            with atomic_file(path, "wb") as handle:
                fig.savefig(handle, format=fmt, dpi=PNG_DPI)
        finally:
            plt.close(fig)
        written.append(path)

    for i, entry in enumerate(payload["texts"]):
        stem = f"text{i:03d}"
        for exp in entry["explanations"] if {"bars", "layers"} & set(kinds) else []:
            for k, target in enumerate(exp["targets"]):
                label = entry["labels"][target]
                name = f"{stem}_{safe_name(exp['method'])}_{safe_name(label)}"
                words, values = word_values(entry, exp["scores"][k])
                if "bars" in kinds:
                    save(bar_figure(words, values, f"{exp['method']} → {label}"), f"{name}_bars")
                if exp.get("layer_scores") and "layers" in kinds:
                    card = method_card(payload, exp)
                    flow = np.array([word_values(entry, layer[k])[1] for layer in exp["layer_scores"]])
                    site = card.get("layer_site") or "block"
                    rows = [site.replace("block", f"block {n}") for n in range(len(flow))]
                    signed = card.get("signed", True) is not False
                    title = f"{exp['method']} → {label}: {'relevance' if signed else 'score'} by layer"
                    save(heatmap_figure(flow, rows, words, title, signed), f"{name}_layers")
        for target, label in enumerate(entry["labels"] if "curves" in kinds else []):
            found = [r for r in entry.get("evaluation") or [] if r.get("target") in (label, target)]
            methods = [next(r for r in found if r["method"] == m) for m in dict.fromkeys(r["method"] for r in found)]
            floor = next((r for r in methods if r["method"] == "random"), None)
            shown = [r for r in methods if r["method"] != "random"]
            if shown:
                save(removal_figure(shown, floor, entry["text"], label), f"{stem}_{safe_name(label)}_curves")
        attention = entry.get("attention")
        if attention and "data" in attention and "attention" in kinds:
            save(attention_figure(decode_attention(attention), attention["tokens"], plt), f"{stem}_attention")
    return written


def attention_figure(maps: np.ndarray, tokens: list[str], plt):
    """Each block's attention averaged over heads (rows attend to columns), on one 0–1 scale with its colour bar."""
    layers = maps.shape[0]
    columns = min(3, layers)
    grid_rows = -(-layers // columns)
    fig, axes = plt.subplots(
        grid_rows, columns, figsize=(4 * columns, 4 * grid_rows), squeeze=False, layout="constrained"
    )
    labelled = len(tokens) <= 40
    image = None
    for layer, ax in enumerate(axes.ravel()):
        if layer >= layers:
            ax.axis("off")
            continue
        image = ax.imshow(maps[layer].mean(axis=0), cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"block {layer} (mean of heads)", fontsize=9)
        if labelled:
            names = [plain_text(t) for t in tokens]
            ax.set_xticks(np.arange(len(tokens)), names, rotation=90, fontsize=6)
            ax.set_yticks(np.arange(len(tokens)), names, fontsize=6)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight (query row → key column)")
    return fig
