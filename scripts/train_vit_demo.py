"""Train the demo image model: a small `ViTForImageClassification` on scikit-learn's handwritten digits, offline.

Writes a complete model folder to `--out`: config.json, model.safetensors (float32), preprocessor_config.json
(ViTImageProcessor), README.md (the model card with held-out accuracy), NOTICE (the data's licence) and
samples/ (one held-out PNG per class and labels.json). The folder is built aside and swapped in whole.
The data, split and preprocessing come from `trexplain.models.digits`, shared with the test. Needs
scikit-learn and Pillow (`pip install -e ".[test]"`). Deterministic for a seed on CPU.
Run: `python scripts/train_vit_demo.py --out DIR` (about 2 minutes on one CPU core); replacing the shipped
model takes `--out src/trexplain/models/vit_demo`, spelled out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import ViTConfig, ViTForImageClassification

from trexplain.io import atomic_folder
from trexplain.models import digits

SAMPLES = "samples"
CONTENTS = ("config.json", "model.safetensors", "preprocessor_config.json", "README.md", "NOTICE", SAMPLES)
ARCH = {"hidden_size": 64, "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 128}
EPOCHS = 100
DROPOUT = 0.1  # hidden dropout in training
MAX_SHIFT = 3.0  # training augmentation: pixels of the input each way, …
MAX_ROTATION = 10.0  # … degrees each way, …
MAX_SCALE = 0.1  # … and relative scale; …
KEEP = 0.25  # … and the share of images left as they are


def config() -> ViTConfig:
    """The demo architecture: 32 × 32 RGB in, 8 × 8 patches (a 4 × 4 grid + CLS), eager attention, 10 digits."""
    cfg = ViTConfig(
        image_size=digits.IMAGE_SIZE,
        patch_size=digits.PATCH_SIZE,
        num_channels=3,
        hidden_dropout_prob=DROPOUT,
        attention_probs_dropout_prob=0.0,
        id2label=dict(enumerate(digits.LABELS)),
        label2id={label: i for i, label in enumerate(digits.LABELS)},
        **ARCH,
    )
    cfg._attn_implementation = "eager"
    return cfg


def preprocessor_config() -> dict:
    """`preprocessor_config.json` (ViTImageProcessor): resize to 32 × 32 (bilinear), rescale to 0 … 1, normalise."""
    return {
        "image_processor_type": "ViTImageProcessor",
        "do_resize": True,
        "size": {"height": digits.IMAGE_SIZE, "width": digits.IMAGE_SIZE},
        "resample": 2,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": list(digits.MEAN),
        "image_std": list(digits.STD),
    }


def shift(x: torch.Tensor, dy: int, dx: int, fill: float) -> torch.Tensor:
    """`x` [N, C, H, W] moved by (dy, dx) pixels, the uncovered border filled with `fill` (black)."""
    out = torch.full_like(x, fill)
    h, w = x.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        ..., max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random affine moves (shift up to MAX_SHIFT px, rotation up to MAX_ROTATION°, scale ± MAX_SCALE; black
    fill, bilinear) for all but a KEEP share of the images, then a random ink strength (0.6 … 1) per image."""
    n, size = len(x), x.shape[-1]
    u = torch.rand(n, 5, generator=generator) * 2 - 1
    angle, scale = u[:, 0] * math.radians(MAX_ROTATION), 1 + u[:, 1] * MAX_SCALE
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos, -sin, u[:, 2] * 2 * MAX_SHIFT / size], 1),
            torch.stack([sin, cos, u[:, 3] * 2 * MAX_SHIFT / size], 1),
        ],
        1,
    )
    keep = (u[:, 4] + 1) / 2 < KEEP
    theta[keep] = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    black = (0 - digits.MEAN[0]) / digits.STD[0]
    moved = F.grid_sample(x - black, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    moved[keep] = x[keep] - black
    strength = 0.6 + 0.4 * torch.rand(n, 1, 1, 1, generator=generator)
    return black + moved * strength


@torch.no_grad()
def predict(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """Predicted classes of uint8 RGB images [N, 32, 32, 3]."""
    x = torch.from_numpy(digits.normalise(images))
    return torch.cat([model(pixel_values=b).logits.argmax(-1) for b in x.split(256)]).numpy()


def train(args: argparse.Namespace, train_images: np.ndarray, train_labels: np.ndarray) -> ViTForImageClassification:
    """AdamW with warm-up and cosine decay, label smoothing; each image upsampled nearest or bilinear at random
    and moved (`augment`)."""
    torch.manual_seed(args.seed)
    model = ViTForImageClassification(config())
    nearest = torch.from_numpy(digits.normalise(digits.upsample(train_images, mode="nearest")))
    smooth = torch.from_numpy(digits.normalise(digits.upsample(train_images)))
    y = torch.from_numpy(train_labels)
    steps = args.epochs * math.ceil(len(y) / args.batch)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps)))
    )
    generator = torch.Generator().manual_seed(args.seed)
    model.train()
    step = 0
    for epoch in range(args.epochs):
        order = torch.randperm(len(y), generator=generator)
        total = 0.0
        for batch in order.split(args.batch):
            pick = torch.rand(len(batch), 1, 1, 1, generator=generator) < 0.5
            logits = model(pixel_values=augment(torch.where(pick, smooth[batch], nearest[batch]), generator)).logits
            loss = F.cross_entropy(logits, y[batch], label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(batch)
            step += 1
        if (epoch + 1) % 10 == 0 or epoch == 0:
            print(f"epoch {epoch + 1}/{args.epochs}: loss {total / len(y):.4f}", flush=True)
    return model.eval()


def evaluate(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray) -> dict:
    """Held-out accuracy: overall and per class on the shipped input form (bilinear), and on variants."""
    inputs = digits.upsample(images)
    pred = predict(model, inputs)
    moved = np.zeros_like(inputs)
    moved[:, 2:, 2:] = inputs[:, :-2, :-2]
    return {
        "accuracy": float((pred == labels).mean()),
        "per_class": {d: float((pred[labels == k] == k).mean()) for k, d in enumerate(digits.LABELS)},
        "count": {d: int((labels == k).sum()) for k, d in enumerate(digits.LABELS)},
        "nearest": float((predict(model, digits.upsample(images, mode="nearest")) == labels).mean()),
        "shifted": float((predict(model, moved) == labels).mean()),
        "predicted": pred,
    }


def write_samples(folder: Path, images: np.ndarray, labels: np.ndarray, test: np.ndarray, pred: np.ndarray) -> dict:
    """One held-out PNG per class (the first of its class the model gets right), as 32 × 32 RGB, and labels.json."""
    from PIL import Image

    folder.mkdir()
    chosen = {}
    for k, label in enumerate(digits.LABELS):
        row = int(np.flatnonzero((labels == k) & (pred == k))[0])
        name = f"digit-{label}.png"
        Image.fromarray(digits.upsample(images[row : row + 1])[0]).save(folder / name, optimize=True)
        chosen[name] = {"label": label, "dataset_index": int(test[row])}
    (folder / "labels.json").write_text(json.dumps({n: c["label"] for n, c in chosen.items()}, indent=1) + "\n")
    return chosen


NOTICE = """Third-party material in this folder
===================================

The model in this folder was trained on, and samples/ holds images from, the "Optical Recognition of
Handwritten Digits" data set as shipped with scikit-learn (`sklearn.datasets.load_digits`, a copy of its test
part, 1797 images):

    E. Alpaydin and C. Kaynak. Optical Recognition of Handwritten Digits. UCI Machine Learning Repository, 1998.
    https://doi.org/10.24432/C50P49
    https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits

The UCI Machine Learning Repository distributes this data set under the Creative Commons Attribution 4.0
International licence (CC BY 4.0, https://creativecommons.org/licenses/by/4.0/). Changes made here: the 8 × 8
images (grey levels 0 … 16) were rescaled to 0 … 255 and enlarged to 32 × 32 RGB (bilinear) for samples/*.png,
and the model's weights were learned from them (see README.md).
"""


def model_card(args: argparse.Namespace, stats: dict, sizes: tuple[int, int], samples: dict, seconds: float) -> str:
    """README.md: data, split, architecture, training, held-out accuracy per class, input convention, limits."""
    rows = "\n".join(f"| {d} | {stats['count'][d]} | {100 * stats['per_class'][d]:.1f}% |" for d in digits.LABELS)
    sample_rows = "\n".join(f"| `{n}` | {c['label']} | {c['dataset_index']} |" for n, c in samples.items())
    arch = ", ".join(f"{k} {v}" for k, v in ARCH.items())
    return f"""# vit-demo: a tiny Vision Transformer for handwritten digits

The demo image model of trexplain (`--model vit-demo`): a Hugging Face `ViTForImageClassification` trained from
scratch, offline, on scikit-learn's handwritten digits. It is small enough to ship inside the package and to
explain with every method in seconds; it is a teaching and testing model, not a digit recogniser for real use.

## Data and split
- scikit-learn's `load_digits` (UCI Optical Recognition of Handwritten Digits, CC BY 4.0, see NOTICE): 1797
  images of 8 × 8 pixels, 17 grey levels (0 … 16), 10 classes.
- A fixed stratified split, `trexplain.models.digits.split` (scikit-learn `train_test_split`,
  test_size {digits.TEST_FRACTION}, random_state {digits.SEED}): {sizes[0]} training images, {sizes[1]} held out.
  The held-out images were never used for training or for choosing the recipe below.

## Input convention: white ink on black
Each grey level v becomes round(v · 255 / 16), and the 8 × 8 image is enlarged to 32 × 32 RGB (R = G = B) by
bilinear interpolation (`trexplain.models.digits.upsample`): **a light digit on a black background**, centred and
filling most of the frame, as in `samples/`. Your own PNG must look the same: invert a dark-on-white drawing
first (e.g. `PIL.ImageOps.invert`) and crop it to the digit with a small margin; any size works (the image
processor resizes it to 32 × 32, bilinear, scales to 0 … 1 and normalises with mean 0.5, std 0.5 per channel:
`preprocessor_config.json`). An 8 × 8 PNG of a `load_digits` image becomes (within one grey level) the
model's training input. With 8 × 8 patches the 4 × 4 patch grid covers 2 × 2 source pixels per patch.

## Architecture
ViT, image 32 × 32 × 3, patch 8 × 8 (16 patches + CLS = 17 tokens), {arch}, GELU, eager attention,
float32, {stats["parameters"]:,} parameters.

## Training
`scripts/train_vit_demo.py --seed {args.seed} --epochs {args.epochs} --batch {args.batch} --lr {args.lr}`
(torch {torch.__version__}, one CPU thread, deterministic, {seconds:.0f} s on a shared machine): AdamW (weight
decay 0.05), linear warm-up then cosine decay, cross-entropy with label smoothing 0.1, hidden dropout {DROPOUT:g}.
Each training image is upsampled bilinear or nearest (blocks) at random; {100 * (1 - KEEP):.0f}% of them get a
random affine move (shift up to {MAX_SHIFT:g} px, rotation up to {MAX_ROTATION:g}°, scale ± {100 * MAX_SCALE:g}%,
black fill); every image's ink is scaled by 0.6 … 1. Architecture and recipe were chosen on a validation split of
the training images (`split(train labels, seed=1)`), never on the held-out images.

## Held-out accuracy
**{100 * stats["accuracy"]:.2f}%** on the {sizes[1]} held-out digits in the shipped input form (bilinear).
Variants: nearest (blocky) upsampling {100 * stats["nearest"]:.2f}%; moved 2 pixels right and down
{100 * stats["shifted"]:.2f}%.

| class | held out | accuracy |
|---|---|---|
{rows}

## Samples
`samples/` holds one held-out image per class (the first of its class in the split that the model classifies
correctly, so they are not a random draw) and `labels.json` (file → label).

| file | label | `load_digits` index |
|---|---|---|
{sample_rows}

## Limitations
- The source images are 8 × 8: upsampled, they are blurry; fine strokes, thin lines and photographs are out of
  distribution, and a 4 × 4 patch grid makes coarse relevance maps (each patch is 2 × 2 source pixels).
- Digits drawn dark on white, uncentred, rotated by more than about 10° or much smaller than the frame will be
  misread.
- 43 writers (1990s NIST forms) wrote the original digits; other handwriting styles are not represented.
- Trained from scratch on {sizes[0]} images: the model is a small-data ViT whose attention and relevance maps are
  meant for demonstrating and testing explanation methods, not for claims about large ViTs.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the model folder to write (swapped in whole)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    began = time.perf_counter()
    images, labels = digits.load_digits_data()
    train_idx, test_idx = digits.split(labels)
    model = train(args, images[train_idx], labels[train_idx])
    seconds = time.perf_counter() - began
    stats = evaluate(model, images[test_idx], labels[test_idx])
    stats["parameters"] = sum(p.numel() for p in model.parameters())
    variants = f"nearest {stats['nearest']:.4f}, shifted {stats['shifted']:.4f}"
    print(f"held-out accuracy {stats['accuracy']:.4f} ({variants})")
    with atomic_folder(args.out, contents=CONTENTS, what="the model folder") as built:
        model.save_pretrained(built, safe_serialization=True)
        (built / "preprocessor_config.json").write_text(json.dumps(preprocessor_config(), indent=2) + "\n")
        samples = write_samples(built / SAMPLES, images[test_idx], labels[test_idx], test_idx, stats["predicted"])
        card = model_card(args, stats, (len(train_idx), len(test_idx)), samples, seconds)
        (built / "README.md").write_text(card, encoding="utf-8")
        (built / "NOTICE").write_text(NOTICE, encoding="utf-8")
        extra = sorted(p.name for p in built.iterdir() if p.name not in CONTENTS)  # e.g. generation_config.json
        for name in extra:
            (built / name).unlink()
    digest = hashlib.sha256((args.out / "model.safetensors").read_bytes()).hexdigest()[:16]
    print(f"wrote {args.out} (model.safetensors sha256 {digest}…)")


if __name__ == "__main__":
    main()
