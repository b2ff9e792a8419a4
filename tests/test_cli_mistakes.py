"""Mistakes a new user makes on the command line are named, not accepted silently: a file path given as a text, the
text demo asked to explain images, other libraries' method names, the masked word's own rank per layer, and no
loading bars of transformers on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from trexplain.cli import app
from trexplain.cli.common import warn_if_path
from trexplain.inspect import layer_predictions, load_masked_lm

ROOT = Path(__file__).resolve().parents[1]
TWEETS = ROOT / "examples" / "tweets.csv"
runner = CliRunner()


# ------------------------------------------------------------------ a path given as a text
def test_a_file_path_given_as_text_is_explained_with_a_warning_naming_input():
    """Still explained (the text could be one: a warning, not an error), but stderr names `--input PATH`."""
    result = runner.invoke(app, ["explain", str(TWEETS), "--method", "gxi", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["text"] == str(TWEETS)
    assert result.stderr.splitlines() == [
        f"warning: {str(TWEETS)!r} looks like a file; did you mean `--input {TWEETS}`? (explained as a text)"
    ]


def test_an_image_models_text_arguments_are_image_paths_without_a_warning():
    """An image classifier reads TEXT arguments as image files, so a path there is no mistake."""
    sample = ROOT / "src" / "trexplain" / "models" / "vit_demo" / "samples" / "digit-3.png"
    result = runner.invoke(app, ["explain", str(sample), "--model", "vit-demo", "--method", "gxi", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["source"] == "digit-3.png" and result.stderr == ""


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ("examples/missing.tsv", "--input"),  # no such file, but one word with a data-file suffix
        ("data.JSONL", "--input"),
        ("reviews.parquet", "--input"),
        ("notes.txt", "--input"),
        ("cat.png", "--image"),
        (str(TWEETS), "--input"),
    ],
)
def test_path_like_texts_warn_with_the_option_meant(text, option):
    with pytest.warns(UserWarning, match="looks like a file") as caught:
        warn_if_path(text)
    assert f"`{option} {text}`" in str(caught[0].message)


@pytest.mark.parametrize(
    "text",
    ["I saved it as notes.txt today", "good day", "v2.0 is out", "csv", ".", "x" * 5000, "data.csv."],
)
def test_ordinary_texts_do_not_warn(text, recwarn):
    warn_if_path(text)
    assert [str(w.message) for w in recwarn] == []


@pytest.mark.parametrize("command", ["evaluate", "report"])
def test_evaluate_and_report_warn_of_a_path_given_as_text_too(command, tmp_path):
    out = ["--out", str(tmp_path / "r.html")] if command == "report" else ["--json"]
    result = runner.invoke(app, [command, str(TWEETS), "--method", "gxi", *out])
    assert result.exit_code == 0, result.output
    assert f"warning: {str(TWEETS)!r} looks like a file; did you mean `--input {TWEETS}`?" in result.stderr


# ------------------------------------------------------------------ images with the text demo
@pytest.fixture(scope="module")
def picture(tmp_path_factory):
    image = pytest.importorskip("PIL.Image", reason="reading image files needs Pillow (vision extra)")
    path = tmp_path_factory.mktemp("picture") / "cat.png"
    image.fromarray((torch.rand(24, 24, 3) * 255).to(torch.uint8).numpy()).save(path)
    return path


@pytest.mark.parametrize("command", ["explain", "evaluate", "report"])
def test_images_with_an_explicit_text_demo_are_refused_naming_the_image_demo(picture, command):
    result = runner.invoke(app, [command, "--image", str(picture), "--model", "demo", "--method", "gxi"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --model demo is the text demo and takes no images; use --model vit-demo")
    assert result.stdout == ""


def test_images_with_the_default_model_say_which_model_explains_them(picture):
    result = runner.invoke(app, ["explain", "--image", str(picture), "--method", "gxi", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"] == "vit-demo"
    assert result.stderr.splitlines() == [
        "images: explaining with the bundled image demo vit-demo (the text demo takes no images; --model picks one)"
    ]


# ------------------------------------------------------------------ method names from other libraries
@pytest.mark.parametrize(
    ("typed", "meant"),
    [("LIME", "lime"), ("shap", "kernelshap"), ("shapley", "kernelshap"), ("integrated-gradients", "ig"),
     ("lrp", "cp-lrp")],
)  # fmt: skip
def test_cli_methods_by_their_other_names(typed, meant):
    result = runner.invoke(app, ["explain", "good", "--method", typed, "--json"])
    assert result.exit_code == 0, result.output
    assert [e["method"] for e in json.loads(result.stdout)["explanations"]] == [meant]


# ------------------------------------------------------------------ the masked word's rank per layer
@pytest.fixture(scope="module")
def demo_lm():
    return load_masked_lm("demo")


def independent_ranks(lm, masked_text: str, token: str) -> list[int]:
    """The 1-based place of `token` in each layer's predictions, sorted by probability (ties: none here)."""
    enc = lm.tokenizer([masked_text], return_tensors="pt")
    position = enc["input_ids"][0].tolist().index(lm.tokenizer.mask_token_id)
    with torch.no_grad():
        states = lm.model(**enc, output_hidden_states=True).hidden_states
        logits = lm.vocabulary_logits(torch.stack([h[0, position] for h in states]))
    order = torch.argsort(logits, dim=-1, descending=True, stable=True)
    wanted = lm.tokenizer.convert_tokens_to_ids(token)
    return [int((row == wanted).nonzero()) + 1 for row in order]


def test_layers_json_gives_the_masked_words_rank_at_every_layer(demo_lm):
    text = "The movie was great"
    result = runner.invoke(app, ["layers", text, "--mask", "great", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    ranks = independent_ranks(demo_lm, "The movie was [MASK]", "great")
    assert [layer["word_rank"] for layer in data["layers"]] == ranks and len(ranks) == 7
    assert data["ranked_token"] == "great" and data["rank_note"] is None
    assert len(set(ranks)) > 1  # the rank moves through the layers: not one constant


def test_layers_terminal_view_shows_the_rank_column(demo_lm):
    result = runner.invoke(app, ["layers", "The movie was great", "--mask", "great"])
    assert result.exit_code == 0, result.output
    ranks = independent_ranks(demo_lm, "The movie was [MASK]", "great")
    rows = [line for line in result.stdout.splitlines() if "embeddings" in line or "after block" in line]
    assert "rank of 'great'" in result.stdout
    assert [int(row.rstrip(" │").split()[-1]) for row in rows] == ranks


def test_a_word_the_heads_cannot_predict_has_no_rank_and_says_why(demo_lm):
    """'movie' is outside the demo heads' word list: its probability is 0 everywhere, so a rank (1801, after every
    listed word) would be meaningless."""
    result = layer_predictions(demo_lm, "The movie was great", "movie")
    assert all(layer["word_rank"] is None for layer in result.layers)
    assert result.rank_note == "'movie' is not among the 1800 words the demo heads predict, so it has no rank"
    shown = runner.invoke(app, ["layers", "The movie was great", "--mask", "movie"])
    assert shown.exit_code == 0 and "not among the 1800 words" in shown.stdout and "1801" not in shown.stdout


def test_a_word_of_several_pieces_is_ranked_by_its_first_piece_said_so(demo_lm):
    result = layer_predictions(demo_lm, "I googled it twice", "googled")
    assert result.ranked_token == "google"
    assert result.rank_note == "'googled' is 2 pieces (google ##d); one mask predicts one: the rank is of 'google'"
    assert [layer["word_rank"] for layer in result.layers] == independent_ranks(demo_lm, result.masked_text, "google")


def test_the_rank_is_of_the_word_as_written_in_the_text(demo_lm):
    """`--mask Great` finds 'great' (any case) and ranks the token it is in the text."""
    result = layer_predictions(demo_lm, "The movie was great", "Great")
    assert result.ranked_token == "great"
    assert [layer["word_rank"] for layer in result.layers] == independent_ranks(demo_lm, result.masked_text, "great")


# ------------------------------------------------------------------ no transformers loading bars on stderr
@pytest.fixture(scope="module")
def mlm_folder(tmp_path_factory):
    from transformers import AutoModelForMaskedLM

    from tests.tiny import save_tiny

    return save_tiny("bert", tmp_path_factory.mktemp("mlm") / "bert", head=AutoModelForMaskedLM)


@pytest.fixture
def bars_on():
    """transformers' progress bars on, as in a fresh process (another test may have turned them off)."""
    from transformers.utils import logging

    was = logging.is_progress_bar_enabled()
    logging.enable_progress_bar()
    yield logging
    if not was:
        logging.disable_progress_bar()


def test_no_loading_bars_on_stderr(tiny_dirs, mlm_folder, bars_on):
    """Bars are silenced only during our loads: on again afterwards for the user's own transformers code."""
    for args in (
        ["explain", "good", "--model", str(tiny_dirs["bert"]), "--method", "gxi"],
        ["explain", "good", "--method", "gxi"],
        ["layers", "the movie was great", "--mask", "was", "--model", str(mlm_folder)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "Loading" not in result.stderr and "it/s" not in result.stderr, (args, result.stderr)
        assert bars_on.is_progress_bar_enabled()


def test_no_loading_bars_from_the_probes_masked_lm(mlm_folder, bars_on, capsys):
    from trexplain.probe.edits import MaskedLM

    MaskedLM.load(mlm_folder)
    err = capsys.readouterr().err
    assert "Loading" not in err and "it/s" not in err, err
    assert bars_on.is_progress_bar_enabled()


def test_no_loading_bars_from_a_fresh_process(mlm_folder):
    """The same in a real `python -m trexplain.cli` process, stderr captured (the bar was seen there)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    args = ["layers", "the movie was great", "--mask", "was", "--model", str(mlm_folder)]
    done = subprocess.run(
        [sys.executable, "-m", "trexplain.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "Loading" not in done.stderr and "it/s" not in done.stderr, done.stderr
