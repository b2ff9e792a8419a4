"""CP-LRP and AttnLRP: conservation, rule-wise identities, untouched forwards, restored models, faithfulness."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
from torch import nn

from benchmarks.common import load_texts
from tests.family_checks import relative_gap, zero_bias_double
from tests.tiny import FAMILIES, LABELS, wordpiece_tokenizer
from trexplain import explain
from trexplain.errors import MethodError
from trexplain.methods import Targets, get_method
from trexplain.methods.autograd import target_gradients
from trexplain.methods.lrp import attnlrp_rules, cp_lrp_rules, lrp_attribution
from trexplain.methods.lrp_attention import AttentionRule, _multihead_surrogate, _rule_attention
from trexplain.methods.lrp_rules import LayerNormRule, LinearRule, Rule, identity_rule, lrp_rules
from trexplain.models import ModelAdapter
from trexplain.models.families import CUSTOM, resolve
from trexplain.models.families.gradients import halve_gradient
from trexplain.perturb import features, remove

TEXTS = ["I can't believe this just happened!", "What a terrible waste of time."]


class Embed(nn.Module):
    """Token plus learned position embeddings."""

    def __init__(self, vocab: int, dim: int) -> None:
        super().__init__()
        self.tokens, self.positions = nn.Embedding(vocab, dim), nn.Embedding(64, dim)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.tokens(input_ids) + self.positions(torch.arange(input_ids.shape[1]))


class PlainEncoder(nn.Module):
    """A plain PyTorch classifier built on nn.TransformerEncoder (the custom-encoder protocol)."""

    def __init__(self, vocab: int, dim: int = 32) -> None:
        super().__init__()
        self.embed = Embed(vocab, dim)
        layer = nn.TransformerEncoderLayer(dim, 4, 48, dropout=0.0, activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(dim, len(LABELS))

    def layers(self) -> list[nn.Module]:
        return list(self.encoder.layers)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(self.embed(input_ids), src_key_padding_mask=attention_mask == 0)
        return self.head(hidden[:, 0])


@pytest.fixture(scope="module")
def models(tiny) -> dict[str, ModelAdapter]:
    """The tiny models of every family plus a custom nn.TransformerEncoder classifier."""
    tokenizer = wordpiece_tokenizer()
    torch.manual_seed(0)
    model = PlainEncoder(len(tokenizer))
    custom = ModelAdapter.from_module(model, model.embed, tokenizer, LABELS, layers=model.layers())
    return {**tiny, "custom": custom}


ALL = (*FAMILIES, "custom")


@pytest.mark.parametrize("family", ALL)
@pytest.mark.parametrize("gamma", [0.0, 0.5])
def test_cp_lrp_conserves_the_logit_exactly_without_biases(models, family, gamma):
    adapter = zero_bias_double(models[family])
    batch = adapter.encode(TEXTS)
    result = get_method("cp-lrp", gamma=gamma).attribute(adapter, batch, Targets("all", adapter))
    assert relative_gap(result.scores, result.logits, result.targets).max() <= 1e-8
    target_logits = result.logits.gather(1, result.targets)
    layer_gap = (result.layer_scores.sum(-1) - target_logits[:, None]).abs() / target_logits.abs()[:, None]
    assert result.layer_scores.shape == (2, len(adapter.layers), 3, batch.inputs.input_ids.shape[1])
    assert layer_gap.max() <= 1e-8
    assert result.diagnostics[0]["conservation"] == pytest.approx([1.0] * 3, abs=1e-8)
    assert result.diagnostics[1]["logit"] == pytest.approx(target_logits[1].tolist())


@pytest.mark.parametrize("family", ALL)
def test_conservation_fails_for_gxi_and_for_a_mean_detaching_layernorm(models, family):
    adapter = zero_bias_double(models[family])
    batch = adapter.encode(TEXTS)
    targets = Targets("all", adapter)
    gxi = get_method("gxi").attribute(adapter, batch, targets)
    assert relative_gap(gxi.scores, gxi.logits, gxi.targets).max() > 1e-3
    mean_detached = lrp_attribution(adapter, batch, targets, cp_lrp_rules(detach_mean=True))
    assert relative_gap(mean_detached.scores, mean_detached.logits, mean_detached.targets).max() > 1e-4


@pytest.mark.parametrize("family", ALL)
@pytest.mark.parametrize("rules", [cp_lrp_rules, attnlrp_rules, partial(attnlrp_rules, 1e-3, 0.25)])
def test_rules_leave_forward_values_bit_identical(models, family, rules):
    adapter = models[family]
    batch = adapter.encode(TEXTS)
    embeddings = adapter.embed(batch.inputs).requires_grad_(True)
    before = adapter.forward(batch.inputs, embeddings=embeddings).logits
    with lrp_rules(adapter, rules()):
        during = adapter.forward(batch.inputs, embeddings=embeddings).logits
    assert torch.equal(before, during)


def test_attnlrp_runs_on_every_family_and_reports_its_ratio(models):
    for family in ALL:
        adapter = zero_bias_double(models[family])
        result = get_method("attnlrp").attribute(adapter, adapter.encode(TEXTS), Targets("all", adapter))
        ratio = torch.tensor([d["conservation"] for d in result.diagnostics], dtype=torch.float64)
        torch.testing.assert_close(ratio, result.scores.sum(-1) / result.logits.gather(1, result.targets))
        assert torch.isfinite(ratio).all()
        if family != "custom":  # default PyTorch init gives sharp attention: the softmax rule absorbs more
            assert (ratio - 1).abs().max() < 0.5, family


@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_reimplementation_matches_torch(batch_first):
    torch.manual_seed(0)
    attention = nn.MultiheadAttention(8, 2, batch_first=batch_first, dtype=torch.float64).eval()
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    x = x if batch_first else x.transpose(0, 1)
    padding = torch.tensor([[False] * 5, [False] * 3 + [True] * 2])
    causal = torch.ones(5, 5, dtype=torch.bool).triu(1)
    for kwargs in ({"key_padding_mask": padding}, {"attn_mask": causal}, {"attn_mask": causal.double() * -1e9}):
        expected = attention(x, x, x, **kwargs)[0]
        for mode in ("hold", "uniform"):
            torch.testing.assert_close(_multihead_surrogate(attention, mode, x, x, x, **kwargs), expected)


def _hooks(model: torch.nn.Module) -> dict:
    """Every forward (pre-)hook by module; transformers installs its own output-capturing hooks once."""
    return {
        name: (list(m._forward_hooks.values()), list(m._forward_pre_hooks.values()))
        for name, m in model.named_modules()
    }


def _unpatched(adapter: ModelAdapter, hooks_before: dict) -> bool:
    model = adapter.model
    hooks = _hooks(model) != hooks_before
    if adapter.family.name == "custom":
        return not hooks
    attentions = [resolve(layer, adapter.family.self_attention) for layer in adapter.layers]
    private = any(a.config is not model.config or hasattr(a, "_trexplain_attention_mode") for a in attentions)
    return not hooks and not private


class _Broken(Rule):
    def attach(self, adapter):
        raise MethodError("broken rule")


@pytest.mark.parametrize("family", ["bert", "distilbert", "roberta", "custom"])
def test_nothing_stays_patched_after_an_exception(models, family):
    adapter = models[family]
    batch = adapter.encode(TEXTS)
    before = adapter.forward(batch.inputs).logits
    hooks = _hooks(adapter.model)
    with pytest.raises(RuntimeError, match="inside"), lrp_rules(adapter, attnlrp_rules()):
        assert not _unpatched(adapter, hooks)
        raise RuntimeError("inside the block")
    assert _unpatched(adapter, hooks)
    with pytest.raises(MethodError, match="broken"), lrp_rules(adapter, [*cp_lrp_rules(), _Broken()]):
        pass
    assert _unpatched(adapter, hooks)
    assert torch.equal(adapter.forward(batch.inputs).logits, before)


def test_bilinear_uniform_rule_splits_relevance_in_half():
    torch.manual_seed(0)
    a = torch.randn(2, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, 4, 5, 8, dtype=torch.float64, requires_grad=True)
    out = halve_gradient(a @ v)
    grad = torch.randn_like(out)
    grad_a, grad_v = torch.autograd.grad(out, [a, v], grad)
    total = (grad * out).sum()
    torch.testing.assert_close((a * grad_a).sum() + (v * grad_v).sum(), total, rtol=1e-12, atol=0)
    torch.testing.assert_close((a * grad_a).sum(), 0.5 * total, rtol=1e-12, atol=0)


def test_attention_function_applies_the_rule_to_both_matmuls():
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 4, 3, dtype=torch.float64, requires_grad=True) for _ in range(3))
    module = nn.Module().eval()
    grad = torch.randn(1, 4, 2, 3, dtype=torch.float64)
    results = {}
    for mode in ("hold", "uniform"):
        module._trexplain_attention_mode = mode
        out, probs = _rule_attention(module, q, k, v, None, scaling=0.5)
        results[mode] = (out, probs, *torch.autograd.grad(out, [q, k, v], grad, allow_unused=True))
    reference = torch.softmax(q @ k.transpose(2, 3) * 0.5, -1) @ v
    (ref_q, ref_k, ref_v) = torch.autograd.grad(reference.transpose(1, 2), [q, k, v], grad)
    out, _, grad_q, grad_k, grad_v = results["uniform"]
    assert torch.equal(out, reference.transpose(1, 2))
    torch.testing.assert_close(grad_v, ref_v / 2)
    torch.testing.assert_close(grad_q, ref_q / 4)
    torch.testing.assert_close(grad_k, ref_k / 4)
    _, _, held_q, held_k, held_v = results["hold"]
    assert held_q is None and held_k is None
    torch.testing.assert_close(held_v, ref_v)


@pytest.mark.parametrize("fn", [torch.nn.functional.gelu, torch.tanh, torch.relu])
def test_identity_rule_passes_relevance_unchanged(fn):
    torch.manual_seed(0)
    x = torch.cat([torch.randn(20, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)]).requires_grad_(True)
    y = identity_rule(x, fn(x))
    grad = torch.randn_like(y)
    (grad_x,) = torch.autograd.grad(y, x, grad)
    assert torch.equal(y, fn(x))
    torch.testing.assert_close(x * grad_x, y * grad, rtol=1e-14, atol=0)


@pytest.mark.parametrize("epsilon, gamma", [(0.3, 0.0), (0.0, 0.5), (0.1, 0.25)])
def test_linear_rule_is_epsilon_and_gamma_lrp_by_hand(epsilon, gamma):
    torch.manual_seed(0)
    linear = nn.Linear(4, 3, dtype=torch.float64).eval()
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(5, 3, dtype=torch.float64)
    with lrp_rules(type("A", (), {"model": linear})(), [LinearRule(epsilon, gamma)]):
        z = linear(x)
    (grad,) = torch.autograd.grad(z, x, grad_out)
    z, w, b, inputs = z.detach(), linear.weight.detach(), linear.bias.detach(), x.detach()
    expected = torch.zeros_like(inputs)  # R_i = Σ_j c_ji / (z_γ,j + ε sign) · R_j, with R_j = z_j · ∂_j
    for n in range(5):
        for j in range(3):
            same_sign = (lambda v: max(v, 0.0)) if z[n, j] >= 0 else (lambda v: min(v, 0.0))
            c = [float(inputs[n, i] * w[j, i]) + gamma * same_sign(float(inputs[n, i] * w[j, i])) for i in range(4)]
            z_gamma = sum(c) + float(b[j]) + gamma * same_sign(float(b[j]))
            share = z[n, j] * grad_out[n, j] / (z_gamma + math.copysign(epsilon, z_gamma))
            for i in range(4):
                expected[n, i] += c[i] * share
    torch.testing.assert_close(inputs * grad, expected)
    with pytest.raises(MethodError, match="epsilon"):
        get_method("attnlrp", epsilon=-1.0)
    with pytest.raises(MethodError, match="gamma"):
        get_method("cp-lrp", gamma=-0.1)


def test_layernorm_rule_holds_only_sigma():
    torch.manual_seed(0)
    norm = nn.LayerNorm(6, dtype=torch.float64).eval()
    nn.init.normal_(norm.weight)
    x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    adapter = type("A", (), {"model": norm, "family": CUSTOM})()
    with lrp_rules(adapter, [LayerNormRule()]):
        y = norm(x)
    (grad,) = torch.autograd.grad(y, x, torch.ones_like(y))
    std = torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + norm.eps).detach()
    (expected,) = torch.autograd.grad(
        (x - x.mean(-1, keepdim=True)) / std * norm.weight + norm.bias, x, torch.ones_like(y)
    )
    assert torch.equal(y, torch.nn.functional.layer_norm(x, (6,), norm.weight, norm.bias, norm.eps))
    torch.testing.assert_close(grad, expected)


def test_all_targets_in_one_backward_equal_one_target_at_a_time(models):
    adapter = models["electra"]
    batch = adapter.encode(TEXTS)
    for name in ("cp-lrp", "attnlrp"):
        every = get_method(name).attribute(adapter, batch, Targets("all", adapter))
        for c, label in enumerate(LABELS):
            one = get_method(name).attribute(adapter, batch, Targets(label, adapter))
            torch.testing.assert_close(every.scores[:, c], one.scores[:, 0], rtol=1e-6, atol=1e-7)
            torch.testing.assert_close(every.layer_scores[:, :, c], one.layer_scores[:, :, 0], rtol=1e-6, atol=1e-7)
    chunked = lrp_attribution(
        adapter, batch, Targets("all", adapter), cp_lrp_rules(), partial(target_gradients, chunk=2)
    )
    one_pass = get_method("cp-lrp").attribute(adapter, batch, Targets("all", adapter))
    torch.testing.assert_close(chunked.layer_scores, one_pass.layer_scores, rtol=1e-6, atol=1e-7)


def test_explanations_carry_layers_and_diagnostics(demo):
    out = explain(TEXTS, demo, "cp-lrp", target="all")
    assert out[0].layer_scores.shape == (6, 3, len(out[0].tokens))
    assert set(out[0].diagnostics) >= {"logit", "relevance_sum", "conservation"}
    assert out[0].scores.sum(-1) == pytest.approx(out[0].diagnostics["relevance_sum"], rel=1e-4)


def test_unknown_modules_are_reported(tiny):
    adapter = tiny["bert"]
    wrapped = ModelAdapter.from_module(
        nn.Sequential(adapter.model), adapter.embedding_module, adapter.tokenizer, LABELS
    )
    with pytest.raises(MethodError, match="MultiheadAttention"), lrp_rules(wrapped, [AttentionRule()]):
        pass


def _deletion_aopc(adapter: ModelAdapter, texts: list[str], method: str) -> float:
    """Mean drop of the predicted class probability when the top 10…50% words (by signed score) are deleted."""
    batch = adapter.encode(texts)
    result = get_method(method).attribute(adapter, batch, Targets("predicted", adapter))
    full = result.logits.softmax(-1).gather(1, result.targets)[:, 0]
    drops = []
    for row in range(len(texts)):
        words = features(batch, row).double()
        order = (words @ result.scores[row, 0, : batch.lengths[row]].double()).argsort(descending=True)
        removed = [words[order[: max(1, math.ceil(f * len(order)))]].sum(0) > 0 for f in (0.1, 0.2, 0.3, 0.4, 0.5)]
        probs = adapter.logits(remove(adapter, batch, row, torch.stack(removed), "delete")).softmax(-1)
        drops.append(float((full[row] - probs[:, result.targets[row, 0]]).mean()))
    return sum(drops) / len(drops)


def test_cp_lrp_deletion_beats_gradient_times_input_on_the_demo(demo):
    texts = load_texts(20)
    cp, gxi = _deletion_aopc(demo, texts, "cp-lrp"), _deletion_aopc(demo, texts, "gxi")
    assert cp > gxi + 0.05, (cp, gxi)


@pytest.mark.parametrize("method", ["cp-lrp", "attnlrp"])
def test_batched_equals_one_by_one_and_padding_gets_nothing(models, method):
    adapter = models["roberta"]
    batch = adapter.encode(TEXTS)
    together = get_method(method).attribute(adapter, batch, Targets("all", adapter))
    padded = ~batch.inputs.attention_mask.bool()
    assert padded.any() and (together.scores.abs().sum(1)[padded] == 0).all()
    for row, text in enumerate(TEXTS):
        alone = get_method(method).attribute(adapter, adapter.encode([text]), Targets("all", adapter))
        n = batch.lengths[row]
        torch.testing.assert_close(together.scores[row, :, :n], alone.scores[0], rtol=1e-5, atol=1e-6)


def test_float32_conservation_without_biases(models):
    adapter = zero_bias_double(models["bert"])
    adapter.model.float()
    result = get_method("cp-lrp").attribute(adapter, adapter.encode(TEXTS), Targets("all", adapter))
    assert relative_gap(result.scores, result.logits, result.targets).max() <= 1e-4
