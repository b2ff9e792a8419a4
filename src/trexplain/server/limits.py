"""Bounds on what one request may ask for, each answered with a JSON error that names the limit.

Every bound is a field of `Limits` (the CLI exposes the common ones); `LimitError` carries the HTTP status, the
limit's name, the allowed value and what was asked, so a client can tell which bound it hit and by how much.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Limits:
    """Per-request bounds and the size of the worker pool and its queue."""

    max_chars: int = 5_000  # characters per text
    max_texts: int = 32  # texts per explain request
    max_table_texts: int = 500  # texts per data-table job
    max_methods: int = 4  # methods per request
    max_steps: int = 64  # IG/LIG/CA-LIG steps (and max_steps of adaptive quadrature: 4×)
    max_samples: int = 2_000  # LIME/KernelSHAP n_samples
    max_batch: int = 256  # batch_size / internal_batch_size of a method
    max_k: int = 50  # neighbours / masked predictions per layer
    max_probe_budget: int = 1_000  # model queries of one probe
    max_rows: int = 200  # run rows per page of the data table
    batch_texts: int = 8  # texts per model batch: a timed-out or cancelled request stops after its batch
    timeout_s: float = 60.0  # per synchronous request
    job_timeout_s: float = 600.0  # per background job (evaluate, sanity, table)
    workers: int = 2  # model calls running at once
    queue: int = 64  # model calls running or waiting; one more is a 503
    max_body: int = 2_000_000  # bytes of a request body

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LimitError(Exception):
    """A request beyond a limit: `status` (413, 422, 429, 503, 504), `limit` (the `Limits` field), its value."""

    def __init__(self, status: int, limit: str, allowed: Any, got: Any, message: str) -> None:
        super().__init__(message)
        self.status, self.limit, self.allowed, self.got, self.message = status, limit, allowed, got, message

    def to_dict(self) -> dict[str, Any]:
        return {"type": "limit", "limit": self.limit, "allowed": self.allowed, "got": self.got, "message": self.message}


# method parameter → the limit bounding it (`max_steps` of adaptive quadrature may grow to 4 × max_steps)
PARAM_LIMITS = {
    "steps": ("max_steps", 1),
    "max_steps": ("max_steps", 4),
    "n_samples": ("max_samples", 1),
    "batch_size": ("max_batch", 1),
    "internal_batch_size": ("max_batch", 1),
}


def check_texts(texts: Sequence[str], limits: Limits, *, most: int | None = None, what: str = "max_texts") -> None:
    """At least one text, at most `most` (default `limits.max_texts`), each at most `limits.max_chars` long."""
    most = limits.max_texts if most is None else most
    if len(texts) > most:
        raise LimitError(413, what, most, len(texts), f"{len(texts)} texts in one request; the limit is {most}")
    for i, text in enumerate(texts):
        if len(text) > limits.max_chars:
            raise LimitError(
                413,
                "max_chars",
                limits.max_chars,
                len(text),
                f"text {i} has {len(text)} characters; the limit is {limits.max_chars} (shorten or split it)",
            )


def check_methods(methods: Sequence[str], limits: Limits) -> None:
    if len(methods) > limits.max_methods:
        raise LimitError(
            413,
            "max_methods",
            limits.max_methods,
            len(methods),
            f"{len(methods)} methods in one request; the limit is {limits.max_methods}",
        )


def check_params(params: Mapping[str, Mapping[str, Any]], limits: Limits) -> None:
    """Every bounded method parameter (`PARAM_LIMITS`) within its limit."""
    for method, values in params.items():
        for key, value in values.items():
            if (
                key not in PARAM_LIMITS
                or value is None
                or isinstance(value, bool)
                or not isinstance(value, int | float)
            ):
                continue
            name, factor = PARAM_LIMITS[key]
            allowed = getattr(limits, name) * factor
            if value > allowed:
                raise LimitError(
                    422, name, allowed, value, f"{method}: {key}={value} is above the server's limit of {allowed}"
                )


def check_k(k: int, limits: Limits) -> None:
    if k > limits.max_k:
        raise LimitError(422, "max_k", limits.max_k, k, f"k={k} is above the server's limit of {limits.max_k}")


def check_at_most(value: int, limits: Limits, name: str, what: str) -> None:
    """`value` at most the limit `name` (a `Limits` field), else a 422 naming it."""
    allowed = getattr(limits, name)
    if value > allowed:
        raise LimitError(422, name, allowed, value, f"{what}={value} is above the server's limit of {allowed}")
