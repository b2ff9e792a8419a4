"""What a classifier's outputs mean: one softmax over classes, one sigmoid per label (multi-label), or the output
itself (regression). Detected from the config (`problem_type`, else `num_labels == 1` is regression, as
transformers' own loss does); every probability shown or evaluated goes through `outputs`."""

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


def check_problem(problem: object) -> str:
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


def outputs_np(logits: np.ndarray, problem: str = SINGLE_LABEL) -> np.ndarray:
    """`outputs` for one explanation's logits in NumPy (float64)."""
    z = np.asarray(logits, dtype=np.float64)
    if problem == MULTI_LABEL:
        return 1.0 / (1.0 + np.exp(-z))
    if problem == REGRESSION:
        return z
    e = np.exp(z - z.max())
    return e / e.sum()
