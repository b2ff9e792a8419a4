"""Hostile inputs at the command line: each gives one typed `error:` line (exit 2) naming the problem, or an
explicit warning, and leaves every file as it was; outputs are written whole (atomic), never over an input."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

import trexplain
from trexplain.cli import app
from trexplain.errors import InputError
from trexplain.inputs import read_texts
from trexplain.io import TEMP_TAG, atomic_file, atomic_folder, check_output, clean_stale, write_text

runner = CliRunner()
TWEETS = Path(__file__).with_name("fixtures") / "tweets.csv"
JSONL = '{"id": 1, "text": "good day"}\n{"id": 2, "text": "bad day"}\n'
CSV = "id,text\n1,good day\n2,bad day\n"


@dataclass(frozen=True)
class Link:
    """A symbolic link to `target` (relative to the case folder)."""

    target: str


@dataclass(frozen=True)
class HardLink:
    target: str


FOLDER, FIFO = object(), object()


def make(folder: Path, files: dict[str, object]) -> None:
    """Create the case's files: text, bytes, links, folders and FIFOs."""
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_bytes(content.encode("utf-8"))
        elif isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, Link):
            path.symlink_to(content.target)
        elif isinstance(content, HardLink):
            os.link(folder / content.target, path)
        elif content is FOLDER:
            path.mkdir()
        elif content is FIFO:
            os.mkfifo(path)


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under `root`, hidden ones included and links not followed: its kind, or its content hash."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            key = str(path.relative_to(root))
            if path.is_symlink():
                found[key] = "link " + os.readlink(path)
            elif path.is_dir():
                found[key] = "folder"
            elif path.is_fifo():
                found[key] = "fifo"
            else:
                found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def error_line(result) -> str:
    """The one `error:` line of a failed command (exit 2, nothing on stdout, no traceback, no raw controls)."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.stdout == "" and "Traceback" not in result.output
    assert not re.search("[\x00-\x1f\x7f-\x9f]", lines[0]), lines[0]
    return lines[0]


# name: (files made in the case folder, arguments ({d} = that folder), phrases the error line must hold).
# Without --model, a missing model folder is added: the error must come before any model is loaded.
CASES: dict[str, tuple[dict[str, object], list[str], list[str]]] = {
    # outputs that would overwrite an input
    "jsonl over its input": (
        {"d.jsonl": JSONL},
        ["explain", "-i", "{d}/d.jsonl", "--jsonl", "{d}/d.jsonl"],
        ["--jsonl", "is the input file"],
    ),
    "jsonl over input via symlink": (
        {"d.jsonl": JSONL, "o.jsonl": Link("d.jsonl")},
        ["explain", "-i", "{d}/d.jsonl", "--jsonl", "{d}/o.jsonl"],
        ["is the input"],
    ),
    "jsonl over input via hard link": (
        {"d.jsonl": JSONL, "o.jsonl": HardLink("d.jsonl")},
        ["explain", "-i", "{d}/d.jsonl", "--jsonl", "{d}/o.jsonl"],
        ["is the input"],
    ),
    "jsonl over input spelled otherwise": (
        {"d.jsonl": JSONL, "sub": FOLDER},
        ["explain", "-i", "{d}/d.jsonl", "--jsonl", "{d}/sub/../d.jsonl"],
        ["is the input"],
    ),
    "html over its input": ({"t.csv": CSV}, ["explain", "-i", "{d}/t.csv", "--html", "{d}/t.csv"], ["--html"]),
    "report over its input": ({"t.txt": "hi\n"}, ["report", "-i", "{d}/t.txt", "--out", "{d}/t.txt"], ["--out"]),
    "compare html over its input": (
        {"t.txt": "hi\n"},
        ["compare", "-i", "{d}/t.txt", "--html", "{d}/t.txt", "-m", "{d}/a", "-m", "{d}/b"],
        ["is the input file"],
    ),
    "index into the folder of its corpus": (
        {"idx/c.txt": "hi\n"},
        ["index", "{d}/idx/c.txt", "--out", "{d}/idx"],
        ["holds other files (c.txt)"],
    ),
    # outputs that cannot be written
    "jsonl in a missing folder": ({}, ["explain", "hi", "--jsonl", "{d}/no/o.jsonl"], ["no such folder", "/no"]),
    "report in a missing folder": ({}, ["report", "hi", "--out", "{d}/no/r.html"], ["--out", "no such folder"]),
    "jsonl under a file": ({"f": "x"}, ["explain", "hi", "--jsonl", "{d}/f/o.jsonl"], ["f is a file, not a folder"]),
    "html is a folder": ({"o.html": FOLDER}, ["explain", "hi", "--html", "{d}/o.html"], ["is a folder"]),
    "report out is a folder": ({"r": FOLDER}, ["report", "hi", "--out", "{d}/r"], ["is a folder"]),
    "jsonl in /proc": ({}, ["explain", "hi", "--jsonl", "/proc/trexplain.jsonl"], ["cannot write in /proc"]),
    "html in /sys": ({}, ["explain", "hi", "--html", "/sys/trexplain.html"], ["cannot write in /sys"]),
    "jsonl is a device": ({}, ["explain", "hi", "--jsonl", "/dev/null"], ["not a regular file"]),
    "html is a fifo": ({"p.html": FIFO}, ["explain", "hi", "--html", "{d}/p.html"], ["not a regular file"]),
    "jsonl is a symlink loop": (
        {"a": Link("b"), "b": Link("a")},
        ["explain", "hi", "--jsonl", "{d}/a"],
        ["symbolic link loop"],
    ),
    "two outputs, one file": ({}, ["explain", "hi", "--jsonl", "{d}/o", "--html", "{d}/o"], ["both write"]),
    "two outputs via a symlink": (
        {"l": Link("o")},
        ["explain", "hi", "--jsonl", "{d}/o", "--html", "{d}/l"],
        ["both write"],
    ),
    "index out is a file": (
        {"c.txt": "hi\n", "idx": "x"},
        ["index", "{d}/c.txt", "--out", "{d}/idx"],
        ["is a file, not a folder"],
    ),
    "index over a user folder": (
        {"c.txt": "hi\n", "home/notes.md": "mine"},
        ["index", "{d}/c.txt", "--out", "{d}/home"],
        ["holds other files (notes.md)"],
    ),
    "png folder is a file": (
        {"figs": "x"},
        ["report", "hi", "--out", "{d}/r.html", "--png", "{d}/figs"],
        ["--png", "is a file"],
    ),
    "png folder in a missing folder": (
        {},
        ["report", "hi", "--out", "{d}/r.html", "--png", "{d}/no/figs"],
        ["--png", "no such folder"],
    ),
    "svg folder in /proc": ({}, ["report", "hi", "--out", "{d}/r.html", "--svg", "/proc/figs"], ["--svg", "/proc"]),
    "compare html is a folder": (
        {"c": FOLDER},
        ["compare", "hi", "--html", "{d}/c", "-m", "{d}/a", "-m", "{d}/b"],
        ["is a folder"],
    ),
    "json and jsonl to stdout": ({}, ["explain", "hi", "--json", "--jsonl", "-"], ["both write to stdout"]),
    # input files
    "invalid UTF-8 in a .txt": (
        {"t.txt": b"fine\nalso fine\nbad \xff byte\n"},
        ["explain", "-i", "{d}/t.txt"],
        ["t.txt:3: not UTF-8", "0xff"],
    ),
    "invalid UTF-8 in a .csv": ({"t.csv": b"id,text\n1,caf\xe9\n"}, ["explain", "-i", "{d}/t.csv"], ["t.csv:2"]),
    "latin-1 .jsonl": (
        {"t.jsonl": '{"text": "déjà vu"}\n'.encode("latin-1")},
        ["explain", "-i", "{d}/t.jsonl"],
        ["not UTF-8"],
    ),
    "UTF-16 file": ({"t.txt": "hello\n".encode("utf-16")}, ["explain", "-i", "{d}/t.txt"], ["not UTF-8"]),
    "lone high surrogate in JSONL": (
        {"t.jsonl": '{"text": "a\\ud800b"}\n'},
        ["explain", "-i", "{d}/t.jsonl"],
        ["t.jsonl:1", "lone surrogate \\ud800"],
    ),
    "lone low surrogate in JSONL": (
        {"t.jsonl": JSONL + '{"text": "\\udc00"}\n'},
        ["explain", "-i", "{d}/t.jsonl"],
        ["t.jsonl:3", "\\udc00"],
    ),
    "input is a folder": ({"t.txt": FOLDER}, ["explain", "-i", "{d}/t.txt"], ["is a folder"]),
    "input is a fifo": ({"t.txt": FIFO}, ["explain", "-i", "{d}/t.txt"], ["not a regular file"]),
    "input is a symlink loop": (
        {"a.txt": Link("b.txt"), "b.txt": Link("a.txt")},
        ["explain", "-i", "{d}/a.txt"],
        ["symbolic link loop"],
    ),
    "input is missing": ({}, ["explain", "-i", "{d}/none.txt"], ["no such file"]),
    "input of an unknown type": ({"t.xlsx": "x"}, ["explain", "-i", "{d}/t.xlsx"], ["unsupported file type .xlsx"]),
    "input without a suffix": ({"texts": "x"}, ["explain", "-i", "{d}/texts"], ["unsupported file type (none)"]),
    "empty file": ({"t.txt": ""}, ["explain", "-i", "{d}/t.txt"], ["is empty"]),
    "whitespace-only file": ({"t.txt": " \n\t\r\n\n"}, ["explain", "-i", "{d}/t.txt"], ["is empty"]),
    "csv with a header only": ({"t.csv": "id,text\n"}, ["explain", "-i", "{d}/t.csv"], ["has no texts"]),
    "empty csv": ({"t.csv": ""}, ["explain", "-i", "{d}/t.csv"], ["is empty"]),
    "csv without a text column": (
        {"t.csv": "id,body\n1,x\n"},
        ["explain", "-i", "{d}/t.csv"],
        ["no column 'text' (columns: id, body)", "--text-column"],
    ),
    "csv with the text column twice": (
        {"t.csv": "text,text\na,b\n"},
        ["explain", "-i", "{d}/t.csv"],
        ["appears twice"],
    ),
    "csv row with too few fields": (
        {"t.csv": "id,text,label\n1,fine,pos\n2,short\n"},
        ["explain", "-i", "{d}/t.csv"],
        ["t.csv:3: 2 fields, the header has 3"],
    ),
    "csv row with an unquoted comma": (
        {"t.csv": "id,text\n1,well, no\n"},
        ["explain", "-i", "{d}/t.csv"],
        ["t.csv:2: 3 fields", "quote"],
    ),
    "csv with an unterminated quote": (
        {"t.csv": 'id,text\n1,"open\n2,x\n'},
        ["explain", "-i", "{d}/t.csv"],
        ["malformed CSV"],
    ),
    "csv with a stray quote": ({"t.csv": 'id,text\n1,"a"b\n'}, ["explain", "-i", "{d}/t.csv"], ["malformed CSV"]),
    "csv with an empty text": (
        {"t.csv": "id,text\n1,ok\n2,\n"},
        ["explain", "-i", "{d}/t.csv"],
        ["t.csv:3: the text is empty"],
    ),
    "csv field over the csv module's default limit is read": (
        {"t.csv": "id,text\n1," + "x" * 200_000 + "\n"},
        ["explain", "-i", "{d}/t.csv"],
        ["no-model: no such folder"],  # the 200 kB text was read; the (missing) model is the first error
    ),
    "tsv without a text column": ({"t.tsv": "id\tbody\n1\tx\n"}, ["explain", "-i", "{d}/t.tsv"], ["no column 'text'"]),
    "tsv read as csv columns": ({"t.tsv": "id,text\n1,x\n"}, ["explain", "-i", "{d}/t.tsv"], ["columns: id,text"]),
    "jsonl with a broken line": (
        {"t.jsonl": '{"text": "a"}\n{"text": \n'},
        ["explain", "-i", "{d}/t.jsonl"],
        ["t.jsonl:2: not valid JSON"],
    ),
    "jsonl line is a list": ({"t.jsonl": '["a"]\n'}, ["explain", "-i", "{d}/t.jsonl"], ["needs an object", "list"]),
    "jsonl without the field": (
        {"t.jsonl": '{"body": "a"}\n'},
        ["explain", "-i", "{d}/t.jsonl"],
        ["string field 'text' (fields: body)"],
    ),
    "jsonl text is a number": ({"t.jsonl": '{"text": 5}\n'}, ["explain", "-i", "{d}/t.jsonl"], ["string field"]),
    "jsonl nested too deep": (
        {"t.jsonl": '{"text": "a", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n"},
        ["explain", "-i", "{d}/t.jsonl"],
        ["t.jsonl:1", "cannot take"],
    ),
    "jsonl number too long": (
        {"t.jsonl": '{"text": "a", "n": ' + "9" * 5000 + "}\n"},
        ["explain", "-i", "{d}/t.jsonl"],
        ["t.jsonl:1", "cannot take"],
    ),
    "jsonl with an empty text": (
        {"t.jsonl": '{"text": "  "}\n'},
        ["explain", "-i", "{d}/t.jsonl"],
        ["t.jsonl:1: the text is empty"],
    ),
    "text column of a .txt": (
        {"t.txt": "hi\n"},
        ["explain", "-i", "{d}/t.txt", "--text-column", "body"],
        ["without columns"],
    ),
    "text column without a file": ({}, ["explain", "hi", "--text-column", "body"], ["--text-column", "--input"]),
    "text column missing in jsonl": (
        {"t.jsonl": JSONL},
        ["explain", "-i", "{d}/t.jsonl", "--text-column", "body"],
        ["string field 'body' (fields: id, text)"],
    ),
    "text column of the demo corpus": (
        {},
        ["index", "demo", "--out", "{d}/idx", "--text-column", "t"],
        ["demo corpus"],
    ),
    "texts and a file": ({"t.txt": "hi\n"}, ["explain", "hi", "-i", "{d}/t.txt"], ["not both"]),
    "index corpus is a folder": ({"c.txt": FOLDER}, ["index", "{d}/c.txt", "--out", "{d}/idx"], ["is a folder"]),
    # text arguments and parameters
    "invalid UTF-8 argument": ({}, ["explain", "ok", "caf\udce9"], ["text argument 2 is not valid UTF-8", "0xe9"]),
    "invalid UTF-8 attention text": ({}, ["attention", "\udcff"], ["not valid UTF-8"]),
    "no text at all": ({}, ["explain"], ["no text given"]),
    "batch size zero": ({}, ["explain", "hi", "--batch-size", "0"], ["--batch-size", "greater than or equal to 1"]),
    "batch size not a number": ({}, ["explain", "hi", "--batch-size", "many"], ["--batch-size", "integer"]),
    "method kernelshapp": (
        {},
        ["explain", "hi", "--method", "kernelshapp"],
        ["unknown method 'kernelshapp'", "did you mean kernelshap"],
    ),
    "method misspelt in report": ({}, ["report", "hi", "--method", "ocllusion"], ["did you mean occlusion"]),
    "second method unknown": ({}, ["explain", "hi", "--method", "gxi", "--method", "magic"], ["'magic'"]),
    "parameter without a value": ({}, ["explain", "hi", "--param", "steps"], ["NAME=VALUE"]),
    "parameter unknown to the method": (
        {},
        ["explain", "hi", "--method", "ig", "--param", "stepz=3"],
        ["no parameter 'stepz'", "did you mean steps"],
    ),
    "evaluate parameter unknown": ({}, ["evaluate", "hi", "--method", "gxi", "--param", "x=1"], ["no parameter"]),
    "negative attention count": ({}, ["report", "hi", "--attention", "-1"], ["--attention"]),
    "neighbours k zero": ({}, ["neighbours", "hi", "--index", "{d}", "--token", "0", "-k", "0"], ["-k"]),
    "index limit zero": ({"c.txt": "hi\n"}, ["index", "{d}/c.txt", "--out", "{d}/idx", "--limit", "0"], ["--limit"]),
    "index layers not numbers": (
        {"c.txt": "hi\n"},
        ["index", "{d}/c.txt", "--out", "{d}/i", "--layers", "a,b"],
        ["--layers 'a,b'"],
    ),
    "compare top zero": ({}, ["compare", "hi", "-m", "{d}/a", "-m", "{d}/b", "--top", "0"], ["--top"]),
    "compare one model": ({}, ["compare", "hi"], ["two models"]),
    "unknown command": ({}, ["explian", "hi"], ["No such command", "explain"]),
    "unknown option": ({}, ["explain", "hi", "--jsonl-out", "x"], ["No such option"]),
    "flag given a value": ({}, ["explain", "hi", "--truncate=yes"], ["--truncate"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_is_one_error_line_and_changes_nothing(tmp_path, name):
    files, args, phrases = CASES[name]
    make(tmp_path, files)
    args = [a.replace("{d}", str(tmp_path)) for a in args]
    if args[0] != "compare" and "--model" not in args and "-m" not in args and args[0] not in ("explian",):
        args += ["--model", str(tmp_path / "no-model")]  # never loaded: the error comes first
    before = snapshot(tmp_path)
    line = error_line(runner.invoke(app, args))
    for phrase in phrases:
        assert phrase in line, line
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("args", "phrases"),
    [
        (["--target", "\x1b[2J\x1b]0;owned\x07"], ["unknown target", "\\x1b[2J"]),
        (["--target", "a\nb"], ["unknown target", "a\\nb"]),
        (["--target", "\u202eevil"], ["\\u202e"]),
        (["--target", "[bold]x[/bold]"], ["[bold]x[/bold]"]),  # shown as given, not as markup
    ],
)
def test_error_lines_show_control_characters(tiny_dirs, tmp_path, args, phrases):
    before = snapshot(tmp_path)
    line = error_line(runner.invoke(app, ["explain", "hi", "--model", str(tiny_dirs["bert"]), *args]))
    assert all(p in line for p in phrases), line
    assert snapshot(tmp_path) == before


def test_long_text_error_comes_alone_on_one_unwrapped_line(tiny_dirs, tmp_path):
    """Run as a user would (a real process, 80 columns): transformers' sequence-length warning must not precede
    our error, and the error line is not wrapped."""
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(Path(trexplain.__file__).parents[1])}
    command = [sys.executable, "-m", "trexplain.cli", "explain", "day " * 3000, "--model", str(tiny_dirs["bert"])]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [done.stderr.strip()] and len(done.stderr) > 80
    assert done.stderr.startswith("error: text 0 has 3002 tokens") and "--truncate" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_truncation_is_one_explicit_warning(tiny_dirs):
    result = runner.invoke(app, ["explain", "day " * 100, "--model", str(tiny_dirs["bert"]), "--truncate", "--json"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == ["warning: 1 text(s) truncated to 64 tokens; recorded in each explanation"]
    assert json.loads(result.stdout)["explanations"][0]["diagnostics"]["truncated_tokens"] == 102 - 64


HOSTILE_TEXTS = [
    "clear \x1b[2J\x1b[31mred\x1b[0m \x1b]0;title\x07 done",
    "right-to-left \u202eevil\u202c and \u200fmarks\u200e",
    "zero\u200bwidth\u200djoin\ufeffbom",
    "emoji 🎉🤦🏽‍♀️ flags 🇫🇷 and keycap 1️⃣",
    "combining e\u0301\u0301\u0301 and Ω≈ç√∫",
    "line\u2028separator and para\u2029graph and next\x85line",
    "nul \x00 bell \x07 backspace \x08 delete \x7f",
    "<script>alert(1)</script> & \"quotes\" 'single'",
    "tab\tseparated\tfields",
]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".tsv"])
def test_hostile_texts_round_trip_exactly(tiny_dirs, tmp_path, suffix):
    path = tmp_path / f"in{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\r\n" for t in HOSTILE_TEXTS))
        texts = HOSTILE_TEXTS
    else:
        delimiter = "\t" if suffix == ".tsv" else ","
        texts = [t for t in HOSTILE_TEXTS if "\t" not in t or suffix == ".csv"]
        quoted = ['"' + t.replace('"', '""') + '"' for t in texts]
        path.write_bytes(
            ("\ufeffid" + delimiter + "text\r\n").encode()
            + "".join(f"{i}{delimiter}{q}\r\n" for i, q in enumerate(quoted)).encode()
        )
    assert read_texts(path) == texts
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["explain", "-i", str(path), "--model", str(tiny_dirs["bert"]), "--jsonl", str(out)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["text"] for line in out.read_text().splitlines()] == texts
    assert result.stderr.startswith(f"wrote {out} ({len(texts)} records, ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in" + suffix, "out.jsonl"]


def test_text_file_line_ends_bom_and_separators(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes("\ufeffone\r\ntwo\rthree\n\n  \nfour\u2028still four\x85and this\n".encode())
    assert read_texts(path) == ["one", "two", "three", "four\u2028still four\x85and this"]


def test_text_column_for_csv_tsv_and_jsonl(tmp_path):
    (tmp_path / "t.csv").write_text("id,body\n1,a\n2,b\n")
    (tmp_path / "t.tsv").write_text("id\tbody\n1\ta, with comma\n")
    (tmp_path / "t.jsonl").write_text('{"body": "x"}\n\n{"body": "y", "text": 3}\n')
    assert read_texts(tmp_path / "t.csv", "body") == ["a", "b"]
    assert read_texts(tmp_path / "t.tsv", "body") == ["a, with comma"]
    assert read_texts(tmp_path / "t.jsonl", "body") == ["x", "y"]


def test_sample_tweets_file(tiny_dirs, tmp_path):
    texts = read_texts(TWEETS)
    assert len(texts) == 30 and texts[0] == "I can't believe this just happened!"
    assert 'Reading "The Hobbit" for the first time, so far so good' in texts
    assert (Path(__file__).parents[1] / "examples" / "tweets.csv").read_bytes() == TWEETS.read_bytes()
    result = runner.invoke(app, ["explain", "-i", str(TWEETS), "--model", str(tiny_dirs["bert"]), "--jsonl", "-"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in records] == texts and result.stderr == ""


def test_json_of_one_text_is_an_object_of_several_a_list(tiny_dirs):
    args = ["explain", "--model", str(tiny_dirs["bert"]), "--json"]
    one = json.loads(runner.invoke(app, [*args, "good day"]).stdout)
    two = json.loads(runner.invoke(app, [*args, "good day", "bad day"]).stdout)
    assert one["text"] == "good day" and [r["text"] for r in two] == ["good day", "bad day"]


def test_outputs_replace_old_files_whole_and_say_what_they_wrote(tiny_dirs, tmp_path):
    jsonl, html = tmp_path / "o.jsonl", tmp_path / "o.html"
    jsonl.write_text("old\n" * 1000)
    html.write_text("old")
    os.chmod(html, 0o640)
    args = ["explain", "good day", "bad day", "--model", str(tiny_dirs["bert"]), "--jsonl", str(jsonl)]
    result = runner.invoke(app, [*args, "--html", str(html)])
    assert result.exit_code == 0, result.output
    size = jsonl.stat().st_size
    lines = result.stderr.splitlines()
    assert lines[0] == f"wrote {jsonl} (2 records, {size / 1e3:.1f} kB)" and lines[1].startswith(f"wrote {html} (2 ")
    assert [json.loads(line)["text"] for line in jsonl.read_text().splitlines()] == ["good day", "bad day"]
    assert html.read_text().startswith("<!doctype html>") and (html.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.html", "o.jsonl"]  # no temporary left


def test_output_through_a_symlink_replaces_its_target(tiny_dirs, tmp_path):
    (tmp_path / "real.jsonl").write_text("old\n")
    (tmp_path / "link.jsonl").symlink_to("real.jsonl")
    args = ["explain", "hi", "--model", str(tiny_dirs["bert"]), "--jsonl", str(tmp_path / "link.jsonl")]
    assert runner.invoke(app, args).exit_code == 0
    assert (tmp_path / "link.jsonl").is_symlink() and json.loads((tmp_path / "real.jsonl").read_text())["text"] == "hi"


def test_compare_html_shows_each_models_explanations(tiny_dirs, tmp_path):
    page = tmp_path / "c.html"
    models = ["-m", str(tiny_dirs["bert"]), "-m", str(tiny_dirs["roberta"])]
    result = runner.invoke(app, ["compare", "good day", "bad day", *models, "--method", "gxi", "--html", str(page)])
    assert result.exit_code == 0, result.output
    assert f"wrote {page} (4 explanations, " in result.stderr
    data = json.loads(re.search(r'id="tx-data">(.*?)</script>', page.read_text(), re.S).group(1))
    compared = data["comparison"]["texts"]  # the compare section draws the texts, one column per model
    assert data["texts"] == [] and data["comparison"]["models"] == ["bert", "roberta"]
    assert [(t["text"], [e["model"] for e in t["entries"]]) for t in compared] == [
        (text, ["bert", "roberta"]) for text in ("good day", "bad day")
    ]
    assert data["model"]["name"] == "bert vs roberta"
    assert all(e["method"] == "gxi" for t in compared for entry in t["entries"] for e in entry["explanations"])


def test_version_and_plain_flags():
    assert runner.invoke(app, ["--version"]).stdout == f"trexplain {trexplain.__version__}\n"
    for command in ("explain", "report", "evaluate", "attention", "index"):
        shown = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).stdout
        assert "<bool>" not in shown and "--no-" not in shown, command
    assert "--truncate" in runner.invoke(app, ["explain", "--help"], env={"COLUMNS": "200"}).stdout


# ------------------------------------------------------------------ the atomic writer itself
def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "o.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(path) as handle:
        handle.write("half")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["o.txt"]
    assert write_text(path, "new") == path and path.read_text() == "new"


def test_a_failed_folder_build_keeps_the_old_folder(tmp_path):
    out = tmp_path / "idx"
    with atomic_folder(out, contents=["a"]) as folder:
        (folder / "a").write_text("1")
    with pytest.raises(RuntimeError), atomic_folder(out, contents=["a"]) as folder:
        (folder / "a").write_text("2")
        raise RuntimeError("interrupted")
    assert (out / "a").read_text() == "1" and os.listdir(tmp_path) == ["idx"]
    with atomic_folder(out, contents=["a"]) as folder:
        (folder / "b").write_text("2")
    assert os.listdir(out) == ["b"] and os.listdir(tmp_path) == ["idx"]  # replaced whole


def test_stale_temporaries_of_dead_runs_are_cleaned(tmp_path):
    target = tmp_path / "o.jsonl"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale_file = tmp_path / f".o.jsonl{TEMP_TAG}{dead.stdout.strip()}-abc"
    stale_folder = tmp_path / f".o.jsonl{TEMP_TAG}{dead.stdout.strip()}-def"
    live = tmp_path / f".o.jsonl{TEMP_TAG}{os.getppid()}-ghi"  # a run still going: left alone
    other = tmp_path / f".other{TEMP_TAG}{dead.stdout.strip()}-abc"  # another target's: left alone
    for path in (stale_file, live, other):
        path.write_text("x")
    stale_folder.mkdir()
    (stale_folder / "inner").write_text("x")
    write_text(target, "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name, "o.jsonl"])
    assert clean_stale(target) == []


def test_check_output_in_python(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("x")
    with pytest.raises(InputError, match="is the input file"):
        check_output(tmp_path / "." / "in.txt", inputs=[source])
    with pytest.raises(InputError, match="holds the input file"):
        check_output(tmp_path, inputs=[source], folder=True)
    assert check_output(tmp_path / "new.txt", inputs=[source]) == tmp_path / "new.txt"
    assert os.listdir(tmp_path) == ["in.txt"]  # the probe leaves nothing
