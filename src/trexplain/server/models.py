"""What the server serves: each model by name, with its masked-LM head and corpus index where it has them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trexplain.errors import InputError, ModelLoadError
from trexplain.models.adapter import ModelAdapter


@dataclass
class ServedModel:
    """A loaded classifier; `masked` its masked-LM (`inspect.masked_layers.MaskedLM`) and `index` a corpus
    index built with it (`inspect.neighbours.CorpusIndex`), when given."""

    adapter: ModelAdapter
    source: str = ""
    masked: Any = None
    index: Any = None

    @property
    def name(self) -> str:
        return self.adapter.name

    def info(self) -> dict[str, Any]:
        """Name, labels, layers, heads, tokens, capabilities: what the page needs to offer its controls."""
        config = self.adapter.config
        heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_heads", None)
        return {
            "name": self.name,
            "labels": list(self.adapter.labels),
            "layers": len(self.adapter.layers),
            "heads": heads,
            "max_length": self.adapter.max_length,
            "family": getattr(getattr(self.adapter, "family", None), "name", ""),
            "masked_lm": self.masked is not None,
            "index": None if self.index is None else {"tokens": len(self.index), "layers": self.index.layers},
        }


def load_served(
    sources: Sequence[str],
    index: str | Path | None = None,
    *,
    masked: bool = True,
    masked_lm: str | Path | None = None,
    **loading: Any,
) -> list[ServedModel]:
    """Load every model (`demo` or a folder); with `masked`, its masked-LM head where the folder has one, and
    `masked_lm` (a masked-LM folder of the same base) for the first model; the index goes to the model it was
    built with (an `InputError` when no served model matches). `loading`: `load_model` keywords (device, dtype,
    offline)."""
    from trexplain.inspect.masked_layers import load_masked_lm
    from trexplain.inspect.neighbours import CorpusIndex
    from trexplain.models.loading import load_model

    served = []
    for source in sources or ["demo"]:
        entry = ServedModel(load_model(source, **loading), str(source))
        if masked:
            try:
                entry.masked = load_masked_lm(source)
            except ModelLoadError:  # a classifier without a masked-LM head (the usual case): no such panel
                entry.masked = None
        served.append(entry)
    if masked_lm is not None:
        served[0].masked = load_masked_lm(masked_lm)
    names = [s.name for s in served]
    if len(set(names)) != len(names):
        raise InputError(f"two models share a name ({', '.join(names)}); serve each model once")
    if index is not None:
        corpus = CorpusIndex.open(index)
        owner = [s for s in served if s.name == corpus.meta.get("model_name")]
        if not owner:
            raise InputError(
                f"the index {index} was built with {corpus.meta.get('model_name')!r}, which is not served "
                f"({', '.join(names)}); add --model {corpus.meta.get('model', 'DIR')}"
            )
        owner[0].index = corpus
    return served
