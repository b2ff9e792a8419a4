"""The command line: JSON schema, input files, errors as one line with a non-zero exit."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from trexplain.cli import app

runner = CliRunner()


def test_explain_json_schema(tiny_dirs):
    result = runner.invoke(
        app,
        [
            "explain",
            "I can't believe it!",
            "--model",
            str(tiny_dirs["bert"]),
            "--method",
            "gxi",
            "--method",
            "saliency",
            "--target",
            "all",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert set(record) >= {"text", "model", "labels", "prediction", "explanations"}
    assert set(record["prediction"]) == {"label", "probabilities", "logits"}
    assert len(record["explanations"]) == 2 * 3
    entry = record["explanations"][0]
    assert set(entry) >= {"method", "target", "tokens", "offsets", "scores", "words", "params", "diagnostics"}
    assert [w["text"] for w in entry["words"]] == ["I", "can't", "believe", "it", "!"]
    assert sum(w["score"] for w in entry["words"]) == pytest.approx(sum(entry["scores"]), abs=1e-4)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("t.txt", "good day\n\nbad day\n"),
        ("t.csv", "id,text\n1,good day\n2,bad day\n"),
        ("t.jsonl", '{"text": "good day"}\n{"text": "bad day"}\n'),
    ],
)
def test_input_files(tmp_path, tiny_dirs, name, content):
    path = tmp_path / name
    path.write_text(content)
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        app, ["explain", "--input", str(path), "--model", str(tiny_dirs["bert"]), "--jsonl", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["text"] for line in out.read_text().splitlines()] == ["good day", "bad day"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["   "], "empty"),
        (["hi", "--target", "happy"], "valid targets"),
        (["hi", "--model", "/nope"], "no such folder"),
        (["hi", "--method", "magic"], "unknown method"),
        (["hi", "--param", "x"], "NAME=VALUE"),
    ],
)
def test_errors_are_one_line(tiny_dirs, args, message):
    if "--model" not in args:
        args = [*args, "--model", str(tiny_dirs["bert"])]
    result = runner.invoke(app, ["explain", *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_terminal_and_html(tmp_path, tiny_dirs):
    html = tmp_path / "page.html"
    text = "<script>alert(1)</script> nice"
    result = runner.invoke(app, ["explain", text, "--model", str(tiny_dirs["bert"]), "--html", str(html)])
    assert result.exit_code == 0, result.output
    page = html.read_text()
    assert "<script>alert(1)</script>" not in page and "<script>alert(1)<\\/script>" in page  # escaped JSON
    shown = runner.invoke(app, ["explain", "nice day", "--model", str(tiny_dirs["bert"])])
    assert shown.exit_code == 0 and "nice" in shown.output


def test_methods_lists_registry():
    result = runner.invoke(app, ["methods"])
    assert result.exit_code == 0 and "gxi" in result.output and "saliency" in result.output
