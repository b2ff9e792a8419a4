"""The demo's masked-word heads: they load, predict at every layer, beat chance on held-out tweets, and the
`layers` command uses them by default."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from trexplain.cli import app
from trexplain.errors import ModelLoadError
from trexplain.inspect import layer_predictions, load_masked_lm
from trexplain.inspect.layer_heads import HEAD_FILE, LayerHeads
from trexplain.models.demo import DEMO_DIR, corpus_path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from train_mlm_head import maskable

runner = CliRunner()


@pytest.fixture(scope="module")
def lm():
    return load_masked_lm("demo")


def test_heads_ship_small_in_float16_one_per_hidden_state(lm):
    path = DEMO_DIR / HEAD_FILE
    assert path.stat().st_size < 3_000_000
    assert lm.layer_heads.n_states == lm.model.config.num_hidden_layers + 1 == 7
    metrics = json.loads((DEMO_DIR / "masked_head.json").read_text())
    assert [row["hidden_state"] for row in metrics["layers"]] == list(range(7))


def test_predictions_at_every_layer_are_a_distribution_over_the_word_list(lm):
    result = layer_predictions(lm, "The movie was great", "movie", k=5)
    assert result.masked_text == "The [MASK] was great"
    assert [layer["layer"] for layer in result.layers] == list(range(7))
    states = lm.model(**lm.tokenizer(["The [MASK] was great"], return_tensors="pt"), output_hidden_states=True)
    logits = lm.vocabulary_logits(torch.stack([h[0, 2] for h in states.hidden_states]))
    probabilities = torch.softmax(logits, -1)
    assert torch.allclose(probabilities.sum(-1), torch.ones(7), atol=1e-5)
    outside = torch.ones(logits.shape[-1], dtype=torch.bool)
    outside[lm.layer_heads.vocabulary] = False
    assert probabilities[:, outside].max() == 0  # only words of the heads' list can be guessed
    for layer, row in zip(result.layers, probabilities, strict=True):
        top = row.topk(5)
        assert layer["tokens"] == lm.tokenizer.convert_ids_to_tokens(top.indices.tolist())
        assert layer["probabilities"] == pytest.approx(top.values.tolist(), abs=1e-6)
        assert layer["word_rank"] is None  # 'movie' is not among the heads' words: no rank (test_cli_mistakes.py)
    assert "not among the 1800 words" in result.rank_note


def test_held_out_top5_accuracy_is_far_above_chance(lm):
    """150 held-out tweets, one whole single-token word of each masked (as the training script masks): the best
    layer's top-5 accuracy is over ten times chance (5 guesses among the heads' word list), and within reach of
    always guessing the 5 most frequent training words (the card's floor; these heads are small)."""
    corpus = pd.read_csv(corpus_path())
    hits, count = torch.zeros(7), 0
    for text in corpus.loc[corpus["split"] == "test", "text"][:150]:
        ids = lm.tokenizer(text, truncation=True, max_length=64)["input_ids"]
        positions = maskable(lm.tokenizer.convert_ids_to_tokens(ids))
        if not positions:
            continue
        word = lm.tokenizer.convert_ids_to_tokens([ids[positions[len(positions) // 2]]])[0]
        result = layer_predictions(lm, text, word, k=5)
        ranks = [layer["word_rank"] for layer in result.layers]  # None: a word outside the heads' list, a miss
        hits += torch.tensor([rank is not None and rank <= 5 for rank in ranks], dtype=torch.float)
        count += 1
    accuracy = hits / count
    floor = json.loads((DEMO_DIR / "masked_head.json").read_text())["most_frequent_5_floor_top5"]
    chance = 5 / len(lm.layer_heads.vocabulary)
    assert count > 100 and accuracy.max() > max(10 * chance, 0.8 * floor), (accuracy, chance, floor)


def test_layers_command_works_on_the_demo_by_default():
    result = runner.invoke(app, ["layers", "The movie was great", "--mask", "movie", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["masked_text"] == "The [MASK] was great" and len(data["layers"]) == 7
    shown = runner.invoke(app, ["layers", "The movie was great", "--mask", "movie"])
    assert shown.exit_code == 0 and "movie" in shown.output


def test_a_missing_or_foreign_head_file_is_a_load_error(tmp_path):
    embeddings = torch.randn(10, 4)
    with pytest.raises(ModelLoadError, match="missing"):
        LayerHeads.load(tmp_path / HEAD_FILE, embeddings)
    LayerHeads(embeddings, torch.tensor([1, 3, 5]), 2).save(tmp_path / HEAD_FILE)
    assert LayerHeads.load(tmp_path / HEAD_FILE, embeddings).n_states == 2
    with pytest.raises(ModelLoadError, match="does not fit"):
        LayerHeads.load(tmp_path / HEAD_FILE, torch.randn(10, 6))
