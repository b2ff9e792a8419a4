"""The handwritten digits behind the demo image model (`vit_demo/`): data, the fixed held-out split and the
preprocessing, shared by `scripts/train_vit_demo.py`, its test and the ViT benchmark so they never disagree.

The images are scikit-learn's copy of the UCI Optical Recognition of Handwritten Digits test set: 1797 images of
8 × 8 pixels with 17 grey levels (0 … 16, 16 = ink). The model sees them as white ink on black, 32 × 32 RGB,
upsampled bilinearly (as the image processor resizes a user's 8 × 8 PNG) and cut into a 4 × 4 grid of 8 × 8
patches, each 2 × 2 source pixels. Loading the data needs scikit-learn (the `concepts` or `test` extra); the
preprocessing needs numpy only.
"""

from __future__ import annotations

import numpy as np

from trexplain.errors import ModelLoadError

LABELS = tuple(str(d) for d in range(10))
SOURCE_SIZE = 8  # the digits' own side in pixels
LEVELS = 16  # grey levels 0 … 16 (16 = full ink)
IMAGE_SIZE = 32  # the model's input side
PATCH_SIZE = 8  # a 4 × 4 patch grid, each patch 2 × 2 source pixels
MODES = ("bilinear", "nearest")
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


def upsample(images: np.ndarray, size: int | None = None, mode: str = "bilinear") -> np.ndarray:
    """uint8 grey images [N, 8, 8] as uint8 RGB [N, size, size, 3] (size 32 by default): "bilinear" between pixel
    centres, edges held (torch's `interpolate(..., align_corners=False)`), or "nearest" (blocks)."""
    images = np.asarray(images)
    size = IMAGE_SIZE if size is None else size
    if images.ndim != 3 or images.shape[1:] != (SOURCE_SIZE, SOURCE_SIZE):
        raise ValueError(f"expected grey images [N, {SOURCE_SIZE}, {SOURCE_SIZE}], got {images.shape}")
    if mode == "nearest":
        if size % SOURCE_SIZE:
            raise ValueError(f"nearest upsampling needs a multiple of {SOURCE_SIZE}, got {size}")
        big = images.repeat(size // SOURCE_SIZE, axis=1).repeat(size // SOURCE_SIZE, axis=2)
    elif mode == "bilinear":
        low, high, frac = _axis(size)
        x = images.astype(np.float32)
        rows = x[:, low] * (1 - frac[:, None]) + x[:, high] * frac[:, None]
        big = rows[:, :, low] * (1 - frac) + rows[:, :, high] * frac
        big = np.clip(np.rint(big), 0, 255).astype(np.uint8)
    else:
        raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    return np.repeat(big[..., None], 3, axis=-1)


def _axis(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per output pixel: the two nearest source pixel centres and the weight of the second (clamped at edges)."""
    position = np.clip((np.arange(size) + 0.5) * SOURCE_SIZE / size - 0.5, 0, SOURCE_SIZE - 1)
    low = np.floor(position).astype(int)
    return low, np.minimum(low + 1, SOURCE_SIZE - 1), (position - low).astype(np.float32)


def normalise(images: np.ndarray) -> np.ndarray:
    """uint8 RGB [N, H, W, 3] as the model's float32 pixel values [N, 3, H, W]: (x / 255 − mean) / std, as the
    folder's `preprocessor_config.json` does."""
    x = np.asarray(images, dtype=np.float32) / np.float32(255)
    x = (x - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def held_out() -> tuple[np.ndarray, np.ndarray]:
    """The held-out digits as the model's uint8 RGB inputs [N, 32, 32, 3] (bilinear) and their labels."""
    images, labels = load_digits_data()
    _, test = split(labels)
    return upsample(images[test]), labels[test]
