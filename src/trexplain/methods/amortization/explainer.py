"""`Explainer`: a fitted amortized explainer — network, out-of-distribution Gaussian and what it was fitted on.

Saved as one folder, written atomically: `explainer.json` (format, model name and weight hash, labels,
teacher and its identity, players, removal strategy, layers, training curves, held-out agreement, OOD
threshold) and `weights.safetensors` (the network and the Gaussian; no pickle). Loading checks nothing about
the model; `check_model(adapter)` refuses an adapter with other weights (`ExplainerMismatchError`).
"""

from __future__ import annotations

import json
import os
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from trexplain.diagnostics import json_copy
from trexplain.errors import InputError
from trexplain.hashes import weights_hash
from trexplain.io import atomic_folder, write_text
from trexplain.methods.amortization.features import player_states
from trexplain.methods.amortization.network import ExplainerNet, efficient, residual_gap
from trexplain.methods.amortization.ood import Gaussian
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch

FORMAT, VERSION = "trexplain-amortized", 1
META, WEIGHTS = "explainer.json", "weights.safetensors"
CONTENTS = (META, WEIGHTS)


class ExplainerMismatchError(InputError):
    """An explainer folder was fitted on a model with other weights (or other labels) than the one given."""


@dataclass
class Prediction:
    """One batch explained: player scores [M_b, classes] (float64) and player → token maps per text, logits
    [B, C], base values [B, C], OOD distance [B] and the raw scores' identity gap [B, C]."""

    scores: list[Tensor]
    maps: list[Tensor]
    logits: Tensor
    base: Tensor
    distance: Tensor
    gap: Tensor


@dataclass
class Explainer:
    """A fitted explainer: `net`, `ood` and `meta` (see module docstring for the fields)."""

    net: ExplainerNet
    ood: Gaussian
    meta: dict[str, Any]
    path: Path | None = field(default=None, compare=False)
    bases: dict[tuple, Tensor] = field(default_factory=dict, compare=False, repr=False)
    """Base values by empty input, for the model this explainer is bound to (see `features.base_values`)."""
    verified: weakref.WeakSet = field(default_factory=weakref.WeakSet, compare=False, repr=False)
    """Models whose weights `check_model` has hashed already (hashing costs about a forward of the whole batch)."""

    @property
    def layers(self) -> list[int]:
        return list(self.meta["layers"])

    @property
    def is_efficient(self) -> bool:
        """Whether scores are normalised so that base + Σ scores = f(x) (the teacher has that identity)."""
        return self.meta.get("identity") == "efficiency"

    def check_model(self, adapter: ModelAdapter) -> None:
        """An `ExplainerMismatchError` unless `adapter` has the weights and labels this explainer was fitted on.
        The weights are hashed once per model object (their in-place edits afterwards are not seen)."""
        if adapter.model not in self.verified and weights_hash(adapter.model) != self.meta["weights_sha256"]:
            where = f" in {self.path}" if self.path else ""
            raise ExplainerMismatchError(
                f"the explainer{where} was fitted on model {self.meta['model']!r} with other weights than "
                f"{adapter.name!r}; load the model it was fitted on, or fit one for this model (trexplain amortize fit)"
            )
        if list(adapter.labels) != list(self.meta["labels"]):
            raise ExplainerMismatchError(
                f"the explainer was fitted for labels {self.meta['labels']}, the model has {list(adapter.labels)}"
            )
        self.verified.add(adapter.model)

    @torch.no_grad()
    def predict(self, adapter: ModelAdapter, batch: Batch) -> Prediction:
        """Scores of every player and class of every text of `batch` (one forward, plus the base rows)."""
        states = player_states(adapter, batch, self.layers, self.meta["level"], self.meta["strategy"], self.bases)
        self.net.eval()
        text_of = torch.repeat_interleave(torch.arange(len(batch)), torch.tensor([len(p) for p in states.players]))
        players = torch.cat(states.players).cpu()
        raw = self.net(players, states.context.cpu(), text_of)
        delta = (states.logits - states.base).cpu()
        scores = efficient(raw, text_of, delta) if self.is_efficient else raw.double()
        pooled = torch.stack([p.mean(0) for p in states.players]).cpu()
        counts = [len(p) for p in states.players]
        return Prediction(
            list(torch.split(scores, counts)),
            [m.cpu() for m in states.maps],
            states.logits.cpu(),
            states.base.cpu(),
            self.ood.distance(pooled),
            residual_gap(raw, text_of, delta).float(),
        )

    # ------------------------------------------------------------------ files
    def tensors(self) -> dict[str, Tensor]:
        """Every array of the explainer by name (network parameters, Gaussian)."""
        out = {f"net.{name}": value.detach().contiguous() for name, value in self.net.state_dict().items()}
        out["ood.mean"], out["ood.precision"] = self.ood.mean.contiguous(), self.ood.precision.contiguous()
        return out

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the folder atomically (an existing explainer folder at `path` is replaced whole)."""
        from safetensors.torch import save_file

        meta = json_copy({**self.meta, "ood_threshold": self.ood.threshold})
        with atomic_folder(path, contents=CONTENTS, what="explainer folder") as folder:
            save_file(self.tensors(), str(folder / WEIGHTS), metadata={"format": FORMAT})
            write_text(folder / META, json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
        self.path = Path(path)
        return self.path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Explainer:
        """Read a folder written by `save`; anything missing or of another format is an InputError."""
        from safetensors.torch import load_file

        folder = Path(path)
        if not (folder / META).is_file() or not (folder / WEIGHTS).is_file():
            raise InputError(
                f"{folder} is not an explainer folder (no {META} and {WEIGHTS}); make one with `trexplain amortize fit`"
            )
        try:
            meta = json.loads((folder / META).read_text(encoding="utf-8"))
            arrays = load_file(str(folder / WEIGHTS))
        except (OSError, ValueError) as exc:
            raise InputError(f"{folder}: cannot read the explainer ({exc}); fit it again") from exc
        if not isinstance(meta, Mapping) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise InputError(f"{folder}: not a {FORMAT} folder of version {VERSION}; fit it again with this trexplain")
        dims = meta["dims"]
        net = ExplainerNet(dims["player"], dims["context"], dims["width"], len(meta["labels"]), dims.get("members", 1))
        net.load_state_dict({k.removeprefix("net."): v for k, v in arrays.items() if k.startswith("net.")})
        net.eval()
        ood = Gaussian(arrays["ood.mean"], arrays["ood.precision"], float(meta["ood_threshold"]))
        return cls(net, ood, dict(meta), folder)


def load_explainer(path: str | os.PathLike[str]) -> Explainer:
    """The explainer in folder `path`, read once per process while the folder is unchanged."""
    folder = Path(path).expanduser().resolve()
    try:
        key = (str(folder), (folder / META).stat().st_mtime_ns, (folder / WEIGHTS).stat().st_mtime_ns)
    except OSError:
        return Explainer.load(folder)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = Explainer.load(folder)
    return _CACHE[key]


_CACHE: dict[tuple[str, int, int], Explainer] = {}
