"""The command line with images: explain/evaluate/report --image, --input of a folder, JSON records, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.vit_tiny import random_images, save_folder
from trexplain.cli import app
from trexplain.models import vision

PIL = pytest.importorskip("PIL.Image", reason="reading image files needs Pillow (vision extra)")
runner = CliRunner()
RECORD_KEYS = [
    "schema_version",
    "layout",
    "source",
    "image_size",
    "grid",
    "patch_size",
    "special_tokens",
    "special",
    "preprocessing",
    "image",
    "model",
    "labels",
    "logits",
    "probabilities",
    "predicted",
    "prediction",
    "explanations",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vitcli")
    model = save_folder(root / "tiny-vit", initializer_range=0.3)
    folder = root / "images"
    folder.mkdir()
    for i, picture in enumerate(random_images(5, (24, 20), seed=2)):
        PIL.fromarray(picture).save(folder / f"digit{i}.png")
    (folder / "notes.txt").write_text("not an image")
    return {"model": model, "images": folder, "root": root}


def test_explain_images_json(files) -> None:
    images = files["images"]
    result = runner.invoke(
        app,
        ["explain", "--image", str(images / "digit0.png"), "--image", str(images / "digit1.png"),
         "--model", str(files["model"]), "--method", "gxi", "--method", "occlusion", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["source"] for r in records] == ["digit0.png", "digit1.png"]
    assert list(records[0]) == RECORD_KEYS
    entry = records[0]["explanations"][1]
    assert entry["method"] == "occlusion" and entry["diagnostics"]["strategy"] == "mean"
    assert len(entry["scores"]) == 17 and len(entry["features"]) == 16 and entry["tokens"][0] == "[CLS]"


def test_explain_a_folder_draws_patch_grids(files) -> None:
    result = runner.invoke(app, ["explain", "--input", str(files["images"]), "--model", str(files["model"])])
    assert result.exit_code == 0, result.output
    assert result.output.count("cp-lrp → ") == 5 and "digit4.png" in result.output
    assert "strongest patches (row, column)" in result.output and "[CLS]" in result.output
    assert "4×4 patches, █ = |score|" in result.output


def test_vit_demo_is_the_default_for_images(files, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vision, "VIT_DEMO_DIR", files["model"])
    result = runner.invoke(app, ["explain", "--image", str(files["images"] / "digit2.png"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"] == "vit-demo"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--image", "missing.png"], "no such image file"),
        (["some text", "--image", "IMAGE"], "not both"),
        (["--image", "NOTES"], "not a readable image"),
        (["--input", "EMPTY"], "is a folder with no image files"),
        (
            ["--image", "IMAGE", "--method", "occlusion", "--param", "strategy=mask"],
            "unknown removal strategy 'mask' for images",
        ),
    ],
)
def test_image_errors_are_one_line(files, args: list[str], message: str) -> None:
    empty = files["root"] / "empty"
    empty.mkdir(exist_ok=True)
    swap = {
        "IMAGE": str(files["images"] / "digit0.png"),
        "NOTES": str(files["images"] / "notes.txt"),
        "EMPTY": str(empty),
    }
    result = runner.invoke(app, ["explain", *[swap.get(a, a) for a in args], "--model", str(files["model"])])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_evaluate_images(files) -> None:
    result = runner.invoke(
        app,
        ["evaluate", "--input", str(files["images"]), "--model", str(files["model"]),
         "--method", "occlusion", "--method", "gxi", "--strategy", "black", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = json.loads(result.stdout)
    assert table["level"] == "patch" and table["strategy"] == "black" and table["texts"] == 5
    assert {r["method"] for r in table["rows"]} >= {"occlusion", "gxi", "random"}
    assert all("positive_auc" in r for r in table["rows"])
    shown = runner.invoke(
        app, ["evaluate", "--input", str(files["images"]), "--model", str(files["model"]), "--method", "gxi"]
    )
    assert shown.exit_code == 0, shown.output
    assert "patch curves (fill: mean)" in shown.output and "verdict:" in shown.output


def test_report_images(files) -> None:
    out = files["root"] / "report.html"
    result = runner.invoke(
        app,
        ["report", "--image", str(files["images"] / "digit0.png"), "--model", str(files["model"]),
         "--method", "cp-lrp", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "data:image/png;base64," in page and ('"layout": "image"' in page or '"layout":"image"' in page)
    assert "wrote" in result.stderr and "(1 image, " in result.stderr
    figures = files["root"] / "figs"
    drawn = runner.invoke(
        app, ["report", "--image", str(files["images"] / "digit0.png"), "--model", str(files["model"]),
              "--method", "cp-lrp", "--png", str(figures), "--out", str(out)],
    )  # fmt: skip
    assert drawn.exit_code == 0, drawn.output
    [overlay] = sorted(figures.iterdir())  # one image × one method × the predicted class
    assert overlay.name.startswith("image000_cp-lrp_") and overlay.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_image_explanations_display_in_notebooks(files) -> None:
    from trexplain import explain
    from trexplain.viz.html import show

    explained = explain(images=[files["images"] / "digit0.png"], model=files["model"], method="gxi")
    fragment = show(explained)._repr_html_()
    assert fragment.startswith("<iframe") and "height:670px" in fragment
