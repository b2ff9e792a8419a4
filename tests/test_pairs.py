"""Sentence pairs: encoding with token types, segments in the layout, scores equal to the same tokens encoded by
hand, perturbation keeping the separator, evaluation, records and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.tiny import save_tiny
from trexplain import explain
from trexplain.cli import app
from trexplain.errors import InputError
from trexplain.evaluate.faithfulness import evaluate
from trexplain.explanation import Explanation
from trexplain.layout import PAIR_SEPARATOR, TextLayout
from trexplain.methods import Targets, get_method
from trexplain.models import load_model
from trexplain.models.batch import Batch, ModelInputs
from trexplain.perturb import remove

PREMISE, HYPOTHESIS = "A cat sat on the mat.", "The cat is sitting!"
PAIR = (PREMISE, HYPOTHESIS)
runner = CliRunner()


@pytest.fixture(scope="module")
def adapters(tiny, tmp_path_factory):
    """The older families' tiny models plus ALBERT's (SentencePiece pairs with token type ids)."""
    return {**tiny, "albert": load_model(save_tiny("albert", tmp_path_factory.mktemp("pairs") / "albert"))}


def test_pair_layout_has_both_segments_and_token_types(tiny):
    adapter = tiny["bert"]
    batch = adapter.encode([PAIR, "Just one text."])
    layout = batch.layouts[0]
    assert layout.text == PREMISE + PAIR_SEPARATOR + HYPOTHESIS and layout.source == PAIR
    assert [layout.text[s:e] for s, e in layout.segments] == [PREMISE, HYPOTHESIS]
    assert layout.feature_labels() == ["A", "cat", "sat", "on", "the", "mat", ".", "The", "cat", "is", "sitting", "!"]
    assert layout.word_segments() == [0] * 7 + [1] * 5
    n = layout.size
    types = batch.inputs.token_type_ids[0, :n].tolist()
    segments = layout.token_segments()
    separator = layout.tokens.index("[SEP]")
    assert types == [0] * (separator + 1) + [1] * (n - separator - 1)
    assert all(seg == -1 for seg, fixed in zip(segments, layout.special, strict=True) if fixed)
    assert all(seg == t for seg, t, fixed in zip(segments, types, layout.special, strict=True) if not fixed)
    assert batch.layouts[1].segments == () and batch.layouts[1].source == "Just one text."
    again = TextLayout.from_dict(layout.to_dict())
    assert again == layout and TextLayout.from_dict(batch.layouts[1].to_dict()).segments == ()
    old = {k: v for k, v in layout.to_dict().items() if k != "segments"}  # a record written before pairs
    assert TextLayout.from_dict(old).segments == ()


@pytest.mark.parametrize("family", ["bert", "roberta", "albert"])
@pytest.mark.parametrize("method", ["gxi", "ig", "cp-lrp", "occlusion"])
def test_pair_scores_equal_the_same_tokens_encoded_by_hand(adapters, family, method):
    adapter = adapters[family]
    explained = explain(pairs=[PAIR], model=adapter, method=method, target="all")[0]
    enc = adapter.tokenizer(PREMISE, HYPOTHESIS, return_tensors="pt", return_token_type_ids=True)
    mask = enc["attention_mask"]
    types = enc["token_type_ids"] if adapter.family.token_types else None
    inputs = ModelInputs(enc["input_ids"], mask, adapter.position_ids(mask), types)
    special = torch.tensor([explained.special])
    batch = Batch(inputs, [explained.layout], special, torch.tensor([explained.word_ids]), [0])
    by_hand = get_method(method).attribute(adapter, batch, Targets("all", adapter))
    assert explained.tokens == tuple(adapter.tokenizer.convert_ids_to_tokens(enc["input_ids"][0]))
    np.testing.assert_allclose(explained.scores, by_hand.scores[0].numpy(), rtol=1e-5, atol=1e-6)
    if family == "albert":
        assert types[0].tolist() != [0] * types.shape[1]


def test_perturbation_never_moves_the_separator(tiny):
    adapter = tiny["bert"]
    batch = adapter.encode([PAIR])
    everything = batch.maskable[0][None]
    for strategy in ("delete", "mask", "pad"):
        out = remove(adapter, batch, 0, everything, strategy)
        ids = out.input_ids[0][out.attention_mask[0].bool()].tolist()
        tokens = adapter.tokenizer.convert_ids_to_tokens(ids)
        assert tokens.count("[SEP]") == 2 and tokens[0] == "[CLS]" and tokens[-1] == "[SEP]", strategy
        if strategy == "delete":
            assert out.token_type_ids[0, : len(ids)].tolist() == [0, 0, 1]


def test_pair_explanations_evaluate_and_record_segments(tiny):
    adapter = tiny["bert"]
    explanations = explain([PAIR], adapter, "gxi", target="all")
    result = evaluate(adapter, explanations)
    assert len(result.results) == 3
    assert result.results[0].probability == pytest.approx(float(explanations[0].probabilities[0]), rel=1e-5)
    entry = explanations[0].record()[0]
    assert [w["segment"] for w in entry["words"]] == explanations[0].layout.word_segments()
    assert Explanation.from_dict(explanations[0].to_dict()).layout.segments == explanations[0].layout.segments


def test_bad_pairs_are_input_errors(tiny):
    with pytest.raises(InputError, match="not both"):
        explain(["a"], tiny["bert"], pairs=[PAIR])
    with pytest.raises(InputError, match="not a \\(first, second\\) tuple"):
        explain(pairs=["just a string"], model=tiny["bert"])
    with pytest.raises(InputError, match="second of the pair"):
        tiny["bert"].encode([("fine", "   ")])


def test_cli_text2_and_pair_column(tmp_path, tiny_dirs):
    model = str(tiny_dirs["bert"])
    result = runner.invoke(
        app, ["explain", PREMISE, "--text2", HYPOTHESIS, "--model", model, "--json", "--method", "gxi"]
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["segments"] == [[0, len(PREMISE)], [len(PREMISE) + 3, len(record["text"])]]
    assert {w["segment"] for w in record["explanations"][0]["words"]} == {0, 1}
    data = tmp_path / "nli.csv"
    data.write_text(f"premise,hypothesis\n{PREMISE},{HYPOTHESIS}\nIt rains.,It is dry.\n")
    args = ["explain", "-i", str(data), "--text-column", "premise", "--pair-column", "hypothesis", "--model", model]
    result = runner.invoke(app, [*args, "--json", "--method", "gxi"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["text"] for r in records] == [PREMISE + PAIR_SEPARATOR + HYPOTHESIS, "It rains. ‖ It is dry."]
    result = runner.invoke(app, ["explain", "a", "b", "--text2", "c", "--model", model])
    assert result.exit_code != 0 and "one to one" in result.output


def test_pairs_keep_their_segments_in_arrow_and_old_tables_still_read(tiny):
    pytest.importorskip("pyarrow", reason="Arrow export needs the arrow extra")
    from trexplain.arrow import from_arrow, to_arrow

    explanations = explain([PAIR, "One text."], tiny["bert"], "gxi")
    table = to_arrow(explanations)
    back = from_arrow(table)
    assert back[0].layout.segments == explanations[0].layout.segments and back[1].layout.segments == ()
    assert back == explanations
    older = table.drop_columns(["segments"])  # a table written before pairs existed
    assert [e.layout.segments for e in from_arrow(older)] == [(), ()]
