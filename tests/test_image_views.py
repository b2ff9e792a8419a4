"""Image views: patch maps upsampled, PNG encoding, the matplotlib overlay's real pixels and colour bar, and the
report's image card (section-image.js) in Chromium: canvas pixels at the strongest patch, the opacity slider,
method and class switching, per-layer maps, hostile strings kept inert. The entry is built by hand (`image_entry`)
in the shape `trexplain.records.text_record` gives an image layout, so the card is tested without a ViT."""

from __future__ import annotations

import numpy as np
import pytest

from trexplain.errors import InputError
from trexplain.viz import image as views
from trexplain.viz.html import render

pytest.importorskip("PIL.Image", reason="image records carry a PNG: pip install pillow")
from trexplain.models.images import data_url

HOSTILE = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(1)</script>"
GRID = (8, 8)
SIZE = (32, 32)


def digit() -> np.ndarray:
    """A 32 × 32 white-on-black '1': a bar in patch columns 3–4, rows 1–6."""
    img = np.zeros((*SIZE, 3), np.uint8)
    img[4:28, 12:20] = 255
    return img


def patch_scores(strong: tuple[int, int], weak: tuple[int, int]) -> np.ndarray:
    grid = np.zeros(GRID)
    grid[strong] = 2.0
    grid[weak] = -1.0
    grid[3, 3] = 0.5
    return grid


def image_entry(explanations: list[dict], labels: list[str], special: list[str]) -> dict:
    """An image text record as the report payload holds it (per-explanation entries: targets, scores[k][T])."""
    logits = np.linspace(-1, 1, len(labels))
    probs = np.exp(logits) / np.exp(logits).sum()
    return {
        "schema_version": 2,
        "layout": "image",
        "image": data_url(digit()),
        "grid": list(GRID),
        "image_size": list(SIZE),
        "patch_size": [4, 4],
        "special_tokens": special,
        "special": [True] * len(special) + [False] * (GRID[0] * GRID[1]),
        "source": "digit " + HOSTILE + ".png",
        "preprocessing": {"size": [32, 32], "image_mean": [0.5] * 3, "note": SCRIPT},
        "model": "hand-built",
        "labels": labels,
        "logits": logits.tolist(),
        "probabilities": probs.tolist(),
        "predicted": len(labels) - 1,
        "prediction": {"label": labels[-1], "probabilities": dict(zip(labels, probs.tolist(), strict=True))},
        "explanations": explanations,
    }


def row(special: list[float], grid: np.ndarray) -> list[float]:
    return [*special, *grid.ravel().tolist()]


def curve(values: list[float]) -> dict:
    return {"fractions": np.linspace(0, 1, len(values)).tolist(), "probabilities": values}


def evaluation(method: str, target: str, drop: float) -> dict:
    """A patch evaluation result as `evaluate.patches` records it (curves, AOPC)."""
    return {
        "method": method,
        "target": target,
        "strategy": "mean",
        "level": "patch",
        "curves": {
            "morf": curve([0.9, 0.9 - drop, 0.1]),
            "lerf": curve([0.9, 0.85, 0.1]),
            "insertion": curve([0.1, 0.1 + drop, 0.9]),
            "positive": curve([0.9, 0.9 - drop, 0.2]),
            "negative": curve([0.9, 0.8, 0.5]),
        },
        "aopc_comprehensiveness": drop,
        "aopc_sufficiency": 0.1,
    }


def payload() -> dict:
    """Two methods: a signed one with layer scores for two classes, and an unsigned one for one class."""
    labels = ["zero", HOSTILE, "one"]
    lrp = {
        "method": "cp-lrp",
        "targets": [2, 1],
        "scores": [row([0.25], patch_scores((1, 4), (6, 0))), row([-0.1], patch_scores((5, 6), (0, 0)))],
        "layer_scores": [
            [row([0.0], patch_scores((r, r), (7, 7)) * (r + 1)), row([0.0], patch_scores((0, r), (7, 0)))]
            for r in range(3)
        ],
        "params": {},
        "diagnostics": {},
    }
    rollout = {
        "method": SCRIPT,
        "targets": [2],
        "scores": [row([0.9], np.abs(patch_scores((6, 6), (2, 2))))],
        "layer_scores": None,
        "params": {},
        "diagnostics": {},
    }
    return {
        "schema_version": 2,
        "title": "image card " + SCRIPT,
        "model": {"name": HOSTILE},
        "params": {},
        "methods": {"cp-lrp": {"signed": True, "layer_site": "block input"}, SCRIPT: {"signed": False}},
        "summary": None,
        "sanity": None,
        "identities": {},
        "texts": [
            {
                **image_entry([lrp, rollout], labels, ["<b>[CLS]</b>"]),
                "evaluation": [evaluation("cp-lrp", "one", 0.6), evaluation("random", "one", 0.2)],
            }
        ],
    }


# ------------------------------------------------------------------ numpy parts


def test_upsample_nearest_and_bilinear():
    grid = np.array([[0.0, 1.0], [2.0, 3.0]])
    near = views.upsample(grid, (4, 6))
    assert near.shape == (4, 6)
    np.testing.assert_array_equal(near[:2, :3], 0.0)
    np.testing.assert_array_equal(near[2:, 3:], 3.0)
    lin = views.upsample(grid, (4, 4), mode="bilinear")
    np.testing.assert_allclose(lin[0], [0, 0.25, 0.75, 1])  # centres at 0.5 and 2.5 px, edges held
    np.testing.assert_allclose(lin[:, 0], [0, 0.5, 1.5, 2])
    np.testing.assert_allclose(views.upsample(grid, (2, 2), mode="bilinear"), grid)
    with pytest.raises(InputError, match="mode"):
        views.upsample(grid, (4, 4), mode="cubic")
    with pytest.raises(InputError, match="grid"):
        views.upsample(np.zeros(4), (4, 4))


# ------------------------------------------------------------------ matplotlib overlay


def _pixel(fig, ax, x: float, y: float) -> np.ndarray:
    """The rendered RGB at data coordinates (x, y) of `ax`."""
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    px, py = ax.transData.transform((x, y))
    return rgba[round(float(rgba.shape[0] - py)), round(float(px)), :3].astype(int)


def test_overlay_colours_and_symmetric_bar(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed: pip install 'trexplain[figures]'")
    import matplotlib.pyplot as plt

    grid = patch_scores((1, 4), (6, 0))
    fig = views.overlay_figure(digit(), grid, alpha=1.0, title="cp-lrp → 1 $x$")
    try:
        ax, bar = fig.axes
        assert bar.get_ylim() == pytest.approx((-2.0, 2.0))  # symmetric about 0 at the largest |score|
        strongest = _pixel(fig, ax, 4 * 4 + 1.5, 1 * 4 + 1.5)  # patch (1, 4) is on the white bar
        np.testing.assert_allclose(strongest, (22, 163, 74), atol=3)  # full green at alpha 1
        negative = _pixel(fig, ax, 0 * 4 + 1.5, 6 * 4 + 1.5)  # patch (6, 0): −1 of ±2, half red over black
        np.testing.assert_allclose(negative, (110, 19, 19), atol=3)
        np.testing.assert_allclose(_pixel(fig, ax, 5 * 4 + 1.5, 7 * 4 + 1.5), (0, 0, 0), atol=2)  # 0: image shows
        np.testing.assert_allclose(_pixel(fig, ax, 3 * 4 + 1.5, 5 * 4 + 1.5), (255, 255, 255), atol=2)
        assert ax.get_title() == r"cp-lrp → 1 \$x\$"
    finally:
        plt.close(fig)
    faint = views.overlay_figure(digit(), grid, alpha=0.5)
    try:
        half = _pixel(faint, faint.axes[0], 4 * 4 + 1.5, 1 * 4 + 1.5)  # green at half opacity over white
        np.testing.assert_allclose(half, [(255 + c) / 2 for c in (22, 163, 74)], atol=3)
    finally:
        plt.close(faint)
    unsigned = views.overlay_figure(digit(), np.abs(grid), signed=False)
    try:
        assert unsigned.axes[1].get_ylim() == pytest.approx((0.0, 2.0))
    finally:
        plt.close(unsigned)


def test_save_overlay_png_svg_and_notebook(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed: pip install 'trexplain[figures]'")
    grid = patch_scores((1, 4), (6, 0))
    png = views.save_overlay(tmp_path / "map.png", digit(), grid)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = views.save_overlay(tmp_path / "map.SVG", digit(), grid, mode="bilinear")
    assert "<svg" in svg.read_text()[:400]
    with pytest.raises(InputError, match=r"\.png or \.svg"):
        views.save_overlay(tmp_path / "map.gif", digit(), grid)
    assert not (tmp_path / "map.gif").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.SVG", "map.png"]  # no temporaries left
    shown = views.Overlay(digit(), grid, title="notebook")
    assert shown._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shown.save(tmp_path / "nb.png").is_file()
    with pytest.raises(InputError, match="alpha"):
        views.overlay_figure(digit(), grid, alpha=2)


def test_overlay_of_a_vit_explanation(tmp_path):
    """`overlay(explanation)`: the explanation's own image and patch grid, its class, its method's signedness."""
    pytest.importorskip("matplotlib", reason="matplotlib is not installed: pip install 'trexplain[figures]'")
    from trexplain import explain
    from trexplain.explanation import Explanation
    from trexplain.models import digits
    from trexplain.models.images import decode_data_url

    image = digits.upsample(digits.load_digits_data()[0][:1])[0]
    lrp, rollout = explain(images=[image], model="vit-demo", method=["cp-lrp", "rollout"], target="all")
    shown = views.overlay(lrp, target="0")
    np.testing.assert_array_equal(shown.image, decode_data_url(lrp.layout.image))
    np.testing.assert_array_equal(shown.patch_scores, lrp.layout.patch_grid(lrp.scores[0]))
    assert shown.options == {"signed": True, "title": "cp-lrp → 0"}
    assert views.overlay(rollout, target=3).options["signed"] is False
    assert views.save_overlay(tmp_path / "lrp.svg", shown.image, shown.patch_scores).stat().st_size > 0
    with pytest.raises(InputError, match="not explained"):
        views.overlay(explain(images=[image], model="vit-demo", method="saliency")[0], target="7")
    restored = Explanation.from_dict(lrp.to_dict())  # a saved record draws the same
    np.testing.assert_array_equal(views.overlay(restored, target="0").patch_scores, shown.patch_scores)


def test_write_overlays_of_a_report(tmp_path):
    """Every image entry × method × class of a report dict as a file; text entries are left to `figures`."""
    pytest.importorskip("matplotlib", reason="matplotlib is not installed: pip install 'trexplain[figures]'")
    data = payload()
    written = views.write_overlays(data, tmp_path / "figs", "svg")
    names = sorted(p.name for p in written)
    assert names == sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert names == [
        "image000_cp-lrp_img-src-x-onerror-alert-1.svg",
        "image000_cp-lrp_one.svg",
        "image000_script-alert-1-script_one.svg",
    ]
    assert "<script>" not in written[0].read_text()  # titles are escaped text in the SVG
    with pytest.raises(InputError, match="format"):
        views.write_overlays(data, tmp_path / "other", "gif")


# ------------------------------------------------------------------ the report card in Chromium


def _canvas_pixel(page, r: int, c: int) -> list[int]:
    """The main canvas's RGB at the centre of patch (r, c) (8 × 8 patches on a 256 px canvas)."""
    return page.evaluate(
        "([r, c]) => { const cv = document.querySelector('.tx-image-canvas');"
        " const w = cv.width / 8, h = cv.height / 8;"
        " return Array.from(cv.getContext('2d').getImageData((c + .5) * w, (r + .5) * h, 1, 1).data).slice(0, 3); }",
        [r, c],
    )


def _set_opacity(page, percent: int) -> None:
    page.evaluate(
        "v => { const s = document.querySelector('.tx-opacity'); s.value = String(v);"
        " s.dispatchEvent(new Event('input', {bubbles: true})); }",
        percent,
    )


def test_image_card_in_browser(browser, tmp_path):
    from tests.test_browser import ARTIFACTS, Tab

    path = tmp_path / "image.html"
    path.write_text(render(payload()), encoding="utf-8")
    tab = Tab(browser, viewport=(1000, 800))
    tab.open(path)
    page = tab.page
    page.wait_for_selector(".tx-image-canvas[data-drawn=image]", timeout=10_000)
    card = page.locator(".tx-image-card")
    assert card.count() == 1
    # cp-lrp for "one" (predicted): patch (1, 4) is the peak (+2 of ±2), green at 60% over the white bar
    green = [round(255 * 0.4 + 0.6 * c) for c in (22, 163, 74)]
    assert np.allclose(_canvas_pixel(page, 1, 4), green, atol=2)
    red = [round(0.6 * 0.5 * c) for c in (220, 38, 38)]  # (6, 0): −1 of ±2 over black, at 60%
    assert np.allclose(_canvas_pixel(page, 6, 0), red, atol=2)
    assert _canvas_pixel(page, 7, 7) == [0, 0, 0]  # zero score: the image itself
    assert _canvas_pixel(page, 5, 3) == [255, 255, 255]
    bar = page.locator(".tx-image-card .tx-cbar")
    assert bar.locator(".tx-cbar-end").all_text_contents() == ["-2", "2"]
    assert page.locator(".tx-image-card .tx-cbar-mid").text_content() == "0"
    # the opacity slider: 100% paints the peak patch full green, 0% leaves the image
    _set_opacity(page, 100)
    assert np.allclose(_canvas_pixel(page, 1, 4), (22, 163, 74), atol=1)
    assert page.locator(".tx-opacity-value").text_content() == "100%"
    _set_opacity(page, 0)
    assert _canvas_pixel(page, 1, 4) == [255, 255, 255]
    _set_opacity(page, 60)
    # special tokens as chips; three layer maps with the layer site in their captions
    chip = page.locator(".tx-image-specials .tx-chip")
    assert chip.text_content() == "<b>[CLS]</b> +0.2500"
    captions = page.locator(".tx-image-layer figcaption").all_text_contents()
    assert captions == ["block 0 input", "block 1 input", "block 2 input"]
    layer2 = page.evaluate(
        "() => { const cv = document.querySelector('.tx-image-layer canvas[data-layer=\"2\"]');"
        " const s = cv.width / 8; return Array.from(cv.getContext('2d').getImageData(2.5 * s, 2.5 * s, 1, 1).data)"
        ".slice(0, 3); }"
    )
    assert np.allclose(layer2, (22, 163, 74), atol=1)  # layer 2's peak (2, 2) = the shared peak: full green
    # the patch evaluation of cp-lrp → one beside the random floor: AUCs by the trapezoid rule
    rows = page.locator(".tx-image-curves tr").all_text_contents()
    assert rows[0] == "cp-lrprandom"
    assert "insertion AUC ↑0.60000.4000" in rows  # (0.1 + 0.7) / 4 + (0.7 + 0.9) / 4 vs (0.1 + 0.3) / 4 + …
    assert "AOPC comprehensiveness ↑0.60000.2000" in rows
    assert page.locator(".tx-image-curves svg").count() == 1
    assert page.locator(".tx-image-source").text_content() == "digit " + HOSTILE + ".png"
    assert "4 × 4 px" in card.text_content()
    # the other class of cp-lrp: its own peak at (5, 6); no evaluation recorded for it
    assert page.locator(".tx-image-curves tr").count() > 0
    page.locator(".tx-image-card .tx-class", has_text=HOSTILE).click()
    assert np.allclose(_canvas_pixel(page, 5, 6), [round(0.6 * c) for c in (22, 163, 74)], atol=2)
    assert _canvas_pixel(page, 1, 4) == [255, 255, 255]  # the old peak scores 0 here: the image shows
    assert page.locator(".tx-image-curves tr").count() == 0
    # switch method: the unsigned one paints purple at its peak, has no layer maps and a 0 … peak bar
    page.locator(".tx-image-card .tx-method", has_text=SCRIPT).click()
    assert np.allclose(_canvas_pixel(page, 6, 6), [round(0.6 * c) for c in (109, 40, 217)], atol=2)
    assert page.locator(".tx-image-layer").count() == 0
    assert bar.locator(".tx-cbar-end").all_text_contents() == ["0", "2"]
    assert page.locator(".tx-image-card").get_attribute("class").endswith("tx-unsigned")
    # hostile strings are text, not markup
    methods = page.locator(".tx-image-card .tx-method").all_text_contents()
    assert methods == ["cp-lrp", SCRIPT]
    assert HOSTILE in page.locator(".tx-image-card .tx-probs").text_content()
    assert page.locator(".tx-image-card img, .tx-image-card script, .tx-image-card b").count() == 0
    page.locator(".tx-image-canvas").hover(position={"x": 6.5 * 32, "y": 6.5 * 32})
    readout = page.locator(".tx-image-card .tx-readout").text_content()
    assert readout == f"patch (row 6, column 6): +2.0000 for one ({SCRIPT})"
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".tx-method", has_text="cp-lrp").click()
    page.locator(".tx-class[data-label=one]").click()
    card.screenshot(path=str(ARTIFACTS / "image_card.png"))
    assert tab.errors == []
    assert page.evaluate("window.__alerts") == 0
    assert all(url == path.as_uri() or url.startswith("data:image/png") for url in tab.requests)


def test_target_form_entry_draws(browser, tmp_path):
    """A record in the CLI's target form (scores [T], layer_scores [L][T]) draws the same card."""
    from tests.test_browser import Tab

    data = payload()
    entry = data["texts"][0]
    lrp = entry["explanations"][0]
    entry["explanations"] = [
        {"method": "cp-lrp", "target": "one", "target_index": 2, "scores": lrp["scores"][0], "layer_scores": None}
    ]
    path = tmp_path / "target.html"
    path.write_text(render(data), encoding="utf-8")
    tab = Tab(browser)
    tab.open(path)
    tab.page.wait_for_selector(".tx-image-canvas[data-drawn=image]", timeout=10_000)
    assert np.allclose(_canvas_pixel(tab.page, 1, 4), [round(255 * 0.4 + 0.6 * c) for c in (22, 163, 74)], atol=2)
    assert tab.page.locator(".tx-image-card .tx-class").all_text_contents() == ["one"]
    assert tab.errors == []


def test_real_image_report_draws(browser, tmp_path):
    """A report of the demo ViT (`report.run.make_report`, evaluated) draws as image cards."""
    from tests.test_browser import ARTIFACTS, Tab
    from trexplain.models import digits, load_model
    from trexplain.report.run import make_report

    held, _ = digits.held_out()
    adapter = load_model("vit-demo")
    data = make_report([held[0], held[1]], adapter, ["cp-lrp", "rollout"], evaluate=True, target="all")
    path = tmp_path / "report.html"
    path.write_text(render(data), encoding="utf-8")
    tab = Tab(browser, viewport=(1000, 900))
    tab.open(path)
    tab.page.wait_for_selector(".tx-image-canvas[data-drawn=image] >> nth=1", timeout=10_000)
    cards = tab.page.locator(".tx-image-card")
    assert cards.count() == 2
    first = cards.nth(0)
    assert first.locator(".tx-class").count() == 10  # target="all": one button per digit
    assert first.locator(".tx-image-layer").count() == 3  # cp-lrp keeps a patch map per block
    assert first.locator(".tx-image-curves tr").count() == 6  # the predicted class was evaluated
    assert first.locator(".tx-image-specials .tx-chip").text_content().startswith("[CLS] ")
    ARTIFACTS.mkdir(exist_ok=True)
    first.screenshot(path=str(ARTIFACTS / "image_report.png"))
    assert tab.errors == []
