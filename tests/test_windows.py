"""Long texts in overlapping windows: the split, the mean over windows, the whole-text prediction, one window being
the plain explanation, the CLI and the errors."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from trexplain import explain
from trexplain.cli import app
from trexplain.errors import InputError
from trexplain.evaluate.faithfulness import evaluate
from trexplain.methods import Targets, get_method
from trexplain.models.windows import split

SHORT = "I can't believe this just happened!"
LONG = " ".join(["The movie was wonderful, the acting superb and the music lovely."] * 4)
runner = CliRunner()


@pytest.mark.parametrize("method", ["gxi", "ig", "cp-lrp", "occlusion", "rollout"])
def test_a_text_that_fits_gives_the_same_scores_in_windows(tiny, method):
    adapter = tiny["roberta"]
    plain = explain(SHORT, adapter, method, target="all")[0]
    windowed = explain(SHORT, adapter, method, target="all", windows=True)[0]
    assert windowed.tokens == plain.tokens and windowed.diagnostics["windows"] == 1
    np.testing.assert_array_equal(windowed.scores, plain.scores)
    np.testing.assert_allclose(windowed.logits, plain.logits, rtol=1e-6)
    if plain.layer_scores is not None:
        np.testing.assert_array_equal(windowed.layer_scores, plain.layer_scores)


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_windows_cover_the_text_and_restart_positions(tiny, family):
    adapter = tiny[family]
    parts = split(adapter, LONG, stride=20)
    full_ids = adapter.tokenizer(LONG)["input_ids"]
    assert len(full_ids) > adapter.max_length and parts.layout.size == len(full_ids)
    assert len(parts.positions) >= 2 and parts.stride == 20
    covered = set()
    for row, where in enumerate(parts.positions):
        assert len(where) <= adapter.max_length
        assert parts.batch.inputs.input_ids[row, : len(where)].tolist() == [full_ids[p] for p in where]
        assert where[0] == 0 and where[-1] == len(full_ids) - 1  # every window has the text's specials
        covered.update(where)
    assert covered == set(range(len(full_ids)))
    starts = parts.starts
    assert starts[0] == 1 and all(0 < b - a <= 20 for a, b in itertools.pairwise(starts))
    if family == "roberta":  # positions of every window start after the padding index again
        pad = adapter.config.pad_token_id
        assert parts.batch.inputs.position_ids[:, 0].tolist() == [pad + 1] * len(starts)
    assert split(adapter, LONG).stride == (adapter.max_length - 2) // 2


def test_token_scores_are_the_mean_over_windows_and_logits_the_mean_logits(tiny):
    adapter = tiny["bert"]
    windowed = explain(LONG, adapter, "gxi", target="all", windows=True, stride=25)[0]
    parts = split(adapter, LONG, stride=25)
    window_logits = torch.tensor(windowed.diagnostics["window_logits"])
    np.testing.assert_allclose(windowed.logits, window_logits.mean(0).numpy(), rtol=1e-6)
    total, count = np.zeros((3, parts.layout.size)), np.zeros(parts.layout.size)
    for row, where in enumerate(parts.positions):  # each window explained alone
        alone = get_method("gxi").attribute(adapter, parts.batch.rows([row]), Targets("all", adapter))
        np.testing.assert_allclose(alone.logits[0].double().numpy(), window_logits[row].numpy(), rtol=1e-5)
        for k, p in enumerate(where):
            total[:, p] += alone.scores[0, :, k].double().numpy()
            count[p] += 1
    np.testing.assert_allclose(windowed.scores, total / count, rtol=1e-5, atol=1e-7)
    assert windowed.diagnostics["window_starts"] == parts.starts
    assert windowed.diagnostics["window_chars"] == [windowed.offsets[p][0] for p in parts.starts]
    predicted = explain(LONG, adapter, "gxi", windows=True, stride=25)[0]
    assert predicted.targets == (int(window_logits.mean(0).argmax()),)


def test_window_errors(tiny):
    adapter = tiny["bert"]
    with pytest.raises(InputError, match="windows=True"):
        explain(SHORT, adapter, stride=4)
    with pytest.raises(InputError, match="choose one"):
        explain(SHORT, adapter, windows=True, truncate=True)
    with pytest.raises(InputError, match="stride"):
        explain(SHORT, adapter, windows=True, stride=0)
    with pytest.raises(InputError, match="from 1 to the window"):
        explain(LONG, adapter, windows=True, stride=1000)
    with pytest.raises(InputError, match="pair cannot be windowed"):
        explain([(SHORT, SHORT)], adapter, windows=True)
    long = explain(LONG, adapter, "gxi", windows=True)
    with pytest.raises(InputError, match="windows"):
        evaluate(adapter, long)


def test_cli_windows(tiny_dirs):
    args = ["explain", LONG, "--model", str(tiny_dirs["bert"]), "--method", "gxi", "--windows", "--stride", "30"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    diagnostics = json.loads(result.stdout)["explanations"][0]["diagnostics"]
    assert diagnostics["windows"] >= 2 and diagnostics["window_stride"] == 30
    result = runner.invoke(app, ["explain", LONG, "--model", str(tiny_dirs["bert"]), "--method", "gxi"])
    assert result.exit_code != 0 and "--truncate" in result.output
