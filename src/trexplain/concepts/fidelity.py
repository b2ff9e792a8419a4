"""Reconstruction fidelity: how much of the model's output survives when a site's activations are replaced by
their reconstruction from the dictionary.

Each text's rows x at the site become decode(encode(x)) (the reconstruction error dropped; spread over the
site's tokens as `editing` describes per granularity) and the rest of the model runs on them; the predictions
are compared with the original ones by `metrics.prediction_agreement` (accuracy, KL in nats).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from trexplain.concepts.dictionaries import Dictionary
from trexplain.concepts.editing import SiteEdit, batches
from trexplain.concepts.metrics import prediction_agreement
from trexplain.models.heads import problem_for
from trexplain.models.protocol import Adapter
from trexplain.progress import stage


def reconstructed_logits(
    adapter: Adapter,
    dictionary: Dictionary,
    texts: Sequence[str],
    site: str,
    granularity: str = "cls",
    *,
    word_reduce: str = "mean",
    batch_size: int = 16,
    truncate: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(original logits, logits with the site's rows replaced by their reconstruction), each [texts, classes]."""
    original, rebuilt = [], []
    with stage(f"fidelity at {site}", total=len(texts)) as advance, torch.no_grad():
        for start, chunk in batches(texts, batch_size):
            edit = SiteEdit(
                adapter, dictionary, chunk, site, granularity, word_reduce=word_reduce, truncate=truncate, start=start
            )
            error = edit.rows - dictionary.decode_torch(edit.codes)
            original.append(edit.logits.cpu().numpy())
            rebuilt.append(edit.run(-error[None])[0].cpu().numpy())
            advance(len(chunk))
    return np.concatenate(original), np.concatenate(rebuilt)


def fidelity(
    adapter: Adapter,
    dictionary: Dictionary,
    texts: Sequence[str],
    site: str,
    granularity: str = "cls",
    **options: object,
) -> dict[str, float]:
    """`accuracy` (same predicted class) and `kl` (nats) of the model run on reconstructed activations against
    the original predictions, over `texts`."""
    original, rebuilt = reconstructed_logits(adapter, dictionary, texts, site, granularity, **options)
    return {**prediction_agreement(original, rebuilt, problem_for(adapter)), "texts": len(texts)}
