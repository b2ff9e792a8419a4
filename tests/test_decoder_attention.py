"""On decoders the attention methods, CA-LIG's context and concepts' `cls` rows read the token the head pools (the
last real token), not position 0: on a causal model position 0 attends only to itself and knows only itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.test_decoders import SHORT, TEXT, TEXTS, tiny_decoder
from trexplain.api import explain
from trexplain.methods.attention import rollout_steps


@pytest.fixture(scope="module")
def llama():
    return tiny_decoder("llama")


def own_attention(adapter, text):
    """Transformers' own attention probabilities of one unpadded text, and its last position."""
    encoded = adapter.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        out = adapter.model(**encoded, output_attentions=True)
    return [a[0].mean(0) for a in out.attentions], encoded["input_ids"].shape[1] - 1


def test_attention_is_the_last_real_tokens_row(llama):
    [e] = explain([TEXT], llama, "attention")
    maps, last = own_attention(llama, TEXT)
    np.testing.assert_allclose(e.scores[0], maps[-1][last].numpy(), atol=1e-6)
    assert np.ptp(e.scores[0][~np.array(e.special)]) > 1e-3  # position 0's row would be one-hot


def test_rollout_is_the_last_real_tokens_row(llama):
    [e] = explain([TEXT], llama, "rollout")
    maps, last = own_attention(llama, TEXT)
    expected = rollout_steps([m[None] for m in maps])[0, -1, last]
    np.testing.assert_allclose(e.scores[0], expected.numpy(), atol=1e-6)


@pytest.mark.parametrize("method", ["attention", "rollout", "grad-rollout"])
def test_a_batch_with_padding_gives_each_texts_own_scores(llama, method):
    """A short text padded to a long one's length reads its own last token, not the padded end."""
    batched = explain([SHORT, *TEXTS], llama, method, batch_size=3)
    for text, e in zip([SHORT, *TEXTS], batched, strict=True):
        [alone] = explain([text], llama, method)
        np.testing.assert_allclose(e.scores, alone.scores, atol=1e-6)


def test_concept_rows_of_a_decoder_are_its_last_real_tokens(llama):
    """Concepts' `cls` granularity reads the token the head reads: a short text padded in a batch gives the hidden
    state of its own last token (transformers' hidden_states[1] is block 0's output)."""
    from trexplain.concepts.activations import extract

    store = extract(llama, [SHORT, TEXT], site="block_output:0", granularity="cls", dtype="float32", batch_size=2)
    for row, text in enumerate([SHORT, TEXT]):
        encoded = llama.tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            hidden = llama.model(**encoded, output_hidden_states=True).hidden_states[1][0]
        np.testing.assert_allclose(np.asarray(store.activations[row]), hidden[-1].numpy(), atol=1e-5)
