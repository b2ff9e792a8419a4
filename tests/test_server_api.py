"""The JSON API of `trexplain serve` through FastAPI's test client: the same records as the library, every
error path and limit, jobs with progress and cancel, and the security checks (token, Origin, Host, headers,
bind address)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the web app needs the app extra: pip install 'trexplain[app]'")
pytest.importorskip("httpx", reason="FastAPI's test client needs httpx: pip install httpx")

from fastapi.testclient import TestClient
from transformers import AutoModelForMaskedLM

from tests.tiny import save_tiny
from trexplain.cli import app as cli
from trexplain.inspect import attention_maps, build_index, layer_predictions, load_masked_lm, neighbours
from trexplain.progress import stage
from trexplain.server import Limits, ServedModel, create_app
from trexplain.server.compute import _pool
from trexplain.server.security import BindError, check_bind
from trexplain.study import study
from trexplain.viz.payload import text_entry

TEXTS = ["I loved the acting but the plot was terrible", "What a day, not bad at all"]
BASE = "http://127.0.0.1:8000"
TOKEN = "s3cret-token-of-24-chars"


def client(models, **kwargs) -> TestClient:
    return TestClient(create_app(models, **kwargs), base_url=BASE)


def plain(value):
    """What a value looks like after a trip through JSON, without timings (`seconds`: they differ run to run)."""
    return timeless(json.loads(json.dumps(value)))


def timeless(value):
    if isinstance(value, dict):
        return {k: timeless(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [timeless(v) for v in value]
    return value


@pytest.fixture(scope="module")
def api(demo):
    with client([ServedModel(demo, "demo")]) as c:
        yield c


def spin():
    """Work that only ends when cancelled: one progress step every 10 ms."""
    with stage("spinning") as advance:
        while True:
            time.sleep(0.01)
            advance()


def wait(c: TestClient, job_id: str, seconds: float = 60) -> dict:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        state = c.get(f"/api/jobs/{job_id}").json()
        if state.get("state") not in ("queued", "running"):
            return state
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {seconds} s")


# ------------------------------------------------------------------ the same schema as the library
def test_explain_equals_study_records(api, demo):
    body = {"texts": TEXTS, "methods": ["cp-lrp", "gxi"], "target": "all", "params": {"cp-lrp": {"gamma": 0.1}}}
    r = api.post("/api/explain", json=body)
    assert r.status_code == 200
    expected = study(TEXTS, demo, ["cp-lrp", "gxi"], target="all", params={"cp-lrp": {"gamma": 0.1}}).to_dict()
    assert timeless(r.json()) == plain(expected)
    record = r.json()["records"][0]
    assert record["prediction"]["label"] == "negative" and len(record["explanations"]) == 6  # 2 methods × 3 classes


def test_report_format_is_the_payload_of_the_renderer(api, demo):
    r = api.post("/api/explain", json={"texts": TEXTS[:1], "methods": ["gxi"], "format": "report"})
    assert r.status_code == 200
    payload = r.json()
    entry = text_entry(study(TEXTS[:1], demo, ["gxi"]).per_input[0])
    assert timeless(payload["texts"]) == [plain(entry)]
    assert payload["methods"]["gxi"]["signed"] is True and payload["model"]["name"] == "demo"


def test_layers_are_the_methods_layer_scores(api, demo):
    r = api.post("/api/layers", json={"text": TEXTS[0], "method": "cp-lrp"})
    assert r.status_code == 200
    assert r.json()["layer_site"] == "block input"
    expected = study(TEXTS[:1], demo, ["cp-lrp"]).records()[0]
    assert timeless(r.json()["record"]) == plain(expected)
    assert np.asarray(r.json()["record"]["explanations"][0]["layer_scores"]).shape == (6, len(expected["tokens"]))


def test_attention_aggregates_then_one_block(api, demo):
    maps = attention_maps(demo, TEXTS[0]).attention  # [L, H, T, T]
    quantized = lambda a: np.rint(np.clip(a, 0, 1) * 255) / 255  # noqa: E731
    summary = api.post("/api/attention", json={"text": TEXTS[0]}).json()
    layers, heads, size = maps.shape[:3]
    assert (summary["layers"], summary["heads"], summary["size"], summary["lazy"]) == (layers, heads, size, True)
    decode = lambda s: np.frombuffer(__import__("zlib").decompress(__import__("base64").b64decode(s)), np.uint8)  # noqa: E731
    for layer in range(layers):
        mean = decode(summary["mean"][layer]).reshape(size, size) / 255
        np.testing.assert_allclose(mean, quantized(maps[layer].mean(0)), atol=1 / 255 + 1e-6)
        top = decode(summary["max"][layer]).reshape(size, size) / 255
        np.testing.assert_allclose(top, quantized(maps[layer].max(0)), atol=1 / 255 + 1e-6)
    assert summary["thumb"] == size  # a short text: thumbnails are the maps themselves
    one = api.post("/api/attention", json={"text": TEXTS[0], "layer": 4}).json()
    assert one["layer"] == 4 and one["heads"] == heads
    np.testing.assert_allclose(
        decode(one["data"]).reshape(heads, size, size) / 255, quantized(maps[4]), atol=1 / 255 + 1e-6
    )


def test_thumbnail_pooling_matches_report_js():
    rng = np.random.default_rng(0)
    weights = rng.random((2, 3, 130, 130))
    pooled = _pool(weights, 52)
    bucket = (np.arange(130) * 52) // 130  # report.js: Math.floor(c * size / n)
    expected = np.zeros((2, 3, 52, 52))
    for r in range(130):
        for c in range(130):
            expected[..., bucket[r], bucket[c]] = np.maximum(expected[..., bucket[r], bucket[c]], weights[..., r, c])
    np.testing.assert_array_equal(pooled, expected)


def test_compare_two_models(demo, tiny):
    bert = tiny["bert"]
    with client([ServedModel(demo), ServedModel(bert)]) as c:
        r = c.post("/api/compare", json={"text": TEXTS[0], "models": ["demo", bert.name], "methods": ["gxi"]})
        assert r.status_code == 200
        assert r.json()["models"] == ["demo", bert.name]
        for model, result in zip([demo, bert], r.json()["results"], strict=True):
            assert timeless(result) == plain(study(TEXTS[:1], model, ["gxi"]).to_dict())
        assert [m["name"] for m in c.get("/api/models").json()["models"]] == ["demo", bert.name]


@pytest.fixture(scope="module")
def tiny_lm_dir(tmp_path_factory):
    """A random tiny BERT masked-LM with the tiny models' tokenizer."""
    return save_tiny("bert", tmp_path_factory.mktemp("mlm") / "bert", seed=1, head=AutoModelForMaskedLM)


@pytest.fixture(scope="module")
def tiny_lm(tiny_lm_dir):
    return load_masked_lm(tiny_lm_dir)


def test_masked_predictions_and_neighbours(tiny, tiny_lm, tmp_path):
    bert = tiny["bert"]
    corpus = ["the movie was great", "the plot was thin", "a great film", "what a movie"]
    index = build_index(bert, corpus, tmp_path / "index", model_source="tiny-bert", batch_size=2)
    with client([ServedModel(bert, masked=tiny_lm)], index=index) as c:
        info = c.get("/api/models").json()["models"][0]
        assert info["masked_lm"] is True and info["index"] == {"tokens": len(index), "layers": index.layers}
        r = c.post("/api/masked", json={"text": "the movie was great", "word": "movie", "k": 3})
        assert r.status_code == 200
        assert r.json() == plain(layer_predictions(tiny_lm, "the movie was great", "movie", 3).to_dict())
        r = c.post("/api/neighbours", json={"text": "a great movie", "token": "great", "layer": -1, "k": 4})
        assert r.status_code == 200
        assert r.json() == plain(neighbours(bert, index, "a great movie", "great", -1, 4).to_dict())
        assert len(r.json()["neighbours"]) == 4


# ------------------------------------------------------------------ jobs: evaluate, table, progress, cancel
def test_evaluate_job_reports_progress_and_matches_study(api, demo):
    r = api.post("/api/evaluate", json={"texts": TEXTS[:1], "methods": ["gxi"]})
    assert r.status_code == 202 and r.json()["state"] in ("queued", "running", "done")
    done = wait(api, r.json()["id"])
    assert done["state"] == "done"
    assert done["progress"][0]["label"] == "explaining with gxi"
    expected = study(TEXTS[:1], demo, ["gxi"], evaluate=True).to_dict()
    result = done["result"]
    assert timeless(result["records"]) == plain(expected["records"])
    assert timeless(result["evaluation"]["rows"]) == plain(expected["evaluation"]["rows"])


def test_table_job_rows(api, demo):
    r = api.post("/api/table", json={"texts": TEXTS, "method": "gxi"})
    done = wait(api, r.json()["id"])
    rows = done["result"]["rows"]
    expected = study(TEXTS, demo, ["gxi"])
    for row, group in zip(rows, expected.per_input, strict=True):
        e = group[0]
        assert row["predicted"] == e.predicted_label
        assert row["confidence"] == pytest.approx(float(e.probabilities[e.predicted]), abs=1e-6)
        assert isinstance(row["comprehensiveness"], float) and isinstance(row["sufficiency"], float)


def test_cancel_a_job(api):
    job = api.app.state.jobs.submit("spin", spin)
    deadline = time.monotonic() + 10
    while not job.stages or job.stages[0]["done"] < 3:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    state = api.get(f"/api/jobs/{job.id}").json()
    assert state["state"] == "running" and state["progress"][0]["label"] == "spinning"
    assert state["progress"][0]["done"] >= 3
    assert api.delete(f"/api/jobs/{job.id}").status_code == 200
    assert wait(api, job.id)["state"] == "cancelled"


def test_job_timeout_cancels(api):
    job = api.app.state.jobs.submit("spin", spin, timeout=0.1)
    assert wait(api, job.id)["state"] == "cancelled"


def test_served_with_a_masked_lm_folder(tiny_lm_dir, tiny_dirs):
    from trexplain.server import load_served

    [served] = load_served([str(tiny_dirs["bert"])], masked_lm=tiny_lm_dir)
    assert served.masked is not None and served.info()["masked_lm"] is True
    [plain_model] = load_served([str(tiny_dirs["bert"])])
    assert plain_model.masked is None  # a classifier folder has no masked-LM head


def test_cancel_a_real_evaluation(api):
    r = api.post("/api/evaluate", json={"texts": TEXTS, "methods": ["gxi"], "sanity": True})
    api.delete(f"/api/jobs/{r.json()['id']}")
    assert wait(api, r.json()["id"])["state"] == "cancelled"


# ------------------------------------------------------------------ limits
@pytest.mark.parametrize(
    ("path", "body", "status", "limit"),
    [
        ("/api/explain", {"texts": ["x" * 5001]}, 413, "max_chars"),
        ("/api/explain", {"texts": ["a"] * 33}, 413, "max_texts"),
        (
            "/api/explain",
            {"texts": ["a"], "methods": ["gxi", "saliency", "ig", "lime", "occlusion"]},
            413,
            "max_methods",
        ),
        ("/api/explain", {"texts": ["a"], "methods": ["ig"], "params": {"ig": {"steps": 65}}}, 422, "max_steps"),
        ("/api/explain", {"texts": ["a"], "methods": ["ig"], "params": {"ig": {"max_steps": 257}}}, 422, "max_steps"),
        (
            "/api/explain",
            {"texts": ["a"], "methods": ["lime"], "params": {"lime": {"n_samples": 3000}}},
            422,
            "max_samples",
        ),
        (
            "/api/explain",
            {"texts": ["a"], "methods": ["lime"], "params": {"lime": {"batch_size": 999}}},
            422,
            "max_batch",
        ),
        ("/api/evaluate", {"texts": ["x" * 5001]}, 413, "max_chars"),
        ("/api/layers", {"text": "a", "method": "cp-lrp", "params": {"gamma": 0.0}, "model": None}, 200, None),
        ("/api/attention", {"text": "x" * 5001}, 413, "max_chars"),
        ("/api/neighbours", {"text": "a", "token": 0, "k": 51}, 422, "max_k"),
        ("/api/masked", {"text": "a", "k": 51}, 422, "max_k"),
        ("/api/table", {"texts": ["a"] * 501}, 413, "max_table_texts"),
        ("/api/compare", {"text": "x" * 5001, "models": ["demo", "demo"]}, 413, "max_chars"),
    ],
)
def test_each_limit_is_a_json_error_naming_it(api, path, body, status, limit):
    r = api.post(path, json=body)
    assert r.status_code == status, r.text
    if limit:
        error = r.json()["error"]
        assert error["type"] == "limit" and error["limit"] == limit
        assert error["allowed"] == api.app.state.limits.to_dict()[limit] * (
            4 if '"max_steps": 257' in json.dumps(body) else 1
        )
        assert limit.replace("max_", "") in error["message"] or str(error["allowed"]) in error["message"]


def test_body_size_limit(demo):
    with client([ServedModel(demo)], limits=Limits(max_body=1000)) as c:
        r = c.post(
            "/api/explain", content=json.dumps({"texts": ["a" * 2000]}), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413 and r.json()["error"]["limit"] == "max_body"


def test_timeout_stops_the_work(demo):
    with client([ServedModel(demo)], limits=Limits(timeout_s=0.05)) as c:
        began = time.monotonic()
        r = c.post("/api/explain", json={"texts": TEXTS * 16, "methods": ["gxi"]})
        assert r.status_code == 504 and r.json()["error"]["limit"] == "timeout_s"
        assert time.monotonic() - began < 5
        jobs = c.app.state.jobs
        deadline = time.monotonic() + 30
        while jobs.active:  # the worker stops at its next step and frees its place
            assert time.monotonic() < deadline
            time.sleep(0.02)


def test_full_queue_is_503(demo):
    with client([ServedModel(demo)], limits=Limits(workers=1, queue=1)) as c:
        job = c.app.state.jobs.submit("spin", spin)
        r = c.post("/api/explain", json={"texts": ["a"]})
        assert r.status_code == 503 and r.json()["error"]["limit"] == "queue"
        job.cancel.set()
        wait(c, job.id)
        assert c.post("/api/explain", json={"texts": ["a"], "methods": ["gxi"]}).status_code == 200


# ------------------------------------------------------------------ error paths
@pytest.mark.parametrize(
    ("path", "body", "status", "kind", "words"),
    [
        ("/api/explain", {"texts": ["a"], "methods": ["nope"]}, 400, "MethodError", "unknown method"),
        (
            "/api/explain",
            {"texts": ["a"], "methods": ["ig"], "params": {"ig": {"stepz": 2}}},
            400,
            "MethodError",
            "stepz",
        ),
        ("/api/explain", {"texts": ["a"], "params": {"gxi": {}}}, 400, "InputError", "gxi"),
        ("/api/explain", {"texts": ["a"], "target": "happy"}, 400, "TargetError", "happy"),
        ("/api/explain", {"texts": ["a"], "model": "other"}, 404, "UnknownModel", "other"),
        ("/api/explain", {"texts": ["word " * 600]}, 400, "InputTooLongError", "truncate"),
        ("/api/explain", {"texts": []}, 422, "validation", "texts"),
        ("/api/explain", {"text": "a"}, 422, "validation", "text"),
        ("/api/explain", {"texts": ["a"], "format": "xml"}, 422, "validation", "format"),
        ("/api/layers", {"text": "a", "method": "gxi"}, 400, "InputError", "per-layer"),
        ("/api/attention", {"text": "a", "layer": 9}, 400, "InputError", "block 9"),
        ("/api/masked", {"text": "a movie", "word": "movie"}, 400, "NoMaskedLMHeadError", "masked-LM"),
        ("/api/neighbours", {"text": "a", "token": 0}, 400, "InputError", "--index"),
        ("/api/compare", {"text": "a", "models": ["demo"]}, 422, "validation", "models"),
    ],
)
def test_error_paths(api, path, body, status, kind, words):
    r = api.post(path, json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["type"] == kind and words in error["message"]


def test_unknown_job_and_bad_json(api):
    assert api.get("/api/jobs/nope").status_code == 404
    assert api.delete("/api/jobs/nope").json()["error"]["type"] == "UnknownJob"
    r = api.post("/api/explain", content="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["type"] == "validation"
    r = api.post("/api/explain", content='{"texts": ["\\ud800"]}', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "surrogate" in r.json()["error"]["message"]


def test_failed_job_reports_its_error(api):
    r = api.post("/api/evaluate", json={"texts": ["a"], "target": "happy"})
    state = api.get(f"/api/jobs/{r.json()['id']}")
    while state.json().get("job", state.json()).get("state") in ("queued", "running"):
        time.sleep(0.05)
        state = api.get(f"/api/jobs/{r.json()['id']}")
    assert state.status_code == 400 and state.json()["error"]["type"] == "TargetError"
    assert state.json()["job"]["state"] == "failed"


# ------------------------------------------------------------------ security
def test_token(demo):
    with client([ServedModel(demo)], token=TOKEN) as c:
        assert c.get("/api/models").status_code == 401
        assert c.get("/api/models", headers={"Authorization": "Bearer wrong"}).json()["error"]["type"] == "token"
        assert c.get("/api/models", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert c.get("/").status_code == 200  # the page's code is public; its data needs the token


def test_origin_and_host_checks(api):
    body = {"texts": ["a"], "methods": ["gxi"]}
    assert api.post("/api/explain", json=body, headers={"Origin": "http://evil.example"}).status_code == 403
    assert api.post("/api/explain", json=body, headers={"Origin": "http://127.0.0.1:8001"}).status_code == 403
    assert api.post("/api/explain", json=body, headers={"Origin": "http://127.0.0.1:8000"}).status_code == 200
    assert api.get("/api/models", headers={"Origin": "http://evil.example"}).status_code == 200  # reads are same-origin
    rebinding = api.get("/api/models", headers={"Host": "evil.example:8000"})
    assert rebinding.status_code == 421 and rebinding.json()["error"]["type"] == "host"


def test_security_headers_and_no_cookies(api):
    for path in ("/", "/api/models", "/assets/report.js", "/static/app.js", "/docs"):
        r = api.get(path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "set-cookie" not in r.headers


def test_page_serves_the_reports_renderer(api):
    from trexplain.viz.html import script, style

    assert api.get("/assets/report.js").text == script()
    assert api.get("/assets/report.css").text == style()
    page = api.get("/").text
    for src in ("/assets/report.js", "/static/panel-attention.js", "/static/panel-whatif.js", "/static/app.js"):
        assert f'<script src="{src}">' in page
    assert page.index("/assets/report.js") < page.index("/static/panel-") < page.index("/static/app.js")
    assert "http" not in page.replace('content="width', "")  # no CDN: every script from this server
    assert api.get("/static/../app.py").status_code == 404
    assert api.get("/assets/other.js").status_code == 404


def test_docs_are_offline(api):
    spec = api.get("/openapi.json").json()
    assert {"/api/explain", "/api/evaluate", "/api/attention", "/api/jobs/{job_id}"} <= set(spec["paths"])
    docs = api.get("/docs").text
    assert "<script" not in docs and "cdn" not in docs.lower()
    assert "/api/neighbours" in docs and "texts" in docs


def test_bind_needs_a_token():
    assert check_bind("127.0.0.1", None) is None
    assert check_bind("localhost", None) is None
    with pytest.raises(BindError, match="token"):
        check_bind("0.0.0.0", None)
    assert check_bind("0.0.0.0", TOKEN) == TOKEN
    generated = check_bind("192.168.1.5", None, generate=True)
    assert generated and len(generated) >= 24
    with pytest.raises(BindError, match="16 characters"):
        check_bind("0.0.0.0", "short")


def test_app_refuses_an_open_bind_without_token(demo):
    with pytest.raises(BindError):
        create_app([ServedModel(demo)], host="0.0.0.0")


def test_cli_refuses_a_short_token():
    from typer.testing import CliRunner

    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--token", "short"])
    assert result.exit_code != 0 and "16 characters" in result.output
