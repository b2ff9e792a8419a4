"""Amortized explainers: efficiency by construction, save/load, weight binding, OOD flag, the method through the
API and the CLI, and global words with known means."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.tiny import CORPUS, save_tiny
from trexplain import explain
from trexplain.amortize import Explainer, ExplainerMismatchError, fit, fit_from_run, global_words
from trexplain.cli import app
from trexplain.diagnostics import MEANINGS
from trexplain.errors import InputError
from trexplain.methods import get_method
from trexplain.methods.amortization.network import efficient
from trexplain.models import load_model
from trexplain.runs import load_run, run_dataset

TEXTS = [f"{CORPUS[i % 8]} number {i}" for i in range(40)]
UNLIKE = ["ζψω ξλμ θφχ " * 3, "ЖЩЮ ЯЭЪ БГД " * 3, "@@@ ### $$$ %%% ^^^ &&& " * 2, "ΩΨΦ ΔΓΘ ΛΞΠ " * 3]
TEACHER = {"exact_features": 0, "n_samples": 24}
runner = CliRunner()


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("amortize")
    model_dir = save_tiny("bert", root / "tiny-bert")
    texts = root / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    adapter = load_model(model_dir)
    explainer = fit(
        adapter, texts, root / "explainer", teacher_params=TEACHER, layers=[-1], width=32, epochs=4, patience=2
    )
    return {"root": root, "model": model_dir, "adapter": adapter, "folder": root / "explainer", "explainer": explainer}


def test_efficiency_holds_by_construction_whatever_the_weights():
    torch.manual_seed(0)
    raw = torch.randn(7, 3) * 5
    text_of = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    delta = torch.randn(3, 3)
    scores = efficient(raw, text_of, delta)
    sums = torch.zeros(3, 3, dtype=torch.float64).index_add_(0, text_of, scores)
    assert torch.allclose(sums, delta.double(), atol=1e-12)


def test_amortized_scores_plus_base_equal_the_logit(fitted):
    method = get_method("amortized", explainer=str(fitted["folder"]))
    for e in explain(TEXTS[:4], fitted["adapter"], method, target="all"):
        base = np.asarray(e.diagnostics["base_value"])
        totals = e.scores.astype(np.float64).sum(1) + base
        np.testing.assert_allclose(totals, e.logits[list(e.targets)], atol=1e-5)
        assert e.diagnostics.identity.kind == "efficiency" and max(e.diagnostics.identity.error) < 1e-5
        assert e.scores[:, np.asarray(e.special)].sum() == 0  # special tokens are no players
        assert set(e.diagnostics) <= set(MEANINGS) | set(e.card.meanings)  # the terminal shows each one's meaning


def test_save_load_round_trip_is_bit_equal(fitted, tmp_path):
    loaded = Explainer.load(fitted["folder"])
    original = fitted["explainer"].tensors()
    assert set(loaded.tensors()) == set(original)
    assert all(torch.equal(loaded.tensors()[k], v) for k, v in original.items())
    assert loaded.meta["layers"] == [1] and loaded.meta["teacher"] == "kernelshap"
    batch = fitted["adapter"].encode(TEXTS[:3])
    a, b = fitted["explainer"].predict(fitted["adapter"], batch), loaded.predict(fitted["adapter"], batch)
    assert all(torch.equal(x, y) for x, y in zip(a.scores, b.scores, strict=True))
    assert torch.equal(a.distance, b.distance)
    loaded.save(tmp_path / "again")
    assert (tmp_path / "again" / "weights.safetensors").read_bytes() == (
        fitted["folder"] / "weights.safetensors"
    ).read_bytes()


def test_refused_on_other_weights(fitted, tmp_path):
    other = load_model(save_tiny("bert", tmp_path / "other", seed=1))
    method = get_method("amortized", explainer=str(fitted["folder"]))
    with pytest.raises(ExplainerMismatchError, match="other weights"):
        explain(TEXTS[0], other, method)
    with pytest.raises(ExplainerMismatchError, match=r"run .* other weights"):
        fit_from_run(other, fitted["root"] / "explainer.teacher-run", tmp_path / "x", epochs=1)


def test_ood_flag_fires_for_texts_unlike_the_training_data(fitted):
    method = get_method("amortized", explainer=str(fitted["folder"]))
    inside = explain(TEXTS[:20], fitted["adapter"], method)
    outside = explain(UNLIKE, fitted["adapter"], method)
    assert np.mean([e.diagnostics["in_distribution"] for e in inside]) >= 0.9
    assert not any(e.diagnostics["in_distribution"] for e in outside)
    assert "UNLIKE the training texts" in outside[0].diagnostics["trust"]
    assert min(e.diagnostics["ood_distance"] for e in outside) > max(e.diagnostics["ood_distance"] for e in inside)


def test_training_record_has_curves_agreement_and_layer_search(fitted):
    meta = fitted["explainer"].meta
    curves = meta["training"]["curves"]
    assert len(curves["train"]) == len(curves["held_out"]) >= 1
    assert meta["texts"] == {"train": 32, "held_out": 8}
    assert meta["validation"]["texts"] == 8 and -1 <= meta["validation"]["pooled_pearson"] <= 1
    assert meta["training"]["layer_search"][0]["layers"] == [1]


def test_missing_explainer_parameter_is_a_method_error(fitted):
    from trexplain.errors import MethodError

    with pytest.raises(MethodError, match="explainer=DIR"):
        explain(TEXTS[0], fitted["adapter"], "amortized")


def test_method_and_fit_through_the_cli(fitted, tmp_path):
    result = runner.invoke(
        app,
        [
            "explain",
            "--model",
            str(fitted["model"]),
            "--method",
            "amortized",
            "--param",
            f"explainer={fitted['folder']}",
            "--json",
            TEXTS[1],
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    entry = record["explanations"][0]
    assert entry["method"] == "amortized" and entry["diagnostics"]["in_distribution"] is True
    texts = tmp_path / "t.txt"
    texts.write_text("\n".join(TEXTS[:10]) + "\n", encoding="utf-8")
    args = ["amortize", "fit", "--model", str(fitted["model"]), "--input", str(texts), "--out", str(tmp_path / "e")]
    args += [
        "--param",
        "exact_features=0",
        "--param",
        "n_samples=16",
        "--layers",
        "-1",
        "--epochs",
        "2",
        "--width",
        "8",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert Explainer.load(tmp_path / "e").meta["dims"]["width"] == 8
    run = ["run", "--model", str(fitted["model"]), "--input", str(texts), "--out", str(tmp_path / "r")]
    result = runner.invoke(app, [*run, "--method", "amortized", "--param", f"explainer={tmp_path / 'e'}"])
    assert result.exit_code == 0, result.output
    assert {e.method for e in load_run(tmp_path / "r")} == {"amortized"} and len(load_run(tmp_path / "r")) == 10
    result = runner.invoke(app, ["amortize", "global", str(tmp_path / "e.teacher-run"), "--min-count", "2"])
    assert result.exit_code == 0, result.output
    assert "words for" in result.stdout


def test_global_words_over_a_run_match_the_runs_scores(fitted, tmp_path):
    run = fitted["root"] / "explainer.teacher-run"
    result = global_words(run, min_count=3, out=tmp_path / "g.json")
    assert json.loads((tmp_path / "g.json").read_text())["classes"].keys() == result["classes"].keys()
    label, entry = next(iter(result["classes"].items()))
    word = entry["for"][0]["word"]
    values = []  # per text, the mean of the word's occurrences
    for e in load_run(run):
        found = [s for w, s in zip(e.word_texts(), e.word_scores(label), strict=True) if w.lower() == word]
        values += [np.mean(found)] if found else []
    assert entry["for"][0]["mean"] == pytest.approx(np.mean(values), rel=1e-5)
    assert entry["for"][0]["count"] == len(values)


def test_removal_objective_trains_through_the_frozen_model_and_leaves_it_untouched(fitted, tmp_path):
    adapter = fitted["adapter"]
    before = {k: v.clone() for k, v in adapter.model.state_dict().items()}
    run = fitted["root"] / "explainer.teacher-run"
    both = fit_from_run(adapter, run, tmp_path / "both", objective="both", layers=[-1], width=16, epochs=2, patience=1)
    assert both.meta["objective"] == "both" and len(both.meta["training"]["curves"]["held_out"]) >= 1
    assert all(torch.equal(before[k], v) for k, v in adapter.model.state_dict().items())
    assert all(p.grad is None for p in adapter.model.parameters())
    (e,) = explain(TEXTS[0], adapter, get_method("amortized", explainer=str(tmp_path / "both")), target="all")
    np.testing.assert_allclose(e.scores.sum(1) + e.diagnostics["base_value"], e.logits, atol=1e-5)
    with pytest.raises(InputError, match="unknown objective"):
        fit_from_run(adapter, run, tmp_path / "bad", objective="mimic")


def test_lime_teacher_fits_without_the_efficiency_identity(fitted, tmp_path):
    adapter = fitted["adapter"]
    texts = fitted["root"] / "texts.txt"
    run = tmp_path / "lime-run"
    lime = fit(
        adapter, texts, tmp_path / "lime", teacher="lime", teacher_params={"n_samples": 24}, run=run,
        limit=12, layers=[-1], width=16, epochs=3, patience=1,
    )  # fmt: skip
    assert lime.meta["teacher"] == "lime" and lime.meta["identity"] is None and not lime.is_efficient
    assert lime.meta["texts"] == {"train": 10, "held_out": 2} and lime.meta["teacher_params"]["n_samples"] == 24
    assert {e.method for e in load_run(run)} == {"lime"} and len(load_run(run)) == 12
    (e,) = explain(TEXTS[0], adapter, get_method("amortized", explainer=str(tmp_path / "lime")), target="all")
    assert e.diagnostics["teacher"] == "lime" and e.diagnostics.identity is None
    batch = adapter.encode([TEXTS[0]])
    found = lime.predict(adapter, batch)
    with torch.no_grad():
        raw = lime.net(*_inputs(adapter, lime, batch)).double()  # no normalisation: the raw scores
    torch.testing.assert_close(found.scores[0], raw)
    np.testing.assert_allclose(e.word_scores(e.targets[0]), raw[:, e.targets[0]].numpy(), rtol=1e-5, atol=1e-6)
    fewer = fit_from_run(adapter, run, tmp_path / "six", limit=6, layers=[-1], width=8, epochs=1)
    assert fewer.meta["texts"]["train"] + fewer.meta["texts"]["held_out"] == 6 and fewer.meta["run_limit"] == 6


def _inputs(adapter, explainer, batch):
    from trexplain.methods.amortization.features import player_states

    states = player_states(adapter, batch, explainer.layers, explainer.meta["level"], explainer.meta["strategy"])
    counts = torch.tensor([len(p) for p in states.players])
    return torch.cat(states.players), states.context, torch.repeat_interleave(torch.arange(len(counts)), counts)


def test_weights_are_hashed_once_per_model(fitted, monkeypatch):
    import trexplain.methods.amortization.explainer as module

    explainer = Explainer.load(fitted["folder"])
    calls = []
    monkeypatch.setattr(module, "weights_hash", lambda model: calls.append(model) or explainer.meta["weights_sha256"])
    batch = fitted["adapter"].encode(TEXTS[:2])
    for _ in range(3):
        explainer.check_model(fitted["adapter"])
        explainer.predict(fitted["adapter"], batch)
    assert calls == [fitted["adapter"].model]
    other = load_model(fitted["model"])  # same weights, another object: hashed again
    explainer.check_model(other)
    assert len(calls) == 2


def test_runs_of_two_teacher_seeds_are_averaged_into_the_labels(fitted, tmp_path):
    from trexplain.amortize.data import teacher_corpus, teacher_explanations

    adapter, texts = fitted["adapter"], fitted["root"] / "texts.txt"
    first = fitted["root"] / "explainer.teacher-run"
    second = tmp_path / "seed1-run"
    run_dataset(
        texts, second, model=adapter, methods=get_method("kernelshap", seed=1, **TEACHER), target="all", limit=5
    )
    grouped = teacher_explanations([first, second], "kernelshap")
    assert list(grouped) == TEXTS[:5] and all(len(v) == 2 for v in grouped.values())
    corpus = teacher_corpus(adapter, grouped, [1], "word", "delete")
    a, b = grouped[TEXTS[0]]
    rows = slice(int(corpus.starts[0]), int(corpus.starts[1]))
    mean = (np.asarray(a.word_scores(0)) + np.asarray(b.word_scores(0))) / 2
    np.testing.assert_allclose(corpus.teacher[rows, 0].numpy(), mean, rtol=1e-5, atol=1e-6)
    assert not np.allclose(a.word_scores(0), b.word_scores(0))  # the seeds differ, so the mean is a new label
    both = fit_from_run(adapter, [first, second], tmp_path / "two", layers=[-1], width=8, epochs=1)
    assert both.meta["texts"]["train"] + both.meta["texts"]["held_out"] == 5 and len(both.meta["runs"]) == 2
    lime = tmp_path / "lime-run"
    run_dataset(texts, lime, model=adapter, methods=get_method("lime", n_samples=8), target="all", limit=3)
    with pytest.raises(InputError, match="different teachers"):
        fit_from_run(adapter, [first, lime], tmp_path / "mixed", epochs=1)


def test_an_ensemble_averages_its_member_networks_and_keeps_efficiency(fitted, tmp_path):
    adapter, run = fitted["adapter"], fitted["root"] / "explainer.teacher-run"
    three = fit_from_run(adapter, run, tmp_path / "three", layers=[-1], width=8, epochs=2, ensemble=3)
    assert three.net.members == 3 and three.meta["dims"]["members"] == 3
    assert three.meta["validation_of"].startswith("the first network")
    loaded = Explainer.load(tmp_path / "three")
    assert loaded.net.members == 3 and all(torch.equal(loaded.tensors()[k], v) for k, v in three.tensors().items())
    players, context, text_of = torch.randn(5, 32), torch.randn(2, 32), torch.tensor([0, 0, 1, 1, 1])
    with torch.no_grad():
        members = [body(torch.cat([players, context[text_of]], -1)) for body in (three.net.body, *three.net.extra)]
        torch.testing.assert_close(three.net(players, context, text_of), torch.stack(members).mean(0))
    assert not torch.allclose(members[0], members[1])  # other seeds, other networks
    (e,) = explain(TEXTS[0], adapter, get_method("amortized", explainer=str(tmp_path / "three")), target="all")
    np.testing.assert_allclose(e.scores.sum(1) + e.diagnostics["base_value"], e.logits, atol=1e-5)
    with pytest.raises(InputError, match="ensemble"):
        fit_from_run(adapter, run, tmp_path / "none", ensemble=0)
