"""Devices and precisions: names checked against this machine (no GPU here: the CUDA paths are error paths),
bfloat16 loading, forward-only methods reduced, gradient and LRP methods in float32, mixed models refused."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from trexplain import explain
from trexplain.cli import app
from trexplain.errors import DeviceError
from trexplain.models import load_model
from trexplain.models.devices import check_placement, resolve_device, resolve_dtype

TEXT = "The movie was wonderful, the acting superb."


@pytest.fixture(scope="module")
def bf16(tiny_dirs):
    return load_model(tiny_dirs["bert"], dtype="bfloat16", device="auto" if not torch.cuda.is_available() else "cpu")


@pytest.fixture(scope="module")
def rounded(tiny_dirs):
    """The float32 model with bfloat16-rounded weights: what gradient methods on `bf16` must compute with."""
    adapter = load_model(tiny_dirs["bert"])
    adapter.model.to(torch.bfloat16).to(torch.float32)
    return adapter


def test_device_and_dtype_names():
    assert resolve_device("cpu") == torch.device("cpu") and resolve_device(None) == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    assert resolve_dtype("bf16") is torch.bfloat16 and resolve_dtype("float16") is torch.float16
    assert resolve_dtype(torch.float32) is torch.float32 and resolve_dtype(None) is None
    with pytest.raises(DeviceError, match="unknown dtype 'int8'; use one of float32, bfloat16, float16"):
        resolve_dtype("int8")
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the errors of a machine without a CUDA GPU")
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_unavailable_cuda_is_a_typed_error(tiny_dirs, name):
    with pytest.raises(DeviceError, match="no CUDA GPU is available here"):
        load_model(tiny_dirs["bert"], device=name)
    result = CliRunner().invoke(app, ["serve", "--model", str(tiny_dirs["bert"]), "--device", name])
    assert result.exit_code == 2 and "no CUDA GPU is available here" in result.output, result.output


@pytest.mark.skipif(
    getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(), reason="MPS is here"
)
def test_unavailable_mps_is_a_typed_error(tiny_dirs):
    with pytest.raises(DeviceError, match="MPS is not available"):
        load_model(tiny_dirs["bert"], device="mps")


def test_bfloat16_forward_only_methods_run_reduced(bf16, rounded):
    assert bf16.dtype is torch.bfloat16
    (reduced,) = explain(TEXT, bf16, "occlusion")
    (full,) = explain(TEXT, rounded, "occlusion")
    assert reduced.scores.dtype == np.float32 and np.isfinite(reduced.scores).all()
    scale = np.abs(full.logits).max()
    np.testing.assert_allclose(reduced.logits, full.logits, atol=2e-2 * scale + 1e-2)
    assert bf16.dtype is torch.bfloat16


@pytest.mark.parametrize("method", ["ig", "cp-lrp", "gxi"])
def test_gradient_methods_compute_in_float32(bf16, rounded, method):
    (reduced,) = explain(TEXT, bf16, method, params={"steps": 16}) if method == "ig" else explain(TEXT, bf16, method)
    (full,) = explain(TEXT, rounded, method, params={"steps": 16}) if method == "ig" else explain(TEXT, rounded, method)
    np.testing.assert_allclose(reduced.scores, full.scores, atol=1e-6, rtol=1e-5)
    assert bf16.dtype is torch.bfloat16  # cast back, exactly
    if method != "gxi":
        assert reduced.diagnostics["identity"]["error"][0] == pytest.approx(full.diagnostics["identity"]["error"][0])


def test_gradient_methods_in_bfloat16_when_asked_state_their_error(tiny_dirs):
    adapter = load_model(tiny_dirs["bert"], dtype="bfloat16")
    adapter.compute_dtype = torch.bfloat16
    (e,) = explain(TEXT, adapter, "ig", params={"steps": 8, "adaptive": False})
    identity = e.diagnostics["identity"]
    assert identity["kind"] == "completeness" and np.isfinite(identity["error"][0]) and identity["error"][0] >= 0
    assert np.isfinite(e.scores).all()


def test_mixed_dtypes_are_a_typed_error(tiny_dirs):
    adapter = load_model(tiny_dirs["bert"])
    mixed = copy.deepcopy(adapter)
    mixed.model.classifier.to(torch.float64)
    with pytest.raises(DeviceError, match=r"several dtypes \(float32, float64\).*model.to\(dtype\)"):
        explain(TEXT, mixed, "gxi")
    with pytest.raises(DeviceError, match="several dtypes"):
        check_placement(mixed.model)
    assert check_placement(adapter.model) == (torch.device("cpu"), torch.float32)


def test_adapter_records_device_and_dtype(tiny_dirs):
    adapter = load_model(tiny_dirs["bert"], device="cpu", dtype="float32")
    assert adapter.device == torch.device("cpu") and adapter.dtype is torch.float32
    assert adapter.model_revision is None
