"""`Adapter`: what methods, evaluation and views need from a model, whatever its modality or library.

`ModelAdapter` implements it for Hugging Face text classifiers and plain PyTorch encoders; the image adapter
(ViT, DeiT) implements the same protocol. What differs between them lives in their `modality`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from trexplain.models.batch import Batch, ModelInputs
from trexplain.models.capture import Replacement
from trexplain.models.modalities.base import Modality


@runtime_checkable
class Adapter(Protocol):
    """A classifier with its preprocessing: encode inputs, embed them, run its blocks with capture."""

    name: str
    labels: tuple[str, ...]
    problem: str
    """What the outputs mean: single-label, multi-label or regression (`trexplain.models.heads`)."""
    modality: Modality
    """What its inputs are: encoding, feature groups, removal strategies, baselines (`models.modalities`)."""
    model: nn.Module
    embedding_module: nn.Module
    layers: list[nn.Module]

    @property
    def num_labels(self) -> int: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def pad_token_id(self) -> int: ...

    def encode(self, inputs: Sequence[Any], *, truncate: bool = False) -> Batch:
        """Model tensors, feature ids and one layout per input."""

    def embed(self, inputs: ModelInputs) -> Tensor:
        """The embedding module's output: the input of every gradient method."""

    def forward(
        self,
        inputs: ModelInputs,
        *,
        embeddings: Tensor | None = None,
        capture: Sequence[str] = (),
        replace: Mapping[str, Replacement] | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        logits_only: bool = False,
    ) -> Any:
        """Logits and whatever was asked for (attentions, hidden states, captured sites)."""

    def logits(self, inputs: ModelInputs, *, embeddings: Tensor | None = None, batch_size: int = 64) -> Tensor:
        """Logits without gradients, in chunks."""

    def pooled_positions(self, inputs: ModelInputs) -> Tensor:
        """Per row, the position whose hidden state the head reads (0, or a decoder's last real token)."""

    def position_ids(self, attention_mask: Tensor) -> Tensor:
        """Position ids of real positions, fixed from the input so no perturbation can shift them."""

    def session(self) -> AbstractContextManager[None]:
        """The adapter's lock with the model in eval mode, the user's mode restored on exit."""
