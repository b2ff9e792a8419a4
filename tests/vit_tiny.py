"""Tiny random ViT and DeiT image classifiers saved to folders, and small random images, for the vision tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

LABELS = ("cat", "dog", "bird")


def tiny_config(kind: str = "vit", *, image_size: int = 16, patch_size: int = 4, hidden: int = 16, **extra):
    """A 2-block config of `kind` (vit or deit) with 3 labels, eager attention, no dropout."""
    from transformers import DeiTConfig, ViTConfig

    cls = ViTConfig if kind == "vit" else DeiTConfig
    return cls(
        image_size=image_size,
        patch_size=patch_size,
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        **extra,
    )


def tiny_model(architecture: str = "ViTForImageClassification", seed: int = 0, zero_biases: bool = False, **config):
    """A random model of `architecture` (weights seeded; biases and LayerNorm shifts zeroed if asked)."""
    import transformers

    kind = "deit" if architecture.startswith("DeiT") else "vit"
    torch.manual_seed(seed)
    model = getattr(transformers, architecture)(tiny_config(kind, **config)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") and zero_biases:
                p.zero_()
            elif "token" in name or "position" in name:
                p.normal_(0, 0.5)  # DeiT starts its tokens at zero; random ones make the test meaningful
    return model


def save_folder(
    path: Path, architecture: str = "ViTForImageClassification", processor: dict | None = None, **config
) -> Path:
    """A model folder (config.json, model.safetensors, preprocessor_config.json) of a tiny random model."""
    model = tiny_model(architecture, **config)
    model.save_pretrained(path)
    size = model.config.image_size
    processor = processor or {
        "do_resize": True,
        "size": {"height": size, "width": size},
        "resample": 2,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [0.5, 0.4, 0.3],
        "image_std": [0.2, 0.25, 0.3],
        "image_processor_type": "ViTImageProcessor",
    }
    (path / "preprocessor_config.json").write_text(json.dumps(processor))
    return path


def random_images(n: int = 2, size: tuple[int, int] = (20, 24), seed: int = 0) -> list[np.ndarray]:
    """`n` seeded random uint8 RGB images of `size` (H, W), smooth enough that patches differ."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        coarse = rng.integers(0, 256, size=(size[0] // 4 + 1, size[1] // 4 + 1, 3))
        image = np.repeat(np.repeat(coarse, 4, 0), 4, 1)[: size[0], : size[1]]
        out.append((image + rng.integers(-20, 21, size=image.shape)).clip(0, 255).astype(np.uint8))
    return out
