"""Image views: per-patch scores as a per-pixel map, overlaid on the image with a signed colour bar.

`upsample` needs numpy only; the figures need matplotlib (the `figures` extra). `overlay`
draws an image explanation (its layout carries the resized input as a PNG data URL) for one of its classes.
Signed scores use one diverging scale centred at 0 with symmetric limits (green supports the class, red opposes
it, as everywhere in trexplain), transparent at 0 so the image shows through where a patch scores nothing;
unsigned scores (attention, rollout) use purple from 0.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trexplain.errors import InputError
from trexplain.viz.colors import NEGATIVE, POSITIVE
from trexplain.viz.figures import method_card, plain_text, pyplot, safe_name

UNSIGNED = (109, 40, 217)  # the report's colour for unsigned scores
MODES = ("nearest", "bilinear")
FORMATS = {".png": "png", ".svg": "svg"}


def upsample(patch_scores: np.ndarray, image_size: tuple[int, int], mode: str = "nearest") -> np.ndarray:
    """A patch grid's scores [gh, gw] as a per-pixel map [H, W]: each patch's value over its pixels ("nearest"),
    or interpolated between patch centres ("bilinear", edges held constant)."""
    grid = np.asarray(patch_scores, dtype=np.float64)
    if grid.ndim != 2 or 0 in grid.shape:
        raise InputError(f"patch scores must be a non-empty [rows, columns] grid, got shape {grid.shape}")
    height, width = (int(s) for s in image_size)
    if height < 1 or width < 1:
        raise InputError(f"image size must be positive, got {image_size}")
    if mode == "nearest":
        rows = np.arange(height) * grid.shape[0] // height
        cols = np.arange(width) * grid.shape[1] // width
        return grid[rows][:, cols]
    if mode != "bilinear":
        raise InputError(f"unknown upsampling mode {mode!r}; use one of {', '.join(MODES)}")
    r0, r1, fr = _axis(height, grid.shape[0])
    c0, c1, fc = _axis(width, grid.shape[1])
    top = grid[r0][:, c0] * (1 - fc) + grid[r0][:, c1] * fc
    bottom = grid[r1][:, c0] * (1 - fc) + grid[r1][:, c1] * fc
    return top * (1 - fr[:, None]) + bottom * fr[:, None]


def _axis(pixels: int, cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each pixel centre: the two nearest cell centres and the weight of the second (clamped at the edges)."""
    position = np.clip((np.arange(pixels) + 0.5) * cells / pixels - 0.5, 0, cells - 1)
    low = np.floor(position).astype(int)
    return low, np.minimum(low + 1, cells - 1), position - low


def _image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise InputError(f"expected a uint8 RGB image [H, W, 3], got {image.dtype} {image.shape}")
    return image


def colour_map(signed: bool = True):
    """The overlay's colour map, as the report paints: one hue (red below 0, green above; purple unsigned) at
    opacity |value| / peak, so a patch scoring 0 leaves the image as it is."""
    from matplotlib.colors import LinearSegmentedColormap

    pos, neg, unsigned = (tuple(np.array(c) / 255) for c in (POSITIVE, NEGATIVE, UNSIGNED))
    if signed:
        stops = [(0.0, (*neg, 1.0)), (0.5, (*neg, 0.0)), (0.5, (*pos, 0.0)), (1.0, (*pos, 1.0))]
        return LinearSegmentedColormap.from_list("tx-signed", stops)
    return LinearSegmentedColormap.from_list("tx-unsigned", [(*unsigned, 0.0), (*unsigned, 1.0)])


def overlay_figure(
    image: np.ndarray,
    patch_scores: np.ndarray,
    *,
    signed: bool = True,
    alpha: float = 0.5,
    title: str | None = None,
    mode: str = "nearest",
    peak: float | None = None,
):
    """The image with its patch scores on top and a colour bar: signed limits ±peak (symmetric, the largest
    |score| unless given), unsigned 0 … peak; `alpha` is the overlay's opacity at the peak."""
    plt = pyplot()
    image = _image(image)
    if not 0 <= alpha <= 1:
        raise InputError(f"alpha must lie in 0 … 1, got {alpha}")
    values = upsample(patch_scores, image.shape[:2], mode)
    if not np.isfinite(values).all():
        raise InputError("patch scores must be finite")
    top = float(peak) if peak is not None else float(np.max(np.abs(values)))
    top = top if top > 0 else 1.0
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    ax.imshow(image, interpolation="nearest")
    limits = (-top, top) if signed else (0.0, top)
    layer = ax.imshow(values, cmap=colour_map(signed), vmin=limits[0], vmax=limits[1], alpha=alpha)
    ax.set_xticks([])
    ax.set_yticks([])
    bar = fig.colorbar(layer, ax=ax, shrink=0.85)
    bar.set_label("relevance" if signed else "score", fontsize=8)
    if title:
        ax.set_title(plain_text(title), fontsize=9)
    fig.tight_layout()
    return fig


def save_overlay(path: str | Path, image: np.ndarray, patch_scores: np.ndarray, **options) -> Path:
    """Write `overlay_figure(image, patch_scores, **options)` to `path`, PNG or SVG by its suffix, atomically."""
    from trexplain.io import atomic_file

    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: unknown figure format {path.suffix!r}; use .png or .svg")
    fig = overlay_figure(image, patch_scores, **options)
    try:
        with atomic_file(path, "wb", what="the overlay") as handle:
            fig.savefig(handle, format=fmt, dpi=150)
    finally:
        pyplot().close(fig)
    return path


def overlay(explanation: Any, target: int | str | None = None, **options: Any) -> Overlay:
    """The `Overlay` of an image explanation for one of its classes (default: the first explained, normally the
    predicted one): its input image, its patch grid, signed or not as its method is, titled method → class."""
    from trexplain.layout import ImageLayout
    from trexplain.models.images import decode_data_url

    layout = explanation.layout
    if not isinstance(layout, ImageLayout):
        raise InputError(f"an overlay draws image explanations; this {explanation.method} one is of a {layout.kind}")
    targets = list(explanation.targets)
    wanted = targets[0] if target is None else target
    if isinstance(wanted, str):
        wanted = explanation.labels.index(wanted) if wanted in explanation.labels else wanted
    if wanted not in targets:
        names = ", ".join(explanation.labels[t] for t in targets)
        raise InputError(f"class {target!r} was not explained here; this explanation has {names}")
    k = targets.index(wanted)
    options.setdefault("signed", explanation.card.signed)
    options.setdefault("title", f"{explanation.method} → {explanation.labels[wanted]}")
    return Overlay(decode_data_url(layout.image), layout.patch_grid(explanation.scores[k]), **options)


def write_overlays(payload: Mapping[str, Any], folder: str | Path, fmt: str = "png") -> list[Path]:
    """One overlay per image entry, method and explained class of a report dict into `folder` (created if
    missing, each file written whole): `imageNNN_<method>_<class>.<fmt>`, signed as the method is; returns them."""
    from trexplain.io import output_path
    from trexplain.models.images import decode_data_url

    if f".{fmt}" not in FORMATS:
        raise InputError(f"unknown figure format {fmt!r}; use png or svg")
    output_path(folder, folder=True)
    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    written = []
    for i, entry in enumerate(payload.get("texts") or []):
        if entry.get("layout") != "image":
            continue
        image = decode_data_url(entry["image"])
        grid = tuple(entry["grid"])
        for exp in entry["explanations"]:
            signed = method_card(payload, exp).get("signed", True) is not False
            for k, target in enumerate(exp["targets"]):
                scores = np.asarray(exp["scores"][k], dtype=np.float64)
                patches = scores[len(scores) - grid[0] * grid[1] :].reshape(grid)
                label = entry["labels"][target]
                path = folder / f"image{i:03d}_{safe_name(exp['method'])}_{safe_name(label)}.{fmt}"
                written.append(save_overlay(path, image, patches, signed=signed, title=f"{exp['method']} → {label}"))
    return written


class Overlay:
    """An overlay that a notebook displays as a PNG (`_repr_png_`); `png()` gives the bytes, `save` a file."""

    def __init__(self, image: np.ndarray, patch_scores: np.ndarray, **options) -> None:
        self.image, self.patch_scores, self.options = _image(image), np.asarray(patch_scores), options

    def png(self, dpi: int = 110) -> bytes:
        fig = overlay_figure(self.image, self.patch_scores, **self.options)
        buffer = io.BytesIO()
        try:
            fig.savefig(buffer, format="png", dpi=dpi)
        finally:
            pyplot().close(fig)
        return buffer.getvalue()

    def _repr_png_(self) -> bytes:
        return self.png()

    def save(self, path: str | Path) -> Path:
        return save_overlay(path, self.image, self.patch_scores, **self.options)
