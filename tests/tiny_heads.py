"""Tiny text classifiers with the other two heads: the tiny BERT read as multi-label (one sigmoid per label) and a
one-output regression BERT."""

from __future__ import annotations

import copy

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification

from tests.tiny import config_for, tokenizer_for
from trexplain.models import ModelAdapter
from trexplain.models.families import family_for
from trexplain.models.heads import MULTI_LABEL


def multi_label_adapter(base: ModelAdapter) -> ModelAdapter:
    """A copy of `base` (its weights, labels and tokenizer) whose config says multi-label."""
    model = copy.deepcopy(base.model)
    model.config.problem_type = MULTI_LABEL
    return ModelAdapter(model, base.tokenizer, family=base.family, labels=base.labels, name="multi")


def regression_adapter() -> ModelAdapter:
    """A seeded tiny BERT with one output, `score` (regression by `num_labels == 1`)."""
    tokenizer = tokenizer_for("bert")
    config = config_for("bert", len(tokenizer))
    config.num_labels, config.id2label, config.label2id = 1, {0: "score"}, {"score": 0}
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager").eval()
    return ModelAdapter(model, tokenizer, family=family_for("bert"), labels=["score"], name="regression")


def sigmoid(logits: object) -> np.ndarray:
    """Each label's probability of a multi-label head, by hand (float64)."""
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))
