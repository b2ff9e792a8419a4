"""Hostile values given to the Python API (`explain`, external score records): each is a typed error with a
message naming the value and the fix, raised before any work, and nothing is changed (the model's weights,
the caller's texts and records)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from trexplain import InputError, MethodError, TargetError, explain, get_method
from trexplain.evaluate import explanations_from_records, load_scores
from trexplain.methods.integrated import IntegratedGradients

TEXTS = ["What a lovely day", "so bad"]
MISSING = Path("/nonexistent/model/folder")

HOSTILE = [
    # texts
    ({"texts": None}, InputError, "no text given (None); pass a string or a list of strings"),
    ({"texts": b"What a day"}, InputError, "texts are bytes, not a string; decode them first"),
    ({"texts": bytearray(b"day")}, InputError, "texts are bytes"),
    ({"texts": []}, InputError, "no text given (an empty list)"),
    ({"texts": ()}, InputError, "no text given (an empty list)"),
    ({"texts": ["ok", 3]}, InputError, "text 1 is an int (3), not a string; pass strings only"),
    ({"texts": ["ok", b"x"]}, InputError, "text 1 is a bytes (b'x'), not a string; decode it first"),
    ({"texts": [None]}, InputError, "text 0 is a NoneType (None), not a string"),
    ({"texts": {"text": "a good day"}}, InputError, "texts must be a string or a list of strings, got a dict"),
    ({"texts": {"a", "b"}}, InputError, "texts must be a string or a list of strings, got a set"),
    ({"texts": 42}, InputError, "texts must be a string or a list of strings, got an int"),
    ({"texts": ["ok", "   "]}, InputError, "text 1 is empty or whitespace only"),
    ({"texts": ["fine", "bad \ud800 text"]}, InputError, "text 1 has a lone surrogate '\\ud800' at character 4"),
    # targets
    ({"target": None}, TargetError, "no target given (None); use 'predicted', 'all', a label or a class index"),
    ({"target": True}, TargetError, "target True is a bool, not a label or class index"),
    ({"target": False}, TargetError, "target False is a bool"),
    ({"target": [True, 2]}, TargetError, "target True is a bool"),
    ({"target": 1.5}, TargetError, "target 1.5 is a float, not a label or class index"),
    ({"target": 1.0}, TargetError, "target 1.0 is a float"),
    ({"target": []}, TargetError, "no target given (an empty list)"),
    ({"target": "joyful"}, TargetError, "unknown target 'joyful'; valid targets: negative, neutral, positive"),
    ({"target": 3}, TargetError, "unknown target 3; valid targets"),
    ({"target": -1}, TargetError, "unknown target -1"),
    ({"target": ["positive", "all"]}, TargetError, "cannot be combined with other targets"),
    ({"target": ["positive", 2]}, TargetError, "targets 'positive' and 2 are the same class (positive)"),
    ({"target": {"positive": 1}}, TargetError, "target {'positive': 1} is a dict"),
    ({"target": [["positive"]]}, TargetError, "target ['positive'] is a list"),
    ({"target": b"positive"}, TargetError, "target b'positive' is a bytes"),
    ({"target": torch.tensor([1])}, TargetError, "is a Tensor, not a label or class index"),
    # options
    ({"batch_size": 0}, InputError, "batch_size must be a whole number of at least 1, got 0"),
    ({"batch_size": -4}, InputError, "got -4"),
    ({"batch_size": True}, InputError, "batch_size must be a whole number of at least 1, got True"),
    ({"batch_size": "8"}, InputError, "got '8'"),
    ({"batch_size": 2.5}, InputError, "got 2.5"),
    ({"batch_size": None}, InputError, "got None"),
    ({"truncate": "no"}, InputError, "truncate must be True or False, got 'no'"),
    ({"progress": 1}, InputError, "progress must be True or False, got 1"),
    # models
    ({"model": 42}, InputError, "model must be a ModelAdapter, a model folder or None (the demo), got an int (42)"),
    ({"model": ["demo"]}, InputError, "got a list (['demo'])"),
    ({"model": torch.nn.Linear(2, 2)}, InputError, "got a Linear"),
    # methods
    ({"method": None}, MethodError, "a method is a registered name such as 'cp-lrp' or a Method, got None"),
    ({"method": 42}, MethodError, "got 42"),
    ({"method": IntegratedGradients}, MethodError, "got <class"),
    ({"method": "kernelshapp"}, MethodError, "unknown method 'kernelshapp'; did you mean kernelshap? available:"),
    ({"method": []}, MethodError, "no method given (an empty list)"),
    ({"method": ["ig", None]}, MethodError, "got None"),
    ({"method": ["gxi", "lime2"]}, MethodError, "unknown method 'lime2'; did you mean lime?"),
    (
        {"method": ["ig", "lime"], "params": {"steps": 8}},
        MethodError,
        "with several methods, give parameters per method",
    ),
    (
        {"method": IntegratedGradients(), "params": {"steps": 8}},
        MethodError,
        "either to the ig instance or by name, not both",
    ),
    ({"method": "ig", "params": {"steps": "abc"}}, MethodError, "ig: steps must be a whole number, got 'abc'"),
    ({"method": "ig", "params": {"steps": 1.5}}, MethodError, "ig: steps must be a whole number, got 1.5"),
    ({"method": "lime", "params": {"n_samples": 2.5}}, MethodError, "lime: n_samples must be a whole number or none"),
    ({"method": "lime", "params": {"seed": "abc"}}, MethodError, "lime: seed must be a whole number, got 'abc'"),
    ({"method": "gxi", "params": {"stepz": 4}}, MethodError, "gxi has no parameter 'stepz'"),
    ({"method": "ig", "steps": 8}, MethodError, "explain() has no argument 'steps'; give method parameters as params="),
    ({"method": "ig", "params": [("steps", 8)]}, MethodError, "params must map parameter names to values"),
]


def _state(adapter):
    return {k: v.clone() for k, v in adapter.model.state_dict().items()}


@pytest.mark.parametrize(("given", "error", "fragment"), HOSTILE, ids=lambda v: repr(v)[:40])
def test_hostile_values_are_typed_errors_and_change_nothing(tiny, given, error, fragment):
    adapter = tiny["bert"]
    before = _state(adapter)
    texts = list(TEXTS)
    kwargs = {"texts": texts, "model": adapter, **given}
    with pytest.raises(error) as info:
        explain(kwargs.pop("texts"), kwargs.pop("model"), **kwargs)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)
    assert texts == TEXTS
    after = adapter.model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_there_are_enough_hostile_cases():
    assert len(HOSTILE) >= 25
    assert {error for _, error, _ in HOSTILE} == {InputError, TargetError, MethodError}


@pytest.mark.parametrize(
    ("given", "error", "fragment"),
    [
        ({"texts": ["ok", 3]}, InputError, "text 1 is an int"),
        ({"method": "kernelshapp"}, MethodError, "did you mean kernelshap"),
        ({"target": True}, TargetError, "is a bool"),
        ({"batch_size": 0}, InputError, "batch_size"),
    ],
)
def test_bad_arguments_fail_before_the_model_loads(given, error, fragment):
    """The model folder does not exist: the argument's own error comes first, not a ModelLoadError."""
    kwargs = {"texts": list(TEXTS), **given}
    with pytest.raises(error, match=fragment):
        explain(kwargs.pop("texts"), MISSING, **kwargs)


def test_target_true_no_longer_explains_class_one(tiny):
    with pytest.raises(TargetError):
        explain("What a lovely day", tiny["bert"], "gxi", target=True)
    [e] = explain("What a lovely day", tiny["bert"], "gxi", target=np.int64(1))
    assert e.targets == (1,)


def test_several_methods_are_text_major(tiny):
    adapter = tiny["bert"]
    ig = get_method("ig", steps=8, adaptive=False)
    both = explain(TEXTS, adapter, [ig, "lime", "gxi"], target="all")
    assert [(e.text, e.method) for e in both] == [(t, m) for t in TEXTS for m in ("ig", "lime", "gxi")]
    alone = [explain(TEXTS, adapter, m, target="all") for m in (ig, "lime", "gxi")]
    for i, text in enumerate(TEXTS):
        for j in range(3):
            e = both[3 * i + j]
            assert e.text == text and e.targets == (0, 1, 2)
            np.testing.assert_allclose(e.scores, alone[j][i].scores, atol=1e-6)
    assert both[0].params["steps"] == 8 and both[0].diagnostics["steps"] == 8


def test_a_method_instance_and_a_one_element_list_keep_working(tiny):
    adapter = tiny["bert"]
    ig = IntegratedGradients(steps=6, adaptive=False)
    [e] = explain("What a lovely day", adapter, ig)
    [f] = explain("What a lovely day", adapter, [ig])
    assert e.method == f.method == "ig" and e.diagnostics["steps"] == f.diagnostics["steps"] == 6
    np.testing.assert_array_equal(e.scores, f.scores)


WORDS = ["What", "a", "lovely", "day"]
GOOD_RECORD = {"text": "What a lovely day", "words": WORDS, "scores": [0.1, 0.0, 0.7, 0.2], "method": "ext"}
NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("change", "error", "fragment"),
    [
        ({"scores": [0.1, NAN, 0.7, 0.2]}, InputError, "record 1: 'scores' entry 1 (word 'a') is nan"),
        ({"scores": [0.1, 0.0, INF, 0.2]}, InputError, "'scores' entry 2 (word 'lovely') is inf"),
        ({"scores": [0.1, 0.0, -INF, 0.2]}, InputError, "is -inf; every score must be a finite number"),
        ({"scores": [True, 0.0, 0.7, 0.2]}, InputError, "'scores' entry 0 (word 'What') is True"),
        ({"scores": [0.1, "0.2", 0.7, 0.2]}, InputError, "'scores' entry 1 (word 'a') is '0.2'"),
        ({"scores": [0.1, [0.2, 0.3], 0.7, 0.2]}, InputError, "one target per record"),
        ({"diagnostics": {"completeness_error": NAN}}, InputError, "diagnostics 'completeness_error' holds nan"),
        ({"diagnostics": {"completeness_error": [0.1, INF]}}, InputError, "'completeness_error' holds inf"),
        ({"diagnostics": {"efficiency_error": NAN}}, InputError, "diagnostics 'efficiency_error' holds nan"),
        ({"diagnostics": {"completeness_error": "small"}}, InputError, "holds 'small'; give finite numbers"),
        ({"diagnostics": {"identity": {"kind": "completeness", "error": [NAN]}}}, InputError, "'identity.error'"),
        ({"diagnostics": {"relevance_sum": [INF], "logit": [1.0]}}, InputError, "'relevance_sum' holds inf"),
        ({"diagnostics": [1, 2]}, InputError, "'diagnostics' must be an object"),
        ({"seconds": "abc"}, InputError, "'seconds' must be a non-negative number, got 'abc'"),
        ({"seconds": NAN}, InputError, "got nan"),
        ({"seconds": -1}, InputError, "got -1"),
        ({"target": True}, TargetError, "record 1: target True is a bool"),
        ({"target": 1.5}, TargetError, "record 1: target 1.5 is a float"),
        ({"target": "joyful"}, TargetError, "record 1: unknown target 'joyful'"),
    ],
)
def test_hostile_external_records_are_refused(tiny, change, error, fragment):
    adapter = tiny["bert"]
    before = _state(adapter)
    records = [{**GOOD_RECORD, **change}]
    given = json.dumps(records)
    with pytest.raises(error) as info:
        explanations_from_records(records, adapter)
    assert fragment in str(info.value)
    assert json.dumps(records) == given
    after = adapter.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_nan_in_a_scores_file_is_refused_and_finite_errors_still_count(tiny, tmp_path):
    path = tmp_path / "scores.jsonl"
    path.write_text(
        '{"text": "What a lovely day", "words": ["What", "a", "lovely", "day"], "scores": [1, NaN, 0, 0]}\n'
    )
    with pytest.raises(InputError, match=r"record 1: 'scores' entry 1 \(word 'a'\) is nan"):
        load_scores(path, tiny["bert"])
    [e] = explanations_from_records([{**GOOD_RECORD, "diagnostics": {"completeness_error": -0.01}}], tiny["bert"])
    assert e.diagnostics.identity.kind == "completeness" and e.diagnostics.identity.error == (0.01,)
