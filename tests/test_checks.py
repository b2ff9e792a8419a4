"""One check per kind of argument (`trexplain.checks`), and the hostile inputs of issue 23 that entry points
used to disagree on: each is a typed one-line error now, the same from Python, the CLI and the server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from trexplain import checks, explain, get_method, study
from trexplain.cli import app
from trexplain.errors import InputError, MethodError, RunMismatchError, TargetError
from trexplain.inputs import read_texts
from trexplain.inspect import attention_maps, build_index, neighbours
from trexplain.probe import probe
from trexplain.runs import run_dataset
from trexplain.runs.manifest import MANIFEST, read_manifest
from trexplain.server import ServedModel, create_app

runner = CliRunner()
TEXT = "What a wonderful day"


# ------------------------------------------------------------------ the checks themselves
@given(st.integers(-(2**70), 2**70))
def test_whole_numbers_pass_as_ints(value):
    assert checks.whole(value, "n") == value and type(checks.whole(value, "n")) is int


@given(st.one_of(st.booleans(), st.floats(), st.text(), st.none(), st.lists(st.integers()), st.binary()))
def test_everything_else_is_no_whole_number(value):
    with pytest.raises(InputError, match=r"^n must be a whole number"):
        checks.whole(value, "n")


@given(st.integers(-50, 50), st.integers(1, 12))
def test_layer_indices_count_from_both_ends(value, count):
    if -count <= value < count:
        assert checks.layer(value, count) == value % count
    else:
        with pytest.raises(InputError, match=f"layer {value} does not exist; this model has {count} layers"):
            checks.layer(value, count)


@given(st.one_of(st.booleans(), st.floats(), st.none(), st.binary()))
def test_targets_refuse_bools_floats_none_bytes(value):
    with pytest.raises(TargetError):
        checks.target(value)
    if value is not None:
        with pytest.raises(TargetError):
            checks.goal(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (123, "model must be a model folder, 'demo' or None, got an int (123)"),
        (b"demo", "got a bytes (b'demo'); decode it first"),
        ("  ", "model is a blank string"),
    ],
)
def test_model_sources(value, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        checks.model_source(value)


@pytest.mark.parametrize("source", [123, b"demo", 1.5])
def test_explain_and_study_refuse_bad_model_sources(source):
    with pytest.raises(InputError, match="model must be"):
        explain(TEXT, source)
    with pytest.raises(InputError, match="model must be"):
        study([TEXT], source)


# ------------------------------------------------------------------ targets agree: Python, probe, server
def test_probe_target_true_is_refused_like_explain(tiny):
    with pytest.raises(TargetError, match="target True is a bool"):
        explain(TEXT, tiny["bert"], target=True)
    with pytest.raises(TargetError, match="target True is a bool"):
        probe(TEXT, tiny["bert"], target=True, edits=["delete"])
    with pytest.raises(TargetError, match="the probe's target is one class, not 'all'"):
        probe(TEXT, tiny["bert"], target="all", edits=["delete"])


@pytest.fixture(scope="module")
def api(tiny):
    with TestClient(create_app([ServedModel(tiny["bert"], "tiny")]), base_url="http://127.0.0.1:8000") as client:
        yield client


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/api/explain", {"texts": [TEXT], "target": True}),
        ("/api/explain", {"texts": [TEXT], "target": [1, False]}),
        ("/api/explain", {"texts": [TEXT], "target": 1.0}),
        ("/api/probe", {"text": TEXT, "target": True}),
        ("/api/layers", {"text": TEXT, "target": True}),
    ],
)
def test_server_refuses_json_true_as_a_target(api, route, body):
    response = api.post(route, json=body)
    assert response.status_code == 422, response.text
    assert "is a bool" in response.text or "is a float" in response.text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"text": TEXT, "layer": 1.5}, "layer must be a whole number, got 1.5"),
        ({"text": TEXT, "layer": "1"}, "layer must be a whole number, got '1'"),
        ({"text": TEXT, "layer": True}, "layer must be a whole number, got True"),
    ],
)
def test_server_attention_layer_is_checked(api, body, message):
    response = api.post("/api/attention", json=body)
    assert response.status_code == 422 and message in response.json()["error"]["message"]


def test_server_limits_apply_to_converted_parameters(api):
    """A string used to slip past the limit: `"steps": "1e9"` is a billion steps."""
    body = {"texts": [TEXT], "methods": ["ig"], "params": {"ig": {"steps": "1e9", "adaptive": False}}}
    response = api.post("/api/explain", json=body)
    assert response.status_code == 422 and "above the server's limit" in response.json()["error"]["message"]


# ------------------------------------------------------------------ attention and neighbours
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layer": 1.5}, "layer must be a whole number, got 1.5"),
        ({"layer": "1"}, "layer must be a whole number, got '1'"),
        ({"layer": True}, "layer must be a whole number, got True"),
        ({"layer": 7}, "layer 7 does not exist; this model has 2 layers (0 to 1)"),
        ({"head": 2.0}, "head must be a whole number, got 2.0"),
    ],
)
def test_attention_layer_and_head_are_checked(tiny, kwargs, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        attention_maps(tiny["bert"], TEXT, **kwargs)


@pytest.mark.parametrize(
    ("decimals", "message"),
    [(-1, "decimals must be a whole number from 0 to 15, got -1"), (2.5, "got 2.5"), (True, "got True")],
)
def test_attention_decimals_are_checked(tiny, decimals, message):
    maps = attention_maps(tiny["bert"], TEXT)
    with pytest.raises(InputError, match=message):
        maps.to_dict(decimals)
    assert maps.to_dict(0)["attention"] == maps.attention.round(0).tolist()


def test_attention_top_links_count_is_checked(tiny):
    maps = attention_maps(tiny["bert"], TEXT)
    with pytest.raises(InputError, match="n must be a whole number of at least 1, got -1"):
        maps.top_links(-1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--top", "-1"], "--top must be a whole number of at least 1, got -1"),
        (["--top", "0"], "--top must be a whole number of at least 1, got 0"),
        (["--decimals", "-1"], "--decimals must be a whole number from 0 to 15, got -1"),
    ],
)
def test_cli_attention_options_are_checked(tiny_dirs, args, message):
    result = runner.invoke(app, ["attention", TEXT, "--model", str(tiny_dirs["bert"]), *args])
    assert result.exit_code == 2 and message in result.output


@pytest.fixture(scope="module")
def index(tiny, tmp_path_factory):
    path = tmp_path_factory.mktemp("index")
    return build_index(tiny["bert"], ["a lovely day", "a terrible day"], path, model_source="tiny-bert")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 2.5}, "k must be a whole number of at least 1, got 2.5"),
        ({"k": 0}, "got 0"),
        ({"layer": 1.5}, "layer must be a whole number, got 1.5"),
        ({"layer": "1"}, "got '1'"),
        ({"token": True}, "token must be a token index or a word of the text, got True"),
    ],
)
def test_neighbours_arguments_are_checked(tiny, index, kwargs, message):
    given = {"token": 1, "layer": -1, "k": 3, **kwargs}
    with pytest.raises(InputError, match=message):
        neighbours(tiny["bert"], index, TEXT, given["token"], given["layer"], given["k"])


# ------------------------------------------------------------------ study, explain and the CLI agree
def test_study_with_no_methods_is_refused_like_explain(tiny):
    with pytest.raises(MethodError, match="no method given"):
        explain(TEXT, tiny["bert"], [])
    with pytest.raises(MethodError, match="no method given"):
        study([TEXT], tiny["bert"], [])


def test_a_method_named_twice_is_refused(tiny):
    with pytest.raises(MethodError, match="gxi is named twice"):
        explain(TEXT, tiny["bert"], ["gxi", "gxi"])
    with pytest.raises(MethodError, match="ig is named twice"):
        study([TEXT], tiny["bert"], ["ig", get_method("ig", steps=8)])


def test_stride_without_windows_is_refused_by_the_cli_as_in_python(tiny, tiny_dirs):
    with pytest.raises(InputError, match="stride sets the step between windows"):
        explain(TEXT, tiny["bert"], stride=4)
    result = runner.invoke(app, ["explain", TEXT, "--model", str(tiny_dirs["bert"]), "--stride", "4"])
    assert result.exit_code == 2 and "stride sets the step between windows" in result.output


def test_to_frame_refuses_an_unknown_level(tiny):
    [e] = explain(TEXT, tiny["bert"], "gxi")
    with pytest.raises(InputError, match="level must be one of token, word, got 'sentence'"):
        e.to_frame("sentence")
    assert len(e.to_frame("word")) == 4 * len(e.targets)


def test_the_issue_commands_run(tiny_dirs):
    """`--param batch_size=8` with lime and `--param method=riemann_middle` with ig used to end in an internal
    error (explain() got multiple values for keyword argument)."""
    base = ["explain", TEXT, "--model", str(tiny_dirs["bert"]), "--json"]
    lime = runner.invoke(app, [*base, "--method", "lime", "--param", "batch_size=8", "--param", "n_samples=16"])
    assert lime.exit_code == 0, lime.output
    assert json.loads(lime.stdout)["explanations"][0]["params"]["batch_size"] == 8
    ig = runner.invoke(app, [*base, "--method", "ig", "--param", "method=riemann_middle"])
    assert ig.exit_code == 0, ig.output
    assert json.loads(ig.stdout)["explanations"][0]["params"]["method"] == "riemann_middle"


def test_python_batch_size_is_explains_own_and_params_go_to_the_method(tiny):
    [e] = explain(TEXT, tiny["bert"], "lime", batch_size=1, params={"batch_size": 8, "n_samples": 16})
    assert e.params["batch_size"] == 8
    with pytest.raises(
        MethodError, match=r"explain\(\) has no argument 'n_samples'; give method parameters as params="
    ):
        explain(TEXT, tiny["bert"], "lime", n_samples=16)


def test_cli_param_for_one_of_several_methods(tiny_dirs):
    args = ["explain", TEXT, "--model", str(tiny_dirs["bert"]), "--json", "--method", "ig", "--method", "gxi"]
    result = runner.invoke(app, [*args, "--param", "ig.steps=8", "--param", "ig.adaptive=false"])
    assert result.exit_code == 0, result.output
    params = {e["method"]: e["params"] for e in json.loads(result.stdout)["explanations"]}
    assert params["ig"]["steps"] == 8 and params["gxi"] == {}
    wrong = runner.invoke(app, [*args, "--param", "lime.n_samples=8"])
    assert wrong.exit_code == 2 and "'lime', which is not among the methods run (ig, gxi)" in wrong.output


# ------------------------------------------------------------------ input files and runs
def test_a_csv_field_over_128_kib_is_read(tmp_path):
    long = "word " * 40_000  # 200 kB, one valid field
    path = tmp_path / "long.csv"
    path.write_text(f'text\n"{long}"\nshort\n')
    assert read_texts(path) == [long.strip() or long, "short"] or read_texts(path) == [long, "short"]


def test_a_run_whose_input_check_fails_leaves_no_manifest(tmp_path, tiny_dirs):
    source = tmp_path / "t.csv"
    source.write_text("key,text\n7,a good day\n8,a bad day\n7,a day\n")
    out = tmp_path / "run"
    with pytest.raises(InputError, match="id '7' was already used"):
        run_dataset(source, out, model=tiny_dirs["bert"], methods="gxi", id_column="key")
    assert not (out / MANIFEST).exists()
    source.write_text("key,text\n7,a good day\n8,a bad day\n9,a day\n")
    summary = run_dataset(source, out, model=tiny_dirs["bert"], methods="gxi", id_column="key")
    assert summary.explained == 3 and summary.complete


def test_a_resume_compares_converted_parameters(tmp_path, tiny_dirs):
    source = tmp_path / "t.txt"
    source.write_text("a good day\na bad day\n")
    out = tmp_path / "run"
    first = run_dataset(source, out, model=tiny_dirs["bert"], methods="lime", params={"lime": {"n_samples": 16}})
    assert first.explained == 2
    assert read_manifest(out)["config"]["params"] == {"lime": {"n_samples": 16}}
    again = run_dataset(
        source, out, model=tiny_dirs["bert"], methods="lime", params={"lime": {"n_samples": "16", "seed": 0}}
    )
    assert again.explained == 0 and again.done_before == 2
    with pytest.raises(RunMismatchError, match="params"):
        run_dataset(source, out, model=tiny_dirs["bert"], methods="lime", params={"lime": {"n_samples": 17}})


def test_runs_check_their_counts(tmp_path):
    source = Path(tmp_path / "t.txt")
    source.write_text("a good day\n")
    for option, value in (("batch_size", True), ("shard_size", 2.5), ("workers", 0), ("limit", "3")):
        with pytest.raises(InputError, match=f"{option} must be a whole number"):
            run_dataset(source, tmp_path / f"run-{option}", **{option: value})


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from(["batch_size", "seed", "eval_batch_size", "sanity_texts"]), st.one_of(st.booleans(), st.floats())
)
def test_study_options_refuse_non_integers(option, value):
    from trexplain.study import StudyOptions

    with pytest.raises(InputError, match=f"{option} must be a whole number"):
        StudyOptions(**{option: value})


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n_concepts": 2.5}, InputError, "n_concepts must be a whole number of at least 1, got 2.5"),
        ({"batch_size": True}, InputError, "batch_size must be a whole number of at least 1, got True"),
        ({"importance_texts": 0}, InputError, "importance_texts must be a whole number of at least 1, got 0"),
        ({"stability": 1}, InputError, "stability must be True or False, got 1"),
        ({"class_label": True}, TargetError, "target True is a bool"),
        ({"class_label": "all"}, TargetError, "class_label is one class, not 'all'"),
    ],
)
def test_fit_concepts_checks_its_arguments_before_any_work(tiny, kwargs, error, message):
    from trexplain.concepts.conceptset import fit_concepts

    with pytest.raises(error, match=message):
        fit_concepts(tiny["bert"], [TEXT], **kwargs)
