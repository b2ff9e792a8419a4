"""The checked placement of a model (one device, one dtype) is remembered per model and re-checked when a
parameter moves or is cast: through `adapter.to`, `load_model`'s placement or `model.to` directly, whole or part."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trexplain import explain
from trexplain.errors import DeviceError
from trexplain.methods import get_method
from trexplain.models import load_model
from trexplain.models.devices import check_placement, method_precision

TEXT = "The movie was wonderful"


@pytest.fixture
def walks(tiny_dirs):
    """A fresh adapter, and a counter of full walks of its model (each walk lists the buffers once)."""
    adapter = load_model(tiny_dirs["bert"])
    count = {"walks": 0}
    listed = adapter.model.buffers

    def buffers(*args, **kwargs):
        count["walks"] += 1
        return listed(*args, **kwargs)

    adapter.model.buffers = buffers
    return adapter, count


def test_placement_is_walked_once_until_the_model_moves(walks):
    adapter, count = walks
    gxi = [get_method("gxi")]
    for _ in range(3):
        assert check_placement(adapter.model) == (torch.device("cpu"), torch.float32)
        with method_precision(adapter, gxi):
            pass
    assert count["walks"] == 0  # checked when loaded
    adapter.to(dtype="bfloat16")  # our API: moved, cast and checked again at once
    assert count["walks"] == 1 and check_placement(adapter.model) == (torch.device("cpu"), torch.bfloat16)
    with method_precision(adapter, gxi):  # a gradient method: float32 inside, bfloat16 again after
        assert adapter.dtype is torch.float32
    assert adapter.dtype is torch.bfloat16 and check_placement(adapter.model)[1] is torch.bfloat16
    assert count["walks"] == 1  # cast back as it was: the remembered placement holds again
    adapter.to(dtype=torch.float32)
    assert count["walks"] == 2 and check_placement(adapter.model)[1] is torch.float32


def test_a_move_outside_our_api_is_seen(walks):
    adapter, count = walks
    check_placement(adapter.model)
    adapter.model.to(dtype=torch.float16)  # the whole model, by hand
    assert check_placement(adapter.model) == (torch.device("cpu"), torch.float16) and count["walks"] == 1
    adapter.model.to(dtype=torch.float32)
    adapter.model.classifier.to(torch.float64)  # one part
    with pytest.raises(DeviceError, match=r"several dtypes \(float32, float64\)"):
        explain(TEXT, adapter, "gxi")
    adapter.model.classifier.to(torch.float32)
    (e,) = explain(TEXT, adapter, "gxi")
    (fresh,) = explain(TEXT, load_model(adapter.model.name_or_path), "gxi")
    np.testing.assert_allclose(e.scores, fresh.scores, atol=1e-6)
