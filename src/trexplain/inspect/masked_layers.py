"""Per-layer masked-token predictions (exBERT): each layer's hidden state at the mask through a masked-LM head.

A masked-LM folder uses its own head on every layer. A classifier has no such head; the demo ships one per
layer, trained on its frozen encoder (`layer_heads.py`), so `load_masked_lm("demo")` works out of the box.
For other classifiers, corpus neighbours (`neighbours.py`) show what each layer represents.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from trexplain.errors import InputError, ModelLoadError
from trexplain.inspect.layer_heads import HEAD_FILE, LayerHeads
from trexplain.models.demo import DEMO_DIR, DEMO_NAMES

NEIGHBOURS_HINT = "see what each layer represents with `trexplain index demo --out IDX` + `trexplain neighbours`"


class NoMaskedLMHeadError(ModelLoadError):
    """The model has no masked-language-model head, so it cannot predict words at a masked position."""


def _head(model: nn.Module) -> Callable[[Tensor], Tensor]:
    """The masked-LM head of `model` as a function from hidden states to vocabulary logits."""
    if hasattr(model, "cls"):  # BERT
        return model.cls
    if hasattr(model, "lm_head"):  # RoBERTa, XLM-R, CamemBERT
        return model.lm_head
    if hasattr(model, "vocab_projector"):  # DistilBERT
        return lambda h: model.vocab_projector(model.vocab_layer_norm(model.activation(model.vocab_transform(h))))
    if hasattr(model, "generator_lm_head"):  # ELECTRA generator
        return lambda h: model.generator_lm_head(model.generator_predictions(h))
    raise NoMaskedLMHeadError(
        f"do not know where the masked-LM head of {type(model).__name__} lives; {NEIGHBOURS_HINT}"
    )


@dataclass(frozen=True)
class MaskedLM:
    """A model that returns hidden states, its tokenizer, and either its own masked-LM head or one head per layer."""

    model: nn.Module
    tokenizer: Any
    name: str
    layer_heads: LayerHeads | None = None

    @property
    def head(self) -> Callable[[Tensor], Tensor]:
        return _head(self.model)

    def vocabulary_logits(self, states: Tensor) -> Tensor:
        """Logits over the vocabulary for one hidden state per layer, `[L+1, D]` → `[L+1, V]`."""
        if self.layer_heads is not None:
            return self.layer_heads(states)
        return self.head(states)

    def predictable(self, token_id: int) -> bool:
        """Whether the head can predict `token_id` (the demo's heads choose among a fixed word list)."""
        return self.layer_heads is None or bool((self.layer_heads.vocabulary == token_id).any())


def load_demo_masked_lm() -> MaskedLM:
    """The demo classifier's frozen encoder with the per-layer masked-word heads shipped beside it."""
    from trexplain.models.demo import build_demo_model

    model, tokenizer = build_demo_model()
    embeddings = model.get_input_embeddings().weight
    heads = LayerHeads.load(DEMO_DIR / HEAD_FILE, embeddings)
    if heads.n_states != model.config.num_hidden_layers + 1:
        raise ModelLoadError(
            f"{DEMO_DIR / HEAD_FILE} has {heads.n_states} heads for a {model.config.num_hidden_layers}-layer model"
        )
    return MaskedLM(model, tokenizer, "demo", heads)


def load_masked_lm(source: str | Path) -> MaskedLM:
    """`demo` (its shipped per-layer heads), or `AutoModelForMaskedLM` from a local folder (safetensors only); a
    classifier folder is a typed error."""
    from trexplain.models.checkpoint import check_folder, quiet_transformers

    if str(source) in DEMO_NAMES:
        return load_demo_masked_lm()
    path = Path(source).expanduser()
    check_folder(path, allow_pickle=False)
    architectures = json.loads((path / "config.json").read_text()).get("architectures") or []
    if architectures and all("Classification" in a for a in architectures):
        raise NoMaskedLMHeadError(
            f"{path} is a classifier ({', '.join(architectures)}) without a masked-LM head; {NEIGHBOURS_HINT}"
        )
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    try:
        with quiet_transformers():  # no "Loading weights" bar on stderr
            model, info = AutoModelForMaskedLM.from_pretrained(
                path, attn_implementation="eager", local_files_only=True, use_safetensors=True, output_loading_info=True
            )
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except ValueError as exc:  # an architecture with no masked-LM class
        raise NoMaskedLMHeadError(f"{path}: this model type has no masked-LM head ({exc}); {NEIGHBOURS_HINT}") from exc
    except Exception as exc:  # transformers raises many types for a broken folder
        raise ModelLoadError(f"{path}: could not load the model or tokenizer ({type(exc).__name__}: {exc})") from exc
    if [k for k in info.get("missing_keys", ()) if not k.endswith("position_ids")]:
        raise NoMaskedLMHeadError(
            f"{path} has no trained masked-LM head (its weights are missing; it is probably a classifier); "
            f"{NEIGHBOURS_HINT}"
        )
    if tokenizer.mask_token is None:
        raise NoMaskedLMHeadError(f"{path}: the tokenizer has no mask token")
    return MaskedLM(model.eval(), tokenizer, path.name)


@dataclass(frozen=True)
class LayerPredictions:
    """Top-k words at the masked position for every layer (0 = embeddings, L = the model's output)."""

    text: str
    masked_text: str
    word: str | None
    position: int
    tokens: list[str]
    layers: list[dict[str, Any]]
    ranked_token: str | None = None
    rank_note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The predictions as JSON-ready data (`trexplain layers --json`)."""
        return {
            "text": self.text,
            "masked_text": self.masked_text,
            "word": self.word,
            "position": self.position,
            "tokens": self.tokens,
            "layers": self.layers,
            "ranked_token": self.ranked_token,
            "rank_note": self.rank_note,
        }


def find_word(text: str, word: str) -> re.Match[str]:
    """The first whole-word occurrence of `word` in `text` (exact case first, then any case)."""
    for flags in (0, re.IGNORECASE):
        match = re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, flags)
        if match:
            return match
    raise InputError(f"the word {word!r} does not occur in the text; pass a word of the text to --mask")


def mask_word(text: str, word: str | None, mask_token: str) -> str:
    """`text` with the first whole-word occurrence of `word` replaced by the mask token (kept if already masked)."""
    if word is None:
        if mask_token not in text:
            raise InputError(f"the text contains no {mask_token}; pass --mask WORD to choose the word to mask")
        return text
    match = find_word(text, word)
    return text[: match.start()] + mask_token + text[match.end() :]


def word_pieces(tokenizer: Any, text: str, word: str) -> list[int]:
    """The token ids `word` is in `text` (its pieces in context: a BPE word keeps its leading-space mark)."""
    match = find_word(text, word)
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        spans = zip(enc["input_ids"], enc["offset_mapping"], strict=True)
        inside = [i for i, (a, b) in spans if b > a and a < match.end() and b > match.start()]
        if inside:
            return inside
    return tokenizer(match.group(), add_special_tokens=False)["input_ids"]


def rank_target(lm: MaskedLM, text: str, word: str) -> tuple[int | None, str | None]:
    """The token id whose rank `layer_predictions` reports for the masked `word` (its first piece) and a note when
    the rank is partial (a word of several pieces) or missing (a token the head cannot predict: None)."""
    pieces = word_pieces(lm.tokenizer, text, word)
    if not pieces:
        return None, f"{word!r} has no tokens of its own, so it has no rank"
    first = lm.tokenizer.convert_ids_to_tokens([pieces[0]])[0]
    if not lm.predictable(pieces[0]):
        listed = len(lm.layer_heads.vocabulary) if lm.layer_heads is not None else 0
        return None, f"{first!r} is not among the {listed} words the {lm.name} heads predict, so it has no rank"
    if len(pieces) > 1:
        shown = " ".join(lm.tokenizer.convert_ids_to_tokens(pieces))
        return pieces[0], f"{word!r} is {len(pieces)} pieces ({shown}); one mask predicts one: the rank is of {first!r}"
    return pieces[0], None


@torch.no_grad()
def layer_predictions(lm: MaskedLM, text: str, word: str | None = None, k: int = 5) -> LayerPredictions:
    """Top-k predictions for the masked word at every layer, from one forward pass and one batched head call."""
    tokenizer = lm.tokenizer
    masked = mask_word(text, word, tokenizer.mask_token)
    enc = tokenizer([masked], return_tensors="pt", truncation=True)
    ids = enc["input_ids"][0]
    where = torch.nonzero(ids == tokenizer.mask_token_id).flatten()
    if len(where) == 0:
        raise InputError("the mask token was truncated away; shorten the text")
    position = int(where[0])
    device = next(lm.model.parameters()).device
    out = lm.model(**{key: v.to(device) for key, v in enc.items()}, output_hidden_states=True)
    states = torch.stack([h[0, position] for h in out.hidden_states])  # [L+1, D]
    probs = torch.softmax(lm.vocabulary_logits(states).float(), dim=-1)
    top = probs.topk(min(k, probs.shape[-1]), dim=-1)
    ranked, note = rank_target(lm, text, word) if word else (None, None)
    rank = (probs > probs[:, ranked].unsqueeze(1)).sum(1) + 1 if ranked is not None else None
    layers = []
    for layer in range(states.shape[0]):
        entry: dict[str, Any] = {
            "layer": layer,
            "tokens": tokenizer.convert_ids_to_tokens(top.indices[layer].tolist()),
            "probabilities": [round(float(p), 6) for p in top.values[layer]],
        }
        if word:  # the masked word's own rank among the predictions at this layer (1 = the top guess)
            entry["word_rank"] = None if rank is None else int(rank[layer])
            entry["word_probability"] = None if ranked is None else round(float(probs[layer, ranked]), 6)
        layers.append(entry)
    shown = None if ranked is None else tokenizer.convert_ids_to_tokens([ranked])[0]
    tokens = tokenizer.convert_ids_to_tokens(ids.tolist())
    return LayerPredictions(text, masked, word, position, tokens, layers, shown, note)
