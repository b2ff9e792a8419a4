"""Hugging Face hub ids without the internet: a fake hub on 127.0.0.1 (tests/fake_hub.py) serves tiny repos;
downloads, the cache, offline mode, revisions, every error, and that no other host is ever contacted."""

from __future__ import annotations

import io
import json
import socket
import sys
import warnings

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from tests.fake_hub import FakeHub
from tests.tiny import save_tiny
from trexplain import explain
from trexplain.cli import app
from trexplain.errors import (
    HubUnreachableError,
    InputError,
    ModelAccessError,
    ModelLoadError,
    ModelNotCachedError,
    ModelNotFoundError,
)
from trexplain.models import hub as hub_module
from trexplain.models import load_model

TOKEN = "hf_secretTOKENvalue123"
runner = CliRunner()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Tiny repos as folders: two revisions of a classifier, pickle-only weights, no head, remote code."""
    root = tmp_path_factory.mktemp("repos")
    main, v1 = save_tiny("bert", root / "main", seed=0), save_tiny("bert", root / "v1", seed=1)
    pickle = save_tiny("bert", root / "pickle")
    torch.save(load_file(pickle / "model.safetensors"), pickle / "pytorch_model.bin")
    (pickle / "model.safetensors").unlink()
    headless = save_tiny("bert", root / "headless")
    weights = load_file(headless / "model.safetensors")
    from safetensors.torch import save_file

    save_file({k: v for k, v in weights.items() if not k.startswith("classifier")}, headless / "model.safetensors")
    remote = save_tiny("bert", root / "remote")
    config = json.loads((remote / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "modeling_evil.EvilModel"}
    (remote / "config.json").write_text(json.dumps(config))
    return {"main": main, "v1": v1, "pickle": pickle, "headless": headless, "remote": remote}


@pytest.fixture
def hub(folders, tmp_path, monkeypatch):
    """A started fake hub as HF_ENDPOINT, an empty HF_HOME, no token, online, and sockets only to 127.0.0.1."""
    fake = FakeHub().start()
    shas = fake.repo("org/tiny").add_revisions({"main": folders["main"], "v1": folders["v1"]})
    for name in ("pickle", "headless", "remote"):
        fake.repo(f"org/{name}").add(folders[name])
    fake.serve_to(monkeypatch, tmp_path / "hf")
    monkeypatch.setattr(hub_module, "RETRY_DELAYS", (0.01, 0.01, 0.01))
    connect, foreign = socket.socket.connect, []

    def loopback_only(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "localhost", "::1"):
            foreign.append(address)  # recorded as well as refused: a library may swallow the error
            raise ConnectionRefusedError(f"test: a connection to {address} was attempted")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    fake.shas = shas
    yield fake
    fake.stop()
    assert foreign == [], f"connections to other hosts were attempted: {foreign}"


def logits(adapter, text="The movie was wonderful"):
    return adapter.forward(adapter.encode([text]).inputs).logits


def test_download_records_the_commit_and_matches_the_folder(hub, folders):
    adapter = load_model("org/tiny")
    assert adapter.model_revision == hub.shas["main"]
    assert adapter.name == "org/tiny"
    torch.testing.assert_close(logits(adapter), logits(load_model(folders["main"])))
    fetched = {path.rsplit("/", 1)[-1] for method, path, _ in hub.requests if method == "GET" and "/resolve/" in path}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= fetched
    assert all("authorization" not in {k.lower() for k in headers} for _, _, headers in hub.requests)
    (explanation,) = explain("The movie was wonderful", adapter, method="gxi")
    assert explanation.model_revision == hub.shas["main"]
    assert explanation.to_dict()["model_revision"] == hub.shas["main"]


def test_cache_hit_with_the_hub_stopped_and_offline(hub, monkeypatch):
    first = load_model("org/tiny")
    hub.stop()
    with pytest.warns(UserWarning, match="could not be reached.*using the cached org/tiny@main"):
        again = load_model("org/tiny")
    assert again.model_revision == first.model_revision
    torch.testing.assert_close(logits(again), logits(first))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_model("org/tiny", offline=True).model_revision == first.model_revision
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        assert load_model("org/tiny").model_revision == first.model_revision


def test_offline_and_not_cached_names_the_command(hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        ModelNotCachedError,
        match=r"no local folder of that name, and it is not in the hub cache .*`hf download org/tiny`.*save_pretrained",
    ):
        load_model("org/tiny")
    with pytest.raises(ModelNotCachedError, match=r"`hf download org/tiny --revision v1`"):
        load_model("org/tiny@v1")
    assert hub.requests == []


def test_cli_offline_and_not_cached_is_one_line_and_exit_2(hub):
    result = runner.invoke(app, ["explain", "I love it", "--model", "org/tiny", "--method", "gxi", "--offline"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "hf download org/tiny" in lines[0], result.stderr
    assert hub.requests == []


def test_revision_pinning(hub, folders):
    tagged = load_model("org/tiny@v1")
    assert tagged.model_revision == hub.shas["v1"] != hub.shas["main"]
    torch.testing.assert_close(logits(tagged), logits(load_model(folders["v1"])))
    assert load_model("org/tiny", revision="v1").model_revision == hub.shas["v1"]
    before = len(hub.requests)
    pinned = load_model(f"org/tiny@{hub.shas['v1']}")  # a cached commit: no request at all
    assert pinned.model_revision == hub.shas["v1"] and len(hub.requests) == before
    with pytest.raises(InputError, match="pins revision"):
        load_model("org/tiny@v1", revision="main")


def test_cache_dir_is_respected(hub, tmp_path):
    adapter = load_model("org/tiny", cache_dir=tmp_path / "elsewhere")
    assert (tmp_path / "elsewhere" / "models--org--tiny" / "snapshots" / adapter.model_revision).is_dir()
    assert not (tmp_path / "hf" / "hub" / "models--org--tiny").exists()


@pytest.mark.parametrize(
    ("source", "failure", "error", "message"),
    [
        ("org/nothing", None, ModelNotFoundError, "no model org/nothing on http://127.0.0.1"),
        ("org/tiny@nope", None, ModelNotFoundError, "has no revision 'nope'"),
        ("org/tiny", "401", ModelAccessError, "private or gated: log in with `hf auth login` or set HF_TOKEN"),
        ("org/tiny", "403", ModelAccessError, "is gated: request access on its model page"),
        ("org/tiny", "drop", HubUnreachableError, "could not be reached after 4 tries"),
        ("org/pickle", None, ModelLoadError, "only pickle weights.*allow_pickle=True"),
        ("org/headless", None, ModelLoadError, "without a trained classifier head"),
        ("org/remote", None, ModelLoadError, r"needs remote code \(AutoModelForSequenceClassification in auto_map\)"),
    ],
)
def test_each_error_is_one_typed_line(hub, monkeypatch, source, failure, error, message):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    hub.fail("org/tiny", failure)
    with pytest.raises(error, match=message) as caught:
        load_model(source)
    assert "\n" not in str(caught.value) and TOKEN not in str(caught.value)
    result = runner.invoke(app, ["explain", "a text", "--model", source, "--method", "gxi"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    assert TOKEN not in result.output
    if failure == "drop":
        tries = [path for _, path, _ in hub.requests if path.startswith("/api/models/org/tiny")]
        assert len(tries) == 2 * 4  # four tries each, Python then CLI


def test_pickle_repo_with_opt_in(hub):
    adapter = load_model("org/pickle", allow_pickle=True)
    assert adapter.model_revision is not None


def test_a_local_folder_of_the_same_name_wins(hub, folders, tmp_path, monkeypatch):
    local = tmp_path / "org" / "tiny"
    local.parent.mkdir()
    local.symlink_to(folders["v1"], target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    with pytest.warns(UserWarning, match="loading the local folder .* not the hub model of the same name"):
        adapter = load_model("org/tiny")
    torch.testing.assert_close(logits(adapter), logits(load_model(folders["v1"])))
    assert adapter.model_revision is None and hub.requests == []


def test_cli_downloads_then_works_with_the_hub_stopped(hub):
    args = ["explain", "I love it", "--model", "org/tiny", "--method", "gxi", "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    record = json.loads(first.stdout)
    assert record["model"] == "org/tiny"
    assert record["explanations"][0]["model_revision"] == hub.shas["main"]
    hub.stop()
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["explanations"][0]["scores"] == record["explanations"][0]["scores"]


def test_not_a_hub_id_is_a_missing_folder(hub):
    with pytest.raises(ModelLoadError, match=r"no such folder.*Hugging Face model id"):
        load_model("./no/such/folder")
    assert hub.requests == []


def test_every_entry_point_takes_a_hub_id(hub, tmp_path):
    from trexplain.runs import run_dataset
    from trexplain.runs.manifest import read_manifest
    from trexplain.server.models import load_served

    (served,) = load_served(["org/tiny"], device="cpu", dtype="float32")
    assert served.adapter.model_revision == hub.shas["main"]
    texts = tmp_path / "texts.txt"
    texts.write_text("The movie was wonderful.\nWhat a terrible waste of time.\nboring\nhappy day\n" * 2)
    run_dataset(texts, tmp_path / "run", model="org/tiny", methods="gxi")
    assert read_manifest(tmp_path / "run")["config"]["model_revision"] == hub.shas["main"]
    from trexplain.errors import RunMismatchError

    with pytest.raises(RunMismatchError, match="model_revision"):
        run_dataset(texts, tmp_path / "run", model="org/tiny@v1", methods="gxi")
    compare = runner.invoke(app, ["compare", "The movie", "--model", "org/tiny", "--model", "org/tiny@v1", "--json"])
    assert compare.exit_code == 0, compare.output
    assert [m["model"] for m in json.loads(compare.stdout)["texts"][0]["models"]] == ["org/tiny", "org/tiny@v1"]
    probe = runner.invoke(app, ["probe", "The movie was wonderful", "--model", "org/tiny", "--json", "--budget", "8"])
    assert probe.exit_code == 0, probe.output
    out = tmp_path / "concepts"
    fit = ["concepts", "fit", "--input", str(texts), "--model", "org/tiny", "--layer", "0", "--out", str(out)]
    concepts = runner.invoke(app, [*fit, "-k", "2", "--importance-texts", "2", "--deletion-texts", "2"])
    assert concepts.exit_code == 0, concepts.output
    assert json.loads((out / "concepts.json").read_text())["meta"]["model_revision"] == hub.shas["main"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_download_progress_only_on_a_terminal(hub, monkeypatch, tmp_path):
    quiet = io.StringIO()
    monkeypatch.setattr(sys, "stderr", quiet)
    load_model("org/tiny")
    assert quiet.getvalue() == ""
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    load_model("org/tiny@v1")
    assert "model.safetensors" in terminal.getvalue() or "Fetching" in terminal.getvalue()
