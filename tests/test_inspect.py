"""Looking inside: attention export, per-layer masked-LM predictions, corpus index and nearest neighbours."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForMaskedLM
from typer.testing import CliRunner

from tests.tiny import CORPUS, save_tiny
from trexplain.cli import app
from trexplain.errors import InputError
from trexplain.inspect.attention_maps import attention_maps
from trexplain.inspect.masked_layers import NoMaskedLMHeadError, layer_predictions, load_masked_lm, mask_word
from trexplain.inspect.neighbours import CorpusIndex, build_index, neighbours

runner = CliRunner()
TEXT = "The movie was wonderful, the acting superb and the music lovely."


# ------------------------------------------------------------------ attention maps
def test_attention_maps_equal_model_attentions(tiny):
    adapter = tiny["roberta"]
    maps = attention_maps(adapter, TEXT)
    batch = adapter.encode([TEXT])
    with torch.no_grad():
        expected = torch.stack(adapter.forward(batch.inputs, output_attentions=True).attentions, 1)[0].numpy()
    assert maps.attention.shape == (2, 4, len(maps.tokens), len(maps.tokens))
    np.testing.assert_allclose(maps.attention, expected, atol=0)
    np.testing.assert_allclose(maps.attention.sum(-1), 1.0, atol=1e-5)
    assert maps.tokens == batch.tokens[0] and maps.offsets == batch.offsets[0]


def test_attention_json_layout_and_selection(tiny):
    adapter = tiny["bert"]
    full = attention_maps(adapter, TEXT)
    one = attention_maps(adapter, TEXT, layer=-1, head=2)
    assert one.layers == [1] and one.heads == [2]
    np.testing.assert_array_equal(one.attention[0, 0], full.attention[1, 2])
    data = json.loads(json.dumps(full.to_dict(decimals=3)))
    assert {"tokens", "offsets", "attention"} <= set(data)
    grid = np.array(data["attention"])
    assert grid.shape == full.attention.shape
    assert np.abs(grid - full.attention).max() <= 5e-4 + 1e-9
    with pytest.raises(InputError, match="has 4 heads"):
        attention_maps(adapter, TEXT, head=4)


def test_top_links_skip_specials_and_self(tiny):
    maps = attention_maps(tiny["bert"], TEXT)
    summary = maps.top_links(3)
    assert len(summary) == 2 * 4
    for entry in summary:
        weights = [w for _, _, w in entry["links"]]
        assert weights == sorted(weights, reverse=True)
        for q, k, w in entry["links"]:
            assert q != k and not maps.special[q] and not maps.special[k]
            assert w == pytest.approx(float(maps.attention[maps.layers.index(entry["layer"]), entry["head"], q, k]))
    off_diagonal = np.where(np.eye(len(maps.tokens), dtype=bool), -1.0, maps.attention)
    strongest = [e["links"][0][2] for e in maps.top_links(1, include_special=True)]
    np.testing.assert_allclose(strongest, off_diagonal.reshape(8, -1).max(-1))


# ----------------------------------------------------------------- masked layers
@pytest.fixture(scope="module")
def mlm_dirs(tmp_path_factory):
    """Random tiny masked-LM models (BERT, RoBERTa, DistilBERT, ELECTRA heads) saved with their tokenizers."""
    root = tmp_path_factory.mktemp("mlm")
    out = {}
    for family in ("bert", "roberta", "distilbert", "electra"):
        out[family] = save_tiny(family, root / family, seed=1, head=AutoModelForMaskedLM)
    return out


@pytest.mark.parametrize("family", ["bert", "roberta", "distilbert", "electra"])
def test_last_layer_equals_model_output(mlm_dirs, family):
    lm = load_masked_lm(mlm_dirs[family])
    result = layer_predictions(lm, TEXT, "movie", k=5)
    assert [e["layer"] for e in result.layers] == [0, 1, 2]  # embeddings + 2 blocks
    enc = lm.tokenizer([result.masked_text], return_tensors="pt")
    with torch.no_grad():
        out = lm.model(**enc, output_hidden_states=True)
        torch.testing.assert_close(lm.head(out.hidden_states[-1]), out.logits, rtol=0, atol=1e-6)
    probs = torch.softmax(out.logits[0, result.position], -1)
    top = probs.topk(5)
    last = result.layers[-1]
    assert last["tokens"] == lm.tokenizer.convert_ids_to_tokens(top.indices.tolist())
    np.testing.assert_allclose(last["probabilities"], top.values.numpy(), atol=1e-6)
    assert result.tokens[result.position] == lm.tokenizer.mask_token


def test_classifiers_have_no_masked_lm_head(tiny_dirs):
    """A classifier folder has no masked-LM head (the demo ships its own: tests/test_masked_head.py)."""
    with pytest.raises(NoMaskedLMHeadError, match="classifier"):
        load_masked_lm(tiny_dirs["bert"])
    result = runner.invoke(app, ["layers", "I love it", "--mask", "love", "--model", str(tiny_dirs["bert"])])
    assert result.exit_code == 2 and "masked-LM head" in result.output and "neighbours" in result.output


def test_mask_word():
    assert mask_word("I love it, lovely", "love", "[MASK]") == "I [MASK] it, lovely"
    assert mask_word("Love it", "love", "[MASK]") == "[MASK] it"
    assert mask_word("a [MASK] b", None, "[MASK]") == "a [MASK] b"
    with pytest.raises(InputError, match="does not occur"):
        mask_word("I love it", "hate", "[MASK]")


# -------------------------------------------------------------------- neighbours
@pytest.fixture(scope="module")
def corpus_index(tiny, tmp_path_factory):
    texts = [*sorted(set(CORPUS) - {TEXT}), "", TEXT]
    path = tmp_path_factory.mktemp("index")
    return build_index(tiny["bert"], texts, path, model_source="tiny-bert", batch_size=3), texts


def test_index_layout(tiny, corpus_index):
    index, texts = corpus_index
    adapter = tiny["bert"]
    real = [t for t in texts if t.strip()]
    expected_tokens = sum(len(ids) for ids in adapter.tokenizer(real)["input_ids"])
    assert index.vectors.shape == (3, expected_tokens, 32) and index.vectors.dtype == np.float16
    assert index.meta["texts"] == len(real) and index.meta["tokens"] == expected_tokens
    np.testing.assert_allclose(np.linalg.norm(index.vectors[1].astype(np.float32), axis=-1), 1.0, atol=2e-3)
    rows = index.table[index.table.text_id == texts.index(TEXT)]
    assert rows.position.tolist() == list(range(len(rows)))
    assert rows.token.tolist() == adapter.tokenizer.tokenize(TEXT, add_special_tokens=True)
    for row in rows[~rows.special].itertuples():
        assert TEXT[row.start : row.end].lower() == row.token.removeprefix("##")
    reopened = CorpusIndex.open(index.path)
    assert len(reopened) == len(index) and reopened.meta == index.meta


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_nearest_neighbour_is_itself(tiny, corpus_index, layer):
    index, texts = corpus_index
    result = neighbours(tiny["bert"], index, TEXT, "music", layer, k=5)
    first = result.neighbours[0]
    assert (first.text_id, first.position) == (texts.index(TEXT), result.token)
    assert first.token == result.tokens[result.token]
    assert first.similarity == pytest.approx(1.0, abs=2e-3)
    sims = [n.similarity for n in result.neighbours]
    assert sims == sorted(sims, reverse=True) and len(sims) == 5
    assert "[[" + TEXT[first.start : first.end] + "]]" in first.context() and first.start == TEXT.index("music")
    assert not any(n.token in ("[CLS]", "[SEP]") for n in result.neighbours)


def test_index_of_chosen_layers(tiny, corpus_index, tmp_path):
    full, texts = corpus_index
    last_only = build_index(tiny["bert"], texts, tmp_path, model_source="tiny-bert", layers=[-1, 0], batch_size=3)
    assert last_only.layers == [0, 2] and last_only.vectors.shape[0] == 2
    np.testing.assert_array_equal(last_only.vectors[1], full.vectors[2])
    ours = neighbours(tiny["bert"], last_only, TEXT, "music", -1, k=4).neighbours
    theirs = neighbours(tiny["bert"], full, TEXT, "music", 2, k=4).neighbours
    assert ours == theirs
    with pytest.raises(InputError, match="not in this index"):
        neighbours(tiny["bert"], last_only, TEXT, "music", 1)


def test_chunked_search_equals_one_chunk(tiny, corpus_index):
    index, _ = corpus_index
    query = torch.randn(32, generator=torch.Generator().manual_seed(0))
    whole = index.search(query, 1, k=7)
    chunked = index.search(query, 1, k=7, chunk=5)
    assert [(n.text_id, n.position) for n in whole] == [(n.text_id, n.position) for n in chunked]
    vectors = torch.from_numpy(index.vectors[1].astype(np.float32))
    sims = vectors @ torch.nn.functional.normalize(query, dim=0)
    sims[torch.tensor(index.table.special.to_numpy())] = -torch.inf
    np.testing.assert_allclose([n.similarity for n in whole], sims.topk(7).values.numpy(), atol=1e-6)


def test_query_with_another_model_is_an_error(tiny, corpus_index):
    index, _ = corpus_index
    with pytest.raises(InputError, match="same model"):
        neighbours(tiny["roberta"], index, TEXT, "music", 1)
    with pytest.raises(InputError, match="Tokens: 0:"):
        neighbours(tiny["bert"], index, TEXT, "cinema", 1)


def test_cli_index_and_neighbours(tiny_dirs, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(sorted(set(CORPUS))) + "\n")
    out = tmp_path / "idx"
    result = runner.invoke(app, ["index", str(corpus), "--model", str(tiny_dirs["bert"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    query = "The movie was wonderful, the acting superb and the music lovely."
    args = ["neighbours", query, "--index", str(out), "--token", "music", "--layer", "1", "-k", "3", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["neighbours"]) == 3
    top = data["neighbours"][0]
    assert (
        top["token"] == data["tokens"][data["token"]]
        and top["start"] == query.index("music")
        and top["similarity"] == pytest.approx(1.0, abs=2e-3)
    )
    result = runner.invoke(app, ["attention", "I love it", "--model", str(tiny_dirs["bert"]), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    n = len(data["tokens"])
    assert np.array(data["attention"]).shape == (2, 4, n, n) and len(data["offsets"]) == n


def test_search_equals_float32_brute_force():
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(64, generator=generator)
    # Many near-duplicates of one direction: float16 scores tie, the float32 rescoring must still rank exactly.
    raw = base + 0.05 * torch.randn(3000, 64, generator=generator)
    vectors = torch.nn.functional.normalize(raw, dim=-1).half().numpy()[None]
    special = np.arange(3000) % 50 == 0
    table = pd.DataFrame({"text_id": 0, "position": np.arange(3000), "token": "x", "start": 0, "end": 1})
    table["special"] = special
    index = CorpusIndex(Path("."), {}, table, ["x"], vectors)
    found = index.search(base, 0, k=20, chunk=700)
    scores = torch.from_numpy(vectors[0].astype(np.float32)) @ torch.nn.functional.normalize(base, dim=0)
    scores[torch.from_numpy(special)] = -torch.inf
    expected = scores.topk(20)
    assert [n.position for n in found] == expected.indices.tolist()
    np.testing.assert_allclose([n.similarity for n in found], expected.values.numpy(), atol=1e-6)
