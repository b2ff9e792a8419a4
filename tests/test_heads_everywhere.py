"""Every probability comes from the head (`models.heads`): with a multi-label head (each label's sigmoid) and a
regression head (the output itself), the probabilities of probe, concepts, dataset runs and the server's JSON are
the ones computed here by hand from the logits; the log-probability objective and the KL are the head's too."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.tiny_heads import multi_label_adapter, regression_adapter, sigmoid
from trexplain.concepts.conceptset import ConceptSet, fit_concepts
from trexplain.concepts.dictionaries import make
from trexplain.concepts.importance import deletion, importance
from trexplain.concepts.metrics import prediction_agreement
from trexplain.models import ModelAdapter
from trexplain.models.heads import (
    MULTI_LABEL,
    REGRESSION,
    SINGLE_LABEL,
    divergence,
    log_outputs,
    outputs_np,
    problem_for,
)
from trexplain.probe import Constraints, probe
from trexplain.probe.estimate import gradient
from trexplain.probe.oracle import Oracle
from trexplain.runs import run_dataset
from trexplain.runs.summary import summarize

TEXT = "the movie was great"
CORPUS = ["the movie was great", "the plot was thin", "a great film", "what a movie", "I hated it", "lovely day"]
SITE = "block_output:-1"


@pytest.fixture(scope="module")
def multi(tiny) -> ModelAdapter:
    return multi_label_adapter(tiny["bert"])


@pytest.fixture(scope="module")
def regression() -> ModelAdapter:
    return regression_adapter()


def logits_of(adapter: ModelAdapter, texts: list[str]) -> np.ndarray:
    return adapter.logits(adapter.encode(texts).inputs).double().numpy()


def test_log_outputs_and_divergence_by_hand():
    z, w = torch.tensor([[2.0, -1.0, 0.5]], dtype=torch.float64), torch.tensor([[0.0, 1.0, 0.5]], dtype=torch.float64)
    torch.testing.assert_close(log_outputs(z, MULTI_LABEL), torch.log(torch.sigmoid(z)))
    torch.testing.assert_close(log_outputs(z, SINGLE_LABEL), torch.log(z.softmax(-1)))
    torch.testing.assert_close(log_outputs(z, REGRESSION), z)
    p, q = torch.sigmoid(z), torch.sigmoid(w)
    bernoulli = (p * torch.log(p / q) + (1 - p) * torch.log((1 - p) / (1 - q))).sum(-1)
    torch.testing.assert_close(divergence(z, w, MULTI_LABEL), bernoulli)
    p, q = z.softmax(-1), w.softmax(-1)
    torch.testing.assert_close(divergence(z, w, SINGLE_LABEL), (p * torch.log(p / q)).sum(-1))
    torch.testing.assert_close(divergence(z, w, REGRESSION), torch.tensor([(4 + 4) / 2], dtype=torch.float64))
    batch = outputs_np(np.array([[2.0, -1.0, 0.5], [0.0, 0.0, 0.0]]))  # a batch: one softmax per row
    np.testing.assert_allclose(batch.sum(1), [1.0, 1.0])
    np.testing.assert_allclose(batch[1], [1 / 3] * 3)
    agreement = prediction_agreement([[1.0, -1.0]], [[1.0, 1.0]], MULTI_LABEL)
    s = float(sigmoid(-1.0))  # the second label: p = σ(−1) = s against q = σ(1) = 1 − s; the first one agrees
    assert agreement["kl"] == pytest.approx(s * math.log(s / (1 - s)) + (1 - s) * math.log((1 - s) / s))
    assert problem_for(object()) == SINGLE_LABEL


def test_probe_scores_with_each_labels_sigmoid(multi, regression):
    z = logits_of(multi, [TEXT])[0]
    scored = Oracle(multi).score([TEXT])[0]
    np.testing.assert_allclose(scored.probabilities.double().numpy(), sigmoid(z), rtol=1e-5)
    assert abs(float(scored.probabilities.sum()) - 1) > 1e-3
    result = probe(TEXT, multi, edits=["delete"], constraints=Constraints(budget=12))
    np.testing.assert_allclose(result.original_probabilities, np.round(sigmoid(z), 6), atol=2e-6)
    out = Oracle(regression).score([TEXT])[0]
    np.testing.assert_allclose(out.probabilities.double().numpy(), logits_of(regression, [TEXT])[0], rtol=1e-5)


def test_probe_gradient_raises_the_heads_log_probability(multi):
    """∂ log σ(z_c) = (1 − σ(z_c)) ∂ z_c: the multi-label objective's gradient is the logit's (read through a
    regression view of the same model, whose objective is the output itself) times 1 − σ(z_c)."""
    as_logits = ModelAdapter(
        multi.model, multi.tokenizer, family=multi.family, labels=multi.labels, name="z", problem=REGRESSION
    )
    z = logits_of(multi, [TEXT])[0]
    for cls in range(3):
        of_log_p = gradient(multi, TEXT, cls, 1.0).grads
        of_logit = gradient(as_logits, TEXT, cls, 1.0).grads
        torch.testing.assert_close(of_log_p, (1 - float(sigmoid(z[cls]))) * of_logit, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("head", ["multi", "regression"])
def test_concept_deletion_and_explanation_use_the_head(head, multi, regression):
    adapter = multi if head == "multi" else regression
    hand = sigmoid if head == "multi" else (lambda z: np.asarray(z, dtype=np.float64))
    dictionary = make("pca", 2, seed=0)
    rows = []
    for text in CORPUS:
        out = adapter.forward(adapter.encode([text]).inputs, capture=[SITE])
        rows.append(out.captured[SITE][:, 0].detach().numpy())
    dictionary.fit(np.concatenate(rows))
    scores = importance(adapter, dictionary, CORPUS[:3], SITE, "cls")
    curves = deletion(adapter, dictionary, CORPUS[:3], SITE, "cls", scores, random=0).curves
    z = logits_of(adapter, CORPUS[:3])
    first = hand(z)[np.arange(3), z.argmax(1)]
    for curve in curves.values():
        np.testing.assert_allclose(curve[:, 0], first, rtol=1e-4, atol=1e-6)
    fitted = fit_concepts(
        adapter, CORPUS, n_concepts=2, method="pca", importance_texts=3, deletion_texts=2, fidelity_texts=3,
        min_count=1, words=2, top_k=2,
    )  # fmt: skip
    found = fitted.explain(adapter, TEXT)
    np.testing.assert_allclose(list(found["probabilities"].values()), hand(logits_of(adapter, [TEXT])[0]), rtol=1e-5)


@pytest.fixture(scope="module")
def multi_run(multi, tmp_path_factory):
    root = tmp_path_factory.mktemp("multi-run")
    (root / "texts.txt").write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    run_dataset(root / "texts.txt", root / "run", model=multi, methods=["gxi"], shard_size=4)
    return root / "run"


def test_run_summary_confidence_is_the_predicted_labels_sigmoid(multi, multi_run):
    z = logits_of(multi, CORPUS)
    expected = sorted(sigmoid(z.max(1)))
    found = [x["confidence"] for x in summarize(multi_run, size=3)["lists"]["lowest_confidence"]]
    assert found == pytest.approx(expected[:3], rel=1e-5)


def test_server_json_has_each_labels_sigmoid(multi, multi_run, tmp_path):
    pytest.importorskip("fastapi", reason="the web app needs the app extra: pip install 'trexplain[app]'")
    pytest.importorskip("httpx", reason="FastAPI's test client needs httpx: pip install httpx")
    from fastapi.testclient import TestClient

    from trexplain.server import ServedModel, create_app

    fitted = fit_concepts(
        multi, CORPUS, n_concepts=2, method="pca", importance_texts=3, deletion_texts=2, fidelity_texts=3,
        min_count=1, words=2, top_k=2,
    )  # fmt: skip
    concepts = ConceptSet.load(fitted.save(tmp_path / "multi-pca"))
    z = logits_of(multi, CORPUS)
    app = create_app([ServedModel(multi)], concepts=[concepts], run=multi_run)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        rows = client.get("/api/run/rows?limit=20").json()["rows"]
        assert [r["confidence"] for r in rows] == pytest.approx(list(sigmoid(z.max(1))), rel=1e-5)
        found = client.post("/api/concepts/explain", json={"text": TEXT}).json()["result"]
        np.testing.assert_allclose(list(found["probabilities"].values()), sigmoid(z[0]), rtol=1e-5)
        r = client.post("/api/explain", json={"texts": [TEXT], "methods": ["gxi"], "format": "report"})
        assert r.status_code == 200, r.text[:500]
        np.testing.assert_allclose(r.json()["texts"][0]["probabilities"], sigmoid(z[0]), rtol=1e-3)
