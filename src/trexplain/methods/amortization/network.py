"""The explainer network: a small per-player MLP on frozen hidden states, with the teacher's identity built in.

Players of all texts of a batch are one flat set of rows; `text_of[p]` names each row's text. With
`efficient=True` the last step adds to every player of a text an equal share of the residual
f(x) − b − Σφ (FastSHAP's additive efficient normalisation), so base + Σ scores = f(x) holds exactly for
every class, whatever the weights (computed in float64).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ExplainerNet(nn.Module):
    """LayerNorm → Linear → GELU → Linear → GELU → Linear(classes) on [player features, text context]; with
    `members` > 1, an ensemble of such networks (`body` and `extra`, trained with other seeds) whose raw scores
    are averaged (less variance than one network, at the same single forward of the model)."""

    def __init__(self, player_dim: int, context_dim: int, width: int, classes: int, members: int = 1) -> None:
        super().__init__()
        self.player_dim, self.context_dim, self.width, self.classes = player_dim, context_dim, width, classes
        self.body = mlp(player_dim + context_dim, width, classes)
        self.extra = nn.ModuleList(mlp(player_dim + context_dim, width, classes) for _ in range(members - 1))

    @property
    def members(self) -> int:
        return 1 + len(self.extra)

    @classmethod
    def ensemble(cls, nets: list[ExplainerNet]) -> ExplainerNet:
        """One network averaging `nets` (of equal dimensions), their weights copied."""
        first = nets[0]
        out = cls(first.player_dim, first.context_dim, first.width, first.classes, members=len(nets))
        for target, net in zip([out.body, *out.extra], nets, strict=True):
            target.load_state_dict(net.body.state_dict())
        return out.eval()

    def forward(self, players: Tensor, context: Tensor, text_of: Tensor) -> Tensor:
        """Raw scores [P, classes] (before any normalisation) of players [P, player_dim]."""
        x = torch.cat([players, context[text_of]], dim=-1)
        return torch.stack([body(x) for body in (self.body, *self.extra)]).mean(0)


def mlp(inputs: int, width: int, classes: int) -> nn.Sequential:
    """One member network."""
    return nn.Sequential(
        nn.LayerNorm(inputs),
        nn.Linear(inputs, width),
        nn.GELU(),
        nn.Linear(width, width),
        nn.GELU(),
        nn.Linear(width, classes),
    )


def efficient(raw: Tensor, text_of: Tensor, delta: Tensor) -> Tensor:
    """Scores [P, C] with Σ over each text's players equal to `delta` [texts, C] (= f(x) − b): the residual
    is shared equally among the text's players. Float64, so the identity holds to rounding."""
    raw64, delta64 = raw.double(), delta.double()
    texts = delta.shape[0]
    sums = raw64.new_zeros(texts, raw.shape[1]).index_add_(0, text_of, raw64)
    counts = torch.bincount(text_of, minlength=texts).clamp(min=1).to(raw64).unsqueeze(1)
    return raw64 + ((delta64 - sums) / counts)[text_of]


def residual_gap(raw: Tensor, text_of: Tensor, delta: Tensor) -> Tensor:
    """|Σφ − Δ| / (|Δ| + 1e-6) per text and class [texts, C]: how far the raw scores were from the identity
    before normalisation (large where the explainer is unsure)."""
    sums = raw.double().new_zeros(delta.shape[0], raw.shape[1]).index_add_(0, text_of, raw.double())
    return (sums - delta.double()).abs() / (delta.double().abs() + 1e-6)
