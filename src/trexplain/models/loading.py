"""Load a classifier from a local folder or the bundled demo: safetensors first, no remote code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from trexplain.errors import ModelLoadError
from trexplain.models.adapter import ModelAdapter
from trexplain.models.demo import DEMO_DIR, DEMO_NAMES, LABELS, build_demo_model
from trexplain.models.families import family_for, supported_model_types

SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")


def load_model(
    source: str | Path | None = None,
    *,
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
    device: str | torch.device = "cpu",
) -> ModelAdapter:
    """A `ModelAdapter` for `source`: None or "demo" for the bundled model, else a local folder.

    Pickle weights (`pytorch_model.bin`) can execute code when loaded, so they are refused unless
    `allow_pickle=True`. `trust_remote_code` stays off unless you pass it.
    """
    if source is None or str(source) in DEMO_NAMES:
        model, tokenizer = build_demo_model()
        card = (DEMO_DIR / "MODEL_CARD.md").read_text() if (DEMO_DIR / "MODEL_CARD.md").is_file() else None
        return ModelAdapter(
            model.to(device), tokenizer, family=family_for("bert"), labels=LABELS, name="demo", card=card
        )
    path = Path(source).expanduser()
    _check_folder(path, allow_pickle)
    config = json.loads((path / "config.json").read_text())
    family = family_for(str(config.get("model_type", "")))
    if family is None:
        raise ModelLoadError(
            f"{path}: model type {config.get('model_type')!r} is not supported; supported: "
            f"{', '.join(supported_model_types())}, or wrap a plain PyTorch classifier with ModelAdapter.from_module"
        )
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        with _quiet_transformers():
            model = AutoModelForSequenceClassification.from_pretrained(
                path,
                attn_implementation="eager",
                local_files_only=True,
                use_safetensors=None if allow_pickle else True,  # safetensors first; .bin only with opt-in
                trust_remote_code=trust_remote_code,
            )
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=trust_remote_code)
    except Exception as exc:  # transformers raises many types for a broken folder
        raise ModelLoadError(f"{path}: could not load the model or tokenizer ({type(exc).__name__}: {exc})") from exc
    id2label = getattr(model.config, "id2label", None) or {}
    labels = [str(id2label.get(i, f"LABEL_{i}")) for i in range(model.config.num_labels)]
    card_file = path / "README.md"
    card = card_file.read_text(errors="replace") if card_file.is_file() else None
    return ModelAdapter(
        model.to(device), tokenizer, family=family, labels=labels, name=path.name or str(path), card=card
    )


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' load progress bars and reports while loading; restore the user's settings."""
    from transformers.utils import logging

    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def _check_folder(path: Path, allow_pickle: bool) -> None:
    if not path.exists():
        raise ModelLoadError(
            f"{path}: no such folder. Pass a local model folder (no model hub is used) or 'demo' for the bundled model"
        )
    if not path.is_dir() or not (path / "config.json").is_file():
        raise ModelLoadError(
            f"{path}: not a model folder (config.json is missing); save one with model.save_pretrained"
        )
    try:
        json.loads((path / "config.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path / 'config.json'} is corrupt ({exc}); re-save the model") from exc
    if any((path / name).is_file() for name in SAFE_WEIGHTS):
        return
    if any((path / name).is_file() for name in PICKLE_WEIGHTS):
        if allow_pickle:
            return
        raise ModelLoadError(
            f"{path}: only pickle weights (pytorch_model.bin), which can run code when loaded. Convert them to "
            "safetensors, or pass allow_pickle=True (CLI: --allow-pickle) if you trust their source"
        )
    raise ModelLoadError(f"{path}: no weights found (model.safetensors or pytorch_model.bin)")
