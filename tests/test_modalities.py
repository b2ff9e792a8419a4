"""The modality object: one code path for text and images (strategies declared, never remapped), image heads read
from the config (sigmoid probabilities for a multi-label ViT in explain, perturbation and evaluation), and
`compare` explaining each (model, method, text) once, counted in forward passes."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest
import torch
from transformers import ViTForImageClassification

from tests.vit_tiny import random_images, tiny_config, tiny_model
from trexplain import explain
from trexplain.errors import InputError, MethodError
from trexplain.evaluate import compare_models, evaluate
from trexplain.evaluate.table import rank_explanations
from trexplain.models.heads import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from trexplain.models.modalities import IMAGE, MODALITIES, TEXT
from trexplain.models.pooled import Pooled
from trexplain.models.vision import VisionAdapter
from trexplain.study import study


@pytest.fixture(scope="module")
def multi_label() -> VisionAdapter:
    model = tiny_model(problem_type="multi_label_classification", initializer_range=0.3)
    model.set_attn_implementation("eager")
    return VisionAdapter.from_pretrained_model(model)


@pytest.fixture(scope="module")
def pictures() -> list[np.ndarray]:
    return random_images(5, (16, 16), seed=3)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(x, dtype=np.float64)))


def test_each_adapter_has_its_modality(tiny, multi_label) -> None:
    assert tiny["bert"].modality is TEXT and multi_label.modality is IMAGE
    assert MODALITIES == {"text": TEXT, "image": IMAGE}
    assert (TEXT.strategy(None), TEXT.level(None), IMAGE.strategy(None), IMAGE.level(None)) == (
        "delete",
        "word",
        "mean",
        "patch",
    )


def test_a_strategy_the_modality_lacks_lists_the_ones_it_has(tiny, multi_label, pictures) -> None:
    (text,) = explain(["a fine day"], tiny["bert"], "gxi")
    with pytest.raises(
        MethodError, match="unknown removal strategy 'blur' for texts; use one of delete, mask, unk, pad"
    ):
        evaluate(tiny["bert"], [text], strategy="blur")
    with pytest.raises(MethodError, match="unknown feature level 'patch' for texts; use one of word, token"):
        evaluate(tiny["bert"], [text], level="patch")
    (image,) = explain(images=pictures[:1], model=multi_label, method="gxi")
    with pytest.raises(MethodError, match="unknown removal strategy 'delete' for images; use one of mean, blur, black"):
        evaluate(multi_label, [image], strategy="delete")
    with pytest.raises(InputError, match="this model explains texts; the explanation by gxi is of layout kind 'image'"):
        evaluate(tiny["bert"], [image])


def test_nothing_to_remove_runs_nothing(tiny, multi_label, pictures) -> None:
    for adapter, inputs in ((tiny["bert"], ["a fine day"]), (multi_label, pictures[:1])):
        batch = adapter.encode(inputs)
        assert adapter.modality.removal_logits(adapter, batch, [], adapter.modality.strategy(None)) == Pooled([], [])


def test_image_heads_come_from_the_config(pictures) -> None:
    single = tiny_model()
    single.set_attn_implementation("eager")
    assert VisionAdapter.from_pretrained_model(single).problem == SINGLE_LABEL
    config = tiny_config(attn_implementation="eager")
    config.num_labels = 1  # one output and no problem_type: regression, as transformers' own loss reads it
    regression = VisionAdapter.from_pretrained_model(ViTForImageClassification(config).eval())
    assert regression.problem == REGRESSION and "problem=regression" in repr(regression)


def test_a_multi_label_image_head_gives_sigmoid_probabilities(multi_label, pictures) -> None:
    assert multi_label.problem == MULTI_LABEL
    (e,) = explain(
        images=pictures[:1], model=multi_label, method="occlusion", params={"output": "probability"}, target="all"
    )
    np.testing.assert_allclose(e.probabilities, _sigmoid(e.logits), rtol=1e-6)
    assert abs(e.probabilities.sum() - 1) > 1e-3  # not a softmax
    batch = multi_label.encode(pictures[:1])
    removed = torch.zeros(2, batch.lengths[0], dtype=torch.bool)
    removed[1, 1] = True  # the first patch
    (logits,) = multi_label.modality.removal_logits(multi_label, batch, [(0, removed)], "mean").logits
    expected = _sigmoid(logits[0].numpy()) - _sigmoid(logits[1].numpy())  # occlusion's score of patch 0, per label
    np.testing.assert_allclose(e.scores[:, 1], expected, rtol=1e-5, atol=1e-7)
    (result, *_) = evaluate(multi_label, [e]).results
    assert result.probability == pytest.approx(float(_sigmoid(e.logits[e.targets[0]])), abs=1e-6)
    table = study(pictures, multi_label, ["gxi"], evaluate=True).table
    full = {r.text: r.probability for r in table.evaluation.results if r.method == "gxi"}
    explained = explain(images=pictures, model=multi_label, method="gxi")
    for x in explained:
        assert full[IMAGE.name(x)] == pytest.approx(float(_sigmoid(x.logits[x.predicted])), abs=1e-6)


@contextmanager
def _counted(*adapters):
    """Count the forward passes of each adapter's model (a pre-hook on the whole model)."""
    counts = [0] * len(adapters)
    handles = []
    for i, adapter in enumerate(adapters):

        def count(_module, _args, i=i):
            counts[i] += 1

        handles.append(adapter.model.register_forward_pre_hook(count))
    try:
        yield counts
    finally:
        for handle in handles:
            handle.remove()


def test_compare_explains_each_model_method_and_text_once(tiny) -> None:
    a, b = tiny["bert"], tiny["roberta"]
    texts = ["a fine day", "not good at all", "the plot was thin"]
    with _counted(a, b) as once:
        comparison = compare_models([a, b], texts, method="gxi", methods=["gxi", "saliency"])
    with _counted(a, b) as expected:
        for adapter in (a, b):
            made = {m: explain(texts, adapter, m) for m in ("gxi", "saliency")}
            rank_explanations(adapter, [made[m][i] for i in range(len(texts)) for m in ("gxi", "saliency")])
    assert once == expected and min(once) > 0
    assert [[e.method for e in group] for group in comparison.explanations] == [["gxi"] * 3] * 2
    for group, table in zip(comparison.explanations, comparison.tables, strict=True):
        own = {r.text: r for r in table.evaluation.results if r.method == "gxi"}
        assert set(own) == set(texts) and all(e.text in own for e in group)
