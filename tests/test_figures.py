"""Paper figures: removal curves of several methods with the random floor and the text, in a paper's size and
fonts; attention maps per block with a colour bar."""

from __future__ import annotations

import struct

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="figures need matplotlib: pip install 'trexplain[figures]'")

from trexplain.viz import figures

TEXT = "the acting was wonderful but the plot dragged on and on"


def result(method: str, probabilities: list[float], aopc: float | None = None) -> dict:
    curves = {kind: {"fractions": [0.0, 0.5, 1.0], "probabilities": probabilities} for kind in ("morf", "lerf")}
    return {"method": method, "target": "positive", "curves": curves, "aopc_comprehensiveness": aopc}


def test_removal_figure_has_every_method_the_floor_and_the_text():
    shown = [result("gxi", [0.9, 0.4, 0.1], 0.42), result("lime", [0.9, 0.6, 0.2], 0.25)]
    fig = figures.removal_figure(shown, result("random", [0.9, 0.7, 0.5]), TEXT, "positive")
    try:
        assert tuple(fig.get_size_inches()) == figures.PAPER_SIZE
        assert TEXT in fig.get_suptitle() and "positive" in fig.get_suptitle()
        for ax in fig.axes:
            labels = [line.get_label() for line in ax.get_lines()]
            assert labels[-1] == "random order" and len(labels) == 3  # one line per method + the floor
            assert ax.get_xlabel() == "fraction of words removed" and ax.get_title()
            assert ax.get_lines()[-1].get_linestyle() == "--"
            assert ax.xaxis.label.get_fontsize() == 9
        assert fig.axes[0].get_ylabel() == "p(positive)"
        assert [line.get_label() for line in fig.axes[0].get_lines()][:2] == ["gxi (0.420)", "lime (0.250)"]
        np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), [0.9, 0.4, 0.1])
    finally:
        figures.pyplot().close(fig)


def test_shorten_keeps_a_title_on_one_line():
    assert figures.shorten("a\n b   c") == "a b c"
    long = figures.shorten("word " * 50)
    assert len(long) == figures.TITLE_CHARS and long.endswith("…")


def test_write_figures_png_at_300_dpi_and_attention_blocks(tmp_path, demo):
    from trexplain import explain
    from trexplain.viz.payload import build_payload

    (e,) = explain("a fine day", demo, "gxi")
    tokens = len(e.tokens)
    payload = build_payload(
        [[e]],
        attention=[{"tokens": list(e.tokens), "attention": np.full((2, 2, tokens, tokens), 1 / tokens)}],
        evaluation=[[{**result("gxi", [0.9, 0.4, 0.1], 0.4), "target": e.labels[e.predicted]},
                     {**result("random", [0.9, 0.7, 0.5]), "target": e.labels[e.predicted]}]],
    )  # fmt: skip
    written = {p.name: p for p in figures.write_figures(payload, tmp_path, "png")}
    curves = written[f"text000_{e.labels[e.predicted]}_curves.png"]
    width, height = struct.unpack(">II", curves.read_bytes()[16:24])
    assert (width, height) == (6.5 * 300, 3.5 * 300)
    fig = figures.attention_figure(np.full((2, 2, 3, 3), 1 / 3), ["a", "b", "c"], figures.pyplot())
    try:
        titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
        assert titles == ["block 0 (mean of heads)", "block 1 (mean of heads)"]
        assert any("attention weight" in ax.get_ylabel() for ax in fig.axes)  # the colour bar
    finally:
        figures.pyplot().close(fig)


def test_evaluate_writes_each_texts_curve_figure_from_the_study(tmp_path):
    """`trexplain evaluate --png DIR --svg DIR`: one figure per text (its predicted class) with every method's
    curves and the random floor; the SVG is vector drawing (text as outlines), not HTML."""
    import json

    from typer.testing import CliRunner

    from trexplain.cli import app

    texts = ["a fine day", "an awful film"]
    args = ["evaluate", *texts, "--method", "gxi", "--method", "occlusion", "--json"]
    result = CliRunner().invoke(app, [*args, "--png", str(tmp_path / "png"), "--svg", str(tmp_path / "svg")])
    assert result.exit_code == 0, result.output
    table = json.loads(result.stdout)
    pngs = sorted(p.name for p in (tmp_path / "png").iterdir())
    assert len(pngs) == len(texts) and all(name.endswith("_curves.png") for name in pngs)
    assert sorted(p.name for p in (tmp_path / "svg").iterdir()) == [n.replace(".png", ".svg") for n in pngs]
    svg = (tmp_path / "svg" / pngs[0].replace(".png", ".svg")).read_text()
    assert "foreignObject" not in svg and "<path" in svg
    assert "wrote 2 PNG figures" in result.stderr
    assert {row["method"] for row in table["rows"]} >= {"gxi", "occlusion", "random"}
