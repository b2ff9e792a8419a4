"""Dataset runs: shards, manifest, resume after SIGKILL at random points, atomic shards, mismatch errors,
load_run, workers, the CLI and a streaming reader whose memory does not grow with the rows."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import trexplain
from tests.tiny import CORPUS, save_tiny
from trexplain.errors import InputError, RunMismatchError
from trexplain.runs import load_run, run_dataset
from trexplain.runs.job import plan_windows
from trexplain.runs.reader import RowReader, text_id

TEXTS = [f"{CORPUS[i % 8]} number {i}" for i in range(60)]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny("bert", tmp_path_factory.mktemp("runs-model") / "tiny-bert")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """60 distinct texts, then two repeats (of rows 3 and 10) at the end, as JSONL."""
    path = tmp_path_factory.mktemp("runs-input") / "texts.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in [*TEXTS, TEXTS[3], TEXTS[10]]))
    return path


@pytest.fixture(scope="module")
def reference(model_dir, corpus, tmp_path_factory):
    """One uninterrupted run and how long it took."""
    out = tmp_path_factory.mktemp("runs-ref") / "run"
    began = time.perf_counter()
    summary = run_dataset(corpus, out, model=model_dir, methods=["cp-lrp", "saliency"], shard_size=8)
    return out, summary, time.perf_counter() - began


def comparable(table):
    """The columns that must be equal between runs (diagnostics hold timings, which differ)."""
    return {name: table.column(name).to_pylist() for name in table.column_names if name != "diagnostics"}


def test_run_writes_shards_manifest_and_reads_back(reference, model_dir):
    out, summary, _ = reference
    assert summary.rows == 62 and summary.duplicates == 2 and summary.explained == 60 and summary.complete
    assert sorted(p.name for p in out.glob("rows-*.parquet")) == [
        f"rows-{a:09d}-{a + 7:09d}.parquet" for a in range(0, 56, 8)
    ] + ["rows-000000056-000000059.parquet"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["texts"] == 60 and manifest["explanations"] == 120 and manifest["complete"]
    assert manifest["config"]["methods"] == ["cp-lrp", "saliency"]
    assert manifest["config"]["weights_sha256"] == trexplain.hashes.weights_hash(trexplain.load_model(model_dir).model)
    assert [s["texts"] for s in manifest["shards"]] == [8] * 7 + [4]
    table = load_run(out, "arrow")
    assert table.column("id").to_pylist()[::2] == [text_id(t) for t in TEXTS]
    assert table.column("row").to_pylist()[:4] == [0, 0, 1, 1]
    assert table.column("method").to_pylist()[:2] == ["cp-lrp", "saliency"]
    # the same numbers as explaining the texts directly
    direct = trexplain.explain(TEXTS[:8], trexplain.load_model(model_dir), ["cp-lrp", "saliency"], batch_size=16)
    loaded = load_run(out)
    assert len(loaded) == 120
    for a, b in zip(direct, loaded[:16], strict=True):
        assert (a.text, a.method, a.targets) == (b.text, b.method, b.targets)
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-6)
    frame = load_run(out, "pandas")
    assert list(frame["id"][:2]) == [text_id(TEXTS[0])] * 2


def _killed_run(model_dir: Path, corpus: Path, out: Path) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    run_dataset(corpus, out, model=model_dir, methods=["cp-lrp", "saliency"], shard_size=8)


def test_sigkill_at_random_points_then_rerun_gives_every_id_once(reference, model_dir, corpus, tmp_path):
    ref_out, _, seconds = reference
    out = tmp_path / "run"
    context = multiprocessing.get_context("fork")  # torch runs single-threaded here: forking is safe and fast
    rng = random.Random(18)
    killed = 0
    for _ in range(5):  # each run is killed after a random number of new shards, at a random moment within the next
        target = len(list(out.glob("rows-*.parquet"))) + rng.randint(0, 2)
        process = context.Process(target=_killed_run, args=(model_dir, corpus, out))
        process.start()
        while process.is_alive() and len(list(out.glob("rows-*.parquet"))) < target:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, seconds / 8))
        os.kill(process.pid, signal.SIGKILL)
        process.join()
        killed += process.exitcode == -signal.SIGKILL
        assert not [p for p in out.glob("rows-*") if not p.name.endswith(".parquet")]
    assert killed >= 3
    summary = run_dataset(corpus, out, model=model_dir, methods=["cp-lrp", "saliency"], shard_size=8)
    assert summary.complete and summary.done_before + summary.explained == 60
    assert not list(out.glob(".*tmp-*"))  # the killed runs' partial shards are gone
    table, expected = load_run(out, "arrow"), load_run(ref_out, "arrow")
    ids = table.column("id").to_pylist()
    assert len(ids) == 120 and len(set(ids)) == 60  # every id exactly once per method: 0 lost, 0 duplicated
    assert sorted(zip(ids, table.column("method").to_pylist(), strict=True)) == sorted(
        zip(expected.column("id").to_pylist(), expected.column("method").to_pylist(), strict=True)
    )
    mine, theirs = comparable(table.sort_by("row")), comparable(expected.sort_by("row"))
    assert mine["id"] == theirs["id"]
    for a, b in zip(mine["scores"], theirs["scores"], strict=True):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=1e-6)


def test_workers_write_the_same_shards(reference, model_dir, corpus, tmp_path, monkeypatch):
    """Two worker processes (one model each): the same shard names and numbers as one process. Forked here
    (torch is single-threaded in tests) to save the two fresh interpreters `spawn` costs a real run."""
    monkeypatch.setattr("trexplain.runs.local.START_METHOD", "fork")
    ref_out, _, _ = reference
    out = tmp_path / "run"
    summary = run_dataset(
        corpus, out, model=model_dir, methods=["cp-lrp", "saliency"], shard_size=8, workers=2, limit=16
    )
    assert summary.explained == 16 and summary.shards == 2
    mine, theirs = comparable(load_run(out, "arrow")), comparable(load_run(ref_out, "arrow").slice(0, 32))
    assert mine["id"] == theirs["id"] and mine["tokens"] == theirs["tokens"]
    for a, b in zip(mine["scores"], theirs["scores"], strict=True):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=1e-6)


def test_partial_temporary_shard_is_ignored_and_cleaned(reference, model_dir, corpus, tmp_path):
    out = tmp_path / "run"
    run_dataset(corpus, out, model=model_dir, methods=["cp-lrp", "saliency"], shard_size=8, limit=16)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    partial = out / f".rows-000000016-000000023.parquet.tmp-{int(dead.stdout)}-0badc0de"
    partial.write_bytes(b"PAR1 half a shard")
    assert len(load_run(out)) == 32  # readers never look at temporaries
    summary = run_dataset(corpus, out, model=model_dir, methods=["cp-lrp", "saliency"], shard_size=8, limit=24)
    assert not partial.exists() and summary.explained == 8 and summary.done_before == 16 and not summary.complete
    assert len(load_run(out)) == 48


def test_other_model_or_parameters_in_a_run_folder_is_an_error(reference, model_dir, corpus, tmp_path):
    out, _, _ = reference
    for change in ({"methods": ["cp-lrp"]}, {"shard_size": 4}, {"evaluate": True}, {"target": "all"}):
        options = {"methods": ["cp-lrp", "saliency"], "shard_size": 8, **change}
        with pytest.raises(RunMismatchError, match=next(iter(change))):
            run_dataset(corpus, out, model=model_dir, **options)
    other = save_tiny("bert", tmp_path / "other-bert", seed=1)
    with pytest.raises(RunMismatchError, match="weights_sha256"):
        run_dataset(corpus, out, model=other, methods=["cp-lrp", "saliency"], shard_size=8)
    changed = tmp_path / corpus.name
    changed.write_text(corpus.read_text() + json.dumps({"text": "one more"}) + "\n")
    with pytest.raises(RunMismatchError, match="input_sha256"):
        run_dataset(changed, out, model=model_dir, methods=["cp-lrp", "saliency"], shard_size=8)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="holds other files"):
        run_dataset(corpus, busy, model=model_dir)
    summary = run_dataset(corpus, out, model=model_dir, methods=["cp-lrp", "saliency"], shard_size=8)
    assert summary.explained == 0 and summary.done_before == 60  # the same run: nothing left to do


def test_evaluate_rationales_and_target_all(model_dir, tmp_path):
    source = tmp_path / "marked.csv"
    source.write_text('id,text,marks\nA,"What a terrible, boring waste",[1]\nB,I can\'t believe it,"[[0, 1]]"\n')
    out = tmp_path / "run"
    run_dataset(source, out, model=model_dir, target="all", evaluate=True, id_column="id", rationale_column="marks")
    table = load_run(out, "arrow")
    assert table.column("id").to_pylist() == ["A", "B"]
    assert table.column("rationale").to_pylist() == [[1], [0]]  # "terrible" (model word 1), "I"
    assert all(len(v) == 3 for v in table.column("comprehensiveness").to_pylist())  # one per class
    for e, comp, error in zip(
        load_run(out),
        table.column("comprehensiveness").to_pylist(),
        table.column("identity_error").to_pylist(),
        strict=True,
    ):
        assert e.targets == (0, 1, 2)
        assert error == pytest.approx([e.diagnostics.identity.error_for(k) for k in range(3)])
        assert all(-1 <= c <= 1 for c in comp)


def test_reader_ids_duplicates_and_errors(tmp_path):
    source = tmp_path / "t.csv"
    source.write_text("key,text\n7,a\n8,b\n7,c\n")
    with pytest.raises(InputError, match="id '7' was already used by text 1"):
        list(RowReader(source, id_column="key"))
    with pytest.raises(InputError, match="no column 'nope'"):
        list(RowReader(source, id_column="nope"))
    source.write_text("text\na\nb\na\n")
    reader = RowReader(source)
    assert [(r.row, r.id) for r in reader] == [(0, text_id("a")), (1, text_id("b"))] and reader.duplicates == 1
    import hashlib

    assert text_id("a") == hashlib.sha256(b"a").hexdigest()[:16]
    parquet = tmp_path / "t.parquet"
    import pyarrow as pa

    pq.write_table(pa.table({"text": ["x", "y"], "id": [5, 6]}), parquet)
    assert [(r.id, r.text) for r in RowReader(parquet, id_column="id")] == [("5", "x"), ("6", "y")]


def test_streaming_memory_does_not_grow_with_rows(tmp_path):
    """Reading and cutting windows holds one window of texts at a time: only the id index (a set of 64-bit
    ints: ~65 B a text, twice that while the set grows) grows with the rows, far below the texts (~1 kB each)."""

    def peak(rows: int) -> tuple[int, int]:
        path = tmp_path / f"{rows}.jsonl"
        with path.open("w") as handle:
            for i in range(rows):
                handle.write(json.dumps({"text": f"{CORPUS[i % 8]} {'x' * 1000} {i}"}) + "\n")
        tracemalloc.start()
        windows = sum(1 for _ in plan_windows(RowReader(path), set(), 256))
        top = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return top, windows

    (small, n_small), (large, n_large) = peak(2_000), peak(20_000)
    assert (n_small, n_large) == (8, 79)
    assert large - small < 18_000 * 200, (small, large)  # holding the texts would take 18_000 * 1_050


def test_cli_run_and_errors(model_dir, corpus, tmp_path):
    from trexplain.cli import app

    runner = CliRunner()
    out = tmp_path / "cli-run"
    args = ["run", "--input", str(corpus), "--out", str(out), "--model", str(model_dir), "--limit", "10", "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "10 texts explained" in result.output and "run partial" in result.output
    result = runner.invoke(app, [*args[:-3], "--method", "saliency", "--quiet"])
    assert result.exit_code == 2 and "holds another run" in result.output
    result = runner.invoke(app, [*args, "--backend", "spark"])
    assert result.exit_code == 2 and "unknown backend" in result.output
