"""IG, layer IG and CA-LIG: quadrature, completeness, captum equality, baselines, positions, λ limits."""

from __future__ import annotations

import copy

import pytest
import torch
from captum.attr import IntegratedGradients, LayerIntegratedGradients

from tests.tiny import FAMILIES
from trexplain.api import explain
from trexplain.errors import MethodError
from trexplain.explanation import Explanation
from trexplain.methods import Targets, get_method
from trexplain.methods.baselines import baseline_embeddings
from trexplain.methods.quadrature import RULES, nodes
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import ModelInputs

TEXTS = ["I can't believe this just happened!", "What a terrible waste of time."]
DEMO_TEXTS = ["I love this, what a wonderful day!", "@AmericanAir the food was nasty and the staff rude."]


def _within(diagnostics, rtol=1e-3, atol=1e-3):
    for entry in diagnostics:
        for error, f_x, f_b in zip(entry["completeness_error"], entry["f_input"], entry["f_baseline"], strict=True):
            assert error <= atol + rtol * abs(f_x - f_b), entry


def _captum(adapter, batch, layer, baseline_ids, target, steps, rule):
    def forward(ids, mask, positions, types):
        return adapter.forward(ModelInputs(ids, mask, positions, types)).logits

    inputs = batch.inputs
    attr = LayerIntegratedGradients(forward, layer).attribute(
        inputs.input_ids,
        baseline_ids,
        target=target,
        additional_forward_args=(inputs.attention_mask, inputs.position_ids, inputs.token_type_ids),
        n_steps=steps,
        method=rule,
    )
    return attr.sum(-1)


def _pad_ids(adapter, batch):
    return torch.where(batch.maskable, adapter.pad_token_id, batch.inputs.input_ids)


def _double(adapter):
    model = copy.deepcopy(adapter.model).double()
    return ModelAdapter(model, adapter.tokenizer, family=adapter.family, labels=adapter.labels, name="f64")


# ---------------------------------------------------------------------------------------- quadrature
@pytest.mark.parametrize("rule", RULES)
def test_quadrature_weights_and_exactness(rule):
    alphas, weights = nodes(rule, 6)
    assert float(weights.sum()) == pytest.approx(1.0, abs=1e-12)
    assert bool((alphas >= 0).all() and (alphas <= 1).all())
    exact_degree = {"gausslegendre": 11, "riemann_trapezoid": 1, "riemann_middle": 1}.get(rule, 0)
    for degree in range(exact_degree + 1):
        assert float((weights * alphas**degree).sum()) == pytest.approx(1 / (degree + 1), abs=1e-12)


def test_quadrature_rejects_bad_rules():
    with pytest.raises(MethodError, match="gausslegendre"):
        nodes("simpson", 4)
    with pytest.raises(MethodError, match="at least 2"):
        nodes("riemann_trapezoid", 1)
    with pytest.raises(MethodError):
        get_method("ig", method="simpson")


# ------------------------------------------------------------------------------------ ig vs captum
@pytest.mark.parametrize("rule", RULES)
def test_ig_equals_captum_every_rule(tiny, rule):
    adapter = tiny["bert"]
    batch = adapter.encode(TEXTS)
    result = get_method("ig", steps=7, method=rule, adaptive=False).attribute(adapter, batch, Targets("all", adapter))
    for c in range(adapter.num_labels):
        ref = _captum(adapter, batch, adapter.embedding_module, _pad_ids(adapter, batch), [c, c], 7, rule)
        if rule == "riemann_trapezoid":
            ref = ref * 7 / 6  # captum's trapezoid weights sum to (n−1)/n; ours sum to 1
        torch.testing.assert_close(result.scores[:, c], ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("family", FAMILIES)
def test_ig_equals_captum_and_is_complete_every_family(tiny, family):
    adapter = tiny[family]
    batch = adapter.encode(TEXTS)
    fixed = get_method("ig", steps=16, adaptive=False).attribute(adapter, batch, Targets("predicted", adapter))
    ref = _captum(
        adapter, batch, adapter.embedding_module, _pad_ids(adapter, batch), fixed.targets[:, 0], 16, "gausslegendre"
    )
    torch.testing.assert_close(fixed.scores[:, 0], ref, atol=1e-4, rtol=1e-4)
    # random tiny models move their logits by ~1e-4: a floor far below the default 1e-3 keeps this a real test
    default = get_method("ig", atol=1e-6).attribute(adapter, batch, Targets("all", adapter))
    _within(default.diagnostics, atol=1e-6)


def test_ig_demo_default_is_complete_and_equals_captum(demo):
    batch = demo.encode(DEMO_TEXTS)
    result = get_method("ig").attribute(demo, batch, Targets("all", demo))
    _within(result.diagnostics)
    for entry in result.diagnostics:
        assert 4 < entry["steps"] <= 256
    fixed = get_method("ig", steps=24, adaptive=False).attribute(demo, batch, Targets("positive", demo))
    ref = _captum(demo, batch, demo.embedding_module, _pad_ids(demo, batch), [2, 2], 24, "gausslegendre")
    torch.testing.assert_close(fixed.scores[:, 0], ref, atol=1e-4, rtol=1e-4)


def test_adaptive_refines_until_complete_and_fixed_steps_do_not(demo):
    batch = demo.encode(DEMO_TEXTS[:1])
    coarse = get_method("ig", steps=4, adaptive=False).attribute(demo, batch, Targets("predicted", demo))
    assert coarse.diagnostics[0]["relative_error"][0] > 1e-2
    fine = get_method("ig", steps=4).attribute(demo, batch, Targets("predicted", demo))
    assert fine.diagnostics[0]["relative_error"][0] <= 1e-3 < coarse.diagnostics[0]["relative_error"][0]
    assert fine.diagnostics[0]["steps"] > 4


def test_float64_many_steps_completeness_is_tight(tiny):
    adapter = _double(tiny["roberta"])
    batch = adapter.encode(TEXTS)
    result = get_method("ig", steps=64, adaptive=False).attribute(adapter, batch, Targets("all", adapter))
    for entry in result.diagnostics:
        assert max(entry["completeness_error"]) < 1e-8


# ------------------------------------------------------------------------------- targets and batching
def test_all_targets_equal_single_target_runs_and_batching(tiny):
    adapter = tiny["xlm-roberta"]
    method = get_method("ig", steps=8, adaptive=False)
    batch = adapter.encode(TEXTS)
    every = method.attribute(adapter, batch, Targets("all", adapter))
    for c in range(adapter.num_labels):
        one = method.attribute(adapter, batch, Targets(c, adapter))
        torch.testing.assert_close(one.scores[:, 0], every.scores[:, c], atol=1e-6, rtol=1e-5)
    for row, text in enumerate(TEXTS):
        alone = method.attribute(adapter, adapter.encode([text]), Targets("all", adapter))
        n = batch.lengths[row]
        torch.testing.assert_close(alone.scores[0], every.scores[row, :, :n], atol=1e-6, rtol=1e-5)
    chunked = get_method("ig", steps=8, adaptive=False, internal_batch_size=3).attribute(
        adapter, batch, Targets("all", adapter)
    )
    torch.testing.assert_close(chunked.scores, every.scores, atol=1e-6, rtol=1e-5)


def test_swapping_target_flips_most_signs(demo):
    batch = demo.encode(["I love this, what a wonderful and happy day!"])
    result = get_method("ig").attribute(demo, batch, Targets(["positive", "negative"], demo))
    movable = batch.maskable[0]
    positive, negative = result.scores[0, 0, movable], result.scores[0, 1, movable]
    assert float((positive * negative < 0).float().mean()) > 0.7


# -------------------------------------------------------------------------------------------- baselines
def test_baseline_keeps_positions_roberta(tiny):
    adapter = tiny["roberta"]
    batch = adapter.encode(TEXTS)
    seen = []
    module = adapter.model.roberta.embeddings.position_embeddings
    handle = module.register_forward_pre_hook(lambda _m, args: seen.append(args[0].clone()))
    try:
        result = get_method("ig", steps=4, adaptive=False).attribute(adapter, batch, Targets("predicted", adapter))
    finally:
        handle.remove()
    assert seen and all(torch.equal(ids, batch.inputs.position_ids) for ids in seen[:2])
    for ids in seen:
        assert any(torch.equal(row, ref) for row in ids for ref in batch.inputs.position_ids)
    pad_ids = _pad_ids(adapter, batch)
    explicit = adapter.forward(batch.inputs.with_ids(pad_ids)).logits
    derived = adapter.model(input_ids=pad_ids, attention_mask=batch.inputs.attention_mask).logits
    f_base = torch.tensor([d["f_baseline"][0] for d in result.diagnostics])
    torch.testing.assert_close(f_base, explicit.gather(1, result.targets)[:, 0], atol=1e-5, rtol=1e-5)
    assert not torch.equal(explicit, derived)  # positions derived from pad ids would differ


def test_baselines(tiny):
    adapter = tiny["bert"]
    batch = adapter.encode(TEXTS)
    real = adapter.embed(batch.inputs)
    keep = ~batch.maskable
    zero = baseline_embeddings(adapter, batch, "zero")
    assert torch.equal(zero[keep], real[keep]) and bool((zero[batch.maskable] == 0).all())
    mask_ids = torch.where(batch.maskable, adapter.mask_token_id, batch.inputs.input_ids)
    torch.testing.assert_close(
        baseline_embeddings(adapter, batch, "mask"), adapter.embed(batch.inputs.with_ids(mask_ids))
    )
    text = baseline_embeddings(adapter, batch, "the")
    the = adapter.tokenizer("the", add_special_tokens=False)["input_ids"]
    ids = batch.inputs.input_ids.clone()
    for row in range(len(TEXTS)):
        places = torch.nonzero(batch.maskable[row]).squeeze(1)
        ids[row, places] = adapter.pad_token_id
        ids[row, places[: len(the)]] = torch.tensor(the)
    torch.testing.assert_close(text, adapter.embed(batch.inputs.with_ids(ids)))
    for baseline in ("zero", "mask", "the"):
        result = get_method("ig", baseline=baseline).attribute(adapter, batch, Targets("predicted", adapter))
        _within(result.diagnostics)
        assert result.scores[keep.unsqueeze(1).expand_as(result.scores)].abs().max() < 1e-6
    with pytest.raises(MethodError, match="no tokens"):
        baseline_embeddings(adapter, batch, "   ")


def test_tensor_baseline_equals_the_named_one_and_is_recorded_by_shape(tiny):
    adapter = tiny["roberta"]
    batch = adapter.encode(TEXTS)
    pad = baseline_embeddings(adapter, batch, "pad")
    targets = Targets("all", adapter)
    named = get_method("ig", steps=8, adaptive=False).attribute(adapter, batch, targets)
    given = get_method("ig", baseline=pad.clone(), steps=8, adaptive=False)
    torch.testing.assert_close(given.attribute(adapter, batch, targets).scores, named.scores, rtol=0, atol=0)
    assert given.params()["baseline"] == f"tensor{list(pad.shape)}"
    explanation = explain(TEXTS[:1], adapter, given.__class__(baseline=pad[0, : batch.lengths[0]], steps=8))[0]
    assert explanation.params["baseline"] == f"tensor{[int(batch.lengths[0]), pad.shape[-1]]}"
    assert Explanation.from_json(explanation.to_json()) == explanation
    with pytest.raises(MethodError, match=r"does not fit these inputs: pass the embedding output's shape"):
        get_method("ig", baseline=pad[:, :3]).attribute(adapter, batch, targets)
    with pytest.raises(MethodError, match="float"):
        get_method("ig", baseline=torch.zeros(4, dtype=torch.long))


# -------------------------------------------------------------------------------------------- layer IG
@pytest.mark.parametrize("family", ["bert", "electra"])
def test_layer_ig_equals_captum_at_block_inputs(tiny, family):
    adapter = tiny[family]
    batch = adapter.encode(TEXTS)
    result = get_method("layer-ig", steps=8, adaptive=False).attribute(adapter, batch, Targets("predicted", adapter))
    ig = get_method("ig", steps=8, adaptive=False).attribute(adapter, batch, Targets("predicted", adapter))
    torch.testing.assert_close(result.scores, ig.scores)
    assert result.layer_scores.shape == (2, len(adapter.layers), 1, batch.inputs.input_ids.shape[1])
    for layer, block in enumerate(adapter.layers):
        ref = _captum_block_input(adapter, batch, block, result.targets[:, 0], 8)
        torch.testing.assert_close(result.layer_scores[:, layer, 0], ref, atol=1e-4, rtol=1e-4)


def _captum_block_input(adapter, batch, block, target, steps):
    """captum IG on the block's input tensor (captum's layer hook cannot clone the blocks' None arguments)."""
    state = {}

    def hook(_module, args):
        if "replace" in state:
            return (state["replace"], *args[1:])
        state["seen"] = args[0].detach()
        return None

    def run(ids):
        adapter.forward(batch.inputs.with_ids(ids))
        return state.pop("seen")

    def forward(hidden, ids, mask, positions, types):
        state["replace"] = hidden
        try:
            return adapter.forward(ModelInputs(ids, mask, positions, types)).logits
        finally:
            del state["replace"]

    handle = block.register_forward_pre_hook(hook)
    try:
        real, base = run(batch.inputs.input_ids), run(_pad_ids(adapter, batch))
        inputs = batch.inputs
        extra = (inputs.input_ids, inputs.attention_mask, inputs.position_ids, inputs.token_type_ids)
        attr = IntegratedGradients(forward).attribute(
            real, base, target=target, additional_forward_args=extra, n_steps=steps
        )
    finally:
        handle.remove()
    return attr.sum(-1)


def test_blocks_before_a_site_are_skipped_not_run(tiny):
    adapter = tiny["bert"]
    batch = adapter.encode(TEXTS[:1])
    runs = {0: 0, 1: 0}
    handles = [
        adapter.layers[i].intermediate.register_forward_hook(lambda *_, i=i: runs.__setitem__(i, runs[i] + 1))
        for i in runs
    ]
    get_method("layer-ig", steps=4, adaptive=False).attribute(adapter, batch, Targets("predicted", adapter))
    for handle in handles:
        handle.remove()
    # endpoints and the embedding site (= block 0's input) run block 0; block 1's site skips it
    assert runs == {0: 2, 1: 3}
    assert all("forward" not in layer.__dict__ for layer in adapter.layers)


def test_layer_ig_complete_at_every_block(demo):
    batch = demo.encode(DEMO_TEXTS[:1])
    result = get_method("layer-ig").attribute(demo, batch, Targets("predicted", demo))
    entry = result.diagnostics[0]
    tolerance = 1e-4 + 1e-3 * abs(entry["f_input"][0] - entry["f_baseline"][0])
    assert len(entry["layer_completeness_error"]) == len(demo.layers)
    assert max(max(e) for e in entry["layer_completeness_error"]) <= tolerance
    sums = result.layer_scores[0, :, 0].sum(-1)
    torch.testing.assert_close(
        sums, torch.full_like(sums, entry["f_input"][0] - entry["f_baseline"][0]), atol=tolerance, rtol=0
    )


# ---------------------------------------------------------------------------------------------- CA-LIG
def _attention_term(adapter, batch, target):
    embeddings = adapter.embed(batch.inputs)
    out = adapter.forward(batch.inputs, embeddings=embeddings, output_attentions=True)
    for a in out.attentions:
        a.retain_grad()
    out.logits.gather(1, target).sum().backward()
    return torch.stack([(a.grad * a).mean(1)[:, 0, :] for a in out.attentions], dim=1).detach()


def test_ca_lig_lambda_limits(tiny):
    adapter = tiny["bert"]
    batch = adapter.encode(TEXTS)
    targets = Targets("predicted", adapter)
    layer = get_method("layer-ig", steps=8, adaptive=False).attribute(adapter, batch, targets).layer_scores[:, :, 0]
    zero = get_method("ca-lig", lam=0.0, steps=8, adaptive=False).attribute(adapter, batch, targets)
    torch.testing.assert_close(zero.layer_scores[:, :, 0], layer / layer.abs().sum(-1, keepdim=True))
    one = get_method("ca-lig", lam=1.0, steps=8, adaptive=False).attribute(adapter, batch, targets)
    context = _attention_term(adapter, batch, one.targets)
    torch.testing.assert_close(one.layer_scores[:, :, 0], context / context.abs().sum(-1, keepdim=True))
    product = get_method("ca-lig", lam=0.0, fusion="multiplicative", steps=8, adaptive=False)
    torch.testing.assert_close(product.attribute(adapter, batch, targets).layer_scores[:, :, 0], layer)
    mean = get_method("ca-lig", lam=0.0, aggregation="mean", steps=8, adaptive=False).attribute(adapter, batch, targets)
    torch.testing.assert_close(mean.scores[:, 0], zero.layer_scores[:, :, 0].mean(1))
    # rollout moves relevance between tokens with row-stochastic maps, so each layer's total is kept
    torch.testing.assert_close(zero.scores.sum(-1), mean.scores.sum(-1))
    assert not torch.allclose(zero.scores, mean.scores)


def test_ca_lig_demo_is_signed_and_class_specific(demo):
    batch = demo.encode(DEMO_TEXTS[:1])
    result = get_method("ca-lig").attribute(demo, batch, Targets(["positive", "negative"], demo))
    assert result.layer_scores.shape[:3] == (1, len(demo.layers), 2)
    movable = batch.maskable[0]
    positive, negative = result.scores[0, 0, movable], result.scores[0, 1, movable]
    assert float((positive * negative < 0).float().mean()) > 0.5
    assert result.diagnostics[0]["reconstructed"] is True
    # ours are pre-hooks on blocks and a forward hook on the embeddings (transformers keeps its own capture hooks)
    assert all(not m._forward_pre_hooks for m in demo.model.modules()) and not demo.embedding_module._forward_hooks
    with pytest.raises(MethodError, match="fusion"):
        get_method("ca-lig", fusion="max")
    with pytest.raises(MethodError, match="lam"):
        get_method("ca-lig", lam=2.0)
