"""Train one explainer network on a corpus: seeded, mini-batches of texts, early stopping on held-out texts.

The held-out loss (imitation, the removal surrogate at q = 0.2, or their sum) is measured after every epoch;
training stops `patience` epochs after the best one and returns the best weights with both loss curves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from trexplain.amortize.data import Corpus
from trexplain.amortize.objectives import FRACTIONS, RemovalSurrogate, imitation_loss
from trexplain.methods.amortization.network import ExplainerNet, efficient
from trexplain.progress import stage

Objective = Literal["imitation", "removal", "both"]
OBJECTIVES: tuple[str, ...] = ("imitation", "removal", "both")
VALIDATION_FRACTION = 0.2


@dataclass
class Settings:
    """How to train: objective, width, epochs, patience, texts per step, learning rate, seed."""

    objective: Objective = "imitation"
    width: int = 256
    epochs: int = 40
    patience: int = 5
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0


@dataclass
class Trained:
    """The best network, its held-out loss and epoch, and the loss per epoch (train and held-out)."""

    net: ExplainerNet
    best: float
    best_epoch: int
    curves: dict[str, list[float]] = field(default_factory=dict)


class Scorer:
    """Runs a network on corpus texts: the layer columns it reads, and whether scores are normalised."""

    def __init__(self, corpus: Corpus, columns: Tensor, normalise: bool) -> None:
        self.corpus, self.columns, self.normalise = corpus, columns, normalise

    def __call__(self, net: ExplainerNet, texts: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(scores [P, C], teacher [P, C], text_of [P]) of the players of `texts`."""
        rows, text_of = self.corpus.rows(texts)
        raw = net(self.corpus.players[rows][:, self.columns].float(), self.corpus.context[texts], text_of)
        scores = efficient(raw, text_of, self.corpus.delta[texts]).float() if self.normalise else raw
        return scores, self.corpus.teacher[rows], text_of


def train(
    corpus: Corpus,
    scorer: Scorer,
    train_texts: Tensor,
    held_out: Tensor,
    settings: Settings,
    removal: RemovalSurrogate | None = None,
) -> Trained:
    """Fit a network; `removal` is needed for the removal and both objectives."""
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    net = ExplainerNet(len(scorer.columns), corpus.context.shape[1], settings.width, corpus.teacher.shape[1])
    optimiser = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=1e-4)
    known = corpus.teacher[~torch.isnan(corpus.teacher)]
    scale = float(known.var()) if known.numel() > 1 else 1.0
    scale = scale if scale > 0 else 1.0

    def loss(texts: Tensor, fraction: float) -> Tensor:
        scores, teacher, text_of = scorer(net, texts)
        total = scores.new_zeros(())
        if settings.objective in ("imitation", "both"):
            total = total + imitation_loss(scores, teacher, scale)
        if settings.objective in ("removal", "both"):
            predicted = corpus.predicted[texts]
            per_text = [scores[text_of == j, int(c)] for j, c in enumerate(predicted)]
            total = total + removal(texts, per_text, predicted, fraction)
        return total

    best, best_epoch, best_state, waited = float("inf"), -1, None, 0
    curves: dict[str, list[float]] = {"train": [], "held_out": []}
    with stage(f"training the explainer ({settings.objective})", total=settings.epochs) as advance:
        for epoch in range(settings.epochs):
            net.train()
            order = train_texts[torch.randperm(len(train_texts), generator=generator)]
            seen = 0.0
            for start in range(0, len(order), settings.batch_size):
                texts = order[start : start + settings.batch_size]
                fraction = FRACTIONS[int(torch.randint(len(FRACTIONS), (1,), generator=generator))]
                value = loss(texts, fraction)
                grads = torch.autograd.grad(value, list(net.parameters()))  # never into the frozen model
                for parameter, grad in zip(net.parameters(), grads, strict=True):
                    parameter.grad = grad
                optimiser.step()
                seen += float(value.detach()) * len(texts)
            curves["train"].append(seen / len(order))
            current = evaluate_loss(loss, net, held_out, settings.batch_size)
            curves["held_out"].append(current)
            advance(1)
            if current < best - 1e-6:
                best, best_epoch, waited = current, epoch, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                waited += 1
                if waited >= settings.patience:
                    break
    net.load_state_dict(best_state)
    net.eval()
    return Trained(net, best, best_epoch, curves)


@torch.no_grad()
def evaluate_loss(loss: Callable[[Tensor, float], Tensor], net: ExplainerNet, texts: Tensor, batch_size: int) -> float:
    """The held-out loss (removal surrogate at q = 0.2), weighted by texts."""
    net.eval()
    total = 0.0
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        total += float(loss(chunk, 0.2)) * len(chunk)
    return total / len(texts)


def split(n: int, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """(training, held-out) text indices: a seeded permutation, at least one text on each side."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    held = min(n - 1, max(1, round(fraction * n)))
    return order[held:].sort().values, order[:held].sort().values


def layer_candidates(blocks: int) -> list[tuple[int, ...]]:
    """Default layer sets tried (the best on held-out texts wins): the last block, the middle and last, and
    thirds and last."""
    last = blocks - 1
    sets = [(last,), (blocks // 2, last), (blocks // 3, 2 * blocks // 3, last)]
    return list(dict.fromkeys(tuple(sorted(set(s))) for s in sets))


def columns_of(layers: Sequence[int], stored: Sequence[int], hidden: int) -> Tensor:
    """Feature columns of `layers` in a corpus that stores `stored` layers of `hidden` values each."""
    return torch.cat([torch.arange(hidden) + stored.index(layer) * hidden for layer in layers])
