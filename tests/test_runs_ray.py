"""The Ray backend writes the same shards as the local one, row for row (skipped when Ray is absent)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

pytest.importorskip("ray.data", reason="the ray backend needs the optional extra: pip install 'trexplain[ray]'")

from tests.tiny import CORPUS, save_tiny
from trexplain.runs import load_run, run_dataset

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray Data's own, about its settings


@pytest.fixture(scope="module")
def ray_local():
    """Ray on this machine: one actor CPU plus one for the driver and Ray Data's own tasks."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a throwaway local cluster, nothing to authenticate
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_and_local_backends_write_identical_tables(ray_local, tmp_path):
    model = save_tiny("bert", tmp_path / "tiny-bert")
    source = tmp_path / "texts.jsonl"
    texts = [f"{CORPUS[i % 8]} #{i}" for i in range(12)]
    source.write_text("".join(json.dumps({"text": t, "n": i}) + "\n" for i, t in enumerate(texts)))
    options = {"model": model, "methods": ["cp-lrp", "saliency"], "shard_size": 5, "id_column": "n"}
    run_dataset(source, tmp_path / "local", **options)
    # the local backend starts the run, Ray resumes it: one set of names, manifest and resume rules
    run_dataset(source, tmp_path / "ray", limit=7, **options)
    resumed = run_dataset(source, tmp_path / "ray", backend="ray", **options)
    assert (resumed.explained, resumed.done_before, resumed.backend, resumed.complete) == (5, 7, "ray", True)
    names = sorted(p.name for p in (tmp_path / "ray").glob("rows-*.parquet"))
    assert names == [
        "rows-000000000-000000004.parquet",
        "rows-000000005-000000006.parquet",
        "rows-000000007-000000009.parquet",
        "rows-000000010-000000011.parquet",
    ]
    ray_table = load_run(tmp_path / "ray", "arrow")
    local = run_dataset(source, tmp_path / "local2", limit=7, **options)
    run_dataset(source, tmp_path / "local2", **options)
    assert local.explained == 7
    local_table = load_run(tmp_path / "local2", "arrow")
    assert ray_table.column_names == local_table.column_names
    for name in ray_table.column_names:
        if name != "diagnostics":
            assert ray_table.column(name).to_pylist() == local_table.column(name).to_pylist(), name
    for a, b in zip(
        ray_table.column("diagnostics").to_pylist(), local_table.column("diagnostics").to_pylist(), strict=True
    ):
        a, b = json.loads(a), json.loads(b)
        assert a.pop("seconds") > 0 and b.pop("seconds") > 0  # timings differ; everything else is equal
        assert a == b
    assert np.array_equal(ray_table.column("row").to_numpy(), np.repeat(np.arange(12), 2))
