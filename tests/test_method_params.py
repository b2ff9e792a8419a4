"""Every registered method × every parameter it declares, passed from Python (`explain(params=)`, `study`,
`get_method` instances), the CLI (`--param`) and the server (`POST /api/explain`): the value reaches the method
instance that runs, also when the parameter is named like an argument of explain/study (batch_size, method, seed).

Each method's `attribute` is replaced by a recorder that keeps the instance it was called on and returns the
scores of gradient × input, so the matrix costs one cheap pass per case."""

from __future__ import annotations

import json
import typing
from dataclasses import fields
from typing import Any

import pytest
from typer.testing import CliRunner

from trexplain import explain, get_method, study
from trexplain.cli import app
from trexplain.errors import MethodError
from trexplain.methods import available_methods
from trexplain.server import ServedModel, create_app

CANDIDATES: dict[type, list[Any]] = {
    bool: [False, True],
    int: [3, 2, 5, 1, 7],
    float: [0.5, 0.25, 2.0, 1e-4],
    type(None): [None],
}


def _candidates(cls: type, name: str, default: Any) -> list[Any]:
    """Values to try for one parameter, from its declared type: choices first, then values of each type."""
    hint = typing.get_type_hints(cls)[name]
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, type(int | None)) else (hint,)
    out: list[Any] = []
    for option in options:
        if typing.get_origin(option) is typing.Literal:
            out += list(typing.get_args(option))
        elif option is str:
            out += ["mask", "unk", "zero", "pad"]
        out += CANDIDATES.get(option, [])
    return [v for v in out if v != default or type(v) is not type(default)]


def _case(cls: type, name: str, default: Any) -> tuple[Any, Any]:
    """(given, converted) for the first candidate the method accepts whose converted value differs from the
    default; strings from the command line give the same value."""
    for value in _candidates(cls, name, default):
        try:
            made = get_method(cls.name, **{name: value})
        except MethodError:
            continue
        converted = getattr(made, name)
        if converted != default or type(converted) is not type(default):
            return value, converted
    raise AssertionError(f"no non-default value found for {cls.name}.{name}: add a candidate")


CASES = [
    (method, f.name, *_case(cls, f.name, f.default))
    for method, cls in available_methods().items()
    for f in fields(cls)
    if f.init
]


def test_the_matrix_covers_every_declared_parameter():
    declared = {(m, p.name) for m, cls in available_methods().items() for p in cls.describe()}
    assert {(m, p) for m, p, *_ in CASES} == declared
    assert {("lime", "batch_size"), ("ig", "method"), ("lime", "seed")} <= declared  # named like explain's own


@pytest.fixture
def recorded(monkeypatch):
    """Replace every method's `attribute` by a recorder; returns the list of instances that ran."""
    gxi = available_methods()["gxi"]
    cheap = gxi.attribute
    seen: list[Any] = []

    def record(self, adapter, batch, targets):
        seen.append(self)
        return cheap(gxi(), adapter, batch, targets)

    for cls in available_methods().values():
        monkeypatch.setattr(cls, "attribute", record)
    return seen


def _reached(seen: list[Any], method: str, param: str, expected: Any) -> None:
    ran = [m for m in seen if m.name == method]
    assert ran, f"{method} never ran"
    assert all(getattr(m, param) == expected for m in ran), [getattr(m, param) for m in ran]


@pytest.mark.parametrize(("method", "param", "given", "expected"), CASES, ids=lambda v: str(v)[:20])
def test_python_params_reach_the_method(tiny, recorded, method, param, given, expected):
    adapter = tiny["bert"]
    [e] = explain("a lovely day", adapter, method, params={param: given})
    _reached(recorded, method, param, expected)
    assert e.params[param] == expected
    recorded.clear()
    result = study(["a lovely day"], adapter, [method], params={method: {param: given}})
    _reached(recorded, method, param, expected)
    assert result.params[method][param] == expected
    recorded.clear()
    study(["a lovely day"], adapter, [get_method(method, **{param: given})])
    _reached(recorded, method, param, expected)


@pytest.mark.parametrize(("method", "param", "given", "expected"), CASES, ids=lambda v: str(v)[:20])
def test_cli_param_reaches_the_method(tiny_dirs, recorded, method, param, given, expected):
    value = json.dumps(given) if not isinstance(given, str) else given
    args = ["explain", "a lovely day", "--model", str(tiny_dirs["bert"]), "--method", method, "--json"]
    result = CliRunner().invoke(app, [*args, "--param", f"{param}={value}"])
    assert result.exit_code == 0, result.output
    _reached(recorded, method, param, expected)
    assert json.loads(result.stdout)["explanations"][0]["params"][param] == expected


@pytest.fixture(scope="module")
def api(tiny):
    from fastapi.testclient import TestClient

    with TestClient(create_app([ServedModel(tiny["bert"], "tiny")]), base_url="http://127.0.0.1:8000") as client:
        yield client


@pytest.mark.parametrize(("method", "param", "given", "expected"), CASES, ids=lambda v: str(v)[:20])
def test_server_params_reach_the_method(api, recorded, method, param, given, expected):
    body = {"texts": ["a lovely day"], "methods": [method], "params": {method: {param: given}}}
    response = api.post("/api/explain", json=body)
    assert response.status_code == 200, response.text
    _reached(recorded, method, param, expected)
    assert response.json()["records"][0]["explanations"][0]["params"][param] == expected
