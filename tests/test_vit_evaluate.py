"""Patch faithfulness (deletion, insertion, Chefer's perturbation curves, AOPC) against hand-made perturbed
images; the trust table, verdict and randomisation sanity check through `study`; the image report payload."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.vit_tiny import random_images, tiny_model
from trexplain import explain
from trexplain.evaluate.curves import FRACTIONS
from trexplain.evaluate.faithfulness import evaluate
from trexplain.evaluate.removal import feature_count
from trexplain.evaluate.table import random_explanations
from trexplain.models import images as img
from trexplain.models.modalities import IMAGE
from trexplain.models.modalities.image import PERTURBATION_FRACTIONS
from trexplain.models.vision import VisionAdapter
from trexplain.study import study


@pytest.fixture(scope="module")
def vit() -> VisionAdapter:
    model = tiny_model(initializer_range=0.3)  # weights large enough that patches move the prediction
    model.set_attn_implementation("eager")
    return VisionAdapter.from_pretrained_model(model)


@pytest.fixture(scope="module")
def pictures() -> list[np.ndarray]:
    return random_images(6, (16, 16), seed=11)


def _probability(vit: VisionAdapter, picture: np.ndarray, removed: list[int], fill: str, target: int) -> float:
    """p(target) with the patches `removed` (row-major indices of the 4×4 grid) filled by hand."""
    pixels = img.normalise(img.resize(picture, vit.preprocessing), vit.preprocessing)[None]
    replacement = img.filled(pixels, fill, vit.preprocessing)
    for p in removed:
        r, c = divmod(p, 4)
        pixels[..., r * 4 : r * 4 + 4, c * 4 : c * 4 + 4] = replacement[..., r * 4 : r * 4 + 4, c * 4 : c * 4 + 4]
    inputs = vit.encode([picture]).inputs.with_pixels(pixels)
    return float(vit.logits(inputs).double().softmax(-1)[0, target])


@pytest.mark.parametrize("fill", ["mean", "black", "blur"])
def test_curves_equal_hand_perturbed_images(vit: VisionAdapter, pictures, fill: str) -> None:
    (e,) = explain(images=pictures[:1], model=vit, method="gxi")
    (result,) = evaluate(vit, [e], strategy=fill).results
    target = e.targets[0]
    order = list(np.argsort(-e.scores[0, 1:], kind="stable"))  # most relevant patch first
    assert result.strategy == fill and result.level == "patch" and result.text == IMAGE.name(e)
    p_full = _probability(vit, pictures[0], [], fill, target)
    assert result.probability == pytest.approx(p_full, abs=1e-6)
    for f, value in zip(FRACTIONS, result.curves["morf"].probabilities, strict=True):
        assert value == pytest.approx(
            _probability(vit, pictures[0], order[: feature_count(f, 16)], fill, target), abs=1e-6
        )
    for f, value in zip(FRACTIONS, result.curves["insertion"].probabilities, strict=True):
        kept = order[: feature_count(f, 16)]
        removed = [p for p in range(16) if p not in kept]
        assert value == pytest.approx(_probability(vit, pictures[0], removed, fill, target), abs=1e-6)
    for f, value in zip(PERTURBATION_FRACTIONS, result.curves["negative"].probabilities, strict=True):
        removed = order[::-1][: feature_count(f, 16)]
        assert value == pytest.approx(_probability(vit, pictures[0], removed, fill, target), abs=1e-6)
    assert result.curves["positive"].probabilities[0] == pytest.approx(p_full, abs=1e-6)
    assert result.curves["positive"].probabilities == result.curves["morf"].probabilities[:10]
    comprehensiveness = [
        p_full - _probability(vit, pictures[0], order[: feature_count(k, 16)], fill, target)
        for k in (0.01, 0.05, 0.1, 0.2, 0.5)
    ]
    assert result.aopc_comprehensiveness == pytest.approx(sum(comprehensiveness) / 6, abs=1e-6)


def test_occlusion_ranks_above_random_and_the_study_json(vit: VisionAdapter, pictures) -> None:
    result = study(pictures, vit, ["occlusion", "cp-lrp"], evaluate=True, sanity=True, sanity_texts=2)
    table = result.table.to_dict()
    assert table["level"] == "patch" and table["strategy"] == "mean" and table["texts"] == 6
    rows = {row["method"]: row for row in table["rows"] if row["classes"] == "predicted"}
    assert set(rows) == {"occlusion", "cp-lrp", "random"}
    assert {"positive_auc", "negative_auc", "insertion_auc", "deletion_auc"} <= set(rows["random"])
    assert rows["occlusion"]["margin"] > rows["random"]["margin"]
    assert rows["occlusion"]["positive_auc"] < rows["occlusion"]["negative_auc"]
    assert "occlusion" in result.table.verdict and "images" not in result.table.verdict.split("trust")[0]
    assert [s.method for s in result.sanity] == ["occlusion", "cp-lrp"]
    assert [step["step"] for step in result.sanity[1].steps] == ["head", "block 1", "block 0", "embeddings"]
    data = json.loads(json.dumps(result.to_dict()))
    assert data["records"][0]["layout"] == "image" and data["evaluation"]["rows"]


def test_fill_from_strategy_and_few_images(vit: VisionAdapter, pictures) -> None:
    result = study(pictures[:2], vit, ["gxi"], evaluate=True, strategy="blur")
    assert result.table.strategy == "blur"
    assert result.table.verdict.startswith("not enough images to rank methods: 2 given")


def test_random_floor_is_seeded_and_leaves_specials(vit: VisionAdapter, pictures) -> None:
    found = explain(images=pictures[:2], model=vit, method="gxi")
    a = random_explanations([*found, *found], seed=3, key=IMAGE.name)
    b = random_explanations(found, seed=3, key=IMAGE.name)
    assert len(a) == 2 and all(np.array_equal(x.scores, y.scores) for x, y in zip(a, b, strict=True))
    assert all(x.scores[0, 0] == 0 for x in a) and not np.array_equal(a[0].scores, a[1].scores)


def test_explanations_from_another_grid_are_refused(vit: VisionAdapter, pictures) -> None:
    from trexplain.errors import InputError

    model = tiny_model(image_size=16, patch_size=8)
    model.set_attn_implementation("eager")
    other = VisionAdapter.from_pretrained_model(model)
    (e,) = explain(images=pictures[:1], model=other, method="gxi")
    with pytest.raises(InputError, match="2×2 patch grid"):
        evaluate(vit, [e])


def test_image_report_payload(vit: VisionAdapter, pictures) -> None:
    from trexplain.report.run import make_report

    payload = make_report(pictures[:5], vit, ["gxi", "occlusion"], evaluate=True)
    entry = payload["texts"][0]
    assert entry["layout"] == "image" and entry["image"].startswith("data:image/png;base64,")
    assert [x["method"] for x in entry["explanations"]] == ["gxi", "occlusion"]
    assert len(entry["explanations"][0]["scores"][0]) == 17
    assert [r["method"] for r in entry["evaluation"]] == ["gxi", "occlusion", "random"]
    assert payload["summary"]["verdict"] and payload["params"]["images"] == 5
    assert torch.tensor(entry["explanations"][1]["scores"][0][1:]).abs().sum() > 0
