"""The handwritten digits behind the demo image model (`vit_demo/`): data, the fixed held-out split and the
preprocessing, shared by `scripts/train_vit_demo.py`, its test and the ViT benchmark so they never disagree.

The images are scikit-learn's copy of the UCI Optical Recognition of Handwritten Digits test set: 1797 images of
8 × 8 pixels with 17 grey levels (0 … 16, 16 = ink). The model sees them as white ink on black, 32 × 32 RGB:
every source pixel becomes one 4 × 4 block, which is exactly one ViT patch. Loading the data needs scikit-learn
(the `concepts` or `test` extra); the preprocessing needs numpy only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trexplain.errors import ModelLoadError

VIT_DEMO_DIR = Path(__file__).resolve().parent / "vit_demo"
LABELS = tuple(str(d) for d in range(10))
SOURCE_SIZE = 8  # the digits' own side in pixels
LEVELS = 16  # grey levels 0 … 16 (16 = full ink)
IMAGE_SIZE = 32  # the model's input side: every source pixel becomes a 4 × 4 block …
PATCH_SIZE = 4  # … which is one patch, so the 8 × 8 patch grid is the source image
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
SEED = 0
TEST_FRACTION = 0.2


def load_digits_data() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as uint8 images [N, 8, 8] (0 black … 255 white ink) and their int64 labels [N]."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ModelLoadError("the digits data ship with scikit-learn: pip install scikit-learn") from exc
    bunch = load_digits()
    return to_uint8(bunch.images), bunch.target.astype(np.int64)


def to_uint8(levels: np.ndarray) -> np.ndarray:
    """Grey levels 0 … 16 as uint8 0 … 255, rounded to the nearest."""
    levels = np.asarray(levels, dtype=np.float64)
    if levels.size and (levels.min() < 0 or levels.max() > LEVELS):
        raise ValueError(f"digit levels must lie in 0 … {LEVELS}")
    return np.rint(levels * (255 / LEVELS)).astype(np.uint8)


def split(labels: np.ndarray, test_fraction: float = TEST_FRACTION, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """The fixed stratified split: sorted train and held-out indices (20% held out, seed 0 by default)."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    train, test = train_test_split(index, test_size=test_fraction, random_state=seed, stratify=labels)
    return np.sort(train), np.sort(test)


def upsample(images: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """uint8 grey images [N, 8, 8] as RGB [N, size, size, 3], each source pixel a (size/8)² block (nearest)."""
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (SOURCE_SIZE, SOURCE_SIZE):
        raise ValueError(f"expected grey images [N, {SOURCE_SIZE}, {SOURCE_SIZE}], got {images.shape}")
    if size % SOURCE_SIZE:
        raise ValueError(f"size must be a multiple of {SOURCE_SIZE}, got {size}")
    factor = size // SOURCE_SIZE
    big = images.repeat(factor, axis=1).repeat(factor, axis=2)
    return np.repeat(big[..., None], 3, axis=-1)


def normalise(images: np.ndarray) -> np.ndarray:
    """uint8 RGB [N, H, W, 3] as the model's float32 pixel values [N, 3, H, W]: (x / 255 − mean) / std, as the
    folder's `preprocessor_config.json` does."""
    x = np.asarray(images, dtype=np.float32) / np.float32(255)
    x = (x - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def held_out() -> tuple[np.ndarray, np.ndarray]:
    """The held-out digits as the model's uint8 RGB inputs [N, 32, 32, 3] and their labels."""
    images, labels = load_digits_data()
    _, test = split(labels)
    return upsample(images[test]), labels[test]
