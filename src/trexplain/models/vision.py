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
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from trexplain.errors import InputError, ModelLoadError
from trexplain.layout import Preprocessing
from trexplain.models import images as img
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch, ModelInputs
from trexplain.models.checkpoint import check_folder, check_weights, from_pretrained, quiet_transformers
from trexplain.models.families import CUSTOM, Family
from trexplain.models.heads import SINGLE_LABEL, check_problem, problem_of
from trexplain.models.modalities import IMAGE, ImageInputs, Modality

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


class VisionAdapter(ModelAdapter):
    """An image classifier with its preprocessing, patch grid and family map (see the module doc)."""

    modality: ClassVar[Modality] = IMAGE

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
        problem: str | None = None,
    ) -> None:
        self._bind(model, None, family, labels, name, card, embedding_module, layers, forward_fn)
        config = getattr(model, "config", None)
        self.problem = problem_of(config, len(self.labels)) if problem is None else check_problem(problem)
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
        problem: str = SINGLE_LABEL,
    ) -> VisionAdapter:
        """Wrap a plain PyTorch ViT.

        Protocol: `model(pixel_values)` returns logits [batch, classes] (or an object with `.logits`);
        `embedding` is the patch-embedding module whose output [batch, tokens, hidden] holds the special tokens
        (`special_tokens`, first) and then every patch row by row — attributions are computed against it;
        `layers` (optional) are the blocks per-layer methods read. Without `preprocessing`, ViT's defaults at
        `image_size` (rescale 1/255, mean and std 0.5). `problem`: what the outputs mean (`trexplain.models.heads`).
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
            problem=problem,
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
        head = "" if self.problem == SINGLE_LABEL else f", problem={self.problem}"
        return (
            f"VisionAdapter({self.name!r}, family={self.family.name}{head}, labels={list(self.labels)}, "
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
        """Refused: an image classifier has no tokenizer (an `InputError` naming what to pass instead)."""
        raise InputError(f"{self.name} is an image classifier: pass images, not texts")

    # ----------------------------------------------------------------- encode
    def encode(self, images: Sequence[Any], *, truncate: bool = False) -> Batch:  # type: ignore[override]
        """Read and preprocess images (files, arrays, tensors, PIL) into pixels and one `ImageLayout` each
        (`modality.encode`, `models.modalities.image`); images are never cut, whatever `truncate` says."""
        return self.modality.encode(self, images, truncate=truncate)

    def position_ids(self, attention_mask: Tensor) -> Tensor:
        """Positions 0..n-1 along each image's sequence of tokens, shaped like `attention_mask`."""
        positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
        return positions.expand_as(attention_mask).contiguous()

    def _run(self, inputs: ModelInputs, **flags: bool) -> Any:
        if not isinstance(inputs, ImageInputs):
            raise InputError(f"{self.name} is an image classifier: encode images with adapter.encode(images)")
        if self._forward_fn is not None:
            return self._forward_fn(self.model, inputs, **flags)
        return self.model(pixel_values=inputs.pixel_values, **{k: v for k, v in flags.items() if v})


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
    if path == VIT_DEMO_DIR and not (path / "config.json").is_file():
        raise ModelLoadError(f"the demo image model is missing from {path}; reinstall trexplain")
    check_folder(path, allow_pickle, trust_remote_code)
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
    with quiet_transformers():
        model, info = from_pretrained(model_class, path, allow_pickle, trust_remote_code)
    check_weights(path, model, info, allow_missing_weights)
    preprocessing = img.read_preprocessing(path, _pair(model.config.image_size))
    card_file = next((path / n for n in ("README.md", "MODEL_CARD.md") if (path / n).is_file()), None)
    card = card_file.read_text(errors="replace") if card_file else None
    adapter = VisionAdapter.from_pretrained_model(
        model.to(device), preprocessing, name=name or path.name or str(path), card=card
    )
    return adapter
