"""The optional panels' API of `trexplain serve`: probes (the library's result through a job), concept folders
(checked against the served weights; summary and one text's concepts equal the library's), and a run folder's
rows (paginated, sorted and filtered like the table the library's shards give), with every error and limit."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the web app needs the app extra: pip install 'trexplain[app]'")
pytest.importorskip("httpx", reason="FastAPI's test client needs httpx: pip install httpx")

from fastapi.testclient import TestClient

import trexplain
from trexplain.concepts.conceptset import fit_concepts
from trexplain.concepts.report import payload as concepts_payload
from trexplain.errors import InputError
from trexplain.probe import Constraints, probe
from trexplain.server import Limits, ServedModel, create_app
from trexplain.server.panels import ServedRun

BASE = "http://127.0.0.1:8000"
TEXT = "I absolutely love this new phone, the camera is amazing!"
CORPUS = [
    "the movie was great",
    "the plot was thin",
    "a great film",
    "what a movie",
    "I hated it",
    "bad acting all round",
    "lovely day",
    "terrible, awful plot",
]
HOSTILE = "<img src=x onerror=alert(1)> \u202eevil\x1b[31m"


def timeless(value):
    if isinstance(value, dict):
        return {k: timeless(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [timeless(v) for v in value]
    return value


def wait(c: TestClient, job_id: str, seconds: float = 60) -> dict:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        state = c.get(f"/api/jobs/{job_id}").json()
        if state.get("state") not in ("queued", "running"):
            return state
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {seconds} s")


@pytest.fixture(scope="module")
def concept_set(tiny, tmp_path_factory):
    """A tiny PCA concept folder on the tiny BERT (saved and loaded back, as `serve --concepts` does)."""
    fitted = fit_concepts(
        tiny["bert"], CORPUS, n_concepts=3, method="pca", importance_texts=4, deletion_texts=2, fidelity_texts=4,
        min_count=1, words=3, top_k=2,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("concepts") / "tiny-pca"
    fitted.save(folder)
    (folder / "labels.json").write_text(json.dumps({"0": {"label": HOSTILE}}))
    return trexplain.concepts.conceptset.ConceptSet.load(folder)


@pytest.fixture(scope="module")
def run_folder(tiny, tmp_path_factory):
    """A tiny evaluated run (two methods, shards of 3 texts) on the tiny BERT."""
    root = tmp_path_factory.mktemp("run")
    texts = root / "texts.txt"
    texts.write_text("\n".join([*CORPUS, HOSTILE]) + "\n", encoding="utf-8")
    trexplain.run_dataset(
        texts, root / "run", model=tiny["bert"], methods=["gxi", "saliency"], evaluate=True, shard_size=3
    )
    return root / "run"


@pytest.fixture(scope="module")
def api(demo, tiny, concept_set, run_folder):
    models = [ServedModel(demo), ServedModel(tiny["bert"])]
    limits = Limits(max_probe_budget=300, max_rows=5, max_chars=500)
    with TestClient(create_app(models, concepts=[concept_set], run=run_folder, limits=limits), base_url=BASE) as c:
        yield c


def test_models_lists_the_panels(api):
    info = api.get("/api/models").json()
    assert info["capabilities"] == {"probe": True, "concepts": True, "runs": True}
    assert info["concepts"] == [
        {"name": "tiny-pca", "model": "bert", "method": "pca", "site": "block_output:-1", "granularity": "cls",
         "n_concepts": 3, "labelled": True}
    ]  # fmt: skip
    assert info["run"] == {
        "name": "run", "model": "bert", "methods": ["gxi", "saliency"], "texts": 9, "evaluate": True, "complete": True
    }  # fmt: skip
    assert info["limits"]["max_probe_budget"] == 300 and info["limits"]["max_rows"] == 5


def test_without_extras_no_panels(demo):
    with TestClient(create_app([ServedModel(demo)]), base_url=BASE) as c:
        assert c.get("/api/models").json()["capabilities"] == {"probe": True, "concepts": False, "runs": False}
        for path in ("/api/concepts", "/api/run", "/api/run/rows"):
            r = c.get(path)
            assert r.status_code == 404 and ("--concepts" in r.text or "--run" in r.text)
        r = c.post("/api/concepts/explain", json={"text": "hi"})
        assert r.status_code == 404 and r.json()["error"]["type"] == "NoConcepts"


# ------------------------------------------------------------------ probe
def test_probe_job_equals_the_library(api, demo):
    body = {"text": TEXT, "budget": 200, "edits": ["delete", "embed"], "seed": 3}
    r = api.post("/api/probe", json=body)
    assert r.status_code == 202 and r.json()["kind"] == "probe"
    done = wait(api, r.json()["id"])
    assert done["state"] == "done", done
    got = done["result"]
    want = probe(TEXT, demo, edits=["delete", "embed"], constraints=Constraints(budget=200), seed=3, explain=True)
    assert timeless(got) == timeless(json.loads(json.dumps(want.to_dict())))
    assert got["success"] and got["new_prediction"] != got["original_prediction"] and got["queries"] <= 200
    assert [e["text"] for e in got["explanations"]] == [TEXT, got["edited"]]


def test_probe_report_format_and_target(api):
    r = api.post("/api/probe", json={"text": TEXT, "budget": 60, "target": "neutral", "rank": "deletion",
                                     "edits": ["delete"], "format": "report", "model": "demo"})  # fmt: skip
    done = wait(api, r.json()["id"])
    payload = done["result"]
    assert payload["probe"]["target"] == "neutral" and payload["probe"]["ranking"] == "deletion"
    assert payload["probe"]["queries"] <= 60 and payload["probe"]["edits"] == ["delete"]
    assert [t["text"] for t in payload["texts"]] == [TEXT, payload["probe"]["edited"]]


@pytest.mark.parametrize(
    ("body", "status", "limit_or_type"),
    [
        ({"text": TEXT, "budget": 301}, 422, "max_probe_budget"),
        ({"text": "x" * 501}, 413, "max_chars"),
        ({"text": TEXT, "rank": "ig", "params": {"steps": 10_000}}, 422, "max_steps"),
        ({"text": TEXT, "budget": 0}, 422, "validation"),
        ({"text": TEXT, "model": "nope"}, 404, "UnknownModel"),
    ],
)
def test_probe_limits_and_errors(api, body, status, limit_or_type):
    r = api.post("/api/probe", json=body)
    assert r.status_code == status
    error = r.json()["error"]
    assert error.get("limit", error["type"]) == limit_or_type


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"text": TEXT, "edits": ["words"]}, "not served"),  # server-side files are not a client's to name
        ({"text": TEXT, "target": "bogus", "budget": 5}, "bogus"),
        ({"text": TEXT, "rank": "nonsense", "budget": 5}, "unknown ranking"),
    ],
)
def test_probe_bad_settings_fail_the_job(api, body, words):
    done = wait(api, api.post("/api/probe", json=body).json()["id"])
    assert done["job"]["state"] == "failed" and words in done["error"]["message"]


# ------------------------------------------------------------------ concepts
def test_concepts_summary_is_the_folders_payload(api, concept_set):
    r = api.get("/api/concepts")
    assert r.status_code == 200
    got = r.json()
    assert got["name"] == "tiny-pca" and got["model"] == "bert" and len(got["folders"]) == 1
    assert got["payload"] == json.loads(json.dumps(concepts_payload(concept_set)))
    assert got["payload"]["concepts"]["interpretation"]["concepts"][0]["label"] == HOSTILE  # as data, never markup
    assert api.get("/api/concepts?name=other").status_code == 404


def test_concepts_explain_equals_the_library(api, concept_set, tiny):
    r = api.post("/api/concepts/explain", json={"text": "the movie was great"})
    assert r.status_code == 200
    got = r.json()
    want = concept_set.explain(tiny["bert"], "the movie was great", truncate=True)
    assert got["result"]["predicted"] == want["predicted"]
    assert [c["index"] for c in got["result"]["concepts"]] == [c["index"] for c in want["concepts"]]
    np.testing.assert_allclose(
        [c["ablation"] for c in got["result"]["concepts"]], [c["ablation"] for c in want["concepts"]], rtol=1e-5
    )
    assert got["payload"]["concepts"]["examples"] == [got["result"]]
    assert api.post("/api/concepts/explain", json={"text": "x" * 501}).json()["error"]["limit"] == "max_chars"
    assert api.post("/api/concepts/explain", json={"text": "hi", "concepts": "nope"}).status_code == 404


def test_concepts_of_other_weights_are_refused(demo, concept_set):
    with pytest.raises(InputError, match="no served model has"):
        create_app([ServedModel(demo)], concepts=[concept_set])
    with pytest.raises(InputError, match="no served model has"):
        create_app([ServedModel(demo)], concepts=[concept_set.path])  # a folder is loaded first


# ------------------------------------------------------------------ run folder
def test_run_manifest_and_summary(api, run_folder):
    got = api.get("/api/run").json()
    assert got["manifest"] == json.loads((run_folder / "manifest.json").read_text())
    assert got["summary"]["texts"] == 9 and got["summary"]["methods"] == ["gxi", "saliency"]


def test_run_rows_match_the_shards(api, run_folder):
    explanations = trexplain.load_run(run_folder)
    table = trexplain.load_run(run_folder, as_="arrow")
    gxi = [i for i, e in enumerate(explanations) if e.method == "gxi"]
    rows = api.get("/api/run/rows?limit=5").json()
    assert rows["total"] == 9 and rows["matched"] == 9 and len(rows["rows"]) == 5
    second = api.get("/api/run/rows?offset=5&limit=5").json()["rows"]
    every = rows["rows"] + second
    assert [r["row"] for r in every] == list(range(9))
    assert every[8]["text"] == HOSTILE
    for r, i in zip(every, gxi, strict=True):
        e = explanations[i]
        p = np.exp(e.logits - e.logits.max())
        assert r["predicted"] == e.predicted_label and r["confidence"] == pytest.approx(p.max() / p.sum(), rel=1e-6)
        k = e.targets.index(int(np.argmax(e.logits)))
        assert r["comprehensiveness"] == pytest.approx(table.column("comprehensiveness")[i].as_py()[k])
        assert r["method"] == "gxi"


def test_run_rows_sort_and_filter(api):
    page = api.get("/api/run/rows?limit=5&sort=confidence&desc=true").json()["rows"]
    values = [r["confidence"] for r in page]
    assert values == sorted(values, reverse=True)
    everything = [r for o in (0, 5) for r in api.get(f"/api/run/rows?offset={o}&limit=5").json()["rows"]]
    label = everything[0]["predicted"]
    chosen = api.get(f"/api/run/rows?limit=5&predicted={label}").json()
    assert chosen["matched"] == sum(r["predicted"] == label for r in everything)
    assert all(r["predicted"] == label for r in chosen["rows"])
    sal = api.get("/api/run/rows?limit=5&sort=sufficiency&method=saliency").json()["rows"]
    assert [r["sufficiency"] for r in sal] == sorted(r["sufficiency"] for r in sal)
    assert all(r["method"] == "saliency" for r in sal)
    high = api.get("/api/run/rows?limit=5&min_confidence=0.99").json()
    assert high["matched"] == 0 and high["rows"] == []


@pytest.mark.parametrize(
    ("query", "status", "limit_or_type"),
    [
        ("limit=6", 422, "max_rows"),
        ("limit=0", 422, "validation"),
        ("offset=-1", 422, "validation"),
        ("sort=text", 400, "InputError"),
        ("method=ig", 400, "InputError"),
        ("min_confidence=2", 422, "validation"),
    ],
)
def test_run_rows_limits_and_errors(api, query, status, limit_or_type):
    r = api.get(f"/api/run/rows?{query}")
    assert r.status_code == status
    error = r.json()["error"]
    assert error.get("limit", error["type"]) == limit_or_type


def test_run_folder_is_opened_once_and_not_written(run_folder):
    before = sorted((p.name, p.stat().st_mtime_ns) for p in run_folder.iterdir())
    served = ServedRun.open(run_folder)
    assert len(served.rows) == 9
    assert sorted((p.name, p.stat().st_mtime_ns) for p in run_folder.iterdir()) == before


def test_cli_serve_refuses_a_bad_concept_folder(tmp_path):
    from typer.testing import CliRunner

    from trexplain.cli import app as cli

    result = CliRunner().invoke(cli, ["serve", "--concepts", str(tmp_path)])
    assert result.exit_code != 0 and "not a concept folder" in result.output
