"""Last-token pooling for decoder classifiers (`Family.pooling == "last"`): the head reads the rightmost position
whose attention mask is 1.

transformers' `*ForSequenceClassification` takes the rightmost token whose *id* is not the pad id. On an encoded
text the two agree (left or right padding alike), but a removal or perturbation that fills a real position with
the pad id (mask kept at 1) would move transformers' choice to an earlier token; reading the mask keeps the pooled
position where the text put it, whatever ids a method writes there, and needs no pad id in the config."""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from trexplain.errors import ModelLoadError
from trexplain.models.batch import ModelInputs


@dataclass
class PooledOutput:
    """What a decoder classifier's forward returns: the pooled logits and, when asked, attentions and hidden states."""

    logits: Tensor
    attentions: tuple[Tensor, ...] | None = None
    hidden_states: tuple[Tensor, ...] | None = None


def last_positions(attention_mask: Tensor) -> Tensor:
    """Index of the rightmost attention-mask-1 position of each row (0 for a row without one)."""
    positions = torch.arange(attention_mask.shape[-1], device=attention_mask.device)
    return (positions * (attention_mask != 0)).argmax(-1)


def last_token_forward(
    model: nn.Module, head: nn.Module, inputs: ModelInputs, pad_token_id: int, **flags: bool
) -> PooledOutput:
    """The base model (`model.base_model`) on `inputs`, then `head` on each row's last real token.

    A row with no real token (every word of a text without BOS removed) is read as the text made of one pad token at
    position 0, so its logits do not depend on what else is in the batch (causal attention sees nothing after it)."""
    ids, mask = inputs.input_ids, inputs.attention_mask
    empty = mask.sum(-1) == 0
    if empty.any():
        ids, mask = ids.clone(), mask.clone()
        ids[empty, 0], mask[empty, 0] = pad_token_id, 1
    out: Any = model.base_model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=inputs.position_ids,
        use_cache=False,
        **flags,
    )
    hidden = out.last_hidden_state
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    logits = head(hidden[rows, last_positions(mask).to(hidden.device)])
    return PooledOutput(logits, getattr(out, "attentions", None), getattr(out, "hidden_states", None))


def pad_description(tokenizer: Any, stand_in: bool) -> str:
    """What an explanation records as its `pad_token`: the token, its id, and whether it stands in for a missing one."""
    token, index = tokenizer.pad_token, tokenizer.pad_token_id
    if not stand_in:
        return f"{token!r} (id {index}), the tokenizer's own"
    return f"{token!r} (id {index}), standing in: the tokenizer has no pad token"


def with_pad_token(tokenizer: Any) -> Any:
    """`tokenizer` itself when it has a pad token; else a copy whose pad token is its EOS (or BOS, or UNK) token, so
    batches can be padded without adding a token to the vocabulary (the model is not resized; last-token pooling
    reads the attention mask, so the pad id never decides which token is classified). A warning names the choice."""
    if getattr(tokenizer, "pad_token", None) is not None:
        return tokenizer
    stand_in = next((t for t in ("eos_token", "bos_token", "unk_token") if getattr(tokenizer, t, None)), None)
    if stand_in is None:
        raise ModelLoadError(
            "the tokenizer has no pad, EOS, BOS or UNK token to pad batches with; set tokenizer.pad_token"
        )
    padded = copy.deepcopy(tokenizer)
    padded.pad_token = getattr(tokenizer, stand_in)
    warnings.warn(
        f"the tokenizer has no pad token; batches are padded with its {stand_in.removesuffix('_token').upper()} "
        f"token {padded.pad_token!r} (id {padded.pad_token_id}); the model is unchanged and the head reads the last "
        "token whose attention mask is 1",
        stacklevel=3,
    )
    return padded
