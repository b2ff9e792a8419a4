"""Path baselines: the embedding output a path integral starts from, built by the adapter's modality.

Kept apart from the path engine so every path method builds its baseline the same way. Each modality names
its own baselines (text: `pad`, `mask`, `zero` or a text; images: `black`, `mean`, `blur`, `zero` or an image)
and its default (`None`); any modality takes a tensor of the embedding output's shape.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from trexplain.models.batch import Batch
from trexplain.models.protocol import Adapter


def baseline_embeddings(adapter: Adapter, batch: Batch, baseline: Any = None) -> Tensor:
    """Embedding output of `baseline` for `batch` (None: the modality's default); fixed positions are kept."""
    return adapter.modality.baseline_embeddings(adapter, batch, baseline)


def baseline_name(adapter: Adapter, baseline: Any = None) -> str:
    """How the baseline is recorded in an explanation's diagnostics: its name, or a tensor's shape."""
    return adapter.modality.baseline_name(baseline)
