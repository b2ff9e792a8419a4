"""DeBERTa-v2/v3, ModernBERT, ALBERT and MPNet: loading, word roll-up, shared-block capture, LRP identities,
captum equality and every method batched against one text at a time (random tiny configs, see tests/tiny.py)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from tests.family_checks import (
    assert_batched_equals_single,
    assert_cp_lrp_conserves,
    assert_gradients_equal_captum,
    assert_rules_keep_forward,
    relative_gap,
    zero_bias_double,
)
from tests.tiny import LABELS, MORE_FAMILIES, save_tiny
from trexplain import explain
from trexplain.errors import MethodError
from trexplain.evaluate.sanity import _cascade, model_randomization
from trexplain.methods import Targets, get_method
from trexplain.methods.lrp import attnlrp_rules, cp_lrp_rules, lrp_attribution
from trexplain.methods.lrp_attention import AttentionRule
from trexplain.methods.lrp_rules import IdentityRule, LayerNormRule, LinearRule
from trexplain.models import load_model
from trexplain.models.capture import every_block

TEXT = "I can't believe this just happened!"
WORDS = ["I", "can't", "believe", "this", "just", "happened", "!"]
TEXTS = [TEXT, "What a terrible waste of time."]
SHORT, LONG = "Nothing special.", "The movie was wonderful, the acting superb and the music lovely."


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    return {family: save_tiny(family, root / family) for family in MORE_FAMILIES}


@pytest.fixture(scope="module")
def more(dirs):
    return {family: load_model(path) for family, path in dirs.items()}


# ------------------------------------------------------------------------------------------ loading
@pytest.mark.parametrize("family", MORE_FAMILIES)
def test_eager_path_gives_the_default_paths_logits(dirs, more, family):
    from transformers import AutoModelForSequenceClassification

    adapter = more[family]
    assert adapter.family.name == family and adapter.labels == tuple(LABELS)
    default = AutoModelForSequenceClassification.from_pretrained(dirs[family]).eval()
    batch = adapter.encode([SHORT, LONG])
    kwargs = {"input_ids": batch.inputs.input_ids, "attention_mask": batch.inputs.attention_mask}
    with torch.no_grad():
        expected = default(**kwargs).logits
    torch.testing.assert_close(adapter.forward(batch.inputs).logits, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("family", MORE_FAMILIES)
def test_words_roll_up_for_sentencepiece_and_bpe(more, family):
    batch = more[family].encode([TEXT, "Unbelievable!!! Best  concert ever"])
    marker = "▁" if family in ("deberta-v2", "albert") else "Ġ"
    assert any(marker in token for token in batch.tokens[0])
    assert [TEXT[s:e] for s, e in batch.words[0]] == WORDS
    word_ids = batch.word_ids[0, : batch.lengths[0]]
    assert word_ids[0] == -1 and word_ids[-1] == -1
    assert set(word_ids[word_ids >= 0].tolist()) == set(range(len(WORDS)))
    assert [batch.texts[1][s:e] for s, e in batch.words[1]] == ["Unbelievable", "!!!", "Best", "concert", "ever"]


@pytest.mark.parametrize("family", MORE_FAMILIES)
def test_logits_only_and_embedding_override_keep_the_logits(more, family):
    adapter = more[family]
    batch = adapter.encode(TEXTS)
    full = adapter.forward(batch.inputs).logits
    torch.testing.assert_close(adapter.forward(batch.inputs, logits_only=True).logits, full, rtol=1e-5, atol=1e-6)
    replayed = adapter.forward(batch.inputs, embeddings=adapter.embed(batch.inputs)).logits
    assert torch.equal(replayed, full)


def test_modernbert_mean_pooling_reads_every_token(more):
    adapter = copy.deepcopy(more["modernbert"])
    adapter.model.config.classifier_pooling = "mean"
    batch = adapter.encode(TEXTS)
    full = adapter.forward(batch.inputs).logits
    torch.testing.assert_close(adapter.forward(batch.inputs, logits_only=True).logits, full, rtol=0, atol=0)


# ------------------------------------------------------------------------------ ALBERT's shared block
def test_albert_blocks_are_calls_of_one_shared_module(more):
    adapter = more["albert"]
    assert len(adapter.layers) == 3 and all(layer is adapter.layers[0] for layer in adapter.layers)
    batch = adapter.encode(TEXTS)
    out = adapter.forward(
        batch.inputs,
        capture=[*every_block("block_input", 3), *every_block("block_output", 3)],
        output_hidden_states=True,
    )
    hidden = out.hidden_states
    for layer in range(3):
        assert torch.equal(out.captured[f"block_input:{layer}"], hidden[layer])
        assert torch.equal(out.captured[f"block_output:{layer}"], hidden[layer + 1])
    # the embedding site is before the factorised projection (24 wide), block inputs after it (32 wide)
    assert adapter.embed(batch.inputs).shape[-1] == 24 and hidden[0].shape[-1] == 32
    # replacing block 2's input and skipping blocks 0-1 gives what running them gives
    kept = hidden[2]
    skipped = adapter.forward(batch.inputs, replace={"block_input:2": lambda _: kept}, skip_blocks=2).logits
    torch.testing.assert_close(skipped, out.logits, rtol=1e-6, atol=1e-7)
    assert "forward" not in adapter.layers[0].__dict__


def test_albert_layer_ig_is_complete_at_every_call_of_the_shared_block(more):
    adapter = more["albert"]
    batch = adapter.encode(TEXTS[:1])
    result = get_method("layer-ig", steps=16, adaptive=False).attribute(adapter, batch, Targets("all", adapter))
    assert result.layer_scores.shape[1] == 3
    ig = get_method("ig", steps=16, adaptive=False).attribute(adapter, batch, Targets("all", adapter))
    torch.testing.assert_close(result.scores, ig.scores)
    layer_totals = result.layer_scores.sum(-1)
    assert not torch.allclose(layer_totals[:, 0], layer_totals[:, 2], rtol=0, atol=1e-9)


def test_albert_sanity_check_randomises_the_shared_block_once(more):
    adapter = more["albert"]
    steps = [name for name, _ in _cascade(adapter)]
    assert steps == ["head", "blocks 0, 1, 2", "embeddings"]
    before = {k: v.clone() for k, v in adapter.model.state_dict().items()}
    result = model_randomization(adapter, TEXTS[:1], "gxi")
    assert [step["step"] for step in result.to_dict()["steps"]] == steps
    assert all(torch.equal(v, before[k]) for k, v in adapter.model.state_dict().items())


# ------------------------------------------------------------------------------------------- LRP
@pytest.mark.parametrize("family", MORE_FAMILIES)
@pytest.mark.parametrize("gamma", [0.0, 0.5])
def test_cp_lrp_conserves_the_logit_exactly_without_biases(more, family, gamma):
    assert_cp_lrp_conserves(more[family], TEXTS, gamma)


def test_modernbert_gate_rule_is_needed_for_conservation(more):
    adapter = zero_bias_double(more["modernbert"])
    batch = adapter.encode(TEXTS)
    no_gate = [AttentionRule("hold"), LayerNormRule(), IdentityRule(), LinearRule()]
    result = lrp_attribution(adapter, batch, Targets("all", adapter), no_gate)
    assert relative_gap(result.scores, result.logits, result.targets).max() > 1e-4


@pytest.mark.parametrize("family", MORE_FAMILIES)
@pytest.mark.parametrize("rules", [cp_lrp_rules, attnlrp_rules])
def test_rules_leave_forward_values_bit_identical(more, family, rules):
    assert_rules_keep_forward(more[family], TEXTS, rules)


@pytest.mark.parametrize("family", MORE_FAMILIES)
def test_attnlrp_ratio_is_reported_and_near_one(more, family):
    adapter = zero_bias_double(more[family])
    result = get_method("attnlrp").attribute(adapter, adapter.encode(TEXTS), Targets("all", adapter))
    ratio = torch.tensor([d["conservation"] for d in result.diagnostics], dtype=torch.float64)
    torch.testing.assert_close(ratio, result.scores.sum(-1) / result.logits.gather(1, result.targets))
    gap = (result.scores.sum(-1) - result.logits.gather(1, result.targets)).abs()
    assert gap.max() < 0.5 * result.logits.abs().max()  # not conservative by design, but close on these models


def test_deberta_convolution_is_a_typed_lrp_error(more):
    adapter = copy.deepcopy(more["deberta-v2"])
    adapter.model.config.conv_kernel_size = 3
    with pytest.raises(MethodError, match="conv_kernel_size"):
        explain(TEXT, adapter, "cp-lrp")


# --------------------------------------------------------------------------------- against captum
@pytest.mark.parametrize("family", MORE_FAMILIES)
def test_gradients_and_ig_equal_captum(more, family):
    adapter = more[family]
    assert_gradients_equal_captum(adapter, TEXTS)
    batch = adapter.encode(TEXTS)
    adaptive = get_method("ig", atol=1e-6).attribute(adapter, batch, Targets("all", adapter))
    for entry in adaptive.diagnostics:
        for error, f_x, f_b in zip(entry["completeness_error"], entry["f_input"], entry["f_baseline"], strict=True):
            assert error <= 1e-6 + 1e-3 * abs(f_x - f_b), entry


# ---------------------------------------------------------------------------- every method, batched
@pytest.mark.parametrize("family", MORE_FAMILIES)
def test_every_method_runs_batched_as_one_at_a_time(more, family):
    assert_batched_equals_single(more[family], SHORT, LONG)


def test_modernbert_rollout_runs_over_local_attention(more):
    adapter = more["modernbert"]
    batch = adapter.encode([LONG])
    attentions = adapter.forward(batch.inputs, output_attentions=True).attentions
    window = adapter.config.sliding_window
    distance = (torch.arange(batch.lengths[0])[:, None] - torch.arange(batch.lengths[0])[None]).abs()
    local = [i for i, kind in enumerate(adapter.config.layer_types) if kind == "sliding_attention"]
    assert local and all(attentions[i][0][:, distance > window].abs().max() == 0 for i in local)
    assert (attentions[0][0][:, distance > window] > 0).any()  # the global layer sees everything
    rollout = explain(LONG, adapter, "rollout")[0]
    assert np.isfinite(rollout.scores).all() and (rollout.scores >= 0).all()
