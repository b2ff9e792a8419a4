"""`VisionAdapter`: Vision Transformer classifiers (Hugging Face ViT, DeiT, plain PyTorch) as an `Adapter`.

It is a `ModelAdapter` whose inputs are images: `encode` reads and preprocesses them (`models.images`) into
`ImageInputs` (the pixels, plus one position per token: special tokens first, then the patches row by row)
with an `ImageLayout` per image. Everything else — `embed`, `forward` with capture and replacement, attention
probabilities, eval-mode sessions, the lock, deep copies — is `ModelAdapter`'s, so every method runs on images
with the same meaning: "the input" is the embedding module's output (patch embeddings with the [CLS] (and
distillation) token and position embeddings added), and a patch's score is its token's share.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from trexplain.errors import ImageError, InputError, ModelLoadError
from trexplain.layout import ImageLayout, Preprocessing
from trexplain.models import images as img
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch, ModelInputs
from trexplain.models.families import CUSTOM, Family

VIT_DEMO_DIR = Path(__file__).resolve().parent / "vit_demo"
VIT_DEMO_NAMES = ("vit-demo",)
CLS, DIST = "[CLS]", "[DIST]"


@dataclass(frozen=True)
class VisionFamily:
    """One supported image classifier class: its family map and the special tokens its embeddings prepend."""

    family: Family
    special_tokens: tuple[str, ...]
    model_class: str


def _family(name: str, base: str, head_reads_first_token: bool) -> Family:
    feed_forward = "mlp" if head_reads_first_token else ""  # the teacher head also reads the distillation token
    return Family(name, (base,), f"{base}.embeddings", f"{base}.layers", "attention", False, False, feed_forward)


VISION_FAMILIES: dict[str, VisionFamily] = {
    "ViTForImageClassification": VisionFamily(_family("vit", "vit", True), (CLS,), "ViTForImageClassification"),
    "DeiTForImageClassification": VisionFamily(
        _family("deit", "deit", True), (CLS, DIST), "DeiTForImageClassification"
    ),
    "DeiTForImageClassificationWithTeacher": VisionFamily(
        _family("deit-distilled", "deit", False), (CLS, DIST), "DeiTForImageClassificationWithTeacher"
    ),
}
DEFAULT_CLASS = {"vit": "ViTForImageClassification", "deit": "DeiTForImageClassification"}
VISION_MODEL_TYPES = tuple(DEFAULT_CLASS)


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


def is_image_batch(batch: Batch) -> bool:
    """True when the batch holds images (its inputs carry pixels)."""
    return isinstance(batch.inputs, ImageInputs)


class VisionAdapter(ModelAdapter):
    """An image classifier with its preprocessing, patch grid and family map (see the module doc)."""

    def __init__(
        self,
        model: nn.Module,
        preprocessing: Preprocessing,
        *,
        family: Family,
        labels: Sequence[str],
        name: str,
        special_tokens: Sequence[str],
        patch_size: tuple[int, int],
        image_size: tuple[int, int],
        card: str | None = None,
        embedding_module: nn.Module | None = None,
        layers: Sequence[nn.Module] | None = None,
        forward_fn: Callable[..., Any] | None = None,
    ) -> None:
        self._bind(model, None, family, labels, name, card, embedding_module, layers, forward_fn)
        self.preprocessing = preprocessing
        self.special_tokens = tuple(special_tokens)
        self.patch_size = (int(patch_size[0]), int(patch_size[1]))
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.grid = (self.image_size[0] // self.patch_size[0], self.image_size[1] // self.patch_size[1])
        if min(self.grid) < 1:
            raise ModelLoadError(f"{name}: patches of {self.patch_size} do not fit images of {self.image_size}")
        self.max_length = len(self.special_tokens) + self.grid[0] * self.grid[1]

    @classmethod
    def from_module(  # type: ignore[override]
        cls,
        model: nn.Module,
        embedding: nn.Module,
        labels: Sequence[str],
        *,
        image_size: int | tuple[int, int],
        patch_size: int | tuple[int, int],
        special_tokens: Sequence[str] = (CLS,),
        preprocessing: Preprocessing | None = None,
        layers: Sequence[nn.Module] | None = None,
        name: str = "custom",
    ) -> VisionAdapter:
        """Wrap a plain PyTorch ViT.

        Protocol: `model(pixel_values)` returns logits [batch, classes] (or an object with `.logits`);
        `embedding` is the patch-embedding module whose output [batch, tokens, hidden] holds the special tokens
        (`special_tokens`, first) and then every patch row by row — attributions are computed against it;
        `layers` (optional) are the blocks per-layer methods read. Without `preprocessing`, ViT's defaults at
        `image_size` (rescale 1/255, mean and std 0.5).
        """

        def forward(m: nn.Module, inputs: ModelInputs, **_: Any) -> Any:
            return m(inputs.pixel_values)

        size = _pair(image_size)
        return cls(
            model,
            preprocessing or img.default_preprocessing(size),
            family=CUSTOM,
            labels=labels,
            name=name,
            special_tokens=special_tokens,
            patch_size=_pair(patch_size),
            image_size=size,
            embedding_module=embedding,
            layers=layers,
            forward_fn=forward,
        )

    @classmethod
    def from_pretrained_model(
        cls,
        model: nn.Module,
        preprocessing: Preprocessing | None = None,
        *,
        name: str | None = None,
        card: str | None = None,
    ) -> VisionAdapter:
        """Wrap a Hugging Face ViT/DeiT image classifier already in memory; sdpa attention is switched to eager
        (it returns no attention weights) with a warning."""
        kind = VISION_FAMILIES.get(type(model).__name__)
        if kind is None:
            raise ModelLoadError(
                f"{type(model).__name__} is not a supported image classifier; supported: "
                f"{', '.join(VISION_FAMILIES)}, or wrap a plain PyTorch ViT with VisionAdapter.from_module"
            )
        config = model.config
        if getattr(config, "_attn_implementation", "eager") != "eager":
            warnings.warn(
                f"switched {type(model).__name__} from {config._attn_implementation} to eager attention: "
                f"{config._attn_implementation} returns no attention weights, which attention methods need "
                "(the logits agree to float precision)",
                stacklevel=2,
            )
            model.set_attn_implementation("eager")
        size, patch = _pair(config.image_size), _pair(config.patch_size)
        if int(getattr(config, "num_channels", 3)) != 3:
            raise ModelLoadError(f"{type(model).__name__} takes {config.num_channels} channels; trexplain reads RGB")
        id2label = getattr(config, "id2label", None) or {}
        labels = [str(id2label.get(i, f"LABEL_{i}")) for i in range(config.num_labels)]
        return cls(
            model.eval(),
            preprocessing or img.default_preprocessing(size),
            family=kind.family,
            labels=labels,
            name=name or type(model).__name__,
            special_tokens=kind.special_tokens,
            patch_size=patch,
            image_size=size,
            card=card,
        )

    def __repr__(self) -> str:
        return (
            f"VisionAdapter({self.name!r}, family={self.family.name}, labels={list(self.labels)}, "
            f"layers={len(self.layers)}, image={self.image_size[0]}×{self.image_size[1]}, "
            f"grid={self.grid[0]}×{self.grid[1]}, device={self.device})"
        )

    # ------------------------------------------------------------------ facts
    @property
    def pad_token_id(self) -> int:
        return 0

    @property
    def mask_token_id(self) -> int | None:
        return None

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def tokenize(self, texts: Any, **kwargs: Any) -> Any:
        raise InputError(f"{self.name} is an image classifier: pass images, not texts")

    # ----------------------------------------------------------------- encode
    def encode(self, images: Sequence[Any], *, truncate: bool = False) -> Batch:  # type: ignore[override]
        """Read and preprocess images (files, arrays, tensors, PIL) into pixels and one `ImageLayout` each.
        `truncate` is accepted for the protocol's sake: images are never cut."""
        raws = img.read_images(images)
        pixels, layouts = [], []
        for raw in raws:
            resized = img.resize(raw.pixels, self.preprocessing)
            if resized.shape[:2] != self.image_size:
                raise ImageError(
                    f"{raw.source} is {resized.shape[0]}×{resized.shape[1]} after preprocessing but {self.name} takes "
                    f"{self.image_size[0]}×{self.image_size[1]} images; resize it (or fix the folder's "
                    f"{img.PROCESSOR_FILE})"
                )
            pixels.append(img.normalise(resized, self.preprocessing, self.dtype))
            layouts.append(
                ImageLayout(
                    raw.source,
                    self.image_size,
                    self.grid,
                    self.patch_size,
                    self.special_tokens,
                    self.preprocessing,
                    img.data_url(resized),
                )
            )
        return self._batch(torch.stack(pixels), layouts)

    def batch_of(self, layouts: Sequence[ImageLayout]) -> Batch:
        """The batch of images already explained, rebuilt from their layouts' stored (resized, uint8) images: the
        exact pixels the explanations saw, without preprocessing them again."""
        pixels = []
        for layout in layouts:
            if not isinstance(layout, ImageLayout):
                raise InputError(f"{self.name} explains images; this explanation is of a {layout.kind} input")
            if (layout.grid, layout.patch_size, layout.special_tokens) != (
                self.grid,
                self.patch_size,
                self.special_tokens,
            ):
                raise InputError(
                    f"the explanation of {layout.source} has a {layout.grid[0]}×{layout.grid[1]} patch grid with "
                    f"{list(layout.special_tokens)}, but {self.name} has {self.grid[0]}×{self.grid[1]} with "
                    f"{list(self.special_tokens)}; evaluate it with the model that made it"
                )
            pixels.append(img.normalise(img.decode_data_url(layout.image), layout.preprocessing, self.dtype))
        return self._batch(torch.stack(pixels), list(layouts))

    def _batch(self, pixels: Tensor, layouts: list[ImageLayout]) -> Batch:
        n, t = len(layouts), self.max_length
        specials = len(self.special_tokens)
        positions = torch.arange(t).expand(n, -1).contiguous()
        special = torch.zeros(n, t, dtype=torch.bool)
        special[:, :specials] = True
        feature_ids = torch.cat(
            [torch.full((n, specials), -1, dtype=torch.long), torch.arange(t - specials).expand(n, -1)], 1
        )
        inputs = ImageInputs(positions, torch.ones(n, t, dtype=torch.long), positions, None, pixels)
        device = self.device
        inputs = ImageInputs(*(None if v is None else v.to(device) for v in vars(inputs).values()))
        return Batch(inputs, layouts, special.to(device), feature_ids.to(device), [0] * n)

    def position_ids(self, attention_mask: Tensor) -> Tensor:
        positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
        return positions.expand_as(attention_mask).contiguous()

    def _run(self, inputs: ModelInputs, **flags: bool) -> Any:
        if not isinstance(inputs, ImageInputs):
            raise InputError(f"{self.name} is an image classifier: encode images with adapter.encode(images)")
        if self._forward_fn is not None:
            return self._forward_fn(self.model, inputs, **flags)
        return self.model(pixel_values=inputs.pixel_values, **{k: v for k, v in flags.items() if v})

    # ------------------------------------------------------------ perturbing
    def perturbed(self, batch: Batch, row: int, removed: Tensor, fill: str) -> ImageInputs:
        """Inputs of image `row` with, in each of N variants, the patches of the positions where `removed`
        [N, positions] is True replaced by `fill` (mean colour, blur or black); special tokens never move."""
        pixels = batch.inputs.pixel_values[row : row + 1]
        replacement = img.filled(pixels, fill, self.preprocessing)
        patches = removed[:, len(self.special_tokens) :].to(pixels.device)
        mask = img.patch_mask(patches, self.grid, self.patch_size, self.image_size)
        out = torch.where(mask, replacement, pixels)
        return batch.inputs.rows(slice(row, row + 1)).with_pixels(out)

    @torch.no_grad()
    def removal_logits(
        self, batch: Batch, row: int, removed: Tensor, fill: str, batch_size: int = 64
    ) -> tuple[Tensor, int]:
        """Logits [N, classes] of image `row` under each removal set of `removed` [N, positions] (see `perturbed`),
        and how many distinct sets ran: each distinct set once, `batch_size` perturbed images at a time (so a
        KernelSHAP design of thousands of coalitions never holds all its images at once)."""
        unique, inverse = torch.unique(removed.bool(), dim=0, return_inverse=True)
        parts = [
            self.logits(self.perturbed(batch, row, unique[start : start + batch_size], fill), batch_size=batch_size)
            for start in range(0, len(unique), batch_size)
        ]
        return torch.cat(parts)[inverse.to(parts[0].device)], len(unique)


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    a, b = value
    return (int(a), int(b))


# ---------------------------------------------------------------------------------------------------- loading
def vision_folder(source: str | Path | None) -> Path | None:
    """The folder of an image classifier named by `source` ("vit-demo", or a folder whose config.json is a
    ViT or DeiT), else None (a text model, or not a folder: `load_model` reports that)."""
    if source is None:
        return None
    if str(source) in VIT_DEMO_NAMES:
        return VIT_DEMO_DIR
    path = Path(source).expanduser()
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return path if isinstance(config, dict) and config.get("model_type") in VISION_MODEL_TYPES else None


def load_vision_model(
    path: Path,
    *,
    allow_pickle: bool = False,
    allow_missing_weights: bool = False,
    trust_remote_code: bool = False,
    device: str | torch.device = "cpu",
    name: str | None = None,
) -> VisionAdapter:
    """A `VisionAdapter` for a local ViT/DeiT folder: eager attention, float32, safetensors unless `allow_pickle`,
    every weight checked as for text models (`loading`), preprocessing from `preprocessor_config.json`."""
    from trexplain.models.loading import _check_folder, _check_weights, _quiet_transformers, from_pretrained

    if path == VIT_DEMO_DIR and not (path / "config.json").is_file():
        raise ModelLoadError(f"the demo image model is missing from {path}; reinstall trexplain")
    _check_folder(path, allow_pickle)
    config = json.loads((path / "config.json").read_text())
    architectures = config.get("architectures") or [DEFAULT_CLASS.get(str(config.get("model_type")), "")]
    kind = VISION_FAMILIES.get(str(architectures[0]))
    if kind is None:
        raise ModelLoadError(
            f"{path}: {architectures[0] or config.get('model_type')!r} is not a supported image classifier; "
            f"supported: {', '.join(VISION_FAMILIES)}"
        )
    import transformers

    model_class = getattr(transformers, kind.model_class)
    with _quiet_transformers():
        model, info = from_pretrained(model_class, path, allow_pickle, trust_remote_code)
    _check_weights(path, model, info, allow_missing_weights)
    preprocessing = img.read_preprocessing(path, _pair(model.config.image_size))
    card_file = next((path / n for n in ("README.md", "MODEL_CARD.md") if (path / n).is_file()), None)
    card = card_file.read_text(errors="replace") if card_file else None
    adapter = VisionAdapter.from_pretrained_model(
        model.to(device), preprocessing, name=name or path.name or str(path), card=card
    )
    return adapter
