"""Dataset-run shards name the weights that wrote them (hash, and the hub commit for hub ids); a resume refuses a
folder holding shards of other weights, and a worker that loaded another commit refuses to write."""

from __future__ import annotations

import shutil

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tests.fake_hub import FakeHub
from tests.tiny import save_tiny
from trexplain.cli import app
from trexplain.errors import RunMismatchError
from trexplain.hashes import weights_hash
from trexplain.models import hub as hub_module
from trexplain.models import load_model
from trexplain.runs import load_run, run_dataset
from trexplain.runs.manifest import read_manifest
from trexplain.runs.work import Settings, Window, explain_window
from trexplain.study import StudyOptions

TEXTS = "The movie was wonderful.\nWhat a terrible waste of time.\nboring\nhappy day\n"
SECOND = "rows-000000002-000000003.parquet"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Two tiny classifiers with different weights (seeds 0 and 1)."""
    root = tmp_path_factory.mktemp("weights")
    return {"a": save_tiny("bert", root / "a", seed=0), "b": save_tiny("bert", root / "b", seed=1)}


@pytest.fixture
def texts(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text(TEXTS)
    return path


def metadata(path):
    return pq.read_schema(path).metadata


def test_local_shards_name_their_weights_and_a_foreign_shard_is_refused(folders, texts, tmp_path):
    run, other = tmp_path / "run", tmp_path / "other"
    run_dataset(texts, run, model=folders["a"], methods="gxi", shard_size=2, limit=2)
    run_dataset(texts, other, model=folders["b"], methods="gxi", shard_size=2)
    own = weights_hash(load_model(folders["a"]).model)
    first = metadata(run / "rows-000000000-000000001.parquet")
    assert first[b"trexplain.weights_sha256"] == own.encode() and b"trexplain.model_revision" not in first
    assert read_manifest(run)["shards"][0]["weights_sha256"] == own
    assert read_manifest(run)["shards"][0]["model_revision"] is None
    shutil.copy(other / SECOND, run / SECOND)  # rows 2-3 explained by the other weights
    with pytest.raises(RunMismatchError, match=rf"{SECOND} was written by other weights.*new --out folder"):
        run_dataset(texts, run, model=folders["a"], methods="gxi", shard_size=2)
    args = ["run", "-i", str(texts), "-o", str(run), "--model", str(folders["a"]), "--method", "gxi"]
    result = CliRunner().invoke(app, [*args, "--shard-size", "2"])
    assert result.exit_code == 2 and "written by other weights" in result.output
    (run / SECOND).unlink()
    summary = run_dataset(texts, run, model=folders["a"], methods="gxi", shard_size=2)
    assert summary.complete and summary.explained == 2
    assert {metadata(run / s["name"])[b"trexplain.weights_sha256"] for s in read_manifest(run)["shards"]} == {
        own.encode()
    }


def test_a_worker_that_loaded_another_commit_refuses_to_write(folders):
    adapter = load_model(folders["a"])
    settings = Settings(StudyOptions.build(["gxi"]), weights_sha256="0" * 64, model_revision="abc123")
    window = Window(0, ())
    with pytest.raises(RunMismatchError, match=r"loaded model_revision None, the run is bound to 'abc123'"):
        explain_window(adapter, settings, window)


@pytest.fixture
def hub(folders, tmp_path, monkeypatch):
    """A fake hub (tests/fake_hub.py) serving org/tiny at main (weights a) and v1 (weights b), as HF_ENDPOINT."""
    fake = FakeHub().start()
    fake.shas = fake.repo("org/tiny").add_revisions({"main": folders["a"], "v1": folders["b"]})
    fake.serve_to(monkeypatch, tmp_path / "hf")
    monkeypatch.setattr(hub_module, "RETRY_DELAYS", (0.01,))
    yield fake
    fake.stop()


def test_hub_shards_name_their_commit_and_another_commit_is_refused(hub, texts, tmp_path):
    run, other = tmp_path / "run", tmp_path / "other"
    run_dataset(texts, run, model="org/tiny", methods="gxi", shard_size=2, limit=2)
    run_dataset(texts, other, model="org/tiny@v1", methods="gxi", shard_size=2)
    main = hub.shas["main"]
    assert metadata(run / "rows-000000000-000000001.parquet")[b"trexplain.model_revision"] == main.encode()
    assert metadata(other / SECOND)[b"trexplain.model_revision"] == hub.shas["v1"].encode()
    assert [s["model_revision"] for s in read_manifest(run)["shards"]] == [main]
    assert {e.model_revision for e in load_run(run)} == {main}
    assert load_run(run, as_="arrow").num_rows == 2
    shutil.copy(other / SECOND, run / SECOND)
    refused = rf"{SECOND}.*model_revision '{hub.shas['v1']}'.*model_revision '{main}'"
    with pytest.raises(RunMismatchError, match=refused):
        run_dataset(texts, run, model="org/tiny", methods="gxi", shard_size=2)
