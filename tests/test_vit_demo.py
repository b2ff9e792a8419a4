"""The shipped demo image model (`models/vit_demo/`), loaded with plain transformers: ≥ 97% accuracy on the fixed
held-out split (rebuilt with the training script's own helpers), the sample PNGs classified as their labels,
the config and image-processor fields, the input convention, and the folder's size and contents."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from trexplain.models import digits
from trexplain.models.vision import VIT_DEMO_DIR

pytest.importorskip("sklearn", reason="the digits data ship with scikit-learn: pip install scikit-learn")
FOLDER = VIT_DEMO_DIR
SAMPLES = FOLDER / "samples"


@pytest.fixture(scope="module")
def model():
    from transformers import ViTForImageClassification

    return ViTForImageClassification.from_pretrained(FOLDER, attn_implementation="eager").eval()


def predict(model, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(pixel_values=torch.from_numpy(digits.normalise(images))).logits.argmax(-1).numpy()


def test_held_out_accuracy(model):
    images, labels = digits.held_out()
    assert images.shape == (360, 32, 32, 3) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [36, 36, 35, 37, 36, 37, 36, 36, 35, 36]  # stratified, fixed
    accuracy = float((predict(model, images) == labels).mean())
    assert accuracy >= 0.97, f"held-out accuracy {accuracy:.4f} < 0.97"
    card = (FOLDER / "README.md").read_text(encoding="utf-8")
    assert f"**{100 * accuracy:.2f}%**" in card  # the model card states the accuracy this test measures


def test_split_is_fixed_and_disjoint():
    _, labels = digits.load_digits_data()
    train, test = digits.split(labels)
    assert len(train) == 1437 and len(test) == 360
    assert not set(train) & set(test)
    np.testing.assert_array_equal(digits.split(labels)[1], test)
    assert not np.array_equal(digits.split(labels, seed=1)[1], test)


def test_upsampling_matches_torch():
    import torch.nn.functional as F

    images, _ = digits.load_digits_data()
    x = torch.from_numpy(images[:50].astype(np.float32))[:, None]
    ref = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)[:, 0].round().numpy()
    got = digits.upsample(images[:50])
    assert got.dtype == np.uint8 and got.shape == (50, 32, 32, 3)
    np.testing.assert_array_equal(got[..., 0], ref)
    np.testing.assert_array_equal(got[..., 0], got[..., 2])
    blocks = digits.upsample(images[:1], mode="nearest")[0, ..., 0]
    np.testing.assert_array_equal(blocks[::4, ::4], images[0])
    assert digits.to_uint8(np.array([0, 8, 16])).tolist() == [0, 128, 255]


def test_config_and_preprocessor(model):
    config = json.loads((FOLDER / "config.json").read_text())
    assert config["id2label"] == {str(i): str(i) for i in range(10)}
    assert config["label2id"] == {str(i): i for i in range(10)}
    assert (config["image_size"], config["patch_size"], config["num_channels"]) == (32, digits.PATCH_SIZE, 3)
    assert model.config.num_labels == 10
    pre = json.loads((FOLDER / "preprocessor_config.json").read_text())
    assert pre["image_processor_type"] == "ViTImageProcessor"
    assert pre["do_resize"] and pre["size"] == {"height": 32, "width": 32} and pre["resample"] == 2
    assert pre["do_rescale"] and pre["rescale_factor"] == pytest.approx(1 / 255)
    assert pre["do_normalize"] and pre["image_mean"] == [0.5] * 3 and pre["image_std"] == [0.5] * 3


def test_processor_matches_the_training_preprocessing():
    image = pytest.importorskip("PIL.Image", reason="Pillow is not installed")
    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(FOLDER)
    sample = np.asarray(image.open(SAMPLES / "digit-3.png").convert("RGB"))
    got = processor(images=[sample], return_tensors="np")["pixel_values"]
    np.testing.assert_allclose(got, digits.normalise(sample[None]), atol=1e-6)
    # an 8 × 8 PNG of a digit, resized by the processor, is the training input within one grey level
    images, _ = digits.load_digits_data()
    small = [np.repeat(images[i][..., None], 3, axis=-1) for i in range(20)]
    resized = processor(images=small, return_tensors="np")["pixel_values"]
    np.testing.assert_allclose(resized, digits.normalise(digits.upsample(images[:20])), atol=1.01 * 2 / 255)


def test_samples_classified_as_their_labels(model):
    image = pytest.importorskip("PIL.Image", reason="Pillow is not installed")
    labels = json.loads((SAMPLES / "labels.json").read_text())
    assert labels == {f"digit-{d}.png": str(d) for d in range(10)}
    pngs = np.stack([np.asarray(image.open(SAMPLES / name).convert("RGB")) for name in labels])
    assert pngs.shape == (10, 32, 32, 3)
    assert (pngs[:, 0, 0] == 0).all() and pngs.max() == 255  # white ink on black, as the model card says
    assert [model.config.id2label[int(p)] for p in predict(model, pngs)] == list(labels.values())
    held, _ = digits.held_out()
    assert all((held == png).all(axis=(1, 2, 3)).any() for png in pngs)  # each sample is a held-out digit


def test_folder_contents_and_size():
    names = sorted(p.name for p in FOLDER.iterdir())
    assert names == sorted(
        ["config.json", "model.safetensors", "preprocessor_config.json", "README.md", "NOTICE", "samples"]
    )
    size = sum(p.stat().st_size for p in FOLDER.rglob("*") if p.is_file())
    assert size < 2_000_000
    notice = (FOLDER / "NOTICE").read_text()
    assert "CC BY 4.0" in notice and "10.24432/C50P49" in notice
    assert json.loads((FOLDER / "config.json").read_text())["model_type"] == "vit"
