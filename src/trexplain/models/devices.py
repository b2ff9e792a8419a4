"""Devices and precisions for a loaded model: names checked against this machine, and a model placed whole on one
device in one floating dtype (a split model is a `DeviceError`, not a tensor exception later)."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from trexplain.errors import DeviceError

DEVICES = ("cpu", "cuda", "cuda:N", "mps", "auto")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16", "float": "float32"}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The torch device for `device`: cpu, cuda, cuda:N, mps, or auto (CUDA, else MPS, else the CPU)."""
    name = str(device if device is not None else "cpu").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    try:
        target = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}") from None
    if target.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DeviceError(
                f"device {name!r}: no CUDA GPU is available here (torch {torch.__version__}, built "
                f"{'with' if torch.version.cuda else 'without'} CUDA); use --device cpu or auto"
            )
        if target.index is not None and target.index >= count:
            raise DeviceError(f"device {name!r}: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")
    elif target.type == "mps" and not _mps_available():
        raise DeviceError(f"device {name!r}: Apple's MPS is not available here; use --device cpu or auto")
    elif target.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")
    return target


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """The torch dtype for `dtype` (float32, bfloat16, float16; None keeps the model's own, float32 when loaded)."""
    if dtype is None or (isinstance(dtype, torch.dtype) and dtype in DTYPES.values()):
        return dtype
    name = str(dtype).removeprefix("torch.").strip().lower()
    name = ALIASES.get(name, name)
    if name not in DTYPES:
        raise DeviceError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    return DTYPES[name]


def place(adapter: Any, device: torch.device, dtype: torch.dtype | None = None) -> Any:
    """`adapter` with its model moved to `device` (and cast to `dtype`), checked to sit whole on one device."""
    adapter.model.to(device=device, dtype=dtype)
    check_placement(adapter.model, refresh=True)
    return adapter


@dataclass(frozen=True)
class Placement:
    """A checked model's one device and dtype, with the device and dtype each parameter had then (`stamp`)."""

    parameters: tuple[nn.Parameter, ...]
    stamp: tuple[tuple[torch.device, torch.dtype], ...]
    found: tuple[torch.device, torch.dtype]

    def holds(self, model: nn.Module) -> bool:
        """Whether `model` still sits as checked: the same parameters on the same devices in the same dtypes
        (`model.to` moves and casts parameters in place, so any move or cast, whole or partial, shows here)."""
        first = next(model.parameters(), None)
        same = first is (self.parameters[0] if self.parameters else None)
        return same and tuple((p.device, p.dtype) for p in self.parameters) == self.stamp


_CHECKED: weakref.WeakKeyDictionary[nn.Module, Placement] = weakref.WeakKeyDictionary()
"""Each checked model's placement: on the demo a walk of every module costs ~1.5 ms, comparing the stamp ~0.1 ms."""


def check_placement(model: nn.Module, *, refresh: bool = False) -> tuple[torch.device, torch.dtype]:
    """The one device and floating dtype of `model`'s parameters and buffers; parts on several: `DeviceError`.
    Remembered per model until a parameter moves or is cast (or `refresh`: `place` does after moving it)."""
    known = _CHECKED.get(model)
    if known is not None and not refresh and known.holds(model):
        return known.found
    found = _placement(model)
    parameters = tuple(model.parameters())
    _CHECKED[model] = Placement(parameters, tuple((p.device, p.dtype) for p in parameters), found)
    return found


def _placement(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """`check_placement` by walking every parameter and buffer."""
    tensors = [*model.parameters(), *model.buffers()]
    devices = sorted({str(t.device) for t in tensors})
    dtypes = sorted({str(t.dtype).removeprefix("torch.") for t in tensors if t.is_floating_point()})
    if len(devices) > 1:
        raise DeviceError(
            f"the model's weights sit on several devices ({', '.join(devices)}); move it whole to one with "
            "model.to(device) or load it with device="
        )
    if len(dtypes) > 1:
        raise DeviceError(
            f"the model's weights have several dtypes ({', '.join(dtypes)}); cast it whole with model.to(dtype) or "
            "load it with dtype="
        )
    if not tensors:
        return torch.device("cpu"), torch.float32
    floating = next((t.dtype for t in tensors if t.is_floating_point()), torch.float32)
    return tensors[0].device, floating


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


FORWARD_ONLY = frozenset({"attention", "rollout", "kernelshap", "lime", "occlusion"})
"""Built-in methods that only run the model forward; they may run in reduced precision."""


def forward_only(method: Any) -> bool:
    """Whether `method` runs the model forward only (its `forward_only` attribute, else the built-in list)."""
    return bool(getattr(method, "forward_only", getattr(method, "name", None) in FORWARD_ONLY))


@contextmanager
def method_precision(adapter: Any, methods: Any) -> Iterator[None]:
    """Within the block a bfloat16 or float16 model computes in float32 when any of `methods` takes gradients
    (gradient, IG and LRP methods), unless `adapter.compute_dtype` says otherwise; forward-only methods run in the
    loaded dtype, and float32 and float64 models are left as they are. A model split over devices or dtypes is a
    `DeviceError` here, before any work.
    bfloat16/float16 → float32 → back is exact, so the model is cast in place and restored on exit."""
    _, loaded = check_placement(adapter.model)
    chosen = methods if isinstance(methods, (list, tuple)) else [methods]
    reduced = loaded in (torch.bfloat16, torch.float16) and not all(forward_only(m) for m in chosen)
    wanted = getattr(adapter, "compute_dtype", None) or (torch.float32 if reduced else loaded)
    if wanted == loaded:
        yield
        return
    with adapter.lock:
        adapter.model.to(dtype=wanted)
        try:
            yield
        finally:
            adapter.model.to(dtype=loaded)
