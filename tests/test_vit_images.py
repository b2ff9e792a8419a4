"""Reading images (files, arrays, tensors, PIL), typed errors for bad ones, preprocessing against transformers'
image processors, the `ImageLayout` and its records, and loading ViT folders (vit-demo resolution included)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tests.vit_tiny import random_images, save_folder
from trexplain.errors import ImageError, ModelLoadError
from trexplain.explanation import Explanation
from trexplain.layout import ImageLayout, Preprocessing, layout_from_dict
from trexplain.models import images as img
from trexplain.models import vision
from trexplain.models.loading import load_model

PIL = pytest.importorskip("PIL.Image", reason="reading image files needs Pillow (vision extra)")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_folder(tmp_path_factory.mktemp("vit") / "tiny-vit")


def test_every_input_kind_reads_to_the_same_rgb(tmp_path: Path) -> None:
    (picture,) = random_images(1, (12, 10))
    PIL.fromarray(picture).save(tmp_path / "a.png")
    grey = picture[..., 0]
    reads = {
        "png": img.read_image(tmp_path / "a.png").pixels,
        "path string": img.read_image(str(tmp_path / "a.png")).pixels,
        "uint8": img.read_image(picture).pixels,
        "float": img.read_image(picture / 255.0).pixels,
        "tensor chw": img.read_image(torch.from_numpy(picture).permute(2, 0, 1).float() / 255).pixels,
        "pil": img.read_image(PIL.fromarray(picture)).pixels,
    }
    for name, pixels in reads.items():
        assert pixels.dtype == np.uint8 and np.array_equal(pixels, picture), name
    assert np.array_equal(img.read_image(grey).pixels, np.repeat(grey[..., None], 3, -1))
    assert np.array_equal(img.read_image(PIL.fromarray(grey)).pixels, np.repeat(grey[..., None], 3, -1))
    assert img.read_image(tmp_path / "a.png").source == "a.png" and img.read_images([picture])[0].source == "image 0"
    stacked = img.read_images(torch.from_numpy(np.stack([picture, picture[::-1]])).permute(0, 3, 1, 2))  # N×C×H×W
    assert [r.source for r in stacked] == ["image 0", "image 1"] and np.array_equal(stacked[1].pixels, picture[::-1])
    PIL.fromarray(picture).save(tmp_path / "b.jpg", quality=95)
    with PIL.open(tmp_path / "b.jpg") as jpeg:
        assert np.array_equal(img.read_image(tmp_path / "b.jpg").pixels, np.asarray(jpeg.convert("RGB")))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p / "missing.png", "no such image file"),
        (lambda p: p, "is not a file"),
        (lambda p: _write(p / "text.png", b"not an image"), "not a readable image"),
        (lambda p: _pil(p / "deep.png", PIL.fromarray(np.zeros((4, 4), np.uint16) + 300)), "has mode 'I;16'"),
        (lambda p: _pil(p / "clear.png", PIL.new("RGBA", (4, 4), (1, 2, 3, 0))), "transparent pixels"),
        (lambda p: np.zeros((4, 4, 4), np.uint8), "4 channels"),
        (lambda p: np.zeros((0, 4, 3), np.uint8), "zero size"),
        (lambda p: np.zeros((2, 2, 4, 4, 3), np.uint8), "shape"),
        (lambda p: np.full((4, 4, 3), 2.0), "float images must lie in"),
        (lambda p: np.full((4, 4, 3), np.nan), "NaN"),
        (lambda p: np.zeros((4, 4, 3), bool), "dtype bool"),
        (lambda p: "ab" * 3 + ".png", "no such image file"),
        (lambda p: 3.5, "pass an image file"),
    ],
)
def test_bad_images_are_typed_errors(tmp_path: Path, make, match: str) -> None:
    with pytest.raises(ImageError, match=match):
        img.read_image(make(tmp_path))


def test_opaque_rgba_and_empty_lists() -> None:
    opaque = PIL.new("RGBA", (3, 2), (10, 20, 30, 255))
    assert img.read_image(opaque).pixels.tolist() == [[[10, 20, 30]] * 3] * 2
    with pytest.raises(ImageError, match="no image given"):
        img.read_images([])


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _pil(path: Path, image) -> Path:
    image.save(path)
    return path


@pytest.mark.parametrize("kind", ["vit", "deit"])
def test_preprocessing_equals_transformers_image_processor(kind: str) -> None:
    transformers = pytest.importorskip("transformers")
    config = {
        "do_resize": True,
        "size": {"height": 20, "width": 16},
        "resample": 2 if kind == "vit" else 3,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [0.5, 0.4, 0.3],
        "image_std": [0.2, 0.25, 0.3],
    }
    if kind == "deit":
        config.update(do_center_crop=True, crop_size={"height": 16, "width": 12})
    name = "ViTImageProcessorPil" if kind == "vit" else "DeiTImageProcessorPil"
    try:
        processor = getattr(transformers, name)(**config)
    except (AttributeError, ImportError) as exc:
        pytest.skip(f"transformers has no {name} here ({exc})")
    prep = img.preprocessing_from_config(config)
    for picture in random_images(3, (33, 27), seed=5):
        ours = img.normalise(img.resize(picture, prep), prep)
        theirs = processor(picture, return_tensors="pt")["pixel_values"][0]
        torch.testing.assert_close(ours, theirs.float(), rtol=0, atol=1e-5)


def test_unsupported_processor_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="shortest_edge"):
        img.preprocessing_from_config({"size": {"shortest_edge": 224}})
    with pytest.raises(ModelLoadError, match="do_pad"):
        img.preprocessing_from_config({"do_pad": True, "size": 8})
    with pytest.raises(ModelLoadError, match="image_std must be positive"):
        img.preprocessing_from_config({"size": 8, "image_std": [0, 1, 1]})
    (tmp_path / img.PROCESSOR_FILE).write_text("{")
    with pytest.raises(ModelLoadError, match="corrupt"):
        img.read_preprocessing(tmp_path, (8, 8))
    (tmp_path / img.PROCESSOR_FILE).unlink()
    with pytest.warns(UserWarning, match="no preprocessor_config.json"):
        assert img.read_preprocessing(tmp_path, (8, 8)) == img.default_preprocessing((8, 8))


def test_fills_and_blur() -> None:
    prep = Preprocessing((4, 4), 2, 1 / 255, (0.5, 0.5, 0.5), (0.25, 0.5, 1.0))
    pixels = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    black = img.black(prep, pixels)
    assert black[0, :, 0, 0].tolist() == [-2.0, -1.0, -0.5]
    mean = img.mean_colour(pixels)
    torch.testing.assert_close(mean[1, :, 3, 5], pixels[1].mean((-2, -1)))
    blurred = img.blur(pixels)
    torch.testing.assert_close(blurred.mean((-2, -1)), pixels.mean((-2, -1)), rtol=0.05, atol=0.05)
    assert blurred.std() < pixels.std()
    constant = torch.full((1, 3, 8, 8), 0.3, dtype=torch.float64)
    torch.testing.assert_close(img.blur(constant), constant)  # a normalised kernel keeps flat colour
    mask = img.patch_mask(torch.tensor([[True, False, False, True]]), (2, 2), (3, 3), (7, 6))
    assert mask.shape == (1, 1, 7, 6) and mask.sum() == 18 and mask[0, 0, 6].sum() == 0  # the cut-off row


def test_layout_fields_and_round_trip(folder: Path) -> None:
    adapter = load_model(folder)
    assert isinstance(adapter, vision.VisionAdapter) and adapter.grid == (4, 4)
    batch = adapter.encode(random_images(2, (20, 24)))
    layout = batch.layouts[0]
    assert isinstance(layout, ImageLayout) and layout.size == 17 and layout.num_features == 16
    assert layout.special == (True, *[False] * 16) and layout.feature_ids == (-1, *range(16))
    assert layout.position_labels()[:2] == ["[CLS]", "patch (0, 0)"]
    data = layout.to_dict()
    assert list(data) == [
        "layout",
        "source",
        "image_size",
        "grid",
        "patch_size",
        "special_tokens",
        "special",
        "preprocessing",
        "image",
    ]
    assert data["preprocessing"] == {
        "resize": [16, 16],
        "resample": 2,
        "crop": None,
        "rescale": 1 / 255,
        "mean": [0.5, 0.4, 0.3],
        "std": [0.2, 0.25, 0.3],
    }
    assert data["image"].startswith("data:image/png;base64,")
    assert img.decode_data_url(data["image"]).shape == (16, 16, 3)
    assert layout_from_dict(json.loads(json.dumps(data))) == layout
    assert hash(layout) == hash(layout_from_dict(data))
    # the exact pixels the model saw come back from the stored image
    explained = [SimpleNamespace(layout=layout) for layout in batch.layouts]  # what `rebuild` reads of each
    again, rows = adapter.modality.rebuild(adapter, explained)
    torch.testing.assert_close(again.inputs.pixel_values, batch.inputs.pixel_values)
    assert rows == list(range(len(batch)))
    scores = np.arange(17.0)
    assert layout.patch_grid(scores)[3].tolist() == [13.0, 14.0, 15.0, 16.0]


def test_explanation_records_of_images(folder: Path) -> None:
    from trexplain import explain
    from trexplain.records import text_record

    (e,) = explain(images=random_images(1, (16, 16)), model=str(folder), method="cp-lrp")
    assert Explanation.from_json(e.to_json()) == e
    record = text_record([e])
    assert record["layout"] == "image" and record["grid"] == [4, 4]
    entry = record["explanations"][0]
    assert len(entry["scores"]) == 17 and entry["tokens"][0] == "[CLS]"
    assert [f["label"] for f in entry["features"][:2]] == ["patch (0, 0)", "patch (0, 1)"]
    assert sum(f["score"] for f in entry["features"]) == pytest.approx(sum(entry["scores"][1:]), rel=1e-5)
    with pytest.raises(Exception, match="no text fields"):
        _ = e.text


def test_loading_checks_and_demo_resolution(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert vision.vision_folder("vit-demo") == vision.VIT_DEMO_DIR
    assert Path(vision.__file__).parent / "vit_demo" == vision.VIT_DEMO_DIR
    monkeypatch.setattr(vision, "VIT_DEMO_DIR", folder)
    demo = load_model("vit-demo")
    assert demo.name == "vit-demo" and demo.labels == ("cat", "dog", "bird")
    monkeypatch.setattr(vision, "VIT_DEMO_DIR", tmp_path / "absent")
    with pytest.raises(ModelLoadError, match="demo image model is missing"):
        load_model("vit-demo")
    # weights that do not fit: the loading module's checks, named
    broken = save_folder(tmp_path / "broken")
    config = json.loads((broken / "config.json").read_text())
    config["num_hidden_layers"] = 3
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="missing from the checkpoint"):
        load_model(broken)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(load_model(broken, allow_missing_weights=True).layers) == 3
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((folder / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="only pickle weights"):
        load_model(pickled)
    other = save_folder(tmp_path / "big", image_size=32, patch_size=8)
    adapter = load_model(other)
    assert adapter.grid == (4, 4) and adapter.patch_size == (8, 8)
    (other / img.PROCESSOR_FILE).write_text(json.dumps({"do_resize": False}))
    with pytest.raises(ImageError, match="after preprocessing but big takes 32×32"):
        load_model(other).encode(random_images(1, (20, 20)))


def test_texts_and_images_are_not_mixed(folder: Path) -> None:
    from trexplain import explain
    from trexplain.errors import InputError

    with pytest.raises(InputError, match="is an image classifier: pass images"):
        explain(["a text"], model=str(folder))
    with pytest.raises(InputError, match="not both"):
        explain(["a text"], images=random_images(1))
    with pytest.raises(InputError, match="pass images, not texts"):
        load_model(folder).tokenize("a text")


def test_arrow_and_parquet_round_trip_of_image_explanations(folder: Path, tmp_path: Path) -> None:
    from trexplain import explain
    from trexplain.arrow import from_arrow, from_parquet, to_arrow, to_parquet

    found = explain(images=random_images(2, (16, 16)), model=str(folder), method=["cp-lrp", "occlusion"])
    assert from_arrow(to_arrow(found)) == found
    to_parquet(found, tmp_path / "images.parquet")
    back = from_parquet(tmp_path / "images.parquet")
    assert back == found and back[0].layout.preprocessing.mean == (0.5, 0.4, 0.3)
