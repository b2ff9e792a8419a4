"""Activation extraction: values equal a direct forward, the store on disk, streaming memory, errors."""

from __future__ import annotations

import gc
import json
import tracemalloc

import numpy as np
import pytest
import torch

from trexplain.concepts import ActivationStore, extract
from trexplain.errors import InputError, InputTooLongError
from trexplain.progress import reporting

TEXTS = [
    "I can't believe this just happened!",
    "The movie was wonderful, the acting superb.",
    "boring",
    "Self-driving cars seem lazy; I don't trust them at all.",
    "Nothing special: an average day.",
]


def _reference(adapter, texts):
    batch = adapter.encode(texts)
    with torch.no_grad():
        out = adapter.forward(batch.inputs, output_hidden_states=True)
    return batch, out


@pytest.mark.parametrize("family", ["bert", "roberta", "distilbert"])
def test_values_equal_a_direct_forward_at_every_granularity(tiny, family):
    adapter = tiny[family]
    batch, out = _reference(adapter, TEXTS)
    last = out.hidden_states[-1]
    real = batch.inputs.attention_mask.bool()
    words = real & ~batch.special_mask

    def run(granularity, **kw):
        return extract(adapter, TEXTS, granularity=granularity, dtype="float32", batch_size=len(TEXTS), **kw)

    np.testing.assert_array_equal(run("cls").activations, last[:, 0].numpy())
    mean = (last * real[..., None]).sum(1) / real.sum(1, keepdim=True)
    np.testing.assert_array_equal(run("mean").activations, mean.numpy())
    tokens = run("token")
    np.testing.assert_array_equal(tokens.activations, last[words].numpy())
    rows, cols = words.nonzero(as_tuple=True)
    np.testing.assert_array_equal(tokens.text_ids, rows.numpy())
    np.testing.assert_array_equal(tokens.positions, cols.numpy())
    for reduce, fn in (("mean", lambda v: v.mean(0)), ("sum", lambda v: v.sum(0)), ("max", lambda v: v.max(0).values)):
        store = run("word", word_reduce=reduce)
        expected = [
            fn(last[t][batch.feature_ids[t] == w])
            for t, layout in enumerate(batch.layouts)
            for w in range(len(layout.words))
        ]
        np.testing.assert_allclose(store.activations, torch.stack(expected).numpy(), rtol=1e-6, atol=1e-6)
        assert [store.span_text(i) for i in range(len(store))] == [
            w for lay in batch.layouts for w in lay.feature_labels()
        ]
    np.testing.assert_array_equal(run("cls").logits, out.logits.numpy())


def test_other_sites_and_float16(tiny):
    adapter = tiny["bert"]
    batch, out = _reference(adapter, TEXTS)
    words = batch.inputs.attention_mask.bool() & ~batch.special_mask
    for site, hidden in (("embeddings", 0), ("block_output:0", 1), ("block_input:1", 1), ("block_output:1", 2)):
        store = extract(adapter, TEXTS, site, "token", dtype="float32", batch_size=len(TEXTS))
        np.testing.assert_array_equal(store.activations, out.hidden_states[hidden][words].numpy())
    half = extract(adapter, TEXTS, granularity="token", batch_size=2)
    assert half.activations.dtype == np.float16
    np.testing.assert_allclose(half.activations, out.hidden_states[-1][words].numpy(), rtol=1e-3, atol=1e-3)
    pooled = extract(adapter, TEXTS, "module:bert.pooler", "cls", dtype="float32", batch_size=len(TEXTS))
    expected = adapter.model.bert.pooler(out.hidden_states[-1]).detach().numpy()
    np.testing.assert_allclose(pooled.activations, expected, rtol=1e-6, atol=1e-6)
    with pytest.raises(InputError, match="one vector per text"):
        extract(adapter, TEXTS, "module:bert.pooler", "token")


def test_logits_only_only_where_the_site_survives_it(tiny, monkeypatch):
    """logits_only runs the last feed-forward on the first token: fine for cls and earlier sites, not for the
    other rows of the last block's output (those rows would be wrong, see the test above)."""
    adapter = tiny["bert"]
    seen = []
    forward = type(adapter).forward

    def spy(self, inputs, **kw):
        seen.append(kw["logits_only"])
        return forward(self, inputs, **kw)

    monkeypatch.setattr(type(adapter), "forward", spy)
    for site, granularity, fast in (
        ("block_output:-1", "cls", True),
        ("block_output:1", "token", False),
        ("block_output:-1", "mean", False),
        ("block_output:-1", "word", False),
        ("block_output:0", "token", True),
        ("block_input:-1", "token", True),
        ("module:bert.encoder.layer.1.output", "token", False),
        ("module:bert.encoder.layer.1.output", "cls", True),
    ):
        seen.clear()
        extract(adapter, TEXTS[:2], site, granularity)
        assert seen == [fast], (site, granularity)


def test_store_on_disk_reopens_streams_and_selects(tiny, tmp_path):
    adapter = tiny["bert"]
    texts = TEXTS * 3
    out = tmp_path / "store"
    extract(adapter, texts, granularity="word", out=out, batch_size=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["manifest.json", "texts.jsonl", "logits.npy", "activations.npy", "text_ids.npy", "positions.npy", "spans.npy"]
    )
    memory = extract(adapter, texts, granularity="word", batch_size=4)
    again = ActivationStore.open(out)
    assert isinstance(again.activations, np.memmap)
    np.testing.assert_array_equal(again.activations, memory.activations)
    np.testing.assert_array_equal(again.text_ids, memory.text_ids)
    np.testing.assert_array_equal(again.spans, memory.spans)
    np.testing.assert_array_equal(again.logits, memory.logits)
    assert again.texts == texts
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows"] == len(again) == len(memory) == again.activations.shape[0]
    assert manifest | {"rows": 0} == {
        "format": "trexplain-activations",
        "version": 1,
        "model": adapter.name,
        "labels": list(adapter.labels),
        "site": "block_output:-1",
        "granularity": "word",
        "word_reduce": "mean",
        "dtype": "float16",
        "rows": 0,
        "dim": 32,
        "texts": 15,
        "truncated_texts": 0,
    }
    assert (again.rows["text_id"].to_numpy() == again.text_ids).all()
    np.testing.assert_array_equal(again.predicted, again.logits.argmax(1)[again.text_ids])

    for shuffle in (False, True):
        chunks = list(again.batches(7, shuffle=shuffle, seed=3))
        assert all(c.dtype == np.float32 and len(c) <= 7 for c in chunks)
        stacked = np.concatenate(chunks)
        key = np.lexsort(stacked.T)
        np.testing.assert_array_equal(
            stacked[key], again.activations.astype(np.float32)[np.lexsort(again.activations.T)]
        )

    cls = int(again.predicted[0])
    picked = again.select(predicted=adapter.labels[cls])
    assert len(picked) == int((again.predicted == cls).sum()) > 0
    assert (picked.predicted == cls).all()
    np.testing.assert_array_equal(picked.activations, again.activations[again.predicted == cls])
    np.testing.assert_array_equal(np.concatenate(list(picked.batches(5))), picked.to_numpy())
    some = again.select(text_ids=[1, 4])
    assert set(some.text_ids.tolist()) == {1, 4}
    assert len(again.select(predicted=[i for i in range(3) if i != cls])) == len(again) - len(picked)
    with pytest.raises(InputError, match="classes"):
        again.select(predicted="nope")


def test_failed_extraction_leaves_nothing_and_existing_folders_are_kept(tiny, tmp_path, monkeypatch):
    adapter = tiny["bert"]
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep")
    with pytest.raises(InputError, match="already exists"):
        extract(adapter, TEXTS, out=tmp_path / "full")
    calls = []
    forward = type(adapter).forward

    def failing(self, inputs, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return forward(self, inputs, **kw)

    monkeypatch.setattr(type(adapter), "forward", failing)
    with pytest.raises(RuntimeError, match="boom"):
        extract(adapter, TEXTS, out=tmp_path / "new", batch_size=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]
    assert (tmp_path / "full" / "x").read_text() == "keep"


def test_bad_arguments_name_the_options(tiny):
    adapter = tiny["bert"]
    for kwargs, match in (
        ({"granularity": "sentence"}, "cls, mean, token, word"),
        ({"word_reduce": "median"}, "mean, sum, max"),
        ({"dtype": "int8"}, "float16, float32"),
        ({"site": "block_output:7"}, r"blocks 0\.\.1"),
        ({"site": "layer:1"}, "embeddings, block_input:L, block_output:L"),
        ({"site": "attention:0"}, "attention probabilities"),
        ({"batch_size": 0}, "at least 1"),
    ):
        with pytest.raises(InputError, match=match):
            extract(adapter, TEXTS, **kwargs)
    with pytest.raises(InputError, match="text 6 is empty"):
        extract(adapter, [*TEXTS, "fine", " "], batch_size=4)
    with pytest.raises(InputError, match="no texts"):
        extract(adapter, [])


def test_truncation_is_an_error_or_recorded(tiny):
    adapter = tiny["bert"]
    long = " ".join(["word"] * 200)
    with pytest.raises(InputTooLongError, match="counting from text 4"):
        extract(adapter, [*TEXTS[:4], long], batch_size=2)
    with pytest.warns(UserWarning, match="1 text"):
        store = extract(adapter, [*TEXTS[:4], long], batch_size=2, truncate=True, granularity="token")
    assert store.manifest["truncated_texts"] == 1
    assert int((store.text_ids == 4).sum()) == adapter.max_length - 2


class _Recorder:
    def __init__(self):
        self.events = []

    def start(self, label, total):
        self.events.append(("start", label, total))
        return 0

    def advance(self, task, amount):
        self.events.append(("advance", amount))

    def finish(self, task):
        self.events.append(("finish",))

    def note(self, message):
        self.events.append(("note", message))


def test_progress_counts_texts(tiny):
    recorder = _Recorder()
    with reporting(recorder):
        extract(tiny["bert"], TEXTS * 2, batch_size=4)
    assert recorder.events[0] == ("start", "activations at block_output:-1 (cls)", 10)
    assert [e[1] for e in recorder.events if e[0] == "advance"] == [4, 4, 2]
    assert recorder.events[-1] == ("finish",)


class _Collector(_Recorder):
    """A reporter that runs a full garbage collection after every batch: that empties CPython's free lists,
    whose recycled tuples tracemalloc counts as live (they grow to a few MiB whatever the extraction does)."""

    def advance(self, task, amount):
        gc.collect()


def test_memory_stays_flat_as_texts_grow(tiny, tmp_path):
    """Streaming: peak traced memory for 2,000 texts stays within 1.5x of that for 200 (one batch at a time)."""
    adapter = tiny["bert"]
    words = ["good", "bad", "film", "day", "music", "great", "awful", "boring", "lovely", "time"]
    texts = [" ".join(words[(i + j) % len(words)] for j in range(3 + i % 5)) for i in range(2000)]
    extract(adapter, texts[:64], granularity="token", out=tmp_path / "warm")
    peaks = {}
    gc.freeze()  # collections then only scan what extraction allocates: fast
    try:
        with reporting(_Collector()):
            for n in (200, 2000):
                tracemalloc.start()
                store = extract(adapter, texts[:n], granularity="token", out=tmp_path / f"s{n}")
                peaks[n] = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                assert len(store.texts) == n
    finally:
        gc.unfreeze()
    assert peaks[2000] < 1.5 * peaks[200], peaks
