"""transformers pipelines in (`load_model(pipe)`, `explain(texts, pipe)`) and shap explanations out (`to_shap`)."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertModel,
    ViTImageProcessor,
    pipeline,
)

from tests.vit_tiny import random_images, save_folder
from trexplain import explain
from trexplain.errors import ModelLoadError
from trexplain.models import load_model

TEXT = "The movie was wonderful, the acting superb."


@pytest.fixture(scope="module")
def text_pipe(tiny_dirs):
    folder = tiny_dirs["bert"]
    model = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="sdpa")
    return pipeline("text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(folder))


def test_text_pipeline_explains_as_its_folder(text_pipe, tiny_dirs):
    with pytest.warns(UserWarning, match="from sdpa to eager attention"):
        adapter = load_model(text_pipe)
    folder = load_model(tiny_dirs["bert"])
    assert adapter.labels == folder.labels == ("negative", "neutral", "positive")
    assert adapter.model is text_pipe.model  # used as it is, not copied
    (mine,) = explain(TEXT, text_pipe, "gxi", target="all")
    (theirs,) = explain(TEXT, folder, "gxi", target="all")
    np.testing.assert_allclose(mine.scores, theirs.scores, atol=1e-6)
    assert mine.predicted_label == text_pipe(TEXT)[0]["label"]


def test_image_pipeline(tmp_path):
    folder = save_folder(tmp_path / "vit")
    processor = ViTImageProcessor.from_pretrained(folder)
    pipe = pipeline("image-classification", model=str(folder), image_processor=processor)
    with pytest.warns(UserWarning, match="from sdpa to eager attention"):
        adapter = load_model(pipe)
    assert adapter.labels == ("cat", "dog", "bird") and type(adapter).__name__ == "VisionAdapter"
    images = random_images(1)
    (mine,) = explain(images=images, model=pipe, method="gxi")
    (theirs,) = explain(images=images, model=load_model(folder), method="gxi")
    np.testing.assert_allclose(mine.scores, theirs.scores, atol=1e-6)


def test_other_pipelines_are_refused(tiny_dirs):
    base = BertModel(BertConfig(vocab_size=200, hidden_size=8, num_hidden_layers=1, num_attention_heads=2))
    pipe = pipeline("feature-extraction", model=base, tokenizer=AutoTokenizer.from_pretrained(tiny_dirs["bert"]))
    with pytest.raises(ModelLoadError, match=r"FeatureExtractionPipeline cannot be explained.*text-classification"):
        load_model(pipe)


def test_to_shap(tiny):
    shap = pytest.importorskip("shap", reason="shap is optional (pip install 'trexplain[shap]')")
    adapter = tiny["bert"]
    (ig,) = explain(TEXT, adapter, "ig", params={"steps": 32})
    exp = ig.to_shap()
    assert isinstance(exp, shap.Explanation)
    np.testing.assert_allclose(exp.values, ig.word_scores(), atol=1e-7)
    assert "".join(exp.data) == TEXT and list(exp.feature_names) == ig.word_texts()
    f_x, f_b = ig.diagnostics["f_input"][0], ig.diagnostics["f_baseline"][0]
    assert exp.base_values == pytest.approx(f_b, abs=1e-6)
    assert exp.base_values + exp.values.sum() == pytest.approx(f_x, abs=1e-3 * abs(f_x - f_b) + 1e-5)
    html = shap.plots.text(exp, display=False)
    assert "wonderful" in html
    (several,) = explain(TEXT, adapter, "gxi", target="all")
    both = several.to_shap(level="token")
    assert both.values.shape == (len(several.tokens), 3) and both.base_values is None
    np.testing.assert_allclose(both.values[:, 2], several.scores[2])
    assert list(both.output_names) == ["negative", "neutral", "positive"]
