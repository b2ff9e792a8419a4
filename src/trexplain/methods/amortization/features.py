"""What the explainer reads: the frozen model's hidden states pooled per player (word or token), from one forward.

Players are the teacher's features (`perturb.features`): words (all subwords together) or tokens, special
tokens never. The same forward gives the logits f(x); the base value b = f(every player removed) is one more
row per distinct empty input (with deletion every text of a batch empties to the same input), so the whole
explanation costs about one forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from trexplain.models.adapter import ModelAdapter
from trexplain.models.batch import Batch, ModelInputs
from trexplain.models.pooled import concat, pad, run_pooled
from trexplain.perturb import Level, Strategy, features, remove


@dataclass
class PlayerStates:
    """Per text of a batch: player features [M_b, layers × hidden], the player → token map [M_b, tokens],
    a context vector [hidden] (the last block's output averaged over the text), logits f(x) and base values b."""

    players: list[Tensor]
    maps: list[Tensor]
    context: Tensor
    logits: Tensor
    base: Tensor


def block_sites(layers: Sequence[int]) -> list[str]:
    """The capture sites of the chosen blocks' outputs."""
    return [f"block_output:{layer}" for layer in layers]


@torch.no_grad()
def player_states(
    adapter: ModelAdapter,
    batch: Batch,
    layers: Sequence[int],
    level: Level,
    strategy: Strategy,
    bases: dict[tuple, Tensor] | None = None,
) -> PlayerStates:
    """Hidden states of `layers` pooled per player (mean of the player's tokens), logits and base values.

    `bases` caches base values by empty input (with deletion every single text empties to the same input, so
    after the first call no base row runs at all)."""
    last_site = f"block_output:{len(adapter.layers) - 1}"
    out = adapter.forward(batch.inputs, capture=list(dict.fromkeys([*block_sites(layers), last_site])))
    states = torch.cat([out.captured[site].detach().float() for site in block_sites(layers)], dim=-1)
    last = out.captured[last_site].detach().float()
    real = batch.inputs.attention_mask.to(last.dtype).unsqueeze(-1)
    context = (last * real).sum(1) / real.sum(1).clamp(min=1)
    players, maps, empties = [], [], []
    for row, n in enumerate(batch.lengths):
        feats = features(batch, row, level).to(states.device)
        weights = feats.to(states.dtype)
        players.append((weights @ states[row, :n]) / weights.sum(1, keepdim=True).clamp(min=1))
        maps.append(feats)
        empties.append(remove(adapter, batch, row, torch.ones(1, n, dtype=torch.bool, device=feats.device), strategy))
    base = base_values(adapter, empties, bases).to(out.logits.device)
    return PlayerStates(players, maps, context, out.logits.detach().float(), base)


def base_values(adapter: ModelAdapter, empties: Sequence[ModelInputs], cache: dict[tuple, Tensor] | None) -> Tensor:
    """Logits [rows, C] of the one-row inputs `empties`, each distinct input run once (and cached in `cache`)."""
    cache = {} if cache is None else cache
    keys = [tuple(tuple(t.flatten().tolist()) for t in vars(e).values() if t is not None) for e in empties]
    missing = list({key: e for key, e in zip(keys, empties, strict=True) if key not in cache}.items())
    if missing:
        width = max(e.input_ids.shape[1] for _, e in missing)
        logits = run_pooled(adapter, [concat([pad(adapter, e, width) for _, e in missing])]).logits[0]
        cache.update({key: row.float().cpu() for (key, _), row in zip(missing, logits, strict=True)})
    return torch.stack([cache[key] for key in keys])
