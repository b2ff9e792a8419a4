"""Images in, model pixels out: reading files, arrays and tensors, and the folder's preprocessing, done here.

Every image becomes an RGB uint8 array first (files through Pillow; float arrays in [0, 1]; grey images
repeated to three channels), then goes through the model folder's `preprocessor_config.json` as
Hugging Face's `ViTImageProcessor` does it — resize (PIL filter), optional centre crop, rescale, normalise —
implemented here so no optional dependency of transformers' image processors is needed. The steps are
recorded in each `ImageLayout` (`Preprocessing`). Fills and baselines (black, mean colour, blur) are computed
on the normalised pixels, which equals computing them on the raw image and normalising (both are affine).
"""

from __future__ import annotations

import base64
import io
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from trexplain.errors import ImageError, ModelLoadError
from trexplain.layout import Preprocessing

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
Fill = Literal["mean", "blur", "black"]
FILLS: tuple[str, ...] = ("mean", "blur", "black")
PROCESSOR_FILE = "preprocessor_config.json"
# ViTImageProcessor's defaults (IMAGENET_STANDARD mean and std, bilinear), used when a folder has no processor file
DEFAULT_MEAN = (0.5, 0.5, 0.5)
DEFAULT_STD = (0.5, 0.5, 0.5)
BILINEAR = 2
# Modes Pillow converts to RGB without losing meaning; others (16-bit, float, CMYK, …) need the user's choice
CONVERTIBLE_MODES = ("RGB", "L", "P", "1", "RGBA", "LA", "PA")


@dataclass(frozen=True)
class RawImage:
    """One input image as RGB uint8 [H, W, 3] and a name for it (the file name, or `image N`)."""

    pixels: np.ndarray
    source: str


def pillow() -> Any:
    """The PIL package; a clear error naming the extra when it is missing."""
    try:
        import PIL.Image
    except ImportError as exc:  # pragma: no cover - Pillow is installed with the vision extra
        raise ImageError("reading images needs Pillow: pip install 'trexplain[vision]'") from exc
    return PIL.Image


def read_images(images: Any) -> list[RawImage]:
    """Every image of `images` (one image, a list of paths, arrays, tensors, PIL images, or a 4-D array or tensor
    of N images) as a `RawImage`."""
    if isinstance(images, (np.ndarray, Tensor)) and images.ndim == 4:
        images = list(images)
    if isinstance(images, (str, Path, np.ndarray, Tensor, RawImage)) or _is_pil(images):
        images = [images]
    if images is None or isinstance(images, (bytes, bytearray, dict)):
        raise ImageError(
            f"images must be a list of image files, arrays, tensors or PIL images, got {type(images).__name__}"
        )
    items = list(images)
    if not items:
        raise ImageError("no image given (an empty list); pass at least one image file, array or tensor")
    return [read_image(item, i) for i, item in enumerate(items)]


def read_image(item: Any, index: int = 0) -> RawImage:
    """One image (a path, an HxW / HxWxC / CxHxW array or tensor, a PIL image) as RGB uint8; a typed error
    names what is wrong with a bad one."""
    if isinstance(item, RawImage):
        return item
    name = f"image {index}"
    if isinstance(item, (str, Path)):
        return RawImage(_read_file(Path(item).expanduser(), name), Path(item).name)
    if _is_pil(item):
        return RawImage(_from_pil(item, name), name)
    if isinstance(item, Tensor):
        item = item.detach().cpu().numpy()
    if isinstance(item, np.ndarray):
        return RawImage(_from_array(item, name), name)
    raise ImageError(f"{name} is a {type(item).__name__}; pass an image file, a numpy array, a tensor or a PIL image")


def image_files(folder: Path) -> list[Path]:
    """The image files directly in `folder` (by suffix), sorted by name; none is an ImageError."""
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise ImageError(
            f"{folder} is a folder with no image files ({', '.join(IMAGE_SUFFIXES)}); give a folder of images, "
            "or a .txt/.csv/.tsv/.jsonl file of texts"
        )
    return found


def _is_pil(item: Any) -> bool:
    return type(item).__module__.startswith("PIL.")


def _read_file(path: Path, name: str) -> np.ndarray:
    if not path.exists():
        raise ImageError(f"{path}: no such image file; check the path")
    if not path.is_file():
        raise ImageError(f"{path} is not a file; pass an image file (or --input for a folder of images)")
    image_module = pillow()
    try:
        with image_module.open(path) as image:
            image.load()
            return _from_pil(image, str(path))
    except ImageError:
        raise
    except (OSError, ValueError, image_module.DecompressionBombError) as exc:
        raise ImageError(
            f"{path}: not a readable image ({' '.join(str(exc).split())}); pass a PNG or JPEG file"
        ) from exc


def _from_pil(image: Any, name: str) -> np.ndarray:
    if image.mode not in CONVERTIBLE_MODES:
        raise ImageError(
            f"{name} has mode {image.mode!r} (not 8-bit RGB or grey); convert it first, e.g. image.convert('RGB')"
        )
    if image.width == 0 or image.height == 0:
        raise ImageError(f"{name} has zero size ({image.width}×{image.height}); pass a non-empty image")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        alpha = np.asarray(image.convert("RGBA"))[..., 3]
        if (alpha < 255).any():
            raise ImageError(
                f"{name} has transparent pixels, whose colour is undefined; flatten it onto a background first "
                "(e.g. Image.alpha_composite with a white image, then .convert('RGB'))"
            )
    return np.array(image.convert("RGB"), dtype=np.uint8)


def _from_array(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = np.moveaxis(array, 0, -1)  # channels first (torchvision) → last
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise ImageError(f"{name} has shape {list(array.shape)}; pass H×W, H×W×C or C×H×W with C = 1 or 3")
    if array.shape[-1] not in (1, 3):
        raise ImageError(
            f"{name} has {array.shape[-1]} channels (shape {list(array.shape)}); pass grey (1) or RGB (3) "
            "channels, e.g. drop the alpha channel with array[..., :3] if it is opaque"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageError(f"{name} has zero size (shape {list(array.shape)}); pass a non-empty image")
    if array.dtype == np.uint8:
        out = array
    elif array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
        raise ImageError(f"{name} has dtype {array.dtype}; pass uint8 (0–255) or float (0–1) pixels")
    elif np.issubdtype(array.dtype, np.integer):
        if array.min() < 0 or array.max() > 255:
            raise ImageError(f"{name} has integer pixels outside 0–255; pass uint8 values or floats in [0, 1]")
        out = array.astype(np.uint8)
    else:
        values = array.astype(np.float64)
        if not np.isfinite(values).all():
            raise ImageError(f"{name} has NaN or infinite pixels; pass finite values in [0, 1]")
        if values.min() < 0 or values.max() > 1:
            raise ImageError(
                f"{name} has float pixels in [{values.min():.3g}, {values.max():.3g}]; float images must lie in "
                "[0, 1] (divide 0–255 values by 255, or pass uint8)"
            )
        out = np.round(values * 255).astype(np.uint8)
    if out.shape[-1] == 1:
        out = np.repeat(out, 3, axis=-1)
    return np.ascontiguousarray(out)


# ---------------------------------------------------------------------------------------------- preprocessing
def read_preprocessing(folder: Path, image_size: tuple[int, int]) -> Preprocessing:
    """The folder's `preprocessor_config.json` as a `Preprocessing`; without one, ViT's defaults at the model's
    image size (with a warning). Keys this implementation cannot follow are a ModelLoadError, never ignored."""
    path = folder / PROCESSOR_FILE
    if not path.is_file():
        warnings.warn(
            f"{folder} has no {PROCESSOR_FILE}; using ViT's defaults (resize to {image_size[0]}×{image_size[1]}, "
            "rescale 1/255, mean and std 0.5), recorded in each explanation",
            stacklevel=3,
        )
        return default_preprocessing(image_size)
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path} is corrupt ({exc}); re-save it with image_processor.save_pretrained") from exc
    if not isinstance(config, dict):
        raise ModelLoadError(f"{path} is corrupt (not a JSON object); re-save it")
    return preprocessing_from_config(config, str(path))


def default_preprocessing(image_size: tuple[int, int]) -> Preprocessing:
    return Preprocessing(image_size, BILINEAR, 1 / 255, DEFAULT_MEAN, DEFAULT_STD)


def preprocessing_from_config(config: dict[str, Any], where: str = PROCESSOR_FILE) -> Preprocessing:
    """A `Preprocessing` from the fields of an image processor config (ViT, DeiT, BEiT-style keys)."""
    for flag in ("do_convert_rgb", "do_pad", "do_reduce_labels"):
        if config.get(flag):
            if flag == "do_convert_rgb":
                continue  # every image is RGB here already
            raise ModelLoadError(f"{where}: {flag} is set, which trexplain's image preprocessing does not implement")
    size = _size(config.get("size"), where) if config.get("do_resize", True) else None
    crop = _size(config.get("crop_size"), where) if config.get("do_center_crop", False) else None
    rescale = float(config.get("rescale_factor", 1 / 255)) if config.get("do_rescale", True) else None
    mean = std = None
    if config.get("do_normalize", True):
        mean = tuple(_three(config.get("image_mean", DEFAULT_MEAN), "image_mean", where))
        std = tuple(_three(config.get("image_std", DEFAULT_STD), "image_std", where))
        if min(std) <= 0:
            raise ModelLoadError(f"{where}: image_std must be positive, got {list(std)}")
    resample = config.get("resample", BILINEAR)
    if not isinstance(resample, int) or isinstance(resample, bool) or not 0 <= resample <= 5:
        raise ModelLoadError(f"{where}: resample must be a PIL filter number 0–5, got {resample!r}")
    return Preprocessing(size, resample, rescale, mean, std, crop)


def _size(value: Any, where: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, dict) and {"height", "width"} <= set(value):
        return (int(value["height"]), int(value["width"]))
    raise ModelLoadError(
        f"{where}: size {value!r} is not a height and width (shortest_edge resizing is not implemented); "
        'give "size": {"height": H, "width": W}'
    )


def _three(value: Any, name: str, where: str) -> list[float]:
    values = [value] * 3 if isinstance(value, (int, float)) else list(value)
    if len(values) != 3:
        raise ModelLoadError(f"{where}: {name} needs 3 values (RGB), got {values}")
    return [float(v) for v in values]


def resize(pixels: np.ndarray, prep: Preprocessing) -> np.ndarray:
    """The uint8 RGB image after resize and centre crop: what the model sees, before rescale and normalise."""
    out = pixels
    if prep.size is not None and out.shape[:2] != prep.size:
        image = pillow().fromarray(out)
        out = np.asarray(image.resize((prep.size[1], prep.size[0]), resample=prep.resample), dtype=np.uint8)
    if prep.crop is not None:
        out = _centre_crop(out, prep.crop)
    return np.ascontiguousarray(out)


def _centre_crop(pixels: np.ndarray, crop: tuple[int, int]) -> np.ndarray:
    h, w = pixels.shape[:2]
    ch, cw = crop
    if ch > h or cw > w:
        raise ImageError(f"a {h}×{w} image cannot be centre-cropped to {ch}×{cw}")
    top, left = (h - ch) // 2, (w - cw) // 2
    return pixels[top : top + ch, left : left + cw]


def normalise(resized: np.ndarray, prep: Preprocessing, dtype: torch.dtype = torch.float32) -> Tensor:
    """[3, H, W] model pixels of a resized uint8 image: rescaled, then normalised, as the processor does."""
    x = torch.from_numpy(np.array(resized, dtype=np.uint8)).permute(2, 0, 1).to(torch.float64)
    if prep.rescale is not None:
        x = x * prep.rescale
    if prep.mean is not None and prep.std is not None:
        mean = torch.tensor(prep.mean, dtype=torch.float64)[:, None, None]
        std = torch.tensor(prep.std, dtype=torch.float64)[:, None, None]
        x = (x - mean) / std
    return x.to(dtype)


def black(prep: Preprocessing, like: Tensor) -> Tensor:
    """Model pixels of an all-black image, shaped and typed like `like` [.., 3, H, W]."""
    zero = torch.zeros(3, 1, 1, dtype=torch.float64)
    if prep.mean is not None and prep.std is not None:
        zero = (zero - torch.tensor(prep.mean, dtype=torch.float64)[:, None, None]) / torch.tensor(
            prep.std, dtype=torch.float64
        )[:, None, None]
    return zero.to(like).expand_as(like).clone()


def mean_colour(pixels: Tensor) -> Tensor:
    """Each image's mean colour everywhere, [B, 3, H, W]."""
    return pixels.mean(dim=(-2, -1), keepdim=True).expand_as(pixels).clone()


def blur_sigma(height: int, width: int) -> float:
    """The blur fill's Gaussian σ in pixels: 1/16 of the longer side (so a 224-pixel image gets σ = 14)."""
    return max(height, width) / 16


def blur(pixels: Tensor, sigma: float | None = None) -> Tensor:
    """Gaussian blur of [B, 3, H, W] (reflected borders, separable kernel of radius 3σ, clipped to the image)."""
    h, w = pixels.shape[-2:]
    sigma = blur_sigma(h, w) if sigma is None else sigma
    out = pixels
    for dim, length in ((-1, w), (-2, h)):
        radius = min(math.ceil(3 * sigma), length - 1)
        if radius < 1:
            continue
        grid = torch.arange(-radius, radius + 1, dtype=torch.float64)
        kernel = torch.exp(-(grid**2) / (2 * sigma**2))
        kernel = (kernel / kernel.sum()).to(pixels)
        moved = out.movedim(dim, -1)
        shape = moved.shape
        flat = F.pad(moved.reshape(-1, 1, shape[-1]), (radius, radius), mode="reflect")
        out = F.conv1d(flat, kernel.view(1, 1, -1)).reshape(shape).movedim(-1, dim)
    return out.contiguous()


def filled(pixels: Tensor, fill: str, prep: Preprocessing) -> Tensor:
    """What removed patches are replaced by: the image's mean colour, its blurred self, or black."""
    if fill == "mean":
        return mean_colour(pixels)
    if fill == "blur":
        return blur(pixels)
    if fill == "black":
        return black(prep, pixels)
    raise ImageError(f"unknown fill {fill!r}; use one of {', '.join(FILLS)}")


def patch_mask(
    removed: Tensor, grid: tuple[int, int], patch_size: tuple[int, int], image_size: tuple[int, int]
) -> Tensor:
    """Bool [N, 1, H, W] pixel masks of the patches where `removed` [N, patches] (row-major) is True."""
    (gh, gw), (ph, pw), (h, w) = grid, patch_size, image_size
    cells = removed.reshape(-1, 1, gh, gw)
    pixels = cells.repeat_interleave(ph, dim=2).repeat_interleave(pw, dim=3)
    return F.pad(pixels, (0, w - gw * pw, 0, h - gh * ph)).bool()


def data_url(resized: np.ndarray) -> str:
    """A PNG data URL of a uint8 RGB image (what the report draws the overlay on)."""
    buffer = io.BytesIO()
    pillow().fromarray(resized).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_data_url(url: str) -> np.ndarray:
    """The uint8 RGB image of a PNG data URL made by `data_url`."""
    prefix = "data:image/png;base64,"
    if not url.startswith(prefix):
        raise ImageError("not a PNG data URL; image records carry the input as data:image/png;base64,…")
    with pillow().open(io.BytesIO(base64.b64decode(url[len(prefix) :]))) as image:
        return np.array(image.convert("RGB"), dtype=np.uint8)


def baseline_pixels(pixels: Tensor, baseline: Any, prep: Preprocessing) -> Tensor:
    """Model pixels [B, 3, H, W] of an IG baseline: `black`, `mean` (colour), `blur`, or a given image."""
    if isinstance(baseline, str) and baseline in FILLS:
        return filled(pixels, baseline, prep)
    raw = read_image(baseline, 0)
    resized = resize(raw.pixels, prep)
    given = normalise(resized, prep, pixels.dtype).to(pixels.device)
    if given.shape != pixels.shape[1:]:
        raise ImageError(
            f"the baseline image is {given.shape[1]}×{given.shape[2]} after preprocessing but the inputs are "
            f"{pixels.shape[2]}×{pixels.shape[3]}"
        )
    return given.unsqueeze(0).expand_as(pixels).clone()
