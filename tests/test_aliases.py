"""Method names as users type them: case-insensitive, other libraries' names (aliases), and a typed error that
lists the registered names for anything else."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from trexplain.cli import app
from trexplain.errors import MethodError
from trexplain.methods.base import available_methods, get_method, method_name


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("LIME", "lime"),
        ("Lime", "lime"),
        ("shap", "kernelshap"),
        ("SHAP", "kernelshap"),
        ("shapley", "kernelshap"),
        ("kernel_shap", "kernelshap"),
        ("integrated-gradients", "ig"),
        ("Integrated Gradients", "ig"),
        ("integrated_gradients", "ig"),
        ("lrp", "cp-lrp"),
        ("CP-LRP", "cp-lrp"),
        ("GxI", "gxi"),
        ("layer_ig", "layer-ig"),
    ],
)
def test_alias_gets_the_method_it_means(typed, meant):
    assert method_name(typed) == meant
    assert get_method(typed).name == meant


def test_every_registered_name_is_itself():
    assert all(method_name(n) == n for n in available_methods())


def test_unknown_name_is_a_typed_error_listing_the_names():
    with pytest.raises(MethodError) as info:
        get_method("shapely-values")
    message = str(info.value)
    assert "unknown method 'shapely-values'" in message and all(n in message for n in available_methods())


def test_cli_accepts_an_alias():
    result = CliRunner().invoke(app, ["explain", "a good day", "--method", "LIME", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["explanations"][0]["method"] == "lime"
