"""The counted model: every text the search scores goes through `run_pooled` here, under a hard query budget.

A *query* is one row the classifier runs (one text scored). Texts already scored are answered from a cache
and cost nothing; a batch is cut to the budget left before it runs, so the budget is never exceeded. When a
similarity threshold is set, the same forward also returns each text's mean-pooled last hidden state.
Attribution methods run the model too: `passes` counts their rows (see `count_passes`), reported apart.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from trexplain.errors import InputError
from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import ModelInputs
from trexplain.models.heads import outputs, problem_for
from trexplain.models.pooled import run_pooled


@dataclass(frozen=True)
class Scored:
    """One text's class probabilities (the head's `outputs`) and (when similarity is on) its mean-pooled last
    hidden state."""

    probabilities: Tensor
    pooled: Tensor | None = None

    @property
    def predicted(self) -> int:
        return int(self.probabilities.argmax())


@dataclass
class Oracle:
    """Scores texts with the model, counting every row run against `budget` (None: no limit)."""

    adapter: ModelAdapter
    budget: int | None = None
    pooled: bool = False
    batch_size: int = 64
    truncate: bool = False
    used: int = 0
    exhausted: bool = False
    cache: dict[str, Scored] = field(default_factory=dict)

    @property
    def left(self) -> int | None:
        return None if self.budget is None else self.budget - self.used

    def score(self, texts: Sequence[str]) -> list[Scored | None]:
        """Scores of `texts` in order; texts beyond the budget left are not run and come back as None."""
        new = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if self.left is not None and len(new) > self.left:
            new, self.exhausted = new[: self.left], True
        if new:
            batch = self.adapter.encode(new, truncate=self.truncate)
            runner = _WithPooled(self.adapter) if self.pooled else self.adapter
            result = run_pooled(runner, [batch.inputs], self.batch_size)
            self.used += result.rows_run
            out = result.logits[0].float()
            k, problem = self.adapter.num_labels, problem_for(self.adapter)
            for i, text in enumerate(new):
                pooled = out[i, k:].cpu() if self.pooled else None
                self.cache[text] = Scored(outputs(out[i, :k], problem).cpu(), pooled)
        return [self.cache.get(t) for t in texts]


class _WithPooled:
    """The adapter as `run_pooled` sees it, with each row's mean-pooled last hidden state after its logits."""

    def __init__(self, adapter: ModelAdapter) -> None:
        self.adapter = adapter
        self.pad_token_id = adapter.pad_token_id
        self.num_labels = adapter.num_labels

    def position_ids(self, attention_mask: Tensor) -> Tensor:
        return self.adapter.position_ids(attention_mask)

    @torch.no_grad()
    def logits(self, inputs: ModelInputs, *, batch_size: int = 64) -> Tensor:
        parts = []
        for start in range(0, len(inputs), batch_size):
            rows = inputs.rows(slice(start, start + batch_size))
            logits, hidden = last_hidden(self.adapter, rows)
            mask = rows.attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            parts.append(torch.cat([logits.float(), pooled.float()], 1))
        return torch.cat(parts)


def last_hidden(adapter: ModelAdapter, inputs: ModelInputs) -> tuple[Tensor, Tensor]:
    """(logits, last block's output [B, T, H]) from one forward: the model's hidden states, else a capture."""
    if adapter.layers:
        out = adapter.forward(inputs, capture=["block_output:-1"])
        return out.logits, out.captured["block_output:-1"]
    out = adapter.forward(inputs, output_hidden_states=True)
    if not out.hidden_states:
        raise InputError(
            f"{adapter.name} returns no hidden states, so the similarity constraint cannot be measured; "
            "pass layers= to ModelAdapter.from_module or drop the similarity threshold"
        )
    return out.logits, out.hidden_states[-1]


@contextmanager
def count_passes(adapter: ModelAdapter) -> Iterator[list[int]]:
    """Count the rows that run through the model inside the block (one element list, updated in place).

    Rows are counted when the last block (else the model itself) has run, so a forward cut short after the
    embeddings (`ModelAdapter.embed`) is not counted; a forward with a backward counts once. The block holds the
    adapter's lock (`session`), so the hook counts this thread's rows only and no other call sees it.
    """
    counter = [0]
    module: nn.Module = adapter.layers[-1] if adapter.layers else adapter.model

    def hook(_module: nn.Module, args: tuple, kwargs: dict[str, Any], _output: Any) -> None:
        first = args[0] if args else next((v for v in kwargs.values() if isinstance(v, Tensor)), None)
        if isinstance(first, Tensor) and first.dim() > 0:
            counter[0] += int(first.shape[0])

    with adapter.session():
        handle = module.register_forward_hook(hook, with_kwargs=True)
        try:
            yield counter
        finally:
            handle.remove()
