"""Model loading, tokenization with offsets, word grouping and the adapter's forward paths."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from tests.tiny import FAMILIES, LABELS
from trexplain.errors import InputError, InputTooLongError, ModelLoadError, TargetError
from trexplain.models import ModelAdapter, load_model
from trexplain.models.words import group_words

TEXT = "I can't believe this just happened!"
WORDS = ["I", "can't", "believe", "this", "just", "happened", "!"]


@pytest.mark.parametrize("family", FAMILIES)
def test_words_roll_up_for_every_tokenizer(tiny, family):
    batch = tiny[family].encode([TEXT, "Unbelievable!!! Best  concert ever"])
    assert [TEXT[s:e] for s, e in batch.words[0]] == WORDS
    word_ids = batch.word_ids[0, : batch.lengths[0]]
    assert set(word_ids[word_ids >= 0].tolist()) == set(range(len(WORDS)))
    assert word_ids[0] == -1 and word_ids[batch.lengths[0] - 1] == -1
    for (s, e), token, word in zip(batch.offsets[0], batch.tokens[0], word_ids.tolist(), strict=True):
        piece = TEXT[s:e].strip()
        if word >= 0 and piece:
            ws, we = batch.words[0][word]
            assert piece in TEXT[ws:we], token
    assert [batch.texts[1][s:e] for s, e in batch.words[1]] == ["Unbelievable", "!!!", "Best", "concert", "ever"]


def test_word_grouping_merges_runs_a_token_straddles():
    text = "a.b c"
    word_ids, spans = group_words(text, [(0, 0), (0, 3), (4, 5), (0, 0)], [True, False, False, True])
    assert word_ids == [-1, 0, 1, -1]
    assert [text[s:e] for s, e in spans] == ["a.b", "c"]


@pytest.mark.parametrize("family", FAMILIES)
def test_embedding_override_reproduces_logits(tiny, family):
    adapter = tiny[family]
    batch = adapter.encode([TEXT, "ok"])
    plain = adapter.forward(batch.inputs).logits
    replayed = adapter.forward(batch.inputs, embeddings=adapter.embed(batch.inputs)).logits
    torch.testing.assert_close(plain, replayed, rtol=0, atol=0)
    assert not adapter.embedding_module._forward_hooks


@pytest.mark.parametrize("family", FAMILIES)
def test_logits_only_gives_the_same_logits_and_gradients_for_less_work(tiny, family):
    adapter = tiny[family]
    batch = adapter.encode([TEXT, "ok"])
    embeddings = adapter.embed(batch.inputs)
    results = []
    for logits_only in (False, True):
        leaf = embeddings.clone().requires_grad_(True)
        logits = adapter.forward(batch.inputs, embeddings=leaf, logits_only=logits_only).logits
        results.append((logits, torch.autograd.grad(logits[:, 1].sum(), leaf)[0]))
    (full, full_grad), (pruned, pruned_grad) = results
    torch.testing.assert_close(pruned, full, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(pruned_grad, full_grad, rtol=1e-5, atol=1e-7)
    feed_forward = adapter.layers[-1].get_submodule(adapter.family.feed_forward)
    seen = []
    handle = feed_forward.register_forward_hook(lambda _m, args, _out: seen.append(args[0].shape[1]))
    with adapter.head_token_only():
        adapter.forward(batch.inputs)
    handle.remove()
    assert seen == [1] and not feed_forward._forward_pre_hooks
    with pytest.raises(InputError, match="hidden states"):
        adapter.forward(batch.inputs, logits_only=True, output_hidden_states=True)


def test_logits_only_leaves_chunked_feed_forwards_alone(tiny):
    adapter = copy.deepcopy(tiny["distilbert"])
    adapter.model.config.chunk_size_feed_forward = 2
    for layer in adapter.layers:
        layer.ffn.chunk_size_feed_forward = 2
    batch = adapter.encode(["four tokens here"])
    assert batch.inputs.input_ids.shape[1] % 2 == 0
    full = adapter.forward(batch.inputs).logits
    torch.testing.assert_close(adapter.forward(batch.inputs, logits_only=True).logits, full, rtol=0, atol=0)


def test_roberta_positions_come_from_the_input(tiny):
    adapter = tiny["roberta"]
    batch = adapter.encode(["hello there friend", "hi"])
    pad = adapter.config.pad_token_id
    assert batch.inputs.position_ids[0].tolist()[:3] == [pad + 1, pad + 2, pad + 3]
    assert batch.inputs.position_ids[1, batch.lengths[1] :].eq(pad).all()


def test_labels_and_targets(tiny):
    adapter = tiny["bert"]
    assert adapter.labels == tuple(LABELS)
    assert adapter.label_index("positive") == 2 and adapter.label_index("Neutral") == 1 and adapter.label_index(0) == 0
    with pytest.raises(TargetError, match="negative, neutral, positive"):
        adapter.label_index("happy")


def test_too_long_is_an_error_unless_truncation_is_asked(tiny):
    adapter = tiny["bert"]
    text = " ".join(["word"] * 100)
    with pytest.raises(InputTooLongError, match=r"has \d+ tokens.*at most 64.*truncate"):
        adapter.encode([text])
    with pytest.warns(UserWarning, match="truncated"):
        batch = adapter.encode([text], truncate=True)
    assert batch.lengths == [64] and batch.truncated[0] > 0


@pytest.mark.parametrize("bad", ["", "   \n", None])
def test_empty_text_is_an_error(tiny, bad):
    with pytest.raises(InputError):
        tiny["bert"].encode([bad])


def test_load_errors_name_the_path_and_fix(tmp_path, tiny_dirs):
    with pytest.raises(ModelLoadError, match="no such folder"):
        load_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match=r"config\.json is missing"):
        load_model(tmp_path / "empty")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="corrupt"):
        load_model(corrupt)
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    for f in tiny_dirs["bert"].iterdir():
        if f.name != "model.safetensors":
            (pickled / f.name).write_bytes(f.read_bytes())
    model = load_model(tiny_dirs["bert"]).model
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="allow_pickle"):
        load_model(pickled)
    assert load_model(pickled, allow_pickle=True).num_labels == 3
    other = tmp_path / "gpt"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "t5"}))
    (other / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="not supported"):
        load_model(other)


def test_custom_module_protocol(tiny):
    hf = tiny["bert"]

    class Plain(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = hf.model

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    plain = Plain()
    adapter = ModelAdapter.from_module(plain, plain.inner.bert.embeddings, hf.tokenizer, LABELS)
    batch = adapter.encode([TEXT])
    torch.testing.assert_close(adapter.forward(batch.inputs).logits, hf.forward(batch.inputs).logits)


def test_demo_model_loads_with_labels(demo):
    assert demo.labels == ("negative", "neutral", "positive")
    assert demo.card and "held-out accuracy" in demo.card
    batch = demo.encode(["I love this, what a wonderful day!", "This is awful, I hate it."])
    predicted = demo.forward(batch.inputs).logits.argmax(-1).tolist()
    assert predicted == [2, 0]
