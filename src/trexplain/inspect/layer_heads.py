"""Masked-word heads for a frozen classifier's encoder: one small transform per hidden state, decoded through
the encoder's own word embeddings (tied, as BERT's pretraining head is), so any layer can guess a masked word.
The heads choose among a fixed word list (`vocabulary`: token ids), which keeps training cheap on a CPU;
every other token gets probability zero.

The demo classifier ships with such heads (`models/demo/masked_head.safetensors`, trained by
`scripts/train_mlm_head.py`); `inspect.masked_layers.load_masked_lm("demo")` loads them.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from trexplain.errors import ModelLoadError

HEAD_FILE = "masked_head.safetensors"


class LayerHeads(nn.Module):
    """Per-hidden-state transforms (Linear, GELU, LayerNorm) and one bias over the word list, decoded through the
    frozen tied embeddings of those words."""

    def __init__(self, embeddings: Tensor, vocabulary: Tensor, n_states: int, eps: float = 1e-12) -> None:
        super().__init__()
        dim = embeddings.shape[1]
        self.transforms = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.LayerNorm(dim, eps=eps)) for _ in range(n_states)
        )
        self.vocab_size = embeddings.shape[0]
        self.register_buffer("vocabulary", vocabulary.long())
        self.register_buffer("words", embeddings.detach().float()[vocabulary.long()], persistent=False)
        self.bias = nn.Parameter(torch.zeros(len(vocabulary)))

    @property
    def n_states(self) -> int:
        return len(self.transforms)

    def word_logits(self, states: Tensor) -> Tensor:
        """Logits over the word list `[n_states, ..., N]` for hidden states `[n_states, ..., D]`, state i read by
        head i."""
        if states.shape[0] != self.n_states:
            raise ValueError(f"expected {self.n_states} hidden states (one per head), got {states.shape[0]}")
        mapped = torch.stack([head(state) for head, state in zip(self.transforms, states, strict=True)])
        return mapped @ self.words.T + self.bias

    def forward(self, states: Tensor) -> Tensor:
        """Logits over the whole tokenizer vocabulary `[n_states, ..., V]`; −inf outside the word list."""
        words = self.word_logits(states)
        full = words.new_full((*words.shape[:-1], self.vocab_size), float("-inf"))
        return full.index_copy(-1, self.vocabulary, words)

    def save(self, path: Path) -> None:
        """Write the trained weights (not the tied embeddings) as float16 safetensors, atomically."""
        from safetensors.torch import save

        from trexplain.io import atomic_file

        tensors = {name: p.detach().half().contiguous() for name, p in self.named_parameters()}
        tensors["vocabulary"] = self.vocabulary.int().contiguous()
        with atomic_file(path, "wb", what="masked-LM head") as handle:
            handle.write(save(tensors, metadata={"n_states": str(self.n_states)}))

    @classmethod
    def load(cls, path: Path, embeddings: Tensor) -> LayerHeads:
        """Heads saved by `save`, decoding through `embeddings` (the encoder's word embedding matrix)."""
        from safetensors import safe_open

        if not path.is_file():
            raise ModelLoadError(f"the masked-LM head {path} is missing; reinstall trexplain")
        with safe_open(str(path), framework="pt") as handle:
            n_states = int((handle.metadata() or {}).get("n_states", 0))
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
        if "vocabulary" not in tensors:
            raise ModelLoadError(f"{path} holds no word list (`vocabulary`); retrain it with scripts/train_mlm_head.py")
        vocabulary = tensors["vocabulary"].long()
        heads = cls(embeddings, vocabulary, n_states)
        tensors = {name: t.long() if name == "vocabulary" else t.float() for name, t in tensors.items()}
        try:
            heads.load_state_dict(tensors)
        except RuntimeError as exc:
            raise ModelLoadError(f"{path} does not fit this encoder ({str(exc).splitlines()[0]})") from exc
        return heads.eval()
