"""The bundled demo models: MiniLM-L6 fine-tuned on tweet sentiment ("demo"), and a small Qwen2 decoder trained on
the same tweets ("demo-decoder"), shipped whole inside the package.

`demo/` is an ordinary model folder (config, fp16 weights, tokenizer files) plus the demo tweet corpus and
its licence notice; `decoder_demo/` is an ordinary model folder loaded like any other (`DEMO_FOLDERS`). Loading
either needs nothing but trexplain's own dependencies. See `demo/MODEL_CARD.md` and `decoder_demo/MODEL_CARD.md`.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from trexplain.errors import ModelLoadError

LABELS = ("negative", "neutral", "positive")
DEMO_DIR = Path(__file__).resolve().parent / "demo"
DEMO_NAMES = ("demo", "")
DECODER_DEMO_DIR = Path(__file__).resolve().parent / "decoder_demo"
DEMO_FOLDERS = {"demo-decoder": DECODER_DEMO_DIR}
"""Bundled demos that load as ordinary model folders, by the name that selects them (`models.loading.locate`)."""
CARD_FILE = "MODEL_CARD.md"
CORPUS_FILE = "corpus.csv.gz"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
MODEL_FILES = ("config.json", "model.safetensors", *TOKENIZER_FILES)


def corpus_path() -> Path:
    """The packaged demo corpus: 4000 human-graded tweets (columns split, sentiment, confidence, text)."""
    path = DEMO_DIR / CORPUS_FILE
    if not path.is_file():
        raise ModelLoadError(f"the demo corpus {path} is missing; reinstall trexplain")
    return path


def build_demo_model() -> tuple[nn.Module, object]:
    """The demo `BertForSequenceClassification` (eval mode, eager attention) and its tokenizer, from `demo/`."""
    from trexplain.models.checkpoint import load_pretrained

    missing = [name for name in MODEL_FILES if not (DEMO_DIR / name).is_file()]
    if missing:
        raise ModelLoadError(
            f"the demo model files {', '.join(missing)} are missing from {DEMO_DIR}; reinstall trexplain"
        )
    return load_pretrained(DEMO_DIR)
