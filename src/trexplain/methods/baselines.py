"""Path baselines: the embedding output a path integral starts from (pad, mask, zero, a text, or a tensor).

Kept apart from the path engine so every path method builds its baseline the same way.
"""

from __future__ import annotations

import torch
from torch import Tensor

from trexplain.errors import InputError, MethodError
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch
from trexplain.models.vision import is_image_batch

BASELINES: tuple[str, ...] = ("pad", "mask", "zero")
IMAGE_BASELINES: tuple[str, ...] = ("black", "mean", "blur", "zero")
IMAGE_DEFAULT = "black"  # what the shared default `pad` means for an image


def image_baseline_name(baseline: str | Tensor) -> str:
    """The image baseline a path method's `baseline` parameter names: `pad` (the default) is black."""
    if isinstance(baseline, Tensor):
        return f"tensor{list(baseline.shape)}"
    return IMAGE_DEFAULT if baseline == "pad" else str(baseline)


def baseline_embeddings(adapter: ModelAdapter, batch: Batch, baseline: str | Tensor) -> Tensor:
    """Embedding output of the baseline: special tokens and padding kept, every other token replaced.

    `pad`/`mask` replace the token ids (positions and token types unchanged, so RoBERTa-family position
    embeddings never move); `zero` sets those tokens' embedding vectors to 0; any other string is a text
    whose tokens fill the replaceable positions in order (pad ids after it ends, cut where it is longer).
    A tensor is the baseline's embedding output itself, used as given except at padding.
    """
    inputs, movable = batch.inputs, batch.maskable
    if is_image_batch(batch):
        return _image_baseline(adapter, batch, baseline)
    if isinstance(baseline, Tensor):
        return _tensor_baseline(adapter, batch, baseline)
    if baseline == "zero":
        return adapter.embed(inputs) * (~movable).unsqueeze(-1)
    if baseline in ("pad", "mask"):
        replacement = adapter.pad_token_id if baseline == "pad" else adapter.mask_token_id
        if replacement is None:
            raise MethodError(f"the tokenizer of {adapter.name} has no mask token; use baseline='pad' or 'zero'")
        ids = torch.where(movable, torch.full_like(inputs.input_ids, int(replacement)), inputs.input_ids)
    else:
        tokens = adapter.tokenize(baseline, add_special_tokens=False)["input_ids"]
        if not tokens:
            raise MethodError(f"baseline text {baseline!r} has no tokens; use {', '.join(BASELINES)} or a real text")
        tokens = torch.tensor(tokens, device=inputs.input_ids.device)
        rank = movable.long().cumsum(1) - 1
        filled = torch.where(rank < len(tokens), tokens[rank.clamp(0, len(tokens) - 1)], adapter.pad_token_id)
        ids = torch.where(movable, filled, inputs.input_ids)
    return adapter.embed(inputs.with_ids(ids))


def _tensor_baseline(adapter: ModelAdapter, batch: Batch, baseline: Tensor) -> Tensor:
    """A user's embedding-output baseline, [T, d] (every text) or [B, T, d], checked against the batch."""
    real = adapter.embed(batch.inputs)
    if baseline.dim() == 2:
        baseline = baseline.unsqueeze(0).expand_as(real) if baseline.shape == real.shape[1:] else baseline
    if baseline.shape != real.shape:
        raise MethodError(
            f"baseline tensor of shape {tuple(baseline.shape)} does not fit these inputs: pass the embedding "
            f"output's shape {tuple(real.shape)} (or {tuple(real.shape[1:])} for every text), e.g. built from "
            "adapter.embed(adapter.encode(texts).inputs)"
        )
    padding = ~batch.inputs.attention_mask.bool().unsqueeze(-1)
    return torch.where(padding, real, baseline.to(real))


def _image_baseline(adapter: ModelAdapter, batch: Batch, baseline: str | Tensor) -> Tensor:
    """Embedding output of an image baseline: a black, mean-colour or blurred image, or a given image (a file,
    an array or an image tensor; made in pixel space, then normalised as the inputs), so the special tokens
    and position embeddings stay those of the input; `zero` zeroes the patch embeddings; a tensor of the
    embedding output's shape is used as given."""
    from trexplain.models import images

    if isinstance(baseline, Tensor) and baseline.shape[-2:] == adapter.embed(batch.inputs).shape[-2:]:
        return _tensor_baseline(adapter, batch, baseline)
    name = IMAGE_DEFAULT if isinstance(baseline, str) and baseline == "pad" else baseline
    if isinstance(name, str) and name == "zero":
        return adapter.embed(batch.inputs) * (~batch.maskable).unsqueeze(-1)
    if isinstance(name, str) and name == "mask":
        raise MethodError(f"images have no mask token; use baseline {', '.join(IMAGE_BASELINES)} or an image file")
    try:
        pixels = images.baseline_pixels(batch.inputs.pixel_values, name, adapter.preprocessing)
    except InputError as exc:
        raise MethodError(
            f"baseline {name!r} for images: {exc}; use {', '.join(IMAGE_BASELINES)}, an image file or an array"
        ) from exc
    return adapter.embed(batch.inputs.with_pixels(pixels))
