"""A model family is one entry: every entry's parts are checked when a model loads, a missing part is a typed
error naming it (never a silent loss of conservation), and no code outside `models/families/` keys on a name."""

from __future__ import annotations

import ast
import copy
import dataclasses
from pathlib import Path

import pytest
import torch

import trexplain
from trexplain import explain
from trexplain.errors import MethodError, ModelLoadError
from trexplain.models import ModelAdapter
from trexplain.models.families import FAMILIES, family_for, supported_model_types

SRC = Path(trexplain.__file__).parent


def rebuilt(adapter: ModelAdapter, family) -> ModelAdapter:
    """The tiny model of `adapter` bound again, under another family entry."""
    return ModelAdapter(adapter.model, adapter.tokenizer, family=family, labels=adapter.labels, name="broken")


def test_one_entry_per_model_type_and_name():
    types = supported_model_types()
    assert len(types) == len(set(types))
    assert len({f.name for f in FAMILIES}) == len(FAMILIES)
    assert all(family_for(t).model_types.count(t) == 1 for t in types)


@pytest.mark.parametrize(
    ("family", "change", "part", "path"),
    [
        ("bert", {"self_attention": "attention.nope"}, "self_attention of block 0", "attention.nope"),
        ("bert", {"feed_forward": "ffn"}, "feed_forward of block 0", "ffn"),
        ("bert", {"head": "score"}, "head", "score"),
        ("bert", {"embeddings": "bert.embed"}, "embeddings", "bert.embed"),
        ("bert", {"layers": "bert.encoder.layers"}, "blocks", "bert.encoder.layers"),
    ],
)
def test_a_missing_part_fails_at_load_naming_it(tiny, family, change, part, path):
    broken = dataclasses.replace(family_for(family), **change)
    with pytest.raises(ModelLoadError, match=rf"family {family}: its {part} is not at '{path}'"):
        rebuilt(tiny[family], broken)


def test_a_missing_inline_activation_or_gate_fails_at_load(tiny):
    roberta = family_for("roberta")
    moved = dataclasses.replace(roberta.lrp, inline_activations=(("classifier.dense", "classifier.out", torch.tanh),))
    with pytest.raises(ModelLoadError, match=r"module after an inline activation is not at 'classifier\.out'"):
        rebuilt(tiny["roberta"], dataclasses.replace(roberta, lrp=moved))
    bert = family_for("bert")
    gate = dataclasses.replace(family_for("modernbert").lrp.gate, path="mlp")
    with pytest.raises(ModelLoadError, match="family bert: its gate of block 0 is not at 'mlp'"):
        rebuilt(tiny["bert"], dataclasses.replace(bert, lrp=dataclasses.replace(bert.lrp, gate=gate)))


def test_an_entry_without_its_inline_activation_loses_conservation_and_the_full_entry_keeps_it(tiny):
    """What the entry's inline activation is for: with it, cp-lrp conserves exactly on a zero-bias RoBERTa."""
    model = copy.deepcopy(tiny["roberta"].model).double()
    for module in model.modules():
        if getattr(module, "bias", None) is not None:
            torch.nn.init.zeros_(module.bias)
    roberta = family_for("roberta")
    bare = dataclasses.replace(roberta, lrp=dataclasses.replace(roberta.lrp, inline_activations=()))
    adapter = ModelAdapter(
        model, tiny["roberta"].tokenizer, family=roberta, labels=tiny["roberta"].labels, name="zero-bias"
    )
    (full,) = explain("a good day", adapter, "cp-lrp")
    (without,) = explain("a good day", rebuilt(adapter, bare), "cp-lrp")
    logit = full.logits[full.targets[0]]
    assert full.scores.sum() == pytest.approx(logit, rel=1e-9)
    assert abs(without.scores.sum() - logit) > 1e-6 * abs(logit)


def test_a_norm_without_a_rule_is_a_method_error(tiny):
    bert = family_for("bert")
    rms = dataclasses.replace(bert, lrp=dataclasses.replace(bert.lrp, norm="scalenorm"))
    adapter = rebuilt(tiny["bert"], rms)
    with pytest.raises(MethodError, match="no LRP rule for the 'scalenorm' norms of family bert"):
        explain("a good day", adapter, "cp-lrp")
    assert explain("a good day", adapter, "gxi")[0].scores.shape[1] > 0  # other methods are unaffected


def test_no_module_outside_the_family_entries_names_a_family():
    """Family knowledge lives in its entry: no string equal to an entry's name or model type elsewhere in src/
    (the demo names its family through `family_for`)."""
    names = {f.name for f in FAMILIES} | set(supported_model_types())
    found = []
    for path in SRC.rglob("*.py"):
        if "families" in path.relative_to(SRC).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            demo = path.name == "loading.py" and getattr(node, "value", None) == "bert"
            if isinstance(node, ast.Constant) and node.value in names and not demo:
                found.append(f"{path.relative_to(SRC)}:{node.lineno} {node.value!r}")
    assert not found, found
