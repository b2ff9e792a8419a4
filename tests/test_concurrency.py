"""One lock discipline: explain, probe (its gradient hook and pass counting), the sanity check (its deep copy of the
model and seeded re-initialisation) and concept importance, run from several threads on ONE adapter at once, give
exactly their serial results, and leave no hook behind."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from trexplain import explain
from trexplain.concepts.dictionaries import make
from trexplain.concepts.importance import importance
from trexplain.evaluate.sanity import model_randomization
from trexplain.models import load_model
from trexplain.probe import Constraints, probe

TEXTS = ["The movie was wonderful, the acting superb.", "What a terrible waste of time.", "Best concert ever #happy"]
SITE = "block_output:-1"


def timeless(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: timeless(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [timeless(v) for v in value]
    return value


def hooks(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.fixture(scope="module")
def adapter(tiny_dirs):
    return load_model(tiny_dirs["bert"])


@pytest.fixture(scope="module")
def jobs(adapter) -> dict[str, Callable[[], Any]]:
    rows = [adapter.forward(adapter.encode([t]).inputs, capture=[SITE]).captured[SITE][:, 0] for t in TEXTS]
    dictionary = make("pca", 2, seed=0).fit(np.concatenate([r.detach().numpy() for r in rows]))

    def explained(method: str) -> Callable[[], Any]:
        return lambda: [(e.scores, e.logits) for e in explain(TEXTS[:2], adapter, method, target="all")]

    def concept_importance() -> Any:
        found = importance(adapter, dictionary, TEXTS, SITE, "cls")
        return [found.logits, found.gradient, found.concept_x_gradient, found.ablation]

    return {
        "explain cp-lrp": explained("cp-lrp"),
        "explain gxi": explained("gxi"),
        "probe": lambda: timeless(
            probe(TEXTS[1], adapter, edits=["delete", "embed"], constraints=Constraints(budget=40), seed=1).to_dict()
        ),
        "sanity": lambda: model_randomization(adapter, TEXTS[:2], "gxi", seed=3).to_dict(),
        "concept importance": concept_importance,
    }


def same(a: Any, b: Any, where: str) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, (np.ndarray, float)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6, err_msg=where)
    else:
        assert a == b, where


def test_every_call_from_threads_on_one_adapter_equals_its_serial_result(adapter, jobs):
    serial = {name: job() for name, job in jobs.items()}
    before = hooks(adapter.model)
    names = [name for name in jobs for _ in range(2)]  # each job twice, all at once
    start = threading.Barrier(len(names))

    def run(name: str) -> Any:
        start.wait()
        return jobs[name]()

    for _ in range(2):
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            parallel = list(pool.map(run, names))
        for name, result in zip(names, parallel, strict=True):
            same(serial[name], result, name)
    assert hooks(adapter.model) == before
