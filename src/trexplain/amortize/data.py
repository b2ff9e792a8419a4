"""The training set of an explainer: a teacher's dataset run turned into player features and player scores.

Every text of the run is encoded again and run once through the frozen model with the candidate layers
captured; the teacher's token scores become player scores (sums over each player's tokens), one column per
class (NaN where the run has no scores for that class, the mean where several runs, e.g. teacher seeds, explain
the text). Features are kept in float16 to halve the memory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from trexplain.errors import InputError
from trexplain.explanation import Explanation
from trexplain.methods.amortization.features import player_states
from trexplain.models.adapter import ModelAdapter
from trexplain.perturb import Level, Strategy
from trexplain.progress import stage
from trexplain.runs.load import load_run


@dataclass
class Corpus:
    """Texts with their players flattened: rows `starts[i]:starts[i+1]` of `players` [P, layers × hidden]
    and `teacher` [P, C] belong to text i; `context` [N, hidden], `delta` = f(x) − b [N, C], `predicted` [N]."""

    texts: list[str]
    players: Tensor
    teacher: Tensor
    starts: Tensor
    context: Tensor
    delta: Tensor
    predicted: Tensor

    def __len__(self) -> int:
        return len(self.texts)

    def rows(self, texts: Tensor) -> tuple[Tensor, Tensor]:
        """(player rows of `texts`, the position in `texts` of each row's text)."""
        counts = self.starts[texts + 1] - self.starts[texts]
        text_of = torch.repeat_interleave(torch.arange(len(texts)), counts)
        offsets = torch.repeat_interleave(self.starts[texts] - torch.cumsum(counts, 0) + counts, counts)
        return torch.arange(int(counts.sum())) + offsets, text_of


def teacher_explanations(runs: Sequence[str | os.PathLike[str]], teacher: str) -> dict[str, list[Explanation]]:
    """The explanations by `teacher` of the texts that every run of `runs` explains, grouped by text in the first
    run's order (a text's list holds every run's explanations)."""
    per_run = []
    for run in runs:
        grouped: dict[str, list[Explanation]] = {}
        for e in load_run(run):
            if e.method == teacher:
                grouped.setdefault(e.text, []).append(e)
        if not grouped:
            raise InputError(f"the run {run} has no explanations by {teacher!r}; run the teacher first")
        per_run.append(grouped)
    common = {text: [e for g in per_run for e in g[text]] for text in per_run[0] if all(text in g for g in per_run)}
    if not common:
        raise InputError(f"the runs {', '.join(map(str, runs))} explain no text in common; average runs of one input")
    return common


def teacher_corpus(
    adapter: ModelAdapter,
    grouped: dict[str, list[Explanation]],
    layers: Sequence[int],
    level: Level,
    strategy: Strategy,
    *,
    batch_size: int = 32,
    truncate: bool = False,
) -> Corpus:
    """Features of `layers` and the teacher's player scores for every text of `grouped`."""
    texts = list(grouped)
    players, teacher, counts, context, delta, predicted = [], [], [], [], [], []
    with stage("reading hidden states of the teacher's texts", total=len(texts)) as advance:
        for start in range(0, len(texts), batch_size):
            chunk = texts[start : start + batch_size]
            batch = adapter.encode(chunk, truncate=truncate)
            states = player_states(adapter, batch, layers, level, strategy)
            for row, text in enumerate(chunk):
                feats = states.maps[row].cpu().double()
                sums = torch.zeros(feats.shape[0], adapter.num_labels, dtype=torch.float64)
                seen = torch.zeros(adapter.num_labels, dtype=torch.float64)
                for e in grouped[text]:
                    if tuple(batch.tokens[row]) != e.tokens:
                        raise InputError(
                            f"the run's explanation of {text[:40]!r} has other tokens than {adapter.name} gives; "
                            "fit on a run made with this model"
                        )
                    for k, target in enumerate(e.targets):
                        sums[:, target] += feats @ torch.from_numpy(np.asarray(e.scores[k], dtype=np.float64))
                        seen[target] += 1
                scores = sums / seen.where(seen > 0, torch.tensor(float("nan"), dtype=torch.float64))
                players.append(states.players[row].cpu().half())
                teacher.append(scores.float())
                counts.append(feats.shape[0])
            context.append(states.context.cpu())
            delta.append((states.logits - states.base).cpu())
            predicted.append(states.logits.argmax(-1).cpu())
            advance(len(chunk))
    starts = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(torch.tensor(counts), 0)])
    return Corpus(
        texts,
        torch.cat(players),
        torch.cat(teacher),
        starts,
        torch.cat(context),
        torch.cat(delta),
        torch.cat(predicted),
    )
