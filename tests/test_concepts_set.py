"""Concept folders: the whole pipeline, class-wise dictionaries, atomic save and an exact reload, explain."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trexplain.concepts import SemiNMF, extract, load, metrics
from trexplain.concepts.conceptset import ConceptSet, fit_concepts, model_hash
from trexplain.errors import InputError

pytest.importorskip("sklearn", reason="scikit-learn is an optional part: pip install 'trexplain[concepts]'")

TEXTS = [
    "Boring movie, boring actors.",
    "The movie was wonderful, the acting superb.",
    "boring",
    "Nothing special: an average day.",
    "what a wonderful and happy surprise",
    "The BORING day again",
] * 3
SITE = "block_output:0"
SMALL = {"importance_texts": 6, "deletion_texts": 4, "fidelity_texts": 8, "top_k": 3, "words": 4}


@pytest.fixture(scope="module")
def adapter(tiny):
    return tiny["bert"]


@pytest.fixture(scope="module")
def fitted(adapter):
    return fit_concepts(adapter, TEXTS, site=SITE, n_concepts=3, params={"max_iter": 30}, **SMALL)


def test_the_pipeline_fills_every_part(adapter, fitted):
    meta = fitted.meta
    assert meta["site"] == SITE and meta["granularity"] == "cls" and meta["method"] == "semi-nmf"
    assert meta["n_concepts"] == 3 and meta["texts"] == len(TEXTS) and meta["model_hash"] == model_hash(adapter)
    assert len(fitted.interpretation["concepts"]) == 3
    assert all(len(c["top_inputs"]) == 3 for c in fitted.interpretation["concepts"])
    assert set(fitted.importance["per_class"]) == {"gradient", "concept_x_gradient", "ablation"}
    assert set(fitted.deletion["aopc"]) == {"gradient", "concept_x_gradient", "ablation", "random"}
    assert fitted.metrics["fidelity"]["texts"] == 8 and 0 <= fitted.metrics["fidelity"]["accuracy"] <= 1
    store = extract(adapter, TEXTS, SITE, "cls")
    direct = SemiNMF(3, max_iter=30).fit(store)
    np.testing.assert_array_equal(fitted.dictionary.components_, direct.components_)
    assert fitted.metrics["metric_rows"] == len(TEXTS)
    assert fitted.metrics["r2"] == pytest.approx(metrics.evaluate(direct, store)["r2"], rel=1e-6)


def test_saved_folder_reloads_with_equal_codes_and_reads_labels(adapter, fitted, tmp_path):
    out = fitted.save(tmp_path / "concepts")
    assert sorted(p.name for p in out.iterdir()) == ["arrays.safetensors", "concepts.json", "dictionary.json"]
    body = json.loads((out / "concepts.json").read_text())
    assert body["format"] == "trexplain-concepts" and "NaN" not in (out / "concepts.json").read_text()
    again = ConceptSet.load(out)
    store = extract(adapter, TEXTS[:5], SITE, "cls")
    np.testing.assert_array_equal(again.encode(store), fitted.encode(store))
    np.testing.assert_array_equal(load(out).encode(store), fitted.encode(store))  # the dictionary alone
    assert again.meta == json.loads(json.dumps(fitted.meta)) and again.labels is None
    (out / "labels.json").write_text(json.dumps({"1": {"label": "boredom", "score": 0.9}}))
    labelled = ConceptSet.load(out)
    assert labelled.label(1) == "boredom" and labelled.label(0) is None
    fitted.save(out)  # an old concept folder (labels included) is replaced whole
    assert not (out / "labels.json").exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="holds other files"):
        fitted.save(tmp_path / "other")
    with pytest.raises(InputError, match="not a concept folder"):
        ConceptSet.load(tmp_path / "other")


def test_class_wise_dictionary_fits_the_texts_predicted_as_the_class(adapter):
    store = extract(adapter, TEXTS, SITE, "cls")
    label = adapter.labels[int(np.bincount(store.text_predictions).argmax())]
    chosen = store.select(predicted=label)
    result = fit_concepts(adapter, TEXTS, site=SITE, n_concepts=2, class_label=label, **SMALL)
    assert result.meta["class"] == label and result.meta["rows"] == len(chosen)
    direct = SemiNMF(2).fit(chosen)
    np.testing.assert_array_equal(result.dictionary.components_, direct.components_)
    ids = {e["text_id"] for c in result.interpretation["concepts"] for e in c["top_inputs"]}
    assert ids <= set(np.asarray(chosen.text_ids).tolist())
    missing = next((c for c in adapter.labels if c not in set(adapter.labels[p] for p in store.text_predictions)), None)
    if missing is not None:
        with pytest.raises(InputError, match="no text is predicted"):
            fit_concepts(adapter, TEXTS, site=SITE, n_concepts=2, class_label=missing, **SMALL)


def test_explain_lists_the_concepts_of_a_text_with_their_contribution(adapter, fitted, tiny):
    result = fitted.explain(adapter, "what a boring movie")
    assert result["predicted"] in adapter.labels and len(result["concepts"]) == 3
    assert sum(result["probabilities"].values()) == pytest.approx(1)
    codes = fitted.encode(extract(adapter, ["what a boring movie"], SITE, "cls", dtype="float32"))[0]
    by_index = {c["index"]: c for c in result["concepts"]}
    for j in range(3):
        assert by_index[j]["code"] == pytest.approx(codes[j], rel=1e-5, abs=1e-7)
    ablations = [abs(c["ablation"]) for c in result["concepts"]]
    assert ablations == sorted(ablations, reverse=True)
    assert len(result["tokens"]["spans"]) == len(result["tokens"]["codes"]) > 0
    fitted.check_model(adapter)
    with pytest.raises(InputError, match="other weights"):
        fitted.check_model(tiny["distilbert"])


def test_text_codes_are_the_strongest_row_of_each_text(adapter, fitted):
    codes = fitted.text_codes(adapter, TEXTS[:4])
    expected = fitted.encode(extract(adapter, TEXTS[:4], SITE, "cls", dtype="float32"))
    np.testing.assert_allclose(codes, expected, rtol=1e-5, atol=1e-6)
