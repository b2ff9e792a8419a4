"""`load_model(attn_implementation=)` / `--attn-implementation`: eager by default (attention methods read its
probabilities), sdpa on request (the fused kernel the LRP rules run on for long inputs), with typed errors for a wrong
value and for an attention method asked of an sdpa model."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification
from typer.testing import CliRunner

from tests.test_decoders import TEXT, decoder_config, decoder_tokenizer
from trexplain.api import explain
from trexplain.cli import app
from trexplain.errors import MethodError, ModelLoadError
from trexplain.models.loading import load_model
from trexplain.runs import load_run


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    """A saved random Llama classifier with its tokenizer."""
    folder = tmp_path_factory.mktemp("llama")
    tokenizer = decoder_tokenizer("llama")
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(decoder_config("llama", len(tokenizer)))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def load(folder, **keywords):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the pad stand-in
        return load_model(folder, **keywords)


def test_eager_is_the_default_and_sdpa_is_set_on_request(llama_dir):
    assert load(llama_dir).model.config._attn_implementation == "eager"
    assert load(llama_dir, attn_implementation="sdpa").model.config._attn_implementation == "sdpa"


def test_sdpa_gives_the_eager_models_scores(llama_dir):
    """The same weights: logits and cp-lrp / gxi scores agree to float32 rounding."""
    eager, fused = load(llama_dir), load(llama_dir, attn_implementation="sdpa")
    for method in ("cp-lrp", "gxi"):
        a, b = explain([TEXT], eager, method)[0], explain([TEXT], fused, method)[0]
        np.testing.assert_allclose(a.logits, b.logits, atol=1e-5)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-4, rtol=1e-3)


def test_attention_methods_on_sdpa_name_the_fix(llama_dir, capfd):
    """Refused before the forward, so transformers' own warning about sdpa never reaches stderr."""
    with pytest.raises(MethodError, match="eager attention"):
        explain(TEXT, load(llama_dir, attn_implementation="sdpa"), "rollout")
    assert "output_attentions" not in capfd.readouterr().err


def test_an_unknown_attention_is_refused_before_loading():
    with pytest.raises(ModelLoadError, match="choose one of eager, sdpa"):
        load_model("no-such-folder", attn_implementation="flash")


def test_the_command_line_option(llama_dir):
    runner = CliRunner()
    args = ["explain", TEXT, "--model", str(llama_dir), "--method", "cp-lrp", "--json"]
    fused = runner.invoke(app, [*args, "--attn-implementation", "sdpa"])
    eager = runner.invoke(app, args)
    assert fused.exit_code == 0 and eager.exit_code == 0, fused.output + eager.output
    a, b = json.loads(eager.stdout), json.loads(fused.stdout)
    scores = [[e["scores"] for e in out["explanations"]] for out in (a, b)]
    np.testing.assert_allclose(*scores, atol=1e-4, rtol=1e-3)
    wrong = runner.invoke(app, [*args, "--attn-implementation", "flash"])
    assert wrong.exit_code == 2 and "choose one of eager, sdpa" in wrong.stderr


def test_run_takes_every_loading_option(llama_dir, tmp_path):
    """`trexplain run` passes the loading block whole (it used to fail on --offline with a TypeError)."""
    texts = tmp_path / "t.csv"
    texts.write_text("text\ngood day\nbad day\n")
    args = ["run", "--input", str(texts), "--out", str(tmp_path / "run"), "--model", str(llama_dir), "--method", "gxi"]
    result = CliRunner().invoke(app, [*args, "--attn-implementation", "sdpa", "--offline"])
    assert result.exit_code == 0, result.output
    explained = load_run(tmp_path / "run")
    assert [e.text for e in explained] == ["good day", "bad day"]
