"""Attention, rollout and gradient-weighted rollout: hand-computed cases, identities and invariances."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from tests.tiny import FAMILIES, wordpiece_tokenizer
from trexplain import explain
from trexplain.errors import MethodError
from trexplain.methods import Targets, get_method
from trexplain.methods.attention import gradient_rollout, relevance_map, rollout_steps
from trexplain.models import ModelAdapter

TEXTS = ["I can't believe this just happened!", "What a terrible waste of time."]
METHODS = ("attention", "rollout", "grad-rollout")


def _double(adapter: ModelAdapter) -> ModelAdapter:
    return ModelAdapter(
        copy.deepcopy(adapter.model).double(), adapter.tokenizer, family=adapter.family, labels=adapter.labels, name="x"
    )


def _hf_attentions(adapter: ModelAdapter, text: str) -> tuple[torch.Tensor, list[np.ndarray]]:
    """Logits and per-layer attentions [H, T, T] straight from the Hugging Face model (no trexplain code)."""
    enc = adapter.tokenizer([text], return_tensors="pt")
    out = adapter.model(**enc, output_attentions=True)
    return out.logits, [a[0].detach().numpy() for a in out.attentions]


def test_rollout_equals_hand_computation_on_two_layers(tiny):
    adapter = _double(tiny["bert"])
    _, attentions = _hf_attentions(adapter, TEXTS[0])
    assert len(attentions) == 2
    first, second = (0.5 * (a.mean(0) + np.eye(a.shape[-1])) for a in attentions)
    expected = (second @ first)[0]
    batch = adapter.encode([TEXTS[0]])
    result = get_method("rollout").attribute(adapter, batch, Targets("all", adapter))
    for k in range(adapter.num_labels):
        np.testing.assert_allclose(result.scores[0, k].numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(result.layer_scores[0, 0, 0].numpy(), first[0], atol=1e-12)
    raw = get_method("attention").attribute(adapter, batch, Targets("predicted", adapter))
    np.testing.assert_allclose(raw.scores[0, 0].numpy(), attentions[-1].mean(0)[0], atol=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_rollout_rows_sum_to_one(tiny, family):
    adapter = tiny[family]
    batch = adapter.encode(TEXTS)
    result = get_method("rollout").attribute(adapter, batch, Targets("predicted", adapter))
    torch.testing.assert_close(result.scores.sum(-1), torch.ones(2, 1), atol=1e-5, rtol=0)
    attentions = adapter.forward(batch.inputs, output_attentions=True).attentions
    joint = rollout_steps([a.mean(1) for a in attentions])
    mask = batch.inputs.attention_mask.bool()
    rows = joint.sum(-1)[:, :, mask[1]]  # real query rows of every layer
    torch.testing.assert_close(rows[1], torch.ones_like(rows[1]), atol=1e-5, rtol=0)


def test_zero_gradients_give_identity():
    torch.manual_seed(0)
    attentions = [torch.softmax(torch.randn(2, 4, 5, 5), -1) for _ in range(3)]
    maps = [torch.stack([relevance_map(a, torch.zeros_like(a))] * 3, dim=1) for a in attentions]
    final, rows = gradient_rollout(maps)
    assert final.shape == (2, 3, 5, 5) and rows.shape == (2, 3, 3, 5)
    torch.testing.assert_close(final, torch.eye(5).expand_as(final), rtol=0, atol=0)
    torch.testing.assert_close(rows, torch.eye(5)[0].expand_as(rows), rtol=0, atol=0)


def test_relevance_map_clips_negative_products_then_rolls_out():
    attention = torch.full((1, 2, 2, 2), 0.5)
    gradient = torch.tensor([[[[-1.0, 2.0], [3.0, -4.0]], [[2.0, 2.0], [-2.0, 0.0]]]])
    weighted = relevance_map(attention, gradient)
    expected = torch.tensor([[0.5, 1.0], [0.75, 0.0]])
    torch.testing.assert_close(weighted[0], expected)
    final, _ = gradient_rollout([weighted[:, None], weighted[:, None]])
    first = torch.eye(2) + expected
    torch.testing.assert_close(final[0, 0], first + expected @ first)


def _chefer_reference(adapter: ModelAdapter, text: str, target: int) -> np.ndarray:
    """The ICCV 2021 loop as the paper's code writes it: retain_grad on each map, one backward."""
    enc = adapter.tokenizer([text], return_tensors="pt")
    out = adapter.model(**enc, output_attentions=True)
    for a in out.attentions:
        a.retain_grad()
    out.logits[0, target].backward()
    n = out.attentions[0].shape[-1]
    relevance = torch.eye(n, dtype=out.attentions[0].dtype)
    for a in out.attentions:
        cam = (a.grad[0] * a[0]).clamp(min=0).mean(0)
        relevance = relevance + cam @ relevance
    adapter.model.zero_grad(set_to_none=True)
    return relevance[0].detach().numpy()


@pytest.mark.parametrize("family", ["bert", "roberta", "distilbert"])
def test_grad_rollout_equals_reference_loop(tiny, family):
    adapter = _double(tiny[family])
    batch = adapter.encode(TEXTS)
    result = get_method("grad-rollout").attribute(adapter, batch, Targets("all", adapter))
    for row, text in enumerate(TEXTS):
        n = batch.lengths[row]
        for c in range(adapter.num_labels):
            expected = _chefer_reference(adapter, text, c)
            np.testing.assert_allclose(result.scores[row, c, :n].numpy(), expected, atol=1e-10)


def test_class_flip_changes_grad_rollout(demo):
    [e] = explain(["I love this, what a wonderful day!"], demo, "grad-rollout", target=["negative", "positive"])
    assert not np.allclose(e.scores[0], e.scores[1], atol=1e-4)
    [r] = explain(["I love this, what a wonderful day!"], demo, "rollout", target=["negative", "positive"])
    np.testing.assert_array_equal(r.scores[0], r.scores[1])


@pytest.mark.parametrize("family", ["bert", "roberta", "distilbert"])
@pytest.mark.parametrize("method", METHODS)
def test_padding_does_not_change_scores(tiny, family, method):
    adapter = tiny[family]
    short, long = "Nothing special.", "The movie was wonderful, the acting superb and the music lovely."
    together = explain([short, long], adapter, method, target="all")
    alone = explain([short], adapter, method, target="all")[0]
    np.testing.assert_allclose(together[0].scores, alone.scores, atol=1e-6)
    np.testing.assert_allclose(together[0].layer_scores, alone.layer_scores, atol=1e-6)


def test_layer_scores_end_with_the_scores(demo):
    for method in METHODS:
        [e] = explain(TEXTS[:1], demo, method, target="all")
        assert e.layer_scores.shape == (6, 3, len(e.tokens))
        np.testing.assert_allclose(e.layer_scores[-1], e.scores, atol=1e-6)


def test_model_without_attentions_is_a_clear_error():
    tokenizer = wordpiece_tokenizer()

    class Bag(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(len(tokenizer), 8)
            self.out = nn.Linear(8, 3)

        def forward(self, input_ids, attention_mask):
            return self.out(self.embedding(input_ids).mean(1))

    model = Bag()
    adapter = ModelAdapter.from_module(model, model.embedding, tokenizer, ["a", "b", "c"])
    with pytest.raises(MethodError, match="attention probabilities"):
        explain(["hello"], adapter, "rollout")
