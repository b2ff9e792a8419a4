"""Terminal views: control characters shown, never sent; one bar scale per text; no background colours;
unsigned methods say so; words × methods; diagnostics with their meaning; n and ± SE in the metric table."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

import numpy as np
import pytest
from rich.console import Console

from tests.tiny import ready_methods
from trexplain import explain
from trexplain.diagnostics import IDENTITIES, MEANINGS
from trexplain.evaluate.sanity import SanityResult
from trexplain.inspect.neighbours import Neighbour
from trexplain.methods.base import available_methods
from trexplain.viz import terminal

HOSTILE = "x\x1b[2J\x1b]0;title\x07\x08\r\x00\x7f\x85\x9b\u202e\u2066\n\ty"
PICTURES = ["␛[2J", "␛]0;title␇", "␈", "␍", "␀", "␡", "\\x85", "\\x9b", "\\u202e", "\\u2066", "␊", "␉"]
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]")
SGR = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def adapter(tiny):
    return tiny["bert"]


def ansi(renderable) -> str:
    """What a colour terminal receives, with rich's own colour codes (SGR) removed."""
    console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=400)
    console.print(renderable)
    return SGR.sub("", console.file.getvalue())


def plain(renderable, width: int = 200) -> str:
    console = Console(record=True, width=width, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def row(method: str, **values) -> dict:
    base = {
        "rank": 1,
        "method": method,
        "classes": "predicted",
        "comprehensiveness": 0.4,
        "sufficiency": 0.1,
        "margin": 0.3,
        "se": 0.0837,
        "n": 5,
        "tied_with_best": True,
        "delta_af": 0.2,
        "completeness_error": None,
        "identity": None,
        "seconds": 0.01,
    }
    return {**base, **values}


def metric_dict(rows, model: str = "demo", verdict: str = "trust a") -> dict:
    settings = {"model": model, "texts": 5, "target": "predicted", "strategy": "delete", "level": "word"}
    return {**settings, "rows": rows, "verdict": verdict, "skipped": {}}


def hostile_views(adapter) -> dict:
    """Every view function with the hostile string in its user-facing inputs."""
    (e,) = explain("good " + HOSTILE + " bad day", adapter, "gxi", target="all")
    labels = (HOSTILE, *e.labels[1:])
    e = e.replace(method=HOSTILE, labels=labels, diagnostics=e.diagnostics.with_values(**{HOSTILE: HOSTILE}))
    (other,) = explain("good " + HOSTILE + " bad day", adapter, "saliency", target="all")
    other = other.replace(labels=labels)
    table = metric_dict([row(HOSTILE)], model=HOSTILE, verdict=HOSTILE)
    table["skipped"] = {HOSTILE: HOSTILE}
    step = {"step": HOSTILE, "spearman": 0.9, "spearman_abs": 0.9}
    check = SanityResult(HOSTILE, [step, {**step, "step": "embeddings", "spearman": 0.1}], True).to_dict()
    agreement = {"model": 1, "spearman": 0.5, "common_words": 3, "top_k": 2, "top_k_overlap": 1}
    comparison = {
        "models": [HOSTILE, HOSTILE],
        "method": HOSTILE,
        "agreement": 0.5,
        "texts": [
            {
                "text": HOSTILE,
                "spearman": 0.5,
                "labels_agree": False,
                "methods": [{"method": HOSTILE, "base_values": [0.5, None], "agreement": [agreement]}],
                "models": [
                    {
                        "model": HOSTILE,
                        "prediction": HOSTILE,
                        "probability": 0.9,
                        "top_words": [{"word": HOSTILE, "score": 1}],
                    }
                ],
            }
        ],
        "tables": [table],
    }
    links = SimpleNamespace(
        tokens=[HOSTILE, "b"], top_links=lambda n, include_special: [{"layer": 0, "head": 0, "links": [(0, 1, 0.5)]}]
    )
    layers = SimpleNamespace(
        masked_text=HOSTILE,
        word=HOSTILE,
        layers=[{"layer": 0, "tokens": [HOSTILE], "probabilities": [0.5], "word_rank": 1}],
        ranked_token=HOSTILE,
        rank_note=HOSTILE,
    )
    near = SimpleNamespace(
        tokens=[HOSTILE], token=0, layer=1, neighbours=[Neighbour(0.9, HOSTILE, 0, 0, 0, 1, HOSTILE)]
    )
    return {
        "render": terminal.render(e),
        "render_all": terminal.render_all([e]),
        "render_all (two methods)": terminal.render_all([e, other]),
        "words_by_methods": terminal.words_by_methods([e, other], 0),
        "diagnostics_table": terminal.diagnostics_table(e),
        "metric_table": terminal.metric_table(table),
        "sanity_line": terminal.sanity_line(check),
        "evaluation_view": terminal.evaluation_view(table, [check]),
        "comparison_view": terminal.comparison_view(comparison),
        "attention_links_table": terminal.attention_links_table(links, 1, False),
        "layer_predictions_view": terminal.layer_predictions_view(layers, 1),
        "neighbours_view": terminal.neighbours_view(near),
    }


def test_visible_maps_every_control_class():
    assert terminal.visible(HOSTILE) == "x" + "".join(PICTURES) + "y"
    assert terminal.visible("\x1f\x9f\u2028\u2029\u061c") == "␟\\x9f\\u2028\\u2029\\u061c"
    assert terminal.visible("café 😀 \u200d") == "café 😀 \u200d"  # printable text and joiners stay


def test_every_view_shows_control_characters_instead_of_sending_them(adapter):
    for name, view in hostile_views(adapter).items():
        out = ansi(view)
        assert RAW.search(out.replace("\n", "")) is None, name
        assert "\x1b" not in out, name
        for picture in PICTURES:
            assert picture in out, (name, picture)


def test_no_view_uses_a_background_colour(adapter):
    console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=200)
    for name, view in hostile_views(adapter).items():
        styles = [seg.style for seg in console.render(view) if seg.style is not None]
        assert styles and all(style.bgcolor is None for style in styles), name


def test_one_bar_scale_across_classes_and_methods(adapter):
    (e,) = explain("good bad day", adapter, "gxi", target="all")
    first = [e.word_ids.index(w) for w in range(len(e.words))]  # first token of each word
    scores = np.zeros(e.scores.shape)
    for k, values in enumerate([(1.0, 0.2, 0.0), (-1.0, 3.0, 0.0), (0.5, 0.0, 0.0)]):
        scores[k, first] = values
    e = e.replace(scores=scores)
    out = plain(terminal.render_all([e]))
    bars = [line.count("█") for line in out.splitlines() if line.startswith("good ") and "│" in line]
    assert bars == [4, 4, 2]  # |1| and |−1| both 4 of 12 cells: the full bar is 3 for every class
    assert out.count("full bar = 3") == 3
    alone = plain(terminal.render(e, e.targets[0]))
    assert [line.count("█") for line in alone.splitlines() if line.startswith("good ") and "│" in line] == [4]
    other = e.replace(method="cp-lrp", scores=scores * 4)  # a second method, four times the scores
    console = Console(file=io.StringIO(), width=200)
    table = terminal.words_by_methods([e, other], e.targets[1])
    cells = {seg.text.strip(): str(seg.style) for seg in console.render(table) if seg.text.strip()}
    # one scale (12) for both methods: gxi's 3 is a quarter of it, plain colour; alone it would be bold
    assert cells["+3.000"] == "rgb(22,163,74)" and cells["+12.000"] == "bold rgb(22,163,74)"
    assert cells["-4.000"] == "rgb(220,38,38)"


def test_unsigned_methods_say_so(adapter):
    text = "good bad day"
    (saliency,) = explain(text, adapter, "saliency")
    (gxi,) = explain(text, adapter, "gxi")
    assert available_methods()["saliency"].signed is False
    out = plain(terminal.render(saliency))
    assert "unsigned: larger = more important" in out and "green supports" not in out
    for line in out.splitlines()[3:6]:
        assert "█" not in line.split("│")[0]  # unsigned bars only grow to the right
    signed = plain(terminal.render(gxi))
    assert f"green supports {gxi.predicted_label}, red opposes it" in signed and "unsigned" not in signed
    assert "(unsigned)" in plain(terminal.words_by_methods([gxi, saliency]))


def test_words_by_methods_values_are_the_word_scores(adapter):
    text = "The movie was wonderful, the acting superb."
    methods = ["gxi", "saliency", "cp-lrp"]
    es = [explain(text, adapter, m, target="all")[0] for m in methods[:2]] + explain(text, adapter, "cp-lrp")
    missing = next(t for t in es[0].targets if t != es[2].predicted)
    for target in (es[2].predicted, missing):
        out = plain(terminal.words_by_methods(es, target))
        body = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")]
        assert [r[0] for r in body] == es[0].word_texts()
        for j, e in enumerate(es):
            signed = available_methods()[e.method].signed
            expected = (
                [f"{s:+.3f}" if signed else f"{s:.3f}" for s in e.word_scores(target)] if target in e.targets else None
            )
            assert [r[j + 1] for r in body] == (expected or ["–"] * len(body)), (e.method, target)
    shown = plain(terminal.render_all(es))
    assert shown.count("· words × methods") == len(es[0].targets)
    assert "█" not in shown  # several methods: the table replaces one bar table per method


def test_identity_and_diagnostics_table(adapter):
    (lrp,) = explain("good bad day", adapter, "cp-lrp")
    (ig,) = explain("good bad day", adapter, "ig")
    assert re.search(
        r"conservation gap \d\S* \(relevance sum vs logit; biases absorb the rest\)", plain(terminal.render(lrp))
    )
    out = plain(terminal.diagnostics_table(ig), width=300)
    error = ig.diagnostics.identity.error[0]
    assert f"completeness error │ {ig.predicted_label} {error:.2g}" in out and IDENTITIES["completeness"] in out
    for key in ("f_input", "f_baseline", "score_sum", "relative_error", "steps", "seconds"):
        assert re.search(rf"{key} +│ .* │ {re.escape(MEANINGS[key])}", out), key


def test_every_diagnostic_of_a_registered_method_has_a_meaning(adapter):
    for name in ready_methods():
        (e,) = explain("good bad day", adapter, name, target="all")
        known = set(MEANINGS) | set(e.card.meanings)
        assert set(e.diagnostics) <= known, (name, set(e.diagnostics) - known)


def test_metric_table_shows_n_se_groups_and_identity_kinds():
    rows = [
        row("cp-lrp", identity="conservation", completeness_error=0.53),
        row("ig", rank=2, margin=0.25, se=0.05, tied_with_best=False, identity="completeness", completeness_error=1e-4),
        row("random", rank=3, margin=0.0, se=None, n=1, tied_with_best=None),
    ]
    out = plain(terminal.metric_table(metric_dict(rows)))
    assert re.search(r"1 +cp-lrp .* \+0\.300 ± 0\.084 +5 +yes .* 0\.53 cons\.", out)
    assert re.search(r"2 +ig .* \+0\.250 ± 0\.050 +5 +\+0\.200 +0\.0001 compl\.", out)
    assert re.search(r"3 +random .* \+0\.000 +1 +\? ", out)
    assert "cons. = conservation gap: relevance sum vs logit; biases absorb the rest" in out
    assert "compl. = completeness error: score sum vs f(input) − f(baseline)" in out
    assert "predicted class" not in out and "other classes" not in out
    grouped = plain(terminal.metric_table(metric_dict([rows[0], {**rows[0], "classes": "other"}])))
    lines = grouped.splitlines()
    first, second = (
        next(i for i, line in enumerate(lines) if label in line) for label in ("predicted class", "other classes")
    )
    assert first < second and "the verdict is about the predicted class" in " ".join(grouped.split())


def test_sanity_lines_name_the_status():
    def line(values, mode="cascading"):
        names = ["head", "block 1", "block 0", "embeddings"]
        steps = [{"step": n, "spearman": v, "spearman_abs": v} for n, v in zip(names, values, strict=True)]
        result = SanityResult("m", steps, False, mode=mode)
        return plain(terminal.sanity_line(result.to_dict()), width=300)

    assert "sanity (cascading) m: ok (maps change at head)" in line([0.1, 0.1, 0.1, 0.1])
    assert (
        "sanity (cascading) m: PARTIAL: maps still match (ρ ≥ 0.8) through 2 randomised step(s), then change at block 0"
        in line([0.9, 0.85, 0.1, 0.1])
    )
    assert "FLAGGED: maps do not change with the model" in line([0.9, 0.9, 0.9, 0.1])
    assert "PARTIAL: 1 of 3 parts leave the maps unchanged when randomised alone" in line(
        [0.1, 0.9, 0.1, 0.1], "independent"
    )
    assert "ok (every part changes the maps)" in line([0.1, 0.1, 0.1, 0.9], "independent")


def test_base_value_in_the_terminal_view_and_the_json(adapter):
    """KernelSHAP's base value shows beside the scores, as shap's plots do: in the terminal view, in `to_dict`
    and in each record entry; base + Σ scores is the explained output. A method without one shows none."""
    (shap,) = explain("a good movie", adapter, "kernelshap", target="all")
    base = shap.diagnostics["base_value"]
    full = shap.diagnostics["full_value"]
    for k in range(len(shap.targets)):
        assert base[k] + shap.word_scores(shap.targets[k]).sum() == pytest.approx(full[k], abs=1e-5)
    assert shap.to_dict()["base_value"] == base
    assert [entry["base_value"] for entry in shap.record()] == base
    for k, target in enumerate(shap.targets):
        assert f"base value {base[k]:.4g}" in plain(terminal.render(shap, target), width=400)
    (gxi,) = explain("a good movie", adapter, "gxi")
    assert gxi.to_dict()["base_value"] is None and "base_value" not in gxi.record()[0]
    assert "base value" not in plain(terminal.render(gxi))


def test_piped_output_keeps_tables_whole(adapter):
    """Not a terminal (a pipe, a file): the view prints at its natural width, not cut at 80 columns; a terminal
    keeps its own width."""
    word = "extraordinarily" * 6  # one 90-character word
    (e,) = explain(f"a {word} day", adapter, "gxi", target="all")
    (s,) = explain(f"a {word} day", adapter, "saliency", target="all")
    piped = io.StringIO()
    terminal.show(terminal.words_by_methods([e, s], e.targets[0]), file=piped)
    lines = piped.getvalue().splitlines()
    row = next(line for line in lines if word[:20] in line)
    assert word in row and f"{e.word_scores(e.targets[0])[1]:+.3f}" in row and max(map(len, lines)) > 100
    cut = Console(file=io.StringIO(), width=80)
    cut.print(terminal.words_by_methods([e, s], e.targets[0]))
    assert word not in cut.file.getvalue().replace("\n", "")  # what rich does at its default width


@pytest.mark.parametrize("methods", [["occlusion"], ["gxi", "saliency"]])
def test_piped_cli_output_is_not_cut_at_80_columns(methods):
    """The CLI prints through `terminal.show`: piped (CliRunner is no terminal), a long word's row stays whole."""
    from typer.testing import CliRunner

    from trexplain.cli import app

    word = "extraordinarily" * 6  # one 90-character word
    args = ["explain", f"a {word} day"] + [option for m in methods for option in ("--method", m)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    row = next(line for line in lines if line.lstrip("│ ").startswith(word))
    assert re.search(r"[+-]\d\.\d{3}", row) and max(map(len, lines)) > 100, result.stdout


def test_word_rows_align_by_display_width(demo):
    """Devanagari vowel signs and emoji take the cells they are shown in: every bar row's divider sits in one
    column of the screen."""
    from rich.cells import cell_len

    (e,) = explain("यह फिल्म बहुत अच्छी है 👍🏽 ok", demo, "gxi")
    out = plain(terminal.render(e), width=120)
    rows = [line for line in out.splitlines() if "│" in line]
    assert len(rows) == len(e.words)
    assert len({cell_len(line[: line.index("│")]) for line in rows}) == 1
