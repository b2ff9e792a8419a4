"""Sparse autoencoders trained in torch on minibatches (from an `ActivationStore` on disk, or an array).

Every variant encodes z = σ((x − b_dec) W_enc + b_enc) and decodes x̂ = z W_dec + b_dec, with the rows of
W_dec (the concepts, `components_`) kept at unit norm after every Adam step, so no sparsity penalty can be
dodged by shrinking codes and growing directions. They differ in σ and the loss (reconstruction = mean
squared error per element):
- `ReLUSAE`: σ = ReLU, loss + `l1` · Σ|z| (the original dictionary-learning SAE);
- `TopKSAE`: keep the `top_k` largest pre-activations of each row, ReLU (Gao et al. 2024);
- `BatchTopKSAE`: keep the `top_k` × batch largest of the whole batch (Bussmann et al. 2024); at encoding
  time a fixed threshold, the running mean of the smallest kept value, replaces the batch;
- `JumpReLUSAE`: z = p · H(p − θ) with a learnt threshold θ per concept and loss + `l0` · Σ H(p − θ)
  (Rajamanoharan et al. 2024); θ learns through straight-through estimators with a rectangle kernel of
  width `bandwidth`, as in the paper.
Training is deterministic on the CPU for a given `seed` (initialisation, shuffling). `b_dec` starts at the
data mean, W_dec at random unit directions and W_enc at W_decᵀ.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor

from trexplain.concepts.dictionaries import Data, Dictionary, data_width, row_batches
from trexplain.errors import MethodError

ENCODE_BATCH = 8192


class SparseAutoencoder(Dictionary):
    """Common training loop of the SAE variants: Adam, `epochs` passes of shuffled `batch_size` minibatches."""

    _arrays = ("components_", "bias_", "encoder_", "encoder_bias_")
    _scalars = ("loss_history_",)

    def __init__(
        self,
        n_concepts: int,
        *,
        seed: int = 0,
        epochs: int = 20,
        batch_size: int = 256,
        lr: float = 1e-3,
        device: str = "cpu",
    ) -> None:
        super().__init__(n_concepts, seed=seed)
        if epochs < 1 or batch_size < 1 or lr <= 0:
            raise MethodError(f"epochs and batch_size must be ≥ 1 and lr > 0, got {epochs}, {batch_size}, {lr}")
        self.epochs, self.batch_size, self.lr, self.device = int(epochs), int(batch_size), float(lr), str(device)

    # ------------------------------------------------------------- training
    def _fit(self, X: Data) -> None:
        dim, device = data_width(X), torch.device(self.device)
        generator = torch.Generator().manual_seed(self.seed)
        decoder = torch.randn(self.n_concepts, dim, generator=generator)
        decoder /= decoder.norm(dim=1, keepdim=True)
        params = {
            "components_": decoder,
            "bias_": torch.as_tensor(_mean(X)),
            "encoder_": decoder.T.clone(),
            "encoder_bias_": torch.zeros(self.n_concepts),
            **self._extra_parameters(),
        }
        params = {name: p.to(device).requires_grad_(True) for name, p in params.items()}
        self._start()
        optimizer = torch.optim.Adam(params.values(), lr=self.lr)
        history = []
        for epoch in range(self.epochs):
            total, rows = 0.0, 0
            for batch in self._batches(X, epoch):
                x = torch.from_numpy(batch).to(device)
                loss = self._loss(x, params)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    unit = params["components_"]
                    unit /= unit.norm(dim=1, keepdim=True).clamp_min(1e-12)
                total, rows = total + float(loss.detach()) * len(x), rows + len(x)
            history.append(total / rows)
        for name, p in params.items():
            setattr(self, name, p.detach().cpu().numpy().astype(np.float32))
        self._finish()
        self.loss_history_ = history

    def _batches(self, X: Data, epoch: int) -> Iterator[np.ndarray]:
        return row_batches(X, self.batch_size, shuffle=True, seed=self.seed * 1_000_003 + epoch)

    def _loss(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        pre = (x - params["bias_"]) @ params["encoder_"] + params["encoder_bias_"]
        codes = self._activate(pre, params, training=True)
        reconstruction = codes @ params["components_"] + params["bias_"]
        return ((reconstruction - x) ** 2).mean() + self._penalty(pre, codes, params)

    # ---------------------------------------------------------- variants
    def _extra_parameters(self) -> dict[str, Tensor]:
        return {}

    def _start(self) -> None:
        """Reset training state kept outside the parameters."""

    def _finish(self) -> None:
        """Turn training state into fitted attributes."""

    def _activate(self, pre: Tensor, params: dict[str, Any], training: bool) -> Tensor:
        raise NotImplementedError

    def _penalty(self, pre: Tensor, codes: Tensor, params: dict[str, Tensor]) -> Tensor:
        return pre.new_zeros(())

    # ------------------------------------------------------------ encoding
    def encode_torch(self, x: Tensor) -> Tensor:
        """Codes of activations x [..., dim] (same dtype and device), differentiable in x."""
        self._check_fitted()
        params = {name: torch.as_tensor(getattr(self, name), device=x.device, dtype=x.dtype) for name in self._arrays}
        pre = (x - params["bias_"]) @ params["encoder_"] + params["encoder_bias_"]
        return self._activate(pre, params, training=False)

    def _encode(self, X: Data) -> np.ndarray:
        parts = []
        with torch.no_grad():
            for batch in row_batches(X, ENCODE_BATCH):
                parts.append(self.encode_torch(torch.from_numpy(self._check_width(batch))).numpy())
        return np.concatenate(parts)


def _mean(X: Data) -> np.ndarray:
    """Column means of X, streamed."""
    total, rows = None, 0
    for batch in row_batches(X, ENCODE_BATCH):
        part = batch.astype(np.float64).sum(0)
        total, rows = (part if total is None else total + part), rows + len(batch)
    return (total / rows).astype(np.float32)


class ReLUSAE(SparseAutoencoder):
    """ReLU codes with an L1 penalty of weight `l1` on them."""

    method = "relu-sae"

    def __init__(self, n_concepts: int, *, l1: float = 1e-3, **kwargs: Any) -> None:
        super().__init__(n_concepts, **kwargs)
        self.l1 = float(l1)

    def _activate(self, pre: Tensor, params: dict[str, Any], training: bool) -> Tensor:
        return torch.relu(pre)

    def _penalty(self, pre: Tensor, codes: Tensor, params: dict[str, Tensor]) -> Tensor:
        return self.l1 * codes.abs().sum(-1).mean()


class TopKSAE(SparseAutoencoder):
    """The `top_k` largest pre-activations of each row kept (through a ReLU), the rest zero."""

    method = "topk-sae"

    def __init__(self, n_concepts: int, *, top_k: int = 8, **kwargs: Any) -> None:
        super().__init__(n_concepts, **kwargs)
        if not 1 <= top_k <= n_concepts:
            raise MethodError(f"top_k must be in 1..n_concepts={n_concepts}, got {top_k}")
        self.top_k = int(top_k)

    def _activate(self, pre: Tensor, params: dict[str, Any], training: bool) -> Tensor:
        values, index = pre.topk(self.top_k, dim=-1)
        return torch.zeros_like(pre).scatter(-1, index, torch.relu(values))


class BatchTopKSAE(TopKSAE):
    """The `top_k` × rows largest pre-activations of a training batch kept (ReLU); encoding keeps those above
    `threshold_`, the running mean (momentum `threshold_momentum`) of the smallest kept value."""

    method = "batchtopk-sae"
    _scalars = ("loss_history_", "threshold_")

    def __init__(self, n_concepts: int, *, top_k: int = 8, threshold_momentum: float = 0.01, **kwargs: Any) -> None:
        super().__init__(n_concepts, top_k=top_k, **kwargs)
        self.threshold_momentum = float(threshold_momentum)

    def _start(self) -> None:
        self._running: float | None = None

    def _activate(self, pre: Tensor, params: dict[str, Any], training: bool) -> Tensor:
        if not training:
            return pre * (pre > self.threshold_)
        flat = torch.relu(pre).flatten()
        values, index = flat.topk(min(self.top_k * len(pre), flat.numel()))
        positive = values[values > 0]
        if positive.numel():
            smallest, m = float(positive.min()), self.threshold_momentum
            self._running = smallest if self._running is None else (1 - m) * self._running + m * smallest
        return torch.zeros_like(flat).scatter(0, index, values).view_as(pre)

    def _finish(self) -> None:
        self.threshold_ = float(self._running or 0.0)


class _JumpReLU(torch.autograd.Function):
    """p · H(p − θ); gradient to p where it passes, to θ by the rectangle-kernel straight-through estimate."""

    @staticmethod
    def forward(ctx: Any, pre: Tensor, threshold: Tensor, bandwidth: float) -> Tensor:
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return pre * (pre > threshold)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None]:
        pre, threshold = ctx.saved_tensors
        kernel = ((pre - threshold).abs() < ctx.bandwidth / 2).to(grad.dtype) / ctx.bandwidth
        grad_threshold = -(threshold * kernel * grad).reshape(-1, pre.shape[-1]).sum(0)
        return grad * (pre > threshold), grad_threshold, None


class _Step(torch.autograd.Function):
    """H(p − θ); no gradient to p, to θ by the rectangle-kernel straight-through estimate."""

    @staticmethod
    def forward(ctx: Any, pre: Tensor, threshold: Tensor, bandwidth: float) -> Tensor:
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None]:
        pre, threshold = ctx.saved_tensors
        kernel = ((pre - threshold).abs() < ctx.bandwidth / 2).to(grad.dtype) / ctx.bandwidth
        return torch.zeros_like(pre), -(kernel * grad).reshape(-1, pre.shape[-1]).sum(0), None


class JumpReLUSAE(SparseAutoencoder):
    """JumpReLU codes with a learnt threshold per concept (`threshold_`) and an L0 penalty of weight `l0`."""

    method = "jumprelu-sae"
    _arrays = ("components_", "bias_", "encoder_", "encoder_bias_", "log_threshold_")

    def __init__(
        self, n_concepts: int, *, l0: float = 1e-3, bandwidth: float = 1e-3, threshold: float = 1e-3, **kwargs: Any
    ) -> None:
        super().__init__(n_concepts, **kwargs)
        if bandwidth <= 0 or threshold <= 0:
            raise MethodError(f"bandwidth and threshold must be positive, got {bandwidth}, {threshold}")
        self.l0, self.bandwidth, self.threshold = float(l0), float(bandwidth), float(threshold)

    @property
    def threshold_(self) -> np.ndarray:
        """The fitted threshold θ of every concept."""
        return np.exp(self._check_fitted().log_threshold_)

    def _extra_parameters(self) -> dict[str, Tensor]:
        return {"log_threshold_": torch.full((self.n_concepts,), float(np.log(self.threshold)))}

    def _activate(self, pre: Tensor, params: dict[str, Any], training: bool) -> Tensor:
        return _JumpReLU.apply(pre, params["log_threshold_"].exp(), self.bandwidth)

    def _penalty(self, pre: Tensor, codes: Tensor, params: dict[str, Tensor]) -> Tensor:
        active = _Step.apply(pre, params["log_threshold_"].exp(), self.bandwidth)
        return self.l0 * active.sum(-1).mean()
