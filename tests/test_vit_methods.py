"""Reference checks of every method family on tiny random ViT and DeiT classifiers (issue 16).

CP-LRP conservation in float64 with zero biases; the forward bit-identical under the LRP rules; IG, saliency
and gradient × input equal captum's layer methods at the embedding output; patch occlusion equals exact
ablation deltas; KernelSHAP equals brute-force Shapley values (so efficiency holds); eager and sdpa agree.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch

from tests.vit_tiny import random_images, tiny_model
from trexplain import explain
from trexplain.methods.base import Targets, get_method
from trexplain.methods.lrp import attnlrp_rules, cp_lrp_rules
from trexplain.methods.lrp_rules import lrp_rules
from trexplain.models import images as img
from trexplain.models.vision import VisionAdapter

ARCHITECTURES = ("ViTForImageClassification", "DeiTForImageClassification", "DeiTForImageClassificationWithTeacher")


def adapter_of(architecture: str = "ViTForImageClassification", double: bool = False, **config) -> VisionAdapter:
    model = tiny_model(architecture, **config)
    model.set_attn_implementation("eager")
    return VisionAdapter.from_pretrained_model(model.double() if double else model)


@pytest.fixture(scope="module")
def vit() -> VisionAdapter:
    return adapter_of()


@pytest.fixture(scope="module")
def pictures() -> list[np.ndarray]:
    return random_images(2, (16, 16), seed=3)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("method", ["cp-lrp", "attnlrp"])
def test_lrp_conservation_float64_zero_biases(architecture: str, method: str, pictures) -> None:
    adapter = adapter_of(architecture, double=True, zero_biases=True)
    (e, *_) = explain(images=pictures[:1], model=adapter, method=method, target="all")
    logits = e.logits.astype(np.float64)
    sums = e.scores.astype(np.float64).sum(1)
    if method == "cp-lrp":  # scores are stored as float32: compare the float64 sums from the diagnostics
        assert np.abs(np.array(e.diagnostics["relevance_sum"]) - np.array(e.diagnostics["logit"])).max() <= 1e-8
        np.testing.assert_allclose(sums, logits, rtol=1e-5, atol=1e-6)
    assert e.layout.special_tokens == (("[CLS]",) if architecture.startswith("ViT") else ("[CLS]", "[DIST]"))
    assert e.scores.shape == (3, e.layout.size)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_forward_bit_identical_under_lrp_rules(architecture: str, pictures) -> None:
    adapter = adapter_of(architecture)
    batch = adapter.encode(pictures)
    plain = adapter.forward(batch.inputs).logits
    for rules in (cp_lrp_rules(), attnlrp_rules(), cp_lrp_rules(gamma=0.25)):
        with adapter.session(), lrp_rules(adapter, rules):
            ruled = adapter.forward(batch.inputs).logits
        assert torch.equal(plain, ruled)
    assert torch.equal(plain, adapter.forward(batch.inputs).logits)  # rules undone


def test_eager_and_sdpa_logits_agree(pictures) -> None:
    model = tiny_model()
    assert model.config._attn_implementation == "sdpa"
    pixels = VisionAdapter.from_pretrained_model(adapter_of().model).encode(pictures).inputs.pixel_values
    with torch.no_grad():
        sdpa = model(pixel_values=pixels).logits
    with pytest.warns(UserWarning, match="switched .* from sdpa to eager"):
        adapter = VisionAdapter.from_pretrained_model(model)
    eager = adapter.logits(adapter.encode(pictures).inputs)
    torch.testing.assert_close(eager, sdpa, rtol=1e-5, atol=1e-6)
    _, attentions = adapter.attention_probabilities(adapter.encode(pictures).inputs)
    assert len(attentions) == 2 and attentions[0].shape == (2, 2, 17, 17)
    torch.testing.assert_close(attentions[0].sum(-1), torch.ones(2, 2, 17))


def _captum_forward(adapter: VisionAdapter):
    def forward(pixels: torch.Tensor) -> torch.Tensor:
        return adapter.model(pixel_values=pixels).logits

    return forward


def test_gradient_methods_equal_captum(vit: VisionAdapter, pictures) -> None:
    captum = pytest.importorskip("captum.attr", reason="captum is the reference (test extra)")
    batch = vit.encode(pictures)
    pixels = batch.inputs.pixel_values
    target = vit.logits(batch.inputs).argmax(-1)
    layer = vit.model.vit.embeddings
    forward = _captum_forward(vit)
    with vit.session():
        gxi = captum.LayerGradientXActivation(forward, layer).attribute(pixels, target=target)
        grads = captum.LayerGradientXActivation(forward, layer, multiply_by_inputs=False).attribute(
            pixels, target=target
        )
        black = img.black(vit.preprocessing, pixels)
        ig = captum.LayerIntegratedGradients(forward, layer).attribute(
            pixels, baselines=black, target=target, n_steps=32, method="gausslegendre"
        )
    ours = {
        m: np.stack([e.scores[0] for e in explain(images=pictures, model=vit, method=m)]) for m in ("gxi", "saliency")
    }
    ours["ig"] = np.stack(
        [e.scores[0] for e in explain(images=pictures, model=vit, method="ig", params={"adaptive": False, "steps": 32})]
    )
    np.testing.assert_allclose(ours["gxi"], gxi.sum(-1).detach().numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours["saliency"], grads.norm(dim=-1).detach().numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours["ig"], ig.sum(-1).detach().numpy(), rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("baseline", ["black", "mean", "blur", "given"])
def test_ig_image_baselines_are_complete(vit: VisionAdapter, pictures, baseline: str) -> None:
    given = torch.from_numpy(pictures[1]).permute(2, 0, 1).double() / 255  # an image tensor, channels first
    value = given if baseline == "given" else baseline
    (e,) = explain(images=pictures[:1], model=vit, method="ig", params={"baseline": value})
    assert e.diagnostics.identity.error_for(0) < 1e-3 * max(1.0, abs(e.diagnostics["f_input"][0]))
    assert e.diagnostics["baseline"] == ("tensor[3, 16, 16]" if baseline == "given" else baseline)
    assert e.scores[0, 0] == pytest.approx(0.0, abs=1e-7)  # [CLS] and its position are the same at the baseline
    batch = vit.encode(pictures[:1])
    expected = {
        "black": img.black(vit.preprocessing, batch.inputs.pixel_values),
        "mean": img.mean_colour(batch.inputs.pixel_values),
        "blur": img.blur(batch.inputs.pixel_values),
        "given": vit.encode(pictures[1:]).inputs.pixel_values,
    }[baseline]
    f_baseline = vit.logits(batch.inputs.with_pixels(expected))[0, e.targets[0]]
    assert e.diagnostics["f_baseline"][0] == pytest.approx(float(f_baseline), abs=1e-5)


def test_occlusion_equals_exact_patch_ablation(vit: VisionAdapter, pictures) -> None:
    for fill in ("mean", "black", "blur"):
        (e,) = explain(images=pictures[:1], model=vit, method="occlusion", params={"strategy": fill})
        assert e.diagnostics["strategy"] == fill
        raw = img.resize(pictures[0], vit.preprocessing)
        pixels = img.normalise(raw, vit.preprocessing)[None]
        replacement = img.filled(pixels, fill, vit.preprocessing)
        target = e.targets[0]
        full = vit.logits(vit.encode(pictures[:1]).inputs)[0, target]
        expected = []
        for r, c in itertools.product(range(4), range(4)):
            ablated = pixels.clone()
            ablated[..., r * 4 : r * 4 + 4, c * 4 : c * 4 + 4] = replacement[..., r * 4 : r * 4 + 4, c * 4 : c * 4 + 4]
            expected.append(float(full - vit.logits(vit.encode(pictures[:1]).inputs.with_pixels(ablated))[0, target]))
        np.testing.assert_allclose(e.scores[0, 1:], expected, rtol=1e-4, atol=1e-6)
        assert e.scores[0, 0] == 0.0


def test_kernelshap_is_exact_shapley_on_four_patches(pictures) -> None:
    adapter = adapter_of(image_size=16, patch_size=8)
    (e,) = explain(images=pictures[:1], model=adapter, method="kernelshap")
    assert e.diagnostics["exact"] is True
    assert e.diagnostics.identity.error_for(0) < 1e-5  # efficiency: base + Σ φ = f(x)
    batch = adapter.encode(pictures[:1])
    target = e.targets[0]

    def value(keep: tuple[int, ...]) -> float:
        removed = torch.ones(1, 5, dtype=torch.bool)
        removed[0, 0] = False
        removed[0, [1 + p for p in keep]] = False
        return float(adapter.modality.removal_logits(adapter, batch, [(0, removed)], "mean").logits[0][0, target])

    shapley = []
    for p in range(4):
        others = [q for q in range(4) if q != p]
        total = 0.0
        for size in range(4):
            for subset in itertools.combinations(others, size):
                weight = math.factorial(size) * math.factorial(3 - size) / math.factorial(4)
                total += weight * (value((*subset, p)) - value(subset))
        shapley.append(total)
    np.testing.assert_allclose(e.scores[0, 1:], shapley, rtol=1e-4, atol=1e-6)


def test_attention_methods_and_lime_run_on_patches(vit: VisionAdapter, pictures) -> None:
    found = explain(images=pictures, model=vit, method=["attention", "rollout", "grad-rollout", "lime", "layer-ig"])
    by_method = {e.method: e for e in found[:5]}
    assert set(by_method) == {"attention", "rollout", "grad-rollout", "lime", "layer-ig"}
    for name in ("attention", "rollout"):
        scores = by_method[name].scores[0]
        assert scores.shape == (17,) and scores.sum() == pytest.approx(1.0, abs=1e-5)  # the [CLS] row
    assert by_method["layer-ig"].layer_scores.shape == (2, 1, 17)
    assert by_method["lime"].diagnostics["strategy"] == "mean"


def test_text_strategies_are_refused_for_images(vit: VisionAdapter, pictures) -> None:
    from trexplain.errors import MethodError

    for word in ("mask", "delete", "pad"):  # a text strategy is never remapped to an image fill
        with pytest.raises(
            MethodError, match=f"unknown removal strategy '{word}' for images; use one of mean, blur, black"
        ):
            explain(images=pictures[:1], model=vit, method="occlusion", params={"strategy": word})
    for word in ("mask", "pad"):
        with pytest.raises(MethodError, match=f"images have no '{word}' baseline; use black, mean, blur, zero"):
            explain(images=pictures[:1], model=vit, method="ig", params={"baseline": word})


def test_targets_and_batching_do_not_change_scores(vit: VisionAdapter, pictures) -> None:
    together = explain(images=pictures, model=vit, method="cp-lrp", target="all")
    alone = [explain(images=[p], model=vit, method="cp-lrp", target="all")[0] for p in pictures]
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-7)
    batch = vit.encode(pictures)
    method = get_method("gxi")
    result = method.attribute(vit, batch, Targets("all", vit))
    assert result.scores.shape == (2, 3, 17)


def test_plain_pytorch_vit_through_from_module(pictures) -> None:
    torch.manual_seed(0)

    class Patches(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Conv2d(3, 16, 4, stride=4)
            self.cls = torch.nn.Parameter(torch.randn(1, 1, 16))
            self.pos = torch.nn.Parameter(torch.randn(1, 17, 16) * 0.1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            tokens = self.proj(x).flatten(2).transpose(1, 2)
            return torch.cat([self.cls.expand(len(x), -1, -1), tokens], 1) + self.pos

    class TinyViT(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = Patches()
            layer = torch.nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
            self.blocks = torch.nn.ModuleList(
                [layer, torch.nn.TransformerEncoderLayer(16, 2, 32, 0.0, batch_first=True)]
            )
            self.head = torch.nn.Linear(16, 3)

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            h = self.embed(pixels)
            for block in self.blocks:
                h = block(h)
            return self.head(h[:, 0])

    model = TinyViT().double().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or name.endswith("in_proj_bias"):
                p.zero_()
    adapter = VisionAdapter.from_module(
        model, model.embed, ["a", "b", "c"], image_size=16, patch_size=4, layers=list(model.blocks)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nn.TransformerEncoderLayer's nested-tensor note
        found = explain(images=pictures, model=adapter, method=["cp-lrp", "gxi", "occlusion"])
    lrp = found[0]
    assert lrp.layout.size == 17 and lrp.layer_scores.shape == (2, 1, 17)
    assert abs(lrp.diagnostics["relevance_sum"][0] - lrp.diagnostics["logit"][0]) <= 1e-8  # zero biases
    assert found[2].scores[0, 0] == 0.0 and np.abs(found[2].scores[0, 1:]).sum() > 0
    with torch.no_grad():
        logits = model(adapter.encode(pictures).inputs.pixel_values)
    np.testing.assert_allclose(lrp.logits, logits[0].numpy(), rtol=1e-6)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_adapter_logits_equal_the_model(architecture: str, pictures) -> None:
    adapter = adapter_of(architecture)
    batch = adapter.encode(pictures)
    with torch.no_grad():
        reference = adapter.model(pixel_values=batch.inputs.pixel_values).logits
    torch.testing.assert_close(adapter.logits(batch.inputs), reference, rtol=1e-6, atol=1e-6)  # head-token shortcut
    embeddings = adapter.embed(batch.inputs)
    assert embeddings.shape == (2, adapter.max_length, 16)
    torch.testing.assert_close(adapter.forward(batch.inputs, embeddings=embeddings).logits, reference)
    removed = torch.zeros(3, adapter.max_length, dtype=torch.bool)
    removed[1:, -1] = True
    pooled = adapter.modality.removal_logits(adapter, batch, [(1, removed)], "mean", batch_size=1)
    (logits,), (distinct,) = pooled.logits, pooled.distinct
    assert distinct == 2 and torch.equal(logits[1], logits[2])
    torch.testing.assert_close(logits[0], reference[1])
