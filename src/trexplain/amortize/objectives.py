"""Training objectives: imitation of the teacher, and a differentiable surrogate of the removal metrics.

Imitation: mean squared error to the teacher's player scores, divided by the teacher scores' variance (so
it is unit-free and comparable with the removal term). Removal ("learning to explain" with a frozen model):
the top fraction q of a text's players by its predicted-class score becomes a soft mask
m = sigmoid((s − t)/τ) (t halfway between the q-th and the next score, τ a fifth of the scores' spread);
removed players' embeddings are moved to the mask token's. The loss p(x without the top) − p(only the top)
is minus (comprehensiveness − sufficiency) up to p(x); gradients reach the explainer through the frozen model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from trexplain.models.adapter import ModelAdapter
from trexplain.models.heads import outputs
from trexplain.perturb import Level, features

FRACTIONS = (0.1, 0.2, 0.5)
SOFTNESS = 0.2


def imitation_loss(scores: Tensor, teacher: Tensor, scale: float) -> Tensor:
    """MSE over the known teacher entries (NaN = unknown), ÷ `scale` (the teacher scores' variance)."""
    known = ~torch.isnan(teacher)
    return ((scores - torch.nan_to_num(teacher))[known] ** 2).mean() / scale


def soft_top(scores: Tensor, fraction: float) -> Tensor:
    """Soft membership [M] of each player in the top `fraction` by score (the threshold does not move the gradient)."""
    m = scores.shape[0]
    k = max(1, round(fraction * m))
    ranked = torch.sort(scores.detach(), descending=True).values
    threshold = (ranked[k - 1] + ranked[k]) / 2 if k < m else ranked[-1] - ranked.std().nan_to_num(1.0) - 1e-3
    spread = (ranked.std() if m > 1 else ranked.abs().mean()).clamp(min=1e-3) * SOFTNESS
    return torch.sigmoid((scores - threshold) / spread)


class RemovalSurrogate:
    """p(x without the soft top) − p(only the soft top), through the frozen model, for texts of a corpus."""

    def __init__(self, adapter: ModelAdapter, texts: Sequence[str], level: Level, truncate: bool = False) -> None:
        self.adapter, self.texts, self.level, self.truncate = adapter, list(texts), level, truncate
        replacement = adapter.mask_token_id
        self.replacement = int(adapter.tokenizer.unk_token_id if replacement is None else replacement)

    def __call__(self, texts: Tensor, scores: Sequence[Tensor], predicted: Tensor, fraction: float) -> Tensor:
        """Mean over `texts` (corpus indices) of the surrogate, given each text's predicted-class player scores."""
        adapter = self.adapter
        batch = adapter.encode([self.texts[i] for i in texts.tolist()], truncate=self.truncate)
        inputs = batch.inputs
        movable = batch.maskable
        masked = inputs.with_ids(
            torch.where(movable, torch.full_like(inputs.input_ids, self.replacement), inputs.input_ids)
        )
        plain, filler = adapter.embed(inputs), adapter.embed(masked)
        rows = []
        for row, values in enumerate(scores):
            feats = features(batch, row, self.level).to(plain.dtype)
            rows.append(soft_top(values.to(plain.dtype), fraction) @ feats)
        top = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)
        top = torch.nn.functional.pad(top, (0, inputs.input_ids.shape[1] - top.shape[1])).unsqueeze(-1)
        keep_rest = plain * (1 - top) + filler * top
        keep_top = plain * (top + ~movable.unsqueeze(-1)) + filler * (movable.unsqueeze(-1) * (1 - top))
        both = adapter.forward(inputs.rows(list(range(len(texts))) * 2), embeddings=torch.cat([keep_rest, keep_top]))
        probs = outputs(both.logits, adapter.problem)
        chosen = predicted.repeat(2).unsqueeze(1).to(probs.device)
        p = probs.gather(1, chosen).squeeze(1)
        return (p[: len(texts)] - p[len(texts) :]).mean()
