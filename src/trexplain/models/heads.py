"""What a classifier's outputs mean: one softmax over classes, one sigmoid per label (multi-label), or the output
itself (regression). Detected from the config (`problem_type`, else `num_labels == 1` is regression, as
transformers' own loss does); every probability shown or evaluated goes through `outputs` / `outputs_np`, and every
objective a search or gradient raises through `log_outputs`: nothing else turns logits into probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from trexplain.errors import InputError

SINGLE_LABEL = "single_label_classification"
MULTI_LABEL = "multi_label_classification"
REGRESSION = "regression"
PROBLEMS = (SINGLE_LABEL, MULTI_LABEL, REGRESSION)


def problem_of(config: Any, num_labels: int) -> str:
    """The head's problem type: `config.problem_type` when set, else regression for one output, else single-label."""
    problem = getattr(config, "problem_type", None)
    if problem is None:
        return REGRESSION if num_labels == 1 else SINGLE_LABEL
    return check_problem(problem)


def problem_for(adapter: object) -> str:
    """The problem type of an adapter (text or image); one without a `problem` attribute is single-label."""
    return check_problem(getattr(adapter, "problem", SINGLE_LABEL))


def check_problem(problem: object) -> str:
    """`problem` when it is one of `PROBLEMS`, else an `InputError` listing them."""
    if problem not in PROBLEMS:
        raise InputError(f"unknown problem type {problem!r}; use one of {', '.join(PROBLEMS)}")
    return str(problem)


def outputs(logits: Tensor, problem: str = SINGLE_LABEL) -> Tensor:
    """Per-class probabilities [..., C] of logits: softmax (single-label), sigmoid per label (multi-label, each
    independent), or the logits themselves (regression: the output is the target)."""
    if problem == MULTI_LABEL:
        return torch.sigmoid(logits)
    if problem == REGRESSION:
        return logits
    return logits.softmax(-1)


def log_outputs(logits: Tensor, problem: str = SINGLE_LABEL) -> Tensor:
    """The log of `outputs` [..., C], computed stably (log-softmax, each label's log-sigmoid); for regression the
    output itself, which has no probability: raising it is the objective, as raising a log-probability is."""
    if problem == MULTI_LABEL:
        return torch.nn.functional.logsigmoid(logits)
    if problem == REGRESSION:
        return logits
    return logits.log_softmax(-1)


def outputs_np(logits: np.ndarray, problem: str = SINGLE_LABEL) -> np.ndarray:
    """`outputs` in NumPy (float64) for logits [..., C]: one explanation's or a batch's, along the last axis."""
    z = np.asarray(logits, dtype=np.float64)
    if problem == MULTI_LABEL:
        return 1.0 / (1.0 + np.exp(-z))
    if problem == REGRESSION:
        return z
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def divergence(logits: Tensor, other: Tensor, problem: str = SINGLE_LABEL) -> Tensor:
    """KL(p ‖ q) in nats [...] between the head's outputs for `logits` and `other` [..., C]: of the class
    distributions (single-label), summed over each label's Bernoulli (multi-label), and of unit-variance Gaussians
    around the outputs, ‖y − ŷ‖² / 2 (regression)."""
    if problem == REGRESSION:
        return (logits - other).square().sum(-1) / 2
    log_p, log_q = log_outputs(logits, problem), log_outputs(other, problem)
    kl = log_p.exp() * (log_p - log_q)
    if problem == MULTI_LABEL:  # the "label off" side of each Bernoulli: log(1 − σ(z)) = log σ(−z)
        off_p, off_q = log_outputs(-logits, problem), log_outputs(-other, problem)
        kl = kl + off_p.exp() * (off_p - off_q)
    return kl.sum(-1)
