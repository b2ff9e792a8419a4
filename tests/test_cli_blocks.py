"""The CLI's option blocks (`cli.common`): declared once, expanded into every command that takes them, and the
model block the one place that turns options into `load_model` keywords."""

from __future__ import annotations

import inspect
import json

import pytest
import typer
from typer.testing import CliRunner

from trexplain.cli import app
from trexplain.cli.common import LoadOptions, MethodOptions, ModelOptions, with_blocks
from trexplain.errors import InputError, MethodError

runner = CliRunner()
LOAD_OPTIONS = ("--device", "--dtype", "--offline", "--allow-pickle", "--allow-missing-weights")
MODEL_OPTIONS = ("--model", *LOAD_OPTIONS)


@pytest.mark.parametrize(
    "command", ["explain", "report", "evaluate", "run", "probe", "attention", "index", "amortize fit", "concepts fit"]
)
def test_every_model_command_takes_the_model_block(command):
    result = runner.invoke(app, [*command.split(), "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert all(option in result.output for option in MODEL_OPTIONS), result.output


@pytest.mark.parametrize("command", ["serve", "neighbours", "concepts show", "concepts explain", "concepts label"])
def test_commands_with_their_own_model_option_take_the_loading_block(command):
    result = runner.invoke(app, [*command.split(), "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert all(option in result.output for option in LOAD_OPTIONS), result.output


def test_compare_takes_the_loading_options_without_model():
    result = runner.invoke(app, ["compare", "--help"], env={"COLUMNS": "200"})
    assert all(option in result.output for option in MODEL_OPTIONS)


def test_load_keywords_are_the_one_mapping_to_load_model():
    assert ModelOptions().load_keywords() == {"allow_pickle": False, "allow_missing_weights": False}
    assert LoadOptions(device="cuda:1", allow_pickle=True).load_keywords() == {
        "allow_pickle": True,
        "allow_missing_weights": False,
        "device": "cuda:1",
    }
    assert LoadOptions(dtype="bfloat16", offline=True).load_keywords() == {
        "allow_pickle": False,
        "allow_missing_weights": False,
        "dtype": "bfloat16",
        "offline": True,
    }


def test_device_reaches_the_model(tiny_dirs):
    args = ["explain", "a lovely day", "--model", str(tiny_dirs["bert"]), "--method", "gxi", "--json"]
    result = runner.invoke(app, [*args, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["explanations"][0]["method"] == "gxi"


def test_dtype_reaches_the_model():
    args = ["explain", "a lovely day", "--dtype", "bfloat16", "--method", "occlusion", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)["explanations"][0]
    assert record["method"] == "occlusion" and len(record["scores"]) == len(record["tokens"])
    bad = runner.invoke(app, ["explain", "a lovely day", "--dtype", "float8"])
    assert bad.exit_code == 2 and "float8" in bad.stderr


def test_method_block_scopes_parameters():
    block = MethodOptions(method=["ig", "lime"], param=["ig.steps=8", "seed=3"])
    with pytest.raises(MethodError, match="ig has no parameter 'seed'"):
        block.methods()
    ig, lime = MethodOptions(method=["ig", "lime"], param=["ig.steps=8", "lime.seed=3"]).methods()
    assert (ig.steps, lime.seed) == (8, 3)
    with pytest.raises(InputError, match="the same --param NAME=VALUE"):
        MethodOptions(method=["ig"], param=["ig.steps=8"]).shared_params()
    assert MethodOptions(method=None, param=None).methods(default=()) == []


def test_with_blocks_expands_and_rebuilds_a_block():
    seen = []

    @with_blocks
    def command(text: str = "x", *, loading: ModelOptions) -> None:
        seen.append((text, loading))

    names = list(inspect.signature(command).parameters)
    assert names == [
        "text", "model", "device", "dtype", "offline", "attn_implementation", "allow_pickle", "allow_missing_weights"
    ]  # fmt: skip
    command(
        text="y", model="demo", device=None, dtype=None, offline=False, attn_implementation="sdpa", allow_pickle=True,
        allow_missing_weights=False,
    )  # fmt: skip
    assert seen == [("y", ModelOptions(model="demo", attn_implementation="sdpa", allow_pickle=True))]
    keywords = {"allow_pickle": True, "allow_missing_weights": False, "attn_implementation": "sdpa"}
    assert seen[0][1].load_keywords() == keywords
    small = typer.Typer()
    small.command()(command)
    result = runner.invoke(small, ["--model", "m", "--allow-pickle"])
    assert result.exit_code == 0 and seen[-1] == ("x", ModelOptions(model="m", allow_pickle=True))


def test_report_help_gives_the_attention_limit_the_report_draws():
    from trexplain.viz.payload import ATTENTION_MAX_TOKENS

    result = runner.invoke(app, ["report", "--help"], env={"COLUMNS": "200"})
    assert f"at most {ATTENTION_MAX_TOKENS} tokens each" in " ".join(result.output.split())
