"""Where each scored position sits in the input, so nothing downstream needs to know the modality.

A layout says, for every position the model sees, whether it is a *feature* (something an attribution
scores and a perturbation may move: a word for text, a patch for images) and which one, or *fixed*
(special tokens). `TextLayout` holds tokens, character offsets and words; other modalities register
their own layout class under a `kind` (the ViT work adds `"image"`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

import numpy as np

from trexplain.errors import InputError

Aggregate = Literal["sum", "mean", "max"]
AGGREGATES: tuple[str, ...] = ("sum", "mean", "max")
PAIR_SEPARATOR = " ‖ "
"""Joins the two texts of a sentence pair into one `TextLayout.text` (no token covers it; views show it)."""


def pair_text(first: str, second: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """The shown text of a sentence pair and the character span of each segment in it."""
    start = len(first) + len(PAIR_SEPARATOR)
    return first + PAIR_SEPARATOR + second, ((0, len(first)), (start, start + len(second)))


class Layout(Protocol):
    """What every layout provides: positions, which are fixed, which feature each other one belongs to."""

    kind: ClassVar[str]

    @property
    def size(self) -> int:
        """Number of positions (tokens) the scores cover."""

    @property
    def special(self) -> tuple[bool, ...]:
        """True for fixed positions (special tokens), which no perturbation moves."""

    @property
    def feature_ids(self) -> tuple[int, ...]:
        """Feature index of every position, -1 for fixed ones."""

    @property
    def num_features(self) -> int: ...

    def feature_labels(self) -> list[str]:
        """A readable name per feature (a word's text, a patch's grid cell)."""

    def position_labels(self) -> list[str]:
        """A readable name per position (a token)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, including `"layout": kind`."""


LAYOUTS: dict[str, type] = {}


def register_layout(cls: type) -> type:
    """Class decorator: make a layout class readable back from JSON and Arrow by its `kind`."""
    LAYOUTS[cls.kind] = cls
    return cls


def layout_from_dict(data: Mapping[str, Any]) -> Layout:
    """The layout stored in a record (its `"layout"` kind; records without one are text)."""
    kind = data.get("layout", "text")
    if kind not in LAYOUTS:
        raise InputError(f"unknown layout {kind!r}; this trexplain reads {', '.join(sorted(LAYOUTS))}")
    return LAYOUTS[kind].from_dict(data)


def group_scores(
    values: np.ndarray, feature_ids: Sequence[int], count: int, aggregate: Aggregate = "sum"
) -> np.ndarray:
    """Per-feature sum (default: totals are kept), mean or max of position scores; the one roll-up of subwords
    to words (or positions to patches) used by every view and metric. `values` is [..., positions]."""
    if aggregate not in AGGREGATES:
        raise InputError(f"unknown aggregate {aggregate!r}; use one of {', '.join(AGGREGATES)}")
    values = np.asarray(values, dtype=np.float64)
    ids = np.asarray(feature_ids, dtype=np.int64)
    onehot = ids[None, :] == np.arange(count)[:, None]  # [features, positions]
    if aggregate == "sum":
        return values @ onehot.T.astype(np.float64)
    if aggregate == "mean":
        return (values @ onehot.T.astype(np.float64)) / np.maximum(onehot.sum(1), 1)
    masked = np.where(onehot, values[..., None, :], -np.inf)
    return np.where(onehot.any(1), masked.max(-1), 0.0)


@register_layout
@dataclass(frozen=True)
class TextLayout:
    """A text's tokens, their character `offsets`, the words they roll up to (`word_ids`, -1 for special
    tokens) and each word's character span. A sentence pair is one text, its two segments joined by
    `PAIR_SEPARATOR`, with `segments` the character span of each (empty for a single text). `segmenter` names
    how the words were found (`trexplain.models.words.segmenter_for`; empty in records that predate it)."""

    kind: ClassVar[str] = "text"
    FIELDS: ClassVar[tuple[str, ...]] = ("text", "tokens", "offsets", "word_ids", "words", "special")

    text: str
    tokens: tuple[str, ...]
    offsets: tuple[tuple[int, int], ...]
    word_ids: tuple[int, ...]
    words: tuple[tuple[int, int], ...]
    special: tuple[bool, ...]
    segments: tuple[tuple[int, int], ...] = ()
    segmenter: str = ""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.text, str):
            raise InputError(f"a text layout needs a string text, got {type(self.text).__name__}")
        set_(self, "tokens", tuple(str(t) for t in self.tokens))
        set_(self, "offsets", tuple((int(s), int(e)) for s, e in self.offsets))
        set_(self, "word_ids", tuple(int(w) for w in self.word_ids))
        set_(self, "words", tuple((int(s), int(e)) for s, e in self.words))
        set_(self, "special", tuple(bool(s) for s in self.special))
        set_(self, "segments", tuple((int(s), int(e)) for s, e in self.segments or ()))
        set_(self, "segmenter", str(self.segmenter or ""))
        if any(not 0 <= s <= e <= len(self.text) for s, e in self.segments):
            raise InputError(f"text layout: segments must be character spans within the text's {len(self.text)}")
        n = len(self.tokens)
        for name in ("offsets", "word_ids", "special"):
            if len(getattr(self, name)) != n:
                raise InputError(f"text layout: {len(getattr(self, name))} {name} for {n} tokens; give one per token")
        if any(w >= len(self.words) or w < -1 for w in self.word_ids):
            raise InputError(f"text layout: word_ids must lie in -1..{len(self.words) - 1}")

    @property
    def size(self) -> int:
        return len(self.tokens)

    @property
    def feature_ids(self) -> tuple[int, ...]:
        return self.word_ids

    @property
    def num_features(self) -> int:
        return len(self.words)

    def feature_labels(self) -> list[str]:
        return [self.text[s:e] for s, e in self.words]

    def position_labels(self) -> list[str]:
        return list(self.tokens)

    @property
    def source(self) -> str | tuple[str, ...]:
        """The input as given: the text, or the tuple of a pair's texts (what `ModelAdapter.encode` takes)."""
        return tuple(self.text[s:e] for s, e in self.segments) if self.segments else self.text

    def _segment_at(self, start: int, end: int) -> int:
        return next((i for i, (s, e) in enumerate(self.segments) if s <= start and end <= e and start < end), -1)

    def token_segments(self) -> list[int]:
        """The segment of every token (its word's; 0 for a single text's), -1 for special tokens."""
        words = self.word_segments()
        return [-1 if fixed or w < 0 else words[w] for w, fixed in zip(self.word_ids, self.special, strict=True)]

    def word_segments(self) -> list[int]:
        """The segment of every word (all 0 for a single text)."""
        return [self._segment_at(s, e) if self.segments else 0 for s, e in self.words]

    def to_dict(self) -> dict[str, Any]:
        extra = {"segments": [list(s) for s in self.segments]} if self.segments else {}
        if self.segmenter:
            extra["segmenter"] = self.segmenter
        return {
            "layout": self.kind,
            "text": self.text,
            "tokens": list(self.tokens),
            "offsets": [list(o) for o in self.offsets],
            "word_ids": list(self.word_ids),
            "words": [list(w) for w in self.words],
            "special": list(self.special),
            **extra,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TextLayout:
        missing = [name for name in cls.FIELDS if name not in data]
        if missing:
            raise InputError(f"a text record needs the fields {', '.join(missing)}; it has {', '.join(data) or 'none'}")
        fields = {name: data[name] for name in cls.FIELDS}
        return cls(**fields, segments=data.get("segments") or (), segmenter=data.get("segmenter") or "")


@dataclass(frozen=True)
class Preprocessing:
    """How an image became the model's pixels: resized to `size` (H, W; None = as given) with PIL filter
    `resample`, centre-cropped to `crop` (H, W; None = not), multiplied by `rescale` (None = not), then
    `(x − mean) / std` per channel (None = not)."""

    size: tuple[int, int] | None
    resample: int
    rescale: float | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    crop: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("size", "crop"):
            value = getattr(self, name)
            set_(self, name, None if value is None else (int(value[0]), int(value[1])))
        set_(self, "resample", int(self.resample))
        set_(self, "rescale", None if self.rescale is None else float(self.rescale))
        for name in ("mean", "std"):
            value = getattr(self, name)
            set_(self, name, None if value is None else tuple(float(v) for v in value))

    def to_dict(self) -> dict[str, Any]:
        return {
            "resize": None if self.size is None else list(self.size),
            "resample": self.resample,
            "crop": None if self.crop is None else list(self.crop),
            "rescale": self.rescale,
            "mean": None if self.mean is None else list(self.mean),
            "std": None if self.std is None else list(self.std),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessing:
        return cls(
            data.get("resize"),
            data.get("resample", 2),
            data.get("rescale"),
            data.get("mean"),
            data.get("std"),
            data.get("crop"),
        )


@register_layout
@dataclass(frozen=True)
class ImageLayout:
    """An image cut into a `grid` (rows, columns) of `patch_size` (h, w) patches of the `image_size` (H, W) input,
    after the model's special tokens (`special_tokens`, e.g. `("[CLS]",)` or `("[CLS]", "[DIST]")`).

    Positions are the special tokens first, then the patches row by row; every patch is one feature. `image` is
    the resized input before normalisation (uint8 RGB) as a PNG data URL, so views can draw the overlay;
    `source` names the input (a file name, or `image N`)."""

    kind: ClassVar[str] = "image"
    FIELDS: ClassVar[tuple[str, ...]] = ("source", "image_size", "grid", "patch_size", "special_tokens", "image")

    source: str
    image_size: tuple[int, int]
    grid: tuple[int, int]
    patch_size: tuple[int, int]
    special_tokens: tuple[str, ...]
    preprocessing: Preprocessing
    image: str = ""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("image_size", "grid", "patch_size"):
            value = tuple(int(v) for v in getattr(self, name))
            if len(value) != 2 or min(value) < 1:
                raise InputError(f"image layout: {name} must be two positive whole numbers, got {list(value)}")
            set_(self, name, value)
        set_(self, "source", str(self.source))
        set_(self, "special_tokens", tuple(str(t) for t in self.special_tokens))
        if not isinstance(self.preprocessing, Preprocessing):
            set_(self, "preprocessing", Preprocessing.from_dict(self.preprocessing))
        (gh, gw), (ph, pw), (h, w) = self.grid, self.patch_size, self.image_size
        if gh * ph > h or gw * pw > w:
            raise InputError(f"image layout: a {gh}×{gw} grid of {ph}×{pw} patches does not fit a {h}×{w} image")

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def size(self) -> int:
        return len(self.special_tokens) + self.num_patches

    @property
    def special(self) -> tuple[bool, ...]:
        return (True,) * len(self.special_tokens) + (False,) * self.num_patches

    @property
    def feature_ids(self) -> tuple[int, ...]:
        return (-1,) * len(self.special_tokens) + tuple(range(self.num_patches))

    @property
    def num_features(self) -> int:
        return self.num_patches

    def feature_labels(self) -> list[str]:
        """`patch (row, column)` of every patch, row by row."""
        return [f"patch ({r}, {c})" for r in range(self.grid[0]) for c in range(self.grid[1])]

    def position_labels(self) -> list[str]:
        return [*self.special_tokens, *self.feature_labels()]

    def patch_grid(self, position_scores: Any) -> np.ndarray:
        """Scores of the patch positions of one row [positions] as the [rows, columns] grid."""
        values = np.asarray(position_scores, dtype=np.float64)
        return values[..., len(self.special_tokens) :].reshape(*values.shape[:-1], *self.grid)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layout": self.kind,
            "source": self.source,
            "image_size": list(self.image_size),
            "grid": list(self.grid),
            "patch_size": list(self.patch_size),
            "special_tokens": list(self.special_tokens),
            "special": list(self.special),
            "preprocessing": self.preprocessing.to_dict(),
            "image": self.image,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImageLayout:
        missing = [name for name in (*cls.FIELDS, "preprocessing") if name not in data]
        if missing:
            raise InputError(
                f"an image record needs the fields {', '.join(missing)}; it has {', '.join(data) or 'none'}"
            )
        return cls(**{name: data[name] for name in (*cls.FIELDS, "preprocessing")})
