"""The image modality: images cut into patches (the features), after the model's special tokens.

Encoding reads and preprocesses images (`models.images`) into `ImageInputs` with one `ImageLayout` each;
removal fills patches with the image's mean colour, a blurred copy or black (`models.images.filled`), every
distinct variant of every image run once, `batch_size` images at a time (a KernelSHAP design of thousands of
coalitions never holds all its images at once); path baselines are images too. Its evaluation adds the
positive and negative perturbation curves of Chefer et al. (CVPR 2021) and their areas to the table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa
import torch
from torch import Tensor

from trexplain.errors import ImageError, InputError, MethodError
from trexplain.layout import ImageLayout
from trexplain.models import images as img
from trexplain.models.batch import Batch, ModelInputs
from trexplain.models.modalities.base import Modality
from trexplain.models.modalities.text import tensor_baseline
from trexplain.models.pooled import Pooled

PERTURBATION_FRACTIONS: tuple[float, ...] = tuple(i / 10 for i in range(10))


@dataclass(frozen=True)
class ImageInputs(ModelInputs):
    """`ModelInputs` of images: `pixel_values` [B, 3, H, W] (normalised) and one id per token position (the
    position index; attention mask all ones, as a ViT sees every patch)."""

    pixel_values: Tensor | None = None

    def rows(self, index: Tensor | slice | list[int]) -> ImageInputs:
        return ImageInputs(
            self.input_ids[index],
            self.attention_mask[index],
            self.position_ids[index],
            None,
            self.pixel_values[index],
        )

    def with_pixels(self, pixel_values: Tensor) -> ImageInputs:
        """The same positions with other pixels (any number of rows: the ids of row 0 are repeated)."""
        n = pixel_values.shape[0]
        ids = self.input_ids[:1].expand(n, -1)
        return ImageInputs(
            ids, self.attention_mask[:1].expand(n, -1), self.position_ids[:1].expand(n, -1), None, pixel_values
        )


class ImageModality(Modality):
    """Images explained patch by patch (see the module doc). The adapter supplies the facts of its model:
    `preprocessing`, `image_size`, `grid`, `patch_size`, `special_tokens`, `max_length`, `dtype`."""

    kind: ClassVar[str] = "image"
    unit: ClassVar[str] = "images"
    strategies: ClassVar[tuple[str, ...]] = img.FILLS
    levels: ClassVar[tuple[str, ...]] = ("patch",)
    baselines: ClassVar[tuple[str, ...]] = ("black", "mean", "blur", "zero")
    curves: ClassVar[dict[str, tuple[str, Sequence[float]]]] = {
        "positive": ("top", PERTURBATION_FRACTIONS),
        "negative": ("bottom", PERTURBATION_FRACTIONS),
    }
    table_areas: ClassVar[dict[str, str]] = {
        "positive_auc": "positive",
        "negative_auc": "negative",
        "insertion_auc": "insertion",
        "deletion_auc": "morf",
    }
    arrow_columns: ClassVar[tuple[pa.Field, ...]] = (  # `ImageLayout.to_dict`: the image as a PNG data URL, …
        pa.field("source", pa.string()),
        pa.field("image_size", pa.list_(pa.int32(), 2)),
        pa.field("grid", pa.list_(pa.int32(), 2)),
        pa.field("patch_size", pa.list_(pa.int32(), 2)),
        pa.field("special_tokens", pa.list_(pa.string())),
        pa.field("special", pa.list_(pa.bool_())),
        pa.field(
            "preprocessing",
            pa.struct(
                [
                    ("resize", pa.list_(pa.int32(), 2)),
                    ("resample", pa.int32()),
                    ("crop", pa.list_(pa.int32(), 2)),
                    ("rescale", pa.float64()),
                    ("mean", pa.list_(pa.float64())),
                    ("std", pa.list_(pa.float64())),
                ]
            ),
        ),
        pa.field("image", pa.string()),
    )

    def settings(self, adapter: Any) -> dict[str, Any]:
        return {"preprocessing": adapter.preprocessing.to_dict()}

    # ------------------------------------------------------------------------------------------------- inputs
    def read(self, inputs: Any) -> list[Any]:
        return list(img.read_images(inputs))

    def encode(self, adapter: Any, inputs: Sequence[Any], *, truncate: bool = False) -> Batch:
        """Read and preprocess images (files, arrays, tensors, PIL) into pixels and one `ImageLayout` each.
        `truncate` is accepted for the protocol's sake: images are never cut."""
        pixels, layouts = [], []
        for raw in img.read_images(inputs):
            resized = img.resize(raw.pixels, adapter.preprocessing)
            if resized.shape[:2] != adapter.image_size:
                raise ImageError(
                    f"{raw.source} is {resized.shape[0]}×{resized.shape[1]} after preprocessing but {adapter.name} "
                    f"takes {adapter.image_size[0]}×{adapter.image_size[1]} images; resize it (or fix the folder's "
                    f"{img.PROCESSOR_FILE})"
                )
            pixels.append(img.normalise(resized, adapter.preprocessing, adapter.dtype))
            layouts.append(
                ImageLayout(
                    raw.source,
                    adapter.image_size,
                    adapter.grid,
                    adapter.patch_size,
                    adapter.special_tokens,
                    adapter.preprocessing,
                    img.data_url(resized),
                )
            )
        return _batch(adapter, torch.stack(pixels), layouts)

    def name(self, explanation: Any) -> str:
        """The image's source and a digest of its pixels, so two inputs called `image 0` in different calls
        stay apart."""
        layout = explanation.layout
        digest = hashlib.sha1(layout.image.encode("ascii")).hexdigest()[:8]
        return f"{layout.source} [{digest}]"

    def rebuild(self, adapter: Any, explanations: Sequence[Any]) -> tuple[Batch, list[int]]:
        """The images explained, from their layouts' stored (resized, uint8) images: the exact pixels the
        explanations saw, without preprocessing them again; another patch grid is refused."""
        names = [self.name(e) for e in explanations]
        firsts: dict[str, Any] = {}
        for name, e in zip(names, explanations, strict=True):
            firsts.setdefault(name, e.layout)
        pixels = []
        for layout in firsts.values():
            if not isinstance(layout, ImageLayout):
                raise InputError(f"{adapter.name} explains images; this explanation is of a {layout.kind} input")
            if (layout.grid, layout.patch_size, layout.special_tokens) != (
                adapter.grid,
                adapter.patch_size,
                adapter.special_tokens,
            ):
                raise InputError(
                    f"the explanation of {layout.source} has a {layout.grid[0]}×{layout.grid[1]} patch grid with "
                    f"{list(layout.special_tokens)}, but {adapter.name} has {adapter.grid[0]}×{adapter.grid[1]} with "
                    f"{list(adapter.special_tokens)}; evaluate it with the model that made it"
                )
            pixels.append(img.normalise(img.decode_data_url(layout.image), layout.preprocessing, adapter.dtype))
        row_of = {name: row for row, name in enumerate(firsts)}
        return _batch(adapter, torch.stack(pixels), list(firsts.values())), [row_of[n] for n in names]

    # ------------------------------------------------------------------------------------------------ removal
    def removal_logits(
        self, adapter: Any, batch: Batch, removed: Sequence[tuple[int, Tensor]], strategy: str, batch_size: int = 64
    ) -> Pooled:
        """Removed patches filled as `strategy` says; the distinct variants of all images run `batch_size` at a
        time, each chunk built only when it runs."""
        fill = self.strategy(strategy)
        if not removed:
            return Pooled([], [])
        uniques = [torch.unique(sets.bool().cpu(), dim=0, return_inverse=True) for _, sets in removed]
        owners = torch.cat([torch.full((len(u),), i, dtype=torch.long) for i, (u, _) in enumerate(uniques)])
        pool = torch.cat([u for u, _ in uniques])
        out = torch.empty(0, adapter.num_labels)
        for start in range(0, len(pool), batch_size):
            chunk = slice(start, start + batch_size)
            parts = [
                _filled(adapter, batch, removed[i][0], pool[chunk][owners[chunk] == i], fill)
                for i in owners[chunk].unique().tolist()  # owners ascend, so the parts keep the chunk's order
            ]
            inputs = batch.inputs.rows(slice(0, 1)).with_pixels(torch.cat(parts))
            values = adapter.logits(inputs, batch_size=batch_size)
            if start == 0:
                out = values.new_empty(len(pool), values.shape[1])
            out[chunk] = values
        logits, start = [], 0
        for unique, inverse in uniques:
            logits.append(out[start : start + len(unique)][inverse.to(out.device)])
            start += len(unique)
        return Pooled(logits, [len(u) for u, _ in uniques])

    def baseline_embeddings(self, adapter: Any, batch: Batch, baseline: Any) -> Tensor:
        """Embedding output of an image baseline: a black (default), mean-colour or blurred image, or a given image
        (a file, an array or an image tensor; made in pixel space, then normalised as the inputs), so the special
        tokens and position embeddings stay those of the input; `zero` zeroes the patch embeddings; a tensor of
        the embedding output's shape is used as given."""
        baseline = self.baselines[0] if baseline is None else baseline
        if isinstance(baseline, Tensor) and baseline.shape[-2:] == adapter.embed(batch.inputs).shape[-2:]:
            return tensor_baseline(adapter, batch, baseline)
        if isinstance(baseline, str):
            self.check_baseline_name(baseline)
            if baseline == "zero":
                return adapter.embed(batch.inputs) * (~batch.maskable).unsqueeze(-1)
        try:
            pixels = img.baseline_pixels(batch.inputs.pixel_values, baseline, adapter.preprocessing)
        except InputError as exc:
            raise MethodError(
                f"baseline {baseline!r} for images: {exc}; use {', '.join(self.baselines)}, an image file or an array"
            ) from exc
        return adapter.embed(batch.inputs.with_pixels(pixels))


def _filled(adapter: Any, batch: Batch, row: int, removed: Tensor, fill: str) -> Tensor:
    """Pixels [N, 3, H, W] of image `row` with, in each variant, the patches of the positions where `removed`
    [N, positions] is True replaced by `fill`; special tokens never move."""
    pixels = batch.inputs.pixel_values[row : row + 1]
    replacement = img.filled(pixels, fill, adapter.preprocessing)
    patches = removed[:, len(adapter.special_tokens) :].to(pixels.device)
    mask = img.patch_mask(patches, adapter.grid, adapter.patch_size, adapter.image_size)
    return torch.where(mask, replacement, pixels)


def _batch(adapter: Any, pixels: Tensor, layouts: list[ImageLayout]) -> Batch:
    """The batch of these pixels: special tokens first (fixed, feature -1), then one feature per patch."""
    n, t = len(layouts), adapter.max_length
    specials = len(adapter.special_tokens)
    positions = torch.arange(t).expand(n, -1).contiguous()
    special = torch.zeros(n, t, dtype=torch.bool)
    special[:, :specials] = True
    feature_ids = torch.cat(
        [torch.full((n, specials), -1, dtype=torch.long), torch.arange(t - specials).expand(n, -1)], 1
    )
    inputs = ImageInputs(positions, torch.ones(n, t, dtype=torch.long), positions, None, pixels).to(adapter.device)
    return Batch(inputs, layouts, special.to(adapter.device), feature_ids.to(adapter.device), [0] * n)


IMAGE = ImageModality()
