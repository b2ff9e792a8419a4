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
from trexplain.models.batch import Batch
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
    adapter: ModelAdapter, batch: Batch, layers: Sequence[int], level: Level, strategy: Strategy
) -> PlayerStates:
    """Hidden states of `layers` pooled per player (mean of the player's tokens), logits and base values."""
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
    width = max(e.input_ids.shape[1] for e in empties)
    base = run_pooled(adapter, [concat([pad(adapter, e, width) for e in empties])]).logits[0]
    return PlayerStates(players, maps, context, out.logits.detach().float(), base.float())
