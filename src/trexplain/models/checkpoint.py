"""Reading a checkpoint folder safely, for every loader (text and image): the folder check (config, weights,
pickle only with opt-in), `from_pretrained` as every loader calls it, and the weight check afterwards.

Kept below `loading` and `vision` so both use the same checks without importing each other.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trexplain.errors import ModelLoadError
from trexplain.models.families import family_for, supported_model_types

SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")
# a vocabulary in any of these; tokenizer_config.json alone makes transformers build an empty tokenizer
TOKENIZER_VOCABULARIES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "sentencepiece.bpe.model",
    "spiece.model",
    "tokenizer.model",
)
SHOWN_NAMES = 3
OPT_IN = "pass allow_missing_weights=True to load it anyway with those weights random"


def one_line(exc: BaseException) -> str:
    """`Type: message` of an exception with its whitespace (newlines included) collapsed to single spaces."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def listed(keys: Sequence[str]) -> str:
    """A few of `keys` and how many there are, e.g. `a, b, c, … (38 in all)`."""
    keys = sorted(keys)
    shown = ", ".join(keys[:SHOWN_NAMES])
    return shown if len(keys) <= SHOWN_NAMES else f"{shown}, … ({len(keys)} in all)"


def from_pretrained(model_class: Any, path: Path, allow_pickle: bool, trust_remote_code: bool) -> tuple[nn.Module, Any]:
    """`model_class.from_pretrained(path)` as every loader needs it: float32, eager attention (sdpa returns no
    attention weights), local files only, safetensors unless `allow_pickle`; the loading info comes back for
    `check_weights`, and any failure is a `ModelLoadError`."""
    try:
        return model_class.from_pretrained(
            path,
            attn_implementation="eager",
            dtype=torch.float32,
            local_files_only=True,
            use_safetensors=None if allow_pickle else True,  # safetensors first; .bin only with opt-in
            trust_remote_code=trust_remote_code,
            ignore_mismatched_sizes=True,  # mismatches come back in `info`, named, instead of "see the report"
            output_loading_info=True,
        )
    except Exception as exc:  # transformers raises many types for a broken folder
        raise ModelLoadError(
            f"{path}: transformers could not load the model: {one_line(exc)}; fix the folder or re-save it "
            "with model.save_pretrained"
        ) from exc


ATTENTION_IMPLEMENTATIONS = ("eager", "sdpa")
"""eager returns the attention probabilities (attention methods need them); sdpa is the fused, memory-efficient kernel
(cp-lrp and attnlrp run on it, docs/long-inputs.md)."""


def check_attention(implementation: str) -> str:
    """`implementation` if it is one of `ATTENTION_IMPLEMENTATIONS`, else a `ModelLoadError` listing them."""
    if implementation not in ATTENTION_IMPLEMENTATIONS:
        raise ModelLoadError(
            f"attention {implementation!r} is unknown; choose one of {', '.join(ATTENTION_IMPLEMENTATIONS)}"
        )
    return implementation


def set_attention(model: nn.Module, implementation: str) -> None:
    """Switch a loaded model's attention to `implementation` (a `ModelLoadError` naming the fix when the value is
    unknown or the architecture refuses it, as transformers' Gemma2 refuses sdpa)."""
    check_attention(implementation)
    if getattr(model.config, "_attn_implementation", "eager") == implementation:
        return
    try:
        model.set_attn_implementation(implementation)
    except Exception as exc:  # transformers raises ValueError or ImportError, depending on the reason
        raise ModelLoadError(
            f"{type(model).__name__} cannot use {implementation} attention: {one_line(exc)}; "
            "use attn_implementation='eager'"
        ) from exc


def check_weights(path: Path, model: nn.Module, info: dict[str, Any], allow_missing: bool) -> None:
    """Missing, unexpected or mis-shaped checkpoint weights: a `ModelLoadError`, or a warning when allowed."""
    missing, unexpected = list(info.get("missing_keys", ())), list(info.get("unexpected_keys", ()))
    mismatched = sorted(info.get("mismatched_keys", ()))
    if not (missing or unexpected or mismatched):
        return
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing from the checkpoint ({listed(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} in the checkpoint that the model does not use ({listed(unexpected)})")
    if mismatched:
        shapes = [
            f"{key} {list(saved)} in the checkpoint vs {list(wanted)} from config.json"
            for key, saved, wanted in mismatched
        ]
        more = f", … ({len(shapes)} in all)" if len(shapes) > SHOWN_NAMES else ""
        problems.append(f"{len(mismatched)} of another shape ({', '.join(shapes[:SHOWN_NAMES])}{more})")
    problem = f"{path}: the weights do not fit {type(model).__name__}: {'; '.join(problems)}"
    if allow_missing:
        warnings.warn(f"{problem}; loaded anyway (allow_missing_weights=True): those weights are random", stacklevel=4)
        return
    prefix = getattr(model, "base_model_prefix", "") + "."
    if mismatched:
        fix = "Correct the sizes in config.json (hidden_size, vocab_size, num_labels, …) to those of the weights"
    elif missing and all(not key.startswith(prefix) for key in missing):
        fix = (
            "This looks like a base checkpoint without a trained classifier head: fine-tune it and save it with "
            "AutoModelForSequenceClassification.save_pretrained"
        )
    else:
        fix = "The weight names do not match the architecture in config.json: re-save the model with save_pretrained"
    raise ModelLoadError(f"{problem}. {fix}, or {OPT_IN}")


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load progress bars and reports (trexplain checks the load); restore the settings."""
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


def check_folder(path: Path, allow_pickle: bool, trust_remote_code: bool = False) -> None:
    """A `ModelLoadError` unless `path` is a model folder with a readable config that needs no remote code (unless
    allowed) and safetensors weights (pickle weights only with `allow_pickle`)."""
    if not path.exists():
        raise ModelLoadError(
            f"{path}: no such folder. Pass a local model folder, a Hugging Face model id (org/name[@revision]) or "
            "'demo' for the bundled model"
        )
    if not path.is_dir() or not (path / "config.json").is_file():
        raise ModelLoadError(
            f"{path}: not a model folder (config.json is missing); save one with model.save_pretrained"
        )
    try:
        config = json.loads((path / "config.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path / 'config.json'} is corrupt ({exc}); re-save the model") from exc
    if not isinstance(config, dict):
        raise ModelLoadError(f"{path / 'config.json'} is corrupt (not a JSON object); re-save the model")
    if config.get("auto_map") and not trust_remote_code:
        raise ModelLoadError(
            f"{path}: its config.json needs remote code ({', '.join(sorted(config['auto_map']))} in auto_map), "
            "which trexplain does not run; use a model whose architecture transformers ships"
        )
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


def load_pretrained(
    path: Path,
    *,
    allow_pickle: bool = False,
    allow_missing_weights: bool = False,
    trust_remote_code: bool = False,
) -> tuple[nn.Module, Any]:
    """The checked `*ForSequenceClassification` (float32, eval mode, eager attention) and tokenizer of `path`."""
    check_folder(path, allow_pickle, trust_remote_code)
    model_type = json.loads((path / "config.json").read_text()).get("model_type")
    if family_for(str(model_type or "")) is None:
        raise ModelLoadError(
            f"{path}: model type {model_type!r} is not supported; supported: "
            f"{', '.join(supported_model_types())}, or wrap a plain PyTorch classifier with ModelAdapter.from_module"
        )
    check_tokenizer_files(path)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    with quiet_transformers():
        model, info = from_pretrained(AutoModelForSequenceClassification, path, allow_pickle, trust_remote_code)
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=trust_remote_code)
        except Exception as exc:
            raise ModelLoadError(
                f"{path}: transformers could not load the tokenizer: {one_line(exc)}; save the model's tokenizer "
                "into the folder with tokenizer.save_pretrained"
            ) from exc
    check_weights(path, model, info, allow_missing_weights)
    check_vocabulary(path, model, tokenizer)
    return model.eval(), tokenizer


def check_tokenizer_files(path: Path) -> None:
    """Without a vocabulary file transformers builds a tokenizer of special tokens only; refuse that early."""
    if not any((path / name).is_file() for name in TOKENIZER_VOCABULARIES):
        raise ModelLoadError(
            f"{path}: no tokenizer files ({', '.join(TOKENIZER_VOCABULARIES)}), so every word would be unknown; "
            "save the model's tokenizer into the folder with tokenizer.save_pretrained"
        )


def check_vocabulary(path: Path, model: nn.Module, tokenizer: Any) -> None:
    """The tokenizer's ids must all be rows of the embedding matrix, and it must know more than special tokens."""
    rows = model.get_input_embeddings().num_embeddings
    size, top = len(tokenizer), max(tokenizer.get_vocab().values(), default=-1)
    if size > rows or top >= rows:
        raise ModelLoadError(
            f"{path}: the tokenizer has {size} tokens (ids up to {top}) but the embedding matrix has {rows} rows; "
            "the tokenizer belongs to another model: save the model's own tokenizer into the folder"
        )
    specials = len(set(tokenizer.all_special_ids))
    if size <= specials:
        raise ModelLoadError(
            f"{path}: the tokenizer knows only its {size} special tokens, so every word would be unknown; "
            "save the model's own tokenizer into the folder with tokenizer.save_pretrained"
        )
