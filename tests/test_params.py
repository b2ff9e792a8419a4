"""Method parameters: converted by their declared types (strings from the command line included), every bad
value a MethodError naming the method and the parameter, "did you mean" for names, and `Method.describe`.

The conversion table is generated from each registered method's type hints, so a new method is covered."""

from __future__ import annotations

import json
import types
import typing
from typing import Any, Literal, Union

import numpy as np
import pytest
import torch
from torch import Tensor
from typer.testing import CliRunner

from trexplain import explain, get_method
from trexplain.cli import app
from trexplain.cli.common import parse_params
from trexplain.errors import MethodError
from trexplain.methods import available_methods
from trexplain.methods.base import Parameter
from trexplain.methods.integrated import IntegratedGradients
from trexplain.methods.perturbation import Lime
from trexplain.methods.quadrature import RULES
from trexplain.models.images import FILLS
from trexplain.perturb import STRATEGIES

Case = tuple[str, str, Any]  # method, parameter, value


def _hints() -> list[tuple[str, str, Any, Any]]:
    """(method, parameter, declared type, default) for every parameter of every registered method."""
    out = []
    for name, cls in available_methods().items():
        hints = typing.get_type_hints(cls)
        out += [(name, p.name, hints[p.name], p.default) for p in cls.describe()]
    return out


def _options(hint: Any) -> tuple[Any, ...]:
    return typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else (hint,)


def _good(hint: Any, default: Any) -> list[tuple[Any, Any]]:
    """(given, expected after conversion) pairs that every parameter of this type must accept."""
    pairs: list[tuple[Any, Any]] = []
    for option in _options(hint):
        if option is bool:
            pairs += [("False", False), ("false", False), ("0", False), ("no", False), (0, False)]
            pairs += [("True", True), ("yes", True), ("1", True), (True, True)]
        elif option is int:
            value = default if isinstance(default, int) else 8
            pairs += [(str(value), value), (f"{value}.0", value), (float(value), value), (value, value)]
        elif option is float:
            pairs += [(str(default), default), (repr(default), default), ("1e-3", 0.001), (1, 1.0)]
        elif option is str:
            pairs += [(default, default)]
        elif option is type(None):
            pairs += [("none", None), ("null", None), ("None", None), (None, None)]
        elif typing.get_origin(option) is Literal:
            pairs += [(choice, choice) for choice in typing.get_args(option)]
        elif option is Tensor:
            tensor = torch.zeros(3, 8)
            pairs += [(tensor, tensor)]
        else:
            raise AssertionError(f"no conversion case for type {option!r}: add one here")
    return pairs


def _bad(hint: Any) -> list[Any]:
    """Values no parameter of this type may accept."""
    options = _options(hint)
    bad: list[Any] = [[1], {"a": 1}]
    if type(None) not in options:
        bad += [None, "none"] if str not in options else [None]
    if bool in options:
        bad += ["maybe", 2, "1.0", 0.0]
    if int in options:
        bad += ["abc", "1.5", 1.5, True, "nan", 2**63]
    if float in options:
        bad += ["abc", True, "nan", "inf", float("-inf")]
    if str in options:
        bad += ["", "   ", 3]
    if any(typing.get_origin(o) is Literal for o in options):
        bad += ["bogus", ""]
    return bad


GOOD = [(m, p, given, expected) for m, p, hint, default in _hints() for given, expected in _good(hint, default)]
BAD = [(m, p, value) for m, p, hint, _ in _hints() for value in _bad(hint)]


def test_the_tables_cover_every_parameter():
    assert len(GOOD) > 150 and len(BAD) > 150
    assert {(m, p) for m, p, *_ in GOOD} == {(m, p) for m, p, *_ in BAD} == {(m, p) for m, p, _, _ in _hints()}
    assert ("ig", "adaptive") in {(m, p) for m, p, *_ in GOOD}


@pytest.mark.parametrize(("method", "param", "given", "expected"), GOOD, ids=lambda v: repr(v)[:30])
def test_good_values_convert_to_the_declared_type(method, param, given, expected):
    value = get_method(method, **{param: given}).params()[param]
    if isinstance(expected, Tensor):
        assert value == f"tensor{list(expected.shape)}"  # recorded by its shape; the tensor itself is kept
        assert getattr(get_method(method, **{param: given}), param) is given
    else:
        assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("method", "param", "given", "expected"), [c for c in GOOD if isinstance(c[2], str)], ids=lambda v: repr(v)[:30]
)
def test_command_line_values_convert_like_raw_strings(method, param, given, expected):
    """`--param NAME=VALUE` is JSON-decoded by the CLI ("false" → False, "8" → 8); both forms end up equal."""
    decoded = parse_params([f"{param}={given}"])[param]
    assert (
        get_method(method, **{param: decoded}).params()[param] == get_method(method, **{param: given}).params()[param]
    )


@pytest.mark.parametrize(("method", "param", "value"), BAD, ids=lambda v: repr(v)[:30])
def test_bad_values_name_the_method_and_the_parameter(method, param, value):
    with pytest.raises(MethodError) as info:
        get_method(method, **{param: value})
    message = str(info.value)
    assert message.startswith(f"{method}: {param}")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        ("ig", {"steps": "abc"}, "ig: steps must be a whole number, got 'abc'"),
        ("ig", {"steps": "1.5"}, "ig: steps must be a whole number, got '1.5'"),
        ("ig", {"steps": True}, "ig: steps must be a whole number, got True"),
        ("ig", {"adaptive": "maybe"}, "ig: adaptive must be true or false (also yes/no, 1/0), got 'maybe'"),
        ("ig", {"rtol": float("nan")}, "ig: rtol must be a finite number, got nan"),
        ("ig", {"internal_batch_size": "abc"}, "ig: internal_batch_size must be a whole number or none, got 'abc'"),
        ("ig", {"baseline": 3}, "ig: baseline must be a non-blank text or a tensor or none, got 3"),
        ("lime", {"n_samples": 2.5}, "lime: n_samples must be a whole number or none, got 2.5"),
        ("lime", {"seed": "abc"}, "lime: seed must be a whole number, got 'abc'"),
        ("lime", {"seed": 2**63}, "lime: seed must be a whole number between -2^63 and 2^63 - 1"),
        (
            "lime",
            {"strategy": "mas"},
            "lime: strategy must be one of delete, mask, unk, pad, mean, blur, black or none, got 'mas'; "
            "did you mean mask?",
        ),
        (
            "occlusion",
            {"level": "sentence"},
            "occlusion: level must be one of word, patch, token or none, got 'sentence'",
        ),
        ("kernelshap", {"output": "prob"}, "kernelshap: output must be one of logit, probability, got 'prob'"),
    ],
)
def test_type_errors_say_what_is_expected(method, params, message):
    with pytest.raises(MethodError) as info:
        get_method(method, **params)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("method", "params", "fragments"),
    [
        ("ig", {"steps": -1}, ["ig: steps=-1 is not accepted", "at least 1 step"]),
        ("ig", {"steps": 0, "adaptive": False}, ["ig: steps=0 is not accepted"]),
        ("ig", {"method": "simpson"}, ["ig: method must be one of gausslegendre, riemann_left", "got 'simpson'"]),
        ("layer-ig", {"method": "riemann_trapezoid", "steps": 1}, ["layer-ig: method='riemann_trapezoid', steps=1"]),
        ("ig", {"steps": 16, "max_steps": 8}, ["ig: steps=16, max_steps=8 do not fit together", "max_steps (8)"]),
        ("ig", {"rtol": -1.0}, ["ig: rtol=-1.0 is not accepted", "must not be negative"]),
        ("ca-lig", {"fusion": "add"}, ["ca-lig: fusion must be one of additive, multiplicative", "got 'add'"]),
        ("ca-lig", {"aggregation": "sum"}, ["ca-lig: aggregation must be one of rollout, mean", "got 'sum'"]),
        ("ca-lig", {"context": "all"}, ["ca-lig: context must be one of cls, mean", "got 'all'"]),
        ("ca-lig", {"lam": "1.5"}, ["ca-lig: lam=1.5 is not accepted", "[0, 1]"]),
        ("cp-lrp", {"gamma": "-1"}, ["cp-lrp: gamma=-1.0 is not accepted: gamma must be ≥ 0"]),
        ("attnlrp", {"epsilon": -0.5}, ["attnlrp: epsilon=-0.5 is not accepted"]),
        ("lime", {"kernel_width": 0}, ["lime: kernel_width=0.0 is not accepted", "kernel_width must be positive"]),
        ("lime", {"n_samples": 1}, ["lime: n_samples=1 is not accepted", "at least 2"]),
        ("kernelshap", {"exact_features": 21}, ["kernelshap: exact_features=21 is not accepted", "between 0 and 20"]),
        ("occlusion", {"batch_size": 0}, ["occlusion: batch_size=0 is not accepted", "at least 1"]),
    ],
)
def test_values_a_method_refuses_name_the_parameter(method, params, fragments):
    with pytest.raises(MethodError) as info:
        get_method(method, **params)
    message = str(info.value)
    assert message.startswith(fragments[0])
    assert all(f in message for f in fragments[1:])


@pytest.mark.parametrize(
    ("given", "expected"),
    [(32.0, 32), ("32.0", 32), ("1e2", 100), (" 16 ", 16), (np.int64(24), 24)],
)
def test_integral_floats_are_whole_numbers(given, expected):
    method = get_method("ig", steps=given, adaptive=False)
    assert method.steps == expected and type(method.steps) is int


def test_negative_seeds_and_recorded_params_are_converted():
    lime = get_method("lime", seed="-3", n_samples="1e3", alpha="0")
    assert lime.params() == {
        "level": None,
        "strategy": None,
        "output": "logit",
        "batch_size": 64,
        "n_samples": 1000,
        "seed": -3,
        "kernel_width": 0.25,
        "alpha": 0.0,
    }


def test_cli_adaptive_false_turns_adaptive_ig_off(tiny_dirs):
    """`--param adaptive=False` (not JSON, so it arrives as the string "False") gives fixed steps."""
    args = ["explain", "a lovely day", "so bad", "--model", str(tiny_dirs["bert"]), "--method", "ig", "--json"]
    fixed = CliRunner().invoke(app, [*args, "--param", "adaptive=False", "--param", "steps=8", "--target", "all"])
    assert fixed.exit_code == 0, fixed.output
    entries = [e for record in json.loads(fixed.stdout) for e in record["explanations"]]
    assert len(entries) == 2 * 3
    assert [e["diagnostics"]["steps"] for e in entries] == [8] * 6
    assert {e["params"]["adaptive"] for e in entries} == {False}
    adaptive = CliRunner().invoke(app, [*args, "--param", "steps=8"])
    steps = [record["explanations"][0]["diagnostics"]["steps"] for record in json.loads(adaptive.stdout)]
    assert all(s >= 4 * 8 for s in steps)  # adaptive starts with 4 pieces of `steps` nodes each


@pytest.mark.parametrize("raw", ["False", "false", "0", "no", "off"])
def test_adaptive_off_in_python_uses_exactly_the_fixed_steps(tiny, raw):
    [e] = explain("a lovely day", tiny["bert"], "ig", params={"adaptive": raw, "steps": "12"})
    assert e.params["adaptive"] is False and e.params["steps"] == 12
    assert e.diagnostics["steps"] == 12


def test_cli_bad_param_is_one_error_line(tiny_dirs):
    result = CliRunner().invoke(
        app, ["explain", "hi", "--model", str(tiny_dirs["bert"]), "--method", "ig", "--param", "steps=1.5"]
    )
    assert result.exit_code == 2
    assert "ig: steps must be a whole number, got 1.5" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        (
            "kernelshapp",
            {},
            "unknown method 'kernelshapp'; did you mean kernelshap? available: amortized, attention, attnlrp",
        ),
        ("IGG", {}, "unknown method 'IGG'; did you mean ig"),  # "IG", "shap", "lrp" are aliases (test_aliases)
        ("lrpp", {}, "unknown method 'lrpp'; did you mean cp-lrp? available"),
        ("zzz", {}, "unknown method 'zzz'; available: amortized, attention"),
        ("lime", {"n_sample": 10}, "lime has no parameter 'n_sample'; did you mean n_samples? it takes: level"),
        ("ig", {"stpes": 3}, "ig has no parameter 'stpes'; did you mean steps? it takes: baseline, steps, method"),
        ("gxi", {"steps": 3}, "gxi has no parameter 'steps'; it takes: none"),
        (None, {}, "a method is a registered name such as 'cp-lrp' or a Method, got None"),
    ],
)
def test_unknown_names_suggest_the_closest(name, params, message):
    with pytest.raises(MethodError) as info:
        get_method(name, **params)
    assert str(info.value).startswith(message)


def test_describe_lists_types_defaults_and_choices():
    assert IntegratedGradients.describe()[:4] == [
        Parameter("baseline", "str | Tensor | None", None),
        Parameter("steps", "int", 4),
        Parameter("method", " | ".join(f"'{r}'" for r in RULES), "gausslegendre", RULES),
        Parameter("adaptive", "bool", True),
    ]
    by_name = {p.name: p for p in Lime.describe()}
    assert by_name["n_samples"] == Parameter("n_samples", "int | None", None)
    assert by_name["strategy"].choices == (*STRATEGIES, *FILLS)  # text strategies, then image fills
    assert by_name["strategy"].type == "'delete' | 'mask' | 'unk' | 'pad' | 'mean' | 'blur' | 'black' | None"
    for name, cls in available_methods().items():
        assert {p.name: p.default for p in cls.describe()} == get_method(name).params()


def test_an_instance_is_returned_as_is_and_refuses_params():
    ig = IntegratedGradients(steps=8)
    assert get_method(ig) is ig
    with pytest.raises(MethodError, match=r"either to the ig instance or by name, not both \(got steps\)"):
        get_method(ig, steps=16)
    assert ig.steps == 8
