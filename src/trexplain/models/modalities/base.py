"""`Modality`: everything that depends on what the inputs are (text, images, …), in one object per modality.

Code above `models/` never asks which modality it has: it asks the adapter's `modality` (`adapter.modality`)
to encode inputs, name and rebuild them, remove features by a strategy it declares, build path baselines, and
for the facts the metrics and views need (its feature level, table curves, layout kind, Arrow columns, view
card). Adding a modality is one module in this package (docs/modalities.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pyarrow as pa
from torch import Tensor

from trexplain.errors import InputError, MethodError
from trexplain.models.batch import Batch
from trexplain.models.pooled import Pooled


class Modality(ABC):
    """One kind of input. Class attributes declare what it offers (the first of each tuple is its default)."""

    kind: ClassVar[str]
    """The layout kind of its explanations (`Layout.kind`) and the name of its view card."""
    unit: ClassVar[str]
    """What its inputs are called in messages and tables, plural: "texts", "images"."""
    strategies: ClassVar[tuple[str, ...]]
    """How a removed feature is taken out of the input (perturbation methods and removal curves)."""
    levels: ClassVar[tuple[str, ...]]
    """The features perturbations move: its feature groups (words, patches) first, then finer ones (tokens)."""
    baselines: ClassVar[tuple[str, ...]]
    """The named path baselines (integrated gradients); `baseline_embeddings` may accept more (a text, an image)."""
    curves: ClassVar[Mapping[str, tuple[str, Sequence[float]]]] = {}
    """Extra removal curves its evaluation adds: name → ("top" or "bottom" first removed, fractions)."""
    table_areas: ClassVar[Mapping[str, str]] = {}
    """Extra columns of its faithfulness table rows: column → the curve whose mean area it holds."""
    shows_attention: ClassVar[bool] = False
    """Whether reports draw attention maps between its positions."""
    arrow_columns: ClassVar[tuple[pa.Field, ...]]
    """Its layout's columns in Arrow tables (`trexplain.arrow`), named after the fields of its `to_dict`."""

    @property
    def view_card(self) -> str:
        """The renderer card its explanations are drawn with (the report and web app pick it by layout kind)."""
        return self.kind

    def settings(self, adapter: Any) -> dict[str, Any]:
        """What a report records about how this adapter reads its inputs (e.g. an image model's preprocessing)."""
        return {}

    # ------------------------------------------------------------------------------------------------- choices
    def strategy(self, strategy: str | None) -> str:
        """The removal strategy to use: `strategy`, or this modality's default; one it lacks is a MethodError."""
        return self._choose(strategy, self.strategies, "removal strategy")

    def level(self, level: str | None) -> str:
        """The feature level to use: `level`, or this modality's default; one it lacks is a MethodError."""
        return self._choose(level, self.levels, "feature level")

    def _choose(self, value: str | None, offered: tuple[str, ...], what: str) -> str:
        if value is None:
            return offered[0]
        if value not in offered:
            raise MethodError(f"unknown {what} {value!r} for {self.unit}; use one of {', '.join(offered)}")
        return value

    # ------------------------------------------------------------------------------------------------- inputs
    @abstractmethod
    def read(self, inputs: Any) -> list[Any]:
        """The user's inputs as a list of items `encode` takes (a typed error for bad ones)."""

    @abstractmethod
    def encode(self, adapter: Any, inputs: Sequence[Any], *, truncate: bool = False) -> Batch:
        """Model tensors, feature ids and one layout per input."""

    @abstractmethod
    def name(self, explanation: Any) -> str:
        """The name an explained input goes by in results and tables (distinct inputs get distinct names)."""

    @abstractmethod
    def rebuild(self, adapter: Any, explanations: Sequence[Any]) -> tuple[Batch, list[int]]:
        """The batch of the distinct inputs of `explanations` (as the model saw them) and each one's row in it;
        an explanation made by another model is an InputError."""

    # ------------------------------------------------------------------------------------------------ removal
    @abstractmethod
    def removal_logits(
        self, adapter: Any, batch: Batch, removed: Sequence[tuple[int, Tensor]], strategy: str, batch_size: int = 64
    ) -> Pooled:
        """Logits of each (row, removed) part: bool `removed` [N, positions of that row] says which positions are
        taken out of batch row `row` by `strategy`, in each of N variants. Each distinct variant runs once, in
        full batches; `Pooled.distinct` counts them per part."""

    @abstractmethod
    def baseline_embeddings(self, adapter: Any, batch: Batch, baseline: Any) -> Tensor:
        """The embedding output a path method starts from (None: the default baseline)."""

    def baseline_name(self, baseline: Any) -> str:
        """How a baseline is recorded in diagnostics: its name, or a tensor's shape."""
        if baseline is None:
            return self.baselines[0]
        if isinstance(baseline, Tensor):
            return f"tensor{list(baseline.shape)}"
        return str(baseline)

    def check_baseline_name(self, baseline: str) -> None:
        """A MethodError for a name that is another modality's baseline (never silently remapped)."""
        if baseline in OTHER_BASELINES and baseline not in self.baselines:
            raise MethodError(f"{self.unit} have no {baseline!r} baseline; use {', '.join(self.baselines)}")


OTHER_BASELINES = ("pad", "mask", "zero", "black", "mean", "blur")
"""Every modality's named baselines, so a name meant for another one is refused, not read as a text or file."""


def check_kind(explanation: Any, modality: Modality) -> None:
    """An InputError when `explanation` is not of this modality's inputs."""
    if explanation.layout.kind != modality.kind:
        raise InputError(
            f"this model explains {modality.unit}; the explanation by {explanation.method} is of layout kind "
            f"{explanation.layout.kind!r}: evaluate it with the model that made it"
        )
