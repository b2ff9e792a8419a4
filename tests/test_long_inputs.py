"""Long inputs: on models with fused attention (sdpa, transformers' default) the LRP attention rules run on the fused
kernel — the same scores as the eager rules, conservation and forwards kept, and no length × length tensor saved for
the backward — and IG's interpolated rows go through the model in chunks bounded by a token budget."""

from __future__ import annotations

import copy
import dataclasses
import warnings

import pytest
import torch
from transformers import AutoModelForSequenceClassification

import trexplain.methods.integrated as integrated
from tests.family_checks import relative_gap, zero_bias_double
from tests.test_decoders import TEXT, TEXTS, decoder_config, decoder_tokenizer
from tests.tiny import LABELS
from trexplain.methods import Targets, get_method
from trexplain.methods.lrp import attnlrp_rules, cp_lrp_rules
from trexplain.methods.lrp_rules import lrp_rules
from trexplain.models import ModelAdapter
from trexplain.models.families import family_for

FUSED = ("llama", "qwen2", "gpt2", "gemma3")
"""Families checked on sdpa: GQA (Llama, Qwen2 with q/k/v biases), GPT-2's Conv1D, Gemma3's sliding windows. Gemma2
has no sdpa in transformers (its soft-capping), so its rules stay eager, as its own attention."""


def sdpa_and_eager(family: str) -> tuple[ModelAdapter, ModelAdapter]:
    """Float64 zero-bias copies of one random decoder: with sdpa, and with eager attention whose softmax computes in
    float64 (sdpa's precision; the family's eager softmax is float32)."""
    tokenizer = decoder_tokenizer(family)
    torch.manual_seed(0)
    config = decoder_config(family, len(tokenizer))
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="sdpa").eval()
    entry = family_for(config.model_type)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GPT-2's pad stand-in
        fused = zero_bias_double(ModelAdapter(model, tokenizer, family=entry, labels=LABELS, name=family))
        eager_model = copy.deepcopy(fused.model)
        eager_model.set_attn_implementation("eager")
        entry = dataclasses.replace(entry, lrp=dataclasses.replace(entry.lrp, softmax_dtype=None))
        eager = ModelAdapter(eager_model, fused.tokenizer, family=entry, labels=LABELS, name=family)
    return fused, eager


@pytest.fixture(scope="module")
def pairs():
    return {family: sdpa_and_eager(family) for family in FUSED}


@pytest.mark.parametrize("family", FUSED)
@pytest.mark.parametrize("method", ["cp-lrp", "attnlrp"])
@pytest.mark.parametrize("texts", [[TEXT], TEXTS], ids=["causal", "padded"])
def test_fused_rules_give_the_eager_rules_scores(pairs, family, method, texts):
    fused, eager = pairs[family]
    assert fused.model.config._attn_implementation == "sdpa"
    batch = fused.encode(texts)
    got, expected = (get_method(method).attribute(a, batch, Targets("all", a)) for a in (fused, eager))
    torch.testing.assert_close(got.logits, expected.logits, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(got.scores, expected.scores, atol=1e-10, rtol=0)
    torch.testing.assert_close(got.layer_scores, expected.layer_scores, atol=1e-10, rtol=0)
    if method == "cp-lrp":
        assert relative_gap(got.scores, got.logits, got.targets).max() <= 1e-8


@pytest.mark.parametrize("family", FUSED)
@pytest.mark.parametrize("rules", [cp_lrp_rules, attnlrp_rules])
def test_rules_leave_the_fused_forward_bit_identical(pairs, family, rules):
    fused = pairs[family][0]
    for texts in ([TEXT], TEXTS):  # no mask (is_causal) and a padding mask
        batch = fused.encode(texts)
        embeddings = fused.embed(batch.inputs)
        before = fused.forward(batch.inputs, embeddings=embeddings).logits
        with lrp_rules(fused, rules()):
            during = fused.forward(batch.inputs, embeddings=embeddings).logits
        assert torch.equal(before, during)


def saved_shapes(adapter: ModelAdapter, rules: list) -> list[torch.Size]:
    """Shapes of every tensor autograd saves for the backward of the rules' forward on TEXT."""
    batch = adapter.encode([TEXT])
    embeddings = adapter.embed(batch.inputs).requires_grad_(True)
    shapes: list[torch.Size] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        shapes.append(t.shape)
        return t

    with lrp_rules(adapter, rules), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        adapter.forward(batch.inputs, embeddings=embeddings)
    return shapes


@pytest.mark.parametrize("rules", [cp_lrp_rules, attnlrp_rules])
def test_fused_rules_save_no_length_squared_tensor(pairs, rules):
    fused, eager = pairs["llama"]
    n = fused.encode([TEXT]).inputs.input_ids.shape[1]
    square = [s for s in saved_shapes(fused, rules()) if tuple(s[-2:]) == (n, n)]
    assert square == []
    assert len([s for s in saved_shapes(eager, rules()) if tuple(s[-2:]) == (n, n)]) >= len(eager.layers)


def test_ig_rows_per_forward_follow_the_token_budget(pairs, monkeypatch):
    adapter = pairs["llama"][1]
    batch = adapter.encode([TEXT])
    n = batch.inputs.input_ids.shape[1]
    rows: list[int] = []

    def count(_: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        rows.append(len(args[0] if args else kwargs["hidden_states"]))

    hook = adapter.layers[0].register_forward_pre_hook(count, with_kwargs=True)
    method = get_method("ig", steps=8, adaptive=False)
    try:
        reference = method.attribute(adapter, batch, Targets("all", adapter))
        for budget, bound in ((3 * n, 3), (n - 1, 1)):  # 3 rows per forward; 1 row when the text exceeds the budget
            rows.clear()
            monkeypatch.setattr(integrated, "TOKEN_BUDGET", budget)
            chunked = method.attribute(adapter, batch, Targets("all", adapter))
            assert max(rows[1:]) == bound and sum(rows[1:]) == 8  # rows[0]: input and baseline, no gradient
            torch.testing.assert_close(chunked.scores, reference.scores, atol=1e-12, rtol=0)
    finally:
        hook.remove()
