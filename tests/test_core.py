"""Core guarantees: per-target diagnostics, thread safety, the user's model and tokenizer left as they were,
the capture API, the pooled runner, token edits and deep copies of an adapter."""

from __future__ import annotations

import copy
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from trexplain import explain
from trexplain.errors import InputError
from trexplain.explanation import Explanation
from trexplain.models import load_model
from trexplain.models.families import resolve
from trexplain.models.pooled import Pooled, run_pooled
from trexplain.perturb import Edit, edit

TEXTS = [
    "The movie was wonderful, the acting superb.",
    "What a terrible waste of time.",
    "Nothing special: an average day.",
    "Best concert ever #happy",
    "I don't trust them at all.",
    "Die Musik war großartig.",
    "Self-driving cars seem lazy.",
    "the music was lovely.",
]
FAST = {
    "ig": {"steps": 4, "adaptive": False},
    "layer-ig": {"steps": 4, "adaptive": False},
    "lime": {"n_samples": 24},
}


def _run(adapter, texts, method, **params):
    return explain(texts, adapter, method, target="all", params={**FAST.get(method, {}), **params})


def _same(first, second):
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(a.logits, b.logits)
        if a.layer_scores is not None or b.layer_scores is not None:
            np.testing.assert_array_equal(a.layer_scores, b.layer_scores)


def _hooks(model):
    """Every module's hooks by id (transformers installs its own output-capturing hooks at the first forward)."""
    return {
        name: (*m._forward_hooks, "pre", *m._forward_pre_hooks, "back", *m._backward_hooks, *m._backward_pre_hooks)
        for name, m in model.named_modules()
    }


def _assert_pristine(adapter, state, configs, hooks):
    """Weights as in `state`, no hooks added nor instance-level forwards, every attention module's own config."""
    assert _hooks(adapter.model) == hooks
    after = adapter.model.state_dict()
    assert after.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(after[key], value), key
    for name, module in adapter.model.named_modules():
        assert "forward" not in vars(module), name
        assert not hasattr(module, "_trexplain_attention_mode"), name
    for layer, config in zip(adapter.layers, configs, strict=True):
        attention = resolve(layer, adapter.family.self_attention)
        assert attention.config is config
        assert attention.config._attn_implementation == "eager"


def _snapshot(adapter):
    with torch.no_grad():
        adapter.forward(adapter.encode(["warm up"]).inputs, output_attentions=True, output_hidden_states=True)
    state = {k: v.clone() for k, v in adapter.model.state_dict().items()}
    configs = [resolve(layer, adapter.family.self_attention).config for layer in adapter.layers]
    return state, configs, _hooks(adapter.model)


# --------------------------------------------------------------------------- 1. diagnostics per target
def test_record_slices_layer_diagnostics_per_target_not_per_layer(tiny):
    """2 layers and 2 targets: `record()[k]` holds column k of the [layers][targets] values (not row k)."""
    e = explain(TEXTS[1], tiny["bert"], "layer-ig", target=["negative", "positive"], params=FAST["layer-ig"])[0]
    stored = e.diagnostics["layer_completeness_error"]
    sums = e.diagnostics["layer_score_sum"]
    assert np.shape(stored) == (2, 2) and e.targets == (0, 2)
    assert stored[0][1] != stored[1][0] and sums[0][1] != sums[1][0]  # rows ≠ columns: the check can fail
    identity = e.diagnostics.identity
    legacy = e.to_dict()  # a schema-1 record: no axes, no identity, the same values
    for key in ("schema_version", "diagnostic_axes"):
        del legacy[key]
    del legacy["diagnostics"]["identity"]
    legacy_explanation = Explanation.from_dict(legacy)
    assert legacy_explanation.diagnostics.axes["layer_completeness_error"] == ("layer", "target")
    for source in (e, Explanation.from_json(e.to_json()), legacy_explanation):
        records = source.record()
        assert [r["target"] for r in records] == ["negative", "positive"]
        for k, entry in enumerate(records):
            values = entry["diagnostics"]
            assert values["layer_completeness_error"] == [stored[0][k], stored[1][k]]
            assert values["layer_score_sum"] == [sums[0][k], sums[1][k]]
            assert values["completeness_error"] == e.diagnostics["completeness_error"][k]
            assert values["f_input"] == e.diagnostics["f_input"][k]
            assert values["identity"]["error"] == pytest.approx(abs(e.diagnostics["completeness_error"][k]), rel=1e-6)
            assert values["identity"]["kind"] == "completeness"
            assert values["steps"] == e.diagnostics["steps"]
            np.testing.assert_allclose(entry["layer_scores"], e.layer_scores[:, k], rtol=0, atol=0)
        if source is not legacy_explanation:  # schema 1 stored errors only
            assert records[0]["diagnostics"]["identity"]["total"] == identity.total[0]
            assert records[1]["diagnostics"]["identity"]["expected"] == identity.expected[1]


# --------------------------------------------------------------------------- 2. thread safety
JOBS = [
    ("cp-lrp", {}),
    ("attnlrp", {}),
    ("ig", {}),
    ("gxi", {}),
    ("grad-rollout", {}),
    ("lime", {}),
    ("layer-ig", {}),
    ("ig", {"baseline": "an average day"}),  # a text baseline: the tokenizer is used outside `encode` too
]


def test_concurrent_explanations_equal_serial_ones_and_leave_the_model_alone(tiny_dirs):
    adapter = load_model(tiny_dirs["bert"])
    snapshot = _snapshot(adapter)
    texts = [[TEXTS[i], TEXTS[(i + 3) % len(TEXTS)]] for i in range(len(JOBS))]
    serial = [_run(adapter, t, name, **params) for t, (name, params) in zip(texts, JOBS, strict=True)]
    start = threading.Barrier(len(JOBS))

    def job(i):
        start.wait()
        name, params = JOBS[i]
        return _run(adapter, texts[i], name, **params)

    for _ in range(4):  # several rounds: a race shows within a few
        with ThreadPoolExecutor(max_workers=len(JOBS)) as pool:
            parallel = list(pool.map(job, range(len(JOBS))))
        for one, other in zip(serial, parallel, strict=True):
            _same(one, other)
    _assert_pristine(adapter, *snapshot)
    backend = adapter.tokenizer.backend_tokenizer
    assert backend.padding is None and backend.truncation is None


# --------------------------------------------------------------------------- 3. training mode
TRAIN_METHODS = ("gxi", "ig", "cp-lrp", "lime")


def _flags(model):
    return {name: module.training for name, module in model.named_modules()}


def test_explanations_run_with_dropout_off_and_training_flags_come_back(tiny_dirs):
    adapter = load_model(tiny_dirs["bert"])
    texts = TEXTS[:2]
    reference = {name: _run(adapter, texts, name) for name in TRAIN_METHODS}
    batch = adapter.encode(texts)
    kwargs = {"input_ids": batch.inputs.input_ids, "attention_mask": batch.inputs.attention_mask}
    with torch.no_grad():
        adapter.model.train()
        torch.manual_seed(0)
        dropped = adapter.model(**kwargs).logits
        adapter.model.eval()
        plain = adapter.model(**kwargs).logits
    assert not torch.allclose(dropped, plain)  # dropout is on in train mode: the test has teeth

    def mixed(model):
        model.train()
        model.bert.encoder.layer[0].attention.eval()
        model.classifier.eval()

    for setup in (lambda m: m.train(), mixed):
        setup(adapter.model)
        flags = _flags(adapter.model)
        assert any(flags.values())
        for name in TRAIN_METHODS:
            first, second = _run(adapter, texts, name), _run(adapter, texts, name)
            _same(first, reference[name])
            _same(second, reference[name])
            assert _flags(adapter.model) == flags, name
    assert _flags(adapter.model)["bert.encoder.layer.0.attention.self"] is False
    assert _flags(adapter.model)["bert.encoder.layer.1.attention.self"] is True


# --------------------------------------------------------------------------- 4. tokenizer untouched
def test_explaining_leaves_the_tokenizer_settings_alone(tiny_dirs):
    adapter = load_model(tiny_dirs["bert"])
    texts = [TEXTS[0], "ok"]  # different lengths: left padding would move the short text
    reference = {name: _run(adapter, texts, name, **params) for name, params in (JOBS[3], JOBS[7])}
    tokenizer = adapter.tokenizer
    tokenizer.padding_side = "left"
    tokenizer.truncation_side = "left"
    backend = tokenizer.backend_tokenizer
    backend.enable_truncation(max_length=5, direction="left")
    backend.enable_padding(direction="left", pad_id=0, pad_token="[PAD]", length=40)
    before = (backend.truncation, backend.padding)
    for name, params in (JOBS[3], JOBS[7]):
        _same(_run(adapter, texts, name, **params), reference[name])
    batch = adapter.encode(texts)
    n = batch.lengths[1]
    assert batch.inputs.attention_mask[1].tolist() == [1] * n + [0] * (batch.lengths[0] - n) and n < batch.lengths[0]
    assert (tokenizer.padding_side, tokenizer.truncation_side, tokenizer.model_max_length) == ("left", "left", 64)
    assert (backend.truncation, backend.padding) == before


# --------------------------------------------------------------------------- 5. capture API
def test_capture_sites_read_what_flows_through_the_model(tiny):
    adapter = tiny["bert"]
    inputs = adapter.encode(TEXTS[:2]).inputs
    hooks = _snapshot(adapter)[2]
    sites = ["embeddings", "block_input:0", "block_input:1", "block_output:0", "block_output:1", "block_output:-1"]
    sites += ["attention:0", "attention:-1", "module:bert.pooler"]
    with torch.no_grad():
        out = adapter.forward(inputs, capture=sites)
        full = adapter.forward(inputs, output_attentions=True, output_hidden_states=True)
    got = out.captured
    assert sorted(got) == sorted(sites)
    assert torch.equal(got["block_input:0"], got["embeddings"])
    assert torch.equal(got["embeddings"], adapter.embed(inputs))
    assert torch.equal(got["block_output:0"], got["block_input:1"])
    assert torch.equal(got["block_output:-1"], got["block_output:1"])
    assert torch.equal(got["block_output:-1"], full.hidden_states[-1])
    assert torch.equal(got["block_input:1"], full.hidden_states[1])
    assert torch.equal(got["attention:0"], full.attentions[0])
    assert torch.equal(got["attention:-1"], full.attentions[1])
    with torch.no_grad():
        pooled = adapter.model.bert.pooler(full.hidden_states[-1])
    torch.testing.assert_close(got["module:bert.pooler"], pooled, rtol=0, atol=0)
    assert torch.equal(out.logits, full.logits)
    assert _hooks(adapter.model) == hooks


def test_replacing_a_site_rewrites_the_rest_of_the_forward(tiny):
    adapter = tiny["bert"]
    inputs = adapter.encode(TEXTS[:2]).inputs
    with torch.no_grad():
        base = adapter.forward(inputs, capture=["block_input:1"])
        kept = base.captured["block_input:1"].clone()
        same = adapter.forward(inputs, replace={"block_input:1": lambda _h: kept}, capture=["block_input:1"])
        zeroed = adapter.forward(inputs, replace={"block_input:1": torch.zeros_like}, capture=["block_input:1"])
        untouched = adapter.forward(inputs, replace={"block_input:1": lambda _h: None})
        skipped = adapter.forward(inputs, replace={"block_input:1": lambda _h: kept}, skip_blocks=1)
    assert torch.equal(same.logits, base.logits) and torch.equal(untouched.logits, base.logits)
    torch.testing.assert_close(skipped.logits, base.logits, rtol=0, atol=0)
    assert torch.equal(zeroed.captured["block_input:1"], torch.zeros_like(kept))
    assert (zeroed.logits - base.logits).abs().max() > 1e-4
    # the replaced value is what the next block sees: the zeroed forward equals running block 1 on zeros
    again = adapter.forward(inputs, embeddings=adapter.embed(inputs), replace={"block_output:0": torch.zeros_like})
    torch.testing.assert_close(again.logits, zeroed.logits, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("capture", "replace", "site"),
    [
        (["nope"], {}, "nope"),
        (["block_input:7"], {}, "block_input:7"),
        (["block_output:-3"], {}, "block_output:-3"),
        (["attention:x"], {}, "attention:x"),
        ([], {"attention:0": torch.zeros_like}, "attention:0"),
        ([], {"block_input:2": torch.zeros_like}, "block_input:2"),
        (["module:bert.nothing"], {}, "module:bert.nothing"),
        (["module:bert.pooler.dense.weight"], {}, "module:bert.pooler.dense.weight"),
    ],
)
def test_bad_sites_are_input_errors_naming_the_site(tiny, capture, replace, site):
    adapter = tiny["bert"]
    inputs = adapter.encode(TEXTS[:1]).inputs
    hooks = _snapshot(adapter)[2]
    with pytest.raises(InputError, match=re.escape(site)):
        adapter.forward(inputs, capture=capture, replace=replace)
    assert _hooks(adapter.model) == hooks


def test_captured_sites_carry_gradients(tiny):
    adapter = tiny["bert"]
    inputs = adapter.encode(TEXTS[:2]).inputs
    embeddings = adapter.embed(inputs).requires_grad_(True)
    out = adapter.forward(inputs, embeddings=embeddings, capture=["block_input:1", "embeddings"])
    hidden = out.captured["block_input:1"]
    assert hidden.requires_grad and out.captured["embeddings"] is embeddings
    (grad,) = torch.autograd.grad(out.logits[:, 2].sum(), hidden)
    assert grad.abs().sum() > 0
    # the same gradient as with that block input made a leaf and written back
    leaf = hidden.detach().clone().requires_grad_(True)
    logits = adapter.forward(inputs, replace={"block_input:1": lambda _h: leaf}).logits
    (direct,) = torch.autograd.grad(logits[:, 2].sum(), leaf)
    torch.testing.assert_close(grad, direct, rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------- 6. pooled runner
class _Counting:
    """The adapter, counting the rows that reach the model."""

    def __init__(self, adapter):
        self.adapter, self.rows = adapter, 0
        self.pad_token_id, self.num_labels = adapter.pad_token_id, adapter.num_labels

    def position_ids(self, attention_mask):
        return self.adapter.position_ids(attention_mask)

    def logits(self, inputs, *, batch_size=64):
        self.rows += len(inputs)
        return self.adapter.logits(inputs, batch_size=batch_size)


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_pooled_runner_equals_running_each_part_alone(tiny, family):
    adapter = tiny[family]
    wide = adapter.encode(TEXTS[:3]).inputs
    narrow = adapter.encode(["ok then", "Best concert ever"]).inputs.rows([1, 0, 1, 1, 0])
    single = adapter.encode(["a"]).inputs
    parts = [wide, narrow, single, wide.rows([2, 2])]
    assert len({p.input_ids.shape[1] for p in parts}) == 3
    counting = _Counting(adapter)
    pooled = run_pooled(counting, parts, batch_size=2)
    assert pooled.distinct == [3, 2, 1, 1] and pooled.rows_run == 7 and counting.rows == 7
    for part, logits in zip(parts, pooled.logits, strict=True):
        torch.testing.assert_close(logits, adapter.logits(part), rtol=0, atol=1e-5)
    repeated = pooled.logits[1]  # rows 1, 0, 1, 1, 0 of one encoding
    assert torch.equal(repeated[0], repeated[2]) and torch.equal(repeated[0], repeated[3])
    assert torch.equal(repeated[1], repeated[4]) and not torch.equal(repeated[0], repeated[1])
    assert torch.equal(pooled.logits[3][0], pooled.logits[3][1])
    assert run_pooled(adapter, []) == Pooled([], [])


# --------------------------------------------------------------------------- 7. token edits
def _span(batch, row, word):
    """Token positions [start, end) of word `word` of text `row`."""
    where = torch.nonzero(batch.feature_ids[row] == word).squeeze(1).tolist()
    return where[0], where[-1] + 1


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_edits_equal_encoding_the_edited_text(tiny, family):
    adapter = tiny[family]
    batch = adapter.encode([TEXTS[1], "the music was lovely."])  # row 1 is the shorter, padded one

    def ids(text):
        return tuple(adapter.tokenizer(text, add_special_tokens=False)["input_ids"])

    music, lovely, stop = _span(batch, 1, 1), _span(batch, 1, 3), _span(batch, 1, 4)
    variants = {
        "the day was lovely.": [Edit(*music, ids(" day"))],
        "the weather was lovely.": [Edit(*music, ids(" weather"))],
        "the music was not lovely.": [Edit(lovely[0], lovely[0], ids(" not"))],
        "the was lovely.": [Edit(*music)],
        "the day was very lovely": [Edit(*stop), Edit(lovely[0], lovely[0], ids(" very")), Edit(*music, ids(" day"))],
        "the music was lovely.": [],
    }
    edited = edit(adapter, batch, 1, list(variants.values()))
    direct = adapter.encode(list(variants))
    assert len(edited) == len(variants)
    assert edited.input_ids.shape[1] == max(direct.lengths)
    for i, n in enumerate(direct.lengths):
        for name in ("input_ids", "attention_mask", "position_ids", "token_type_ids"):
            got, want = getattr(edited, name), getattr(direct.inputs, name)
            assert (got is None) == (want is None), name
            if got is not None:
                assert got[i].tolist() == want[i].tolist(), (list(variants)[i], name)
        assert edited.attention_mask[i, :n].all() and not edited.attention_mask[i, n:].any()
    if family == "roberta":  # positions count real tokens from pad + 1; padding sits at the pad id
        pad = adapter.config.pad_token_id
        assert edited.position_ids[3, : direct.lengths[3]].tolist() == list(range(pad + 1, pad + 1 + direct.lengths[3]))
        assert edited.position_ids[3, direct.lengths[3] :].eq(pad).all()
    torch.testing.assert_close(adapter.logits(edited), adapter.logits(direct.inputs), rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "edits",
    [
        [Edit(0, 1, (5,))],  # [CLS]
        [Edit(6, 8)],  # '.' and [SEP]
        [Edit(0, 0, (5,))],  # before [CLS]
        [Edit(8, 8, (5,))],  # after [SEP]
        [Edit(1, 3, (5,)), Edit(2, 4)],  # overlapping
        [Edit(2, 3), Edit(1, 3)],  # overlapping, given out of order
        [Edit(3, 12)],  # past the end
        [Edit(-1, 2)],
        [Edit(3, 2)],
    ],
)
def test_bad_edits_are_input_errors(tiny, edits):
    adapter = tiny["bert"]
    batch = adapter.encode([TEXTS[1], "the music was lovely."])
    assert batch.lengths[1] == 8 and batch.special_mask[1, :8].tolist() == [True] + [False] * 6 + [True]
    with pytest.raises(InputError, match="variant 1"):
        edit(adapter, batch, 1, [[Edit(1, 2, (7,))], edits])


# --------------------------------------------------------------------------- 8. deep copies
def test_deepcopy_gives_an_independent_adapter_that_explains(tiny):
    adapter = tiny["bert"]
    inputs = adapter.encode(TEXTS[:2]).inputs
    before = adapter.forward(inputs).logits
    reference = explain(TEXTS[:2], adapter, "cp-lrp")
    clone = copy.deepcopy(adapter)
    assert clone.model is not adapter.model and clone.lock is not adapter.lock
    assert clone.tokenizer is not adapter.tokenizer
    sharing = copy.deepcopy(adapter, memo={id(adapter.tokenizer): adapter.tokenizer})
    assert sharing.tokenizer is adapter.tokenizer and sharing.lock is adapter.lock  # tokenize sets its state
    assert sharing.model is not adapter.model
    assert clone.embedding_module is clone.model.bert.embeddings
    assert all(a is b for a, b in zip(clone.layers, clone.model.bert.encoder.layer, strict=True))
    assert not any(a is b for a, b in zip(clone.layers, adapter.layers, strict=True))
    _same(explain(TEXTS[:2], clone, "cp-lrp"), reference)
    with torch.no_grad():
        clone.embedding_module.word_embeddings.weight.mul_(3.0)
        clone.layers[0].output.dense.weight.mul_(-2.0)
        clone.model.classifier.weight.add_(0.5)
    assert torch.equal(adapter.forward(inputs).logits, before)
    _same(explain(TEXTS[:2], adapter, "cp-lrp"), reference)
    assert (clone.forward(inputs).logits - before).abs().max() > 1e-3
    assert not torch.equal(clone.embed(inputs), adapter.embed(inputs))
    with torch.no_grad():
        out = clone.forward(inputs, capture=["block_input:1"], output_hidden_states=True)
    assert torch.equal(out.captured["block_input:1"], out.hidden_states[1])
    for name in ("cp-lrp", "layer-ig"):
        copied = _run(clone, TEXTS[:2], name)
        original = _run(adapter, TEXTS[:2], name)
        assert not np.allclose(copied[0].scores, original[0].scores)
        assert copied[0].layer_scores.shape == (2, 3, len(copied[0].tokens))
