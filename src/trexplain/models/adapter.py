"""`ModelAdapter`: the one place that knows how to tokenize for, embed into and run a classifier."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from trexplain.errors import InputError, MethodError, TargetError
from trexplain.models.batch import Batch, ModelInputs
from trexplain.models.capture import EMBEDDINGS, Replacement, Site, capturing
from trexplain.models.devices import place, resolve_device, resolve_dtype
from trexplain.models.families import CUSTOM, Family, locate, resolve
from trexplain.models.heads import SINGLE_LABEL, check_problem, problem_of
from trexplain.models.modalities import TEXT, Modality
from trexplain.models.pooling import last_positions, last_token_forward, pad_description, with_pad_token


@dataclass
class ForwardOutput:
    """Logits, plus attention probabilities (layers of [B, H, T, T]) and hidden states when asked for, and the
    values of every captured site by name (see `trexplain.models.capture`)."""

    logits: Tensor
    attentions: tuple[Tensor, ...] | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    captured: dict[str, Tensor] = field(default_factory=dict)


class ModelAdapter:
    """A classifier with its tokenizer, label names and the family map of where its parts live.

    "The input" of every gradient method is the output of the embedding module (word + position +
    token-type embeddings after LayerNorm, i.e. `hidden_states[0]`): every path from a token to the
    logit passes through it, so completeness and conservation identities hold there, and the position
    and token-type shares of a token's embedding are part of that token's score.

    The user's model and tokenizer are never left changed: each call runs the model in eval mode and
    restores every module's own training flag afterwards, and the tokenizer's settings are not touched.
    Concurrent calls on one adapter are safe: every section that runs the model with hooks or patches
    it (capture, LRP rules, skipped blocks) holds the adapter's re-entrant lock, so calls from several
    threads are serialised rather than mixed (each one still uses all of torch's intra-op threads).
    """

    model_revision: str | None = None
    """The hub commit of the weights (set by `load_model`); None for local folders and models built in memory."""
    compute_dtype: torch.dtype | None = None
    """The dtype gradient and LRP methods compute in; None: float32 whatever the loaded dtype (`models.devices`)."""
    pad_record: str | None = None
    """Decoders (last-token pooling): the pad token batches use and whether it stands in (`models.pooling`)."""
    modality: ClassVar[Modality] = TEXT
    """What its inputs are (`models.modalities`): encoding, feature groups, removal, baselines."""

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        *,
        family: Family,
        labels: Sequence[str],
        name: str,
        card: str | None = None,
        embedding_module: nn.Module | None = None,
        layers: Sequence[nn.Module] | None = None,
        max_length: int | None = None,
        forward_fn: Callable[..., Any] | None = None,
        problem: str | None = None,
    ) -> None:
        if not getattr(tokenizer, "is_fast", False):
            raise InputError(
                "trexplain needs a fast (Rust) tokenizer for character offsets; save one with tokenizer.json"
            )
        if family.pooling == "last":
            padded = with_pad_token(tokenizer)
            self.pad_record = pad_description(padded, stand_in=padded is not tokenizer)
            tokenizer = padded
        self._bind(model, tokenizer, family, labels, name, card, embedding_module, layers, forward_fn)
        self.max_length = max_length or self._default_max_length()
        self.problem = problem_of(self.config, len(self.labels)) if problem is None else check_problem(problem)

    def _bind(
        self,
        model: nn.Module,
        tokenizer: Any,
        family: Family,
        labels: Sequence[str],
        name: str,
        card: str | None,
        embedding_module: nn.Module | None,
        layers: Sequence[nn.Module] | None,
        forward_fn: Callable[..., Any] | None,
    ) -> None:
        """The parts every adapter holds, text or image: the model, its lock, labels, embedding module and blocks
        (given, else found through the family entry, which checks every part it names)."""
        self.model = model
        self.tokenizer = tokenizer
        self.lock = threading.RLock()
        self.family = family
        self.labels = tuple(labels)
        self.name = name
        self.card = card
        self.embedding_module, self.layers = locate(family, model, embedding_module, layers)
        self._forward_fn = forward_fn

    @classmethod
    def from_module(
        cls,
        model: nn.Module,
        embedding: nn.Module,
        tokenizer: Any,
        labels: Sequence[str],
        *,
        layers: Sequence[nn.Module] | None = None,
        name: str = "custom",
        max_length: int = 512,
        problem: str = SINGLE_LABEL,
    ) -> ModelAdapter:
        """Wrap a plain PyTorch classifier.

        Protocol: `model(input_ids=..., attention_mask=...)` returns logits `[batch, classes]` (or an
        object with `.logits`); `embedding` is the submodule whose output every token's representation
        starts from (its output is what attributions are computed against). `layers` (optional) are the
        blocks whose inputs per-layer methods read. `problem`: what the outputs mean (`trexplain.models.heads`).
        """

        def forward(m: nn.Module, inputs: ModelInputs, **_: Any) -> Any:
            return m(input_ids=inputs.input_ids, attention_mask=inputs.attention_mask)

        return cls(
            model,
            tokenizer,
            family=CUSTOM,
            labels=labels,
            name=name,
            embedding_module=embedding,
            layers=layers,
            max_length=max_length,
            forward_fn=forward,
            problem=problem,
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> ModelAdapter:
        """A copy with its own deep-copied model (blocks and embedding module mapped into the copy) and tokenizer,
        and a fresh lock; a tokenizer kept shared through `memo` (`{id(tokenizer): tokenizer}`) keeps the lock
        shared too, since `tokenize` sets the tokenizer's state under it."""
        clone = copy.copy(self)
        clone.model = copy.deepcopy(self.model, memo)
        clone.embedding_module = copy.deepcopy(self.embedding_module, memo)
        clone.layers = [copy.deepcopy(layer, memo) for layer in self.layers]
        clone.tokenizer = copy.deepcopy(self.tokenizer, memo)
        shared = self.tokenizer is not None and clone.tokenizer is self.tokenizer
        clone.lock = self.lock if shared else threading.RLock()
        return clone

    def __repr__(self) -> str:
        head = "" if self.problem == SINGLE_LABEL else f", problem={self.problem}"
        return (
            f"ModelAdapter({self.name!r}, family={self.family.name}{head}, labels={list(self.labels)}, "
            f"layers={len(self.layers)}, max_length={self.max_length}, device={self.device})"
        )

    @contextmanager
    def session(self) -> Iterator[None]:
        """Hold the adapter's lock with the model in eval mode (dropout off); every module's training flag
        is restored on exit, exceptions included."""
        with self.lock, eval_mode(self.model):
            yield

    # ----------------------------------------------------------------- facts
    @property
    def config(self) -> Any:
        return getattr(self.model, "config", None)

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype of the model's weights (float32 unless loaded with `dtype=`)."""
        return next((p.dtype for p in self.model.parameters() if p.is_floating_point()), torch.float32)

    def to(self, device: str | torch.device | None = None, dtype: str | torch.dtype | None = None) -> ModelAdapter:
        """Move the model whole to `device` and/or cast it to `dtype` (names as `load_model` takes them), under
        the lock; its checked placement is refreshed (`models.devices`). Returns the adapter."""
        target = self.device if device is None else resolve_device(device)
        with self.lock:
            return place(self, target, resolve_dtype(dtype))

    @property
    def pad_token_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    @property
    def mask_token_id(self) -> int | None:
        return self.tokenizer.mask_token_id

    def _default_max_length(self) -> int:
        limit = int(getattr(self.tokenizer, "model_max_length", 512) or 512)
        limit = limit if limit < 100_000 else 512
        config = self.config
        positions = getattr(config, "max_position_embeddings", None)
        if positions:
            if self.family.positions_from_ids:
                positions -= int(getattr(config, "pad_token_id", 1) or 0) + 1
            limit = min(limit, positions)
        return limit

    def label_index(self, label: str | int) -> int:
        """Class index of a label name or index; a clear error lists the valid labels."""
        if isinstance(label, int) or (
            isinstance(label, str) and label.lstrip("-").isdigit() and label not in self.labels
        ):
            index = int(label)
            if 0 <= index < self.num_labels:
                return index
        elif label in self.labels:
            return self.labels.index(label)
        else:
            lowered = [x.lower() for x in self.labels]
            if isinstance(label, str) and label.lower() in lowered:
                return lowered.index(label.lower())
        raise TargetError(f"unknown target {label!r}; valid targets: {', '.join(self.labels)}, predicted, all")

    # --------------------------------------------------------------- encode
    def tokenize(self, texts: str | Sequence[str], **kwargs: Any) -> Any:
        """`tokenizer(texts, **kwargs)` under the adapter's lock, the tokenizer left as it was: a fast tokenizer's
        call switches its backend's padding and truncation state to the call's settings, so they are put back."""
        with self.lock:
            backend = getattr(self.tokenizer, "backend_tokenizer", None)
            if backend is None:
                return self.tokenizer(texts, **kwargs)
            padding, truncation = backend.padding, backend.truncation
            try:
                return self.tokenizer(texts, **kwargs)
            finally:
                if padding is None:
                    backend.no_padding()
                else:
                    backend.enable_padding(**padding)
                if truncation is None:
                    backend.no_truncation()
                else:
                    backend.enable_truncation(**truncation)

    def encode(self, texts: Sequence[str | tuple[str, str]], *, truncate: bool = False) -> Batch:
        """Tokenize texts with offsets and word groups (`modality.encode`, `models.modalities.text`). Too long: an
        error, or truncation if asked. An item `(first, second)` is a sentence pair."""
        return self.modality.encode(self, texts, truncate=truncate)

    def position_ids(self, attention_mask: Tensor) -> Tensor:
        """Position ids for the real tokens, computed once from the input so no baseline can shift them."""
        if self.family.positions_from_ids:
            pad = int(self.config.pad_token_id)
            mask = attention_mask.long()
            return torch.cumsum(mask, dim=1) * mask + pad
        positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
        return positions.expand_as(attention_mask).contiguous()

    # ------------------------------------------------------------------ run
    def embed(self, inputs: ModelInputs) -> Tensor:
        """Output of the embedding module for these inputs (the attribution input, see class doc)."""
        captured: list[Tensor] = []

        def stop(_module: nn.Module, _inputs: Any, output: Tensor) -> None:
            captured.append(output)
            raise _StopForward

        with self.session(), torch.no_grad():
            handle = self.embedding_module.register_forward_hook(stop)
            try:
                self._run(inputs)
            except _StopForward:
                pass
            finally:
                handle.remove()
        return captured[0].detach()

    def forward(
        self,
        inputs: ModelInputs,
        *,
        embeddings: Tensor | None = None,
        capture: Sequence[str] = (),
        replace: Mapping[str, Replacement] | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        logits_only: bool = False,
        skip_blocks: int = 0,
    ) -> ForwardOutput:
        """Run the classifier in eval mode under the adapter's lock.

        `embeddings` replaces the embedding module's output; `capture` names sites whose values come back in
        `captured` (in the graph when gradients are on); `replace` maps site names to functions whose returned
        tensor replaces that site's value (see `trexplain.models.capture`). `logits_only`: only the logits are
        wanted, so the last block's feed-forward runs on the first token alone (see `head_token_only`); the
        same logits for about a tenth less work. `skip_blocks`: the first that many blocks hand their input on
        unchanged (when `replace` overwrites a later block's input anyway, running them is wasted work).
        """
        if logits_only and output_hidden_states:
            raise InputError("logits_only leaves the last hidden state incomplete; do not ask for hidden states")
        layers = len(self.layers)
        sites = [Site.parse(name, layers) for name in capture]
        edits = {Site.parse(name, layers): fn for name, fn in (replace or {}).items()}
        if embeddings is not None:
            edits[Site.parse(EMBEDDINGS, layers)] = _replacement(embeddings)
        attention_sites = [site for site in sites if site.kind == "attention"]
        output_attentions = output_attentions or bool(attention_sites)
        if output_attentions and getattr(self.config, "_attn_implementation", None) not in (None, "eager"):
            raise self._no_attentions()  # before transformers warns and returns none
        with (
            self.session(),
            capturing(self.model, self.embedding_module, self.layers, sites, edits) as captured,
            self.head_token_only(logits_only),
            _skipped(self.layers[:skip_blocks], self.family.block_tuple),
        ):
            out = self._run(inputs, output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        if isinstance(out, Tensor):
            out = _Output(out)
        attentions = getattr(out, "attentions", None) if output_attentions else None
        if output_attentions and not attentions:
            raise self._no_attentions()
        for site in attention_sites:
            captured[site.name] = attentions[site.index]
        hidden = getattr(out, "hidden_states", None) if output_hidden_states else None
        return ForwardOutput(  # float32 whatever the model's dtype (a no-op for float32 models), for numpy and sums
            _float(out.logits),
            tuple(_float(a) for a in attentions) if attentions else None,
            None if hidden is None else tuple(_float(h) for h in hidden),
            {name: _float(value) for name, value in captured.items()},
        )

    def attention_probabilities(
        self, inputs: ModelInputs, *, embeddings: Tensor | None = None, grad: bool = False
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """(logits [B, C], one [B, H, T, T] attention tensor per block) from one forward pass; with `grad`,
        both stay in the autograd graph (through the embedding output) for attention-gradient methods."""
        with torch.set_grad_enabled(grad):
            if grad and embeddings is None:
                embeddings = self.embed(inputs).requires_grad_(True)
            out = self.forward(inputs, embeddings=embeddings, output_attentions=True)
        return out.logits, out.attentions

    def _no_attentions(self) -> MethodError:
        return MethodError(
            f"{self.name} does not return attention probabilities; attention methods need a Hugging Face "
            "model with eager attention (load_model's default, not attn_implementation='sdpa' / "
            "--attn-implementation sdpa) — or use a gradient method"
        )

    def pooled_positions(self, inputs: ModelInputs) -> Tensor:
        """Per row, the position whose hidden state the head reads: the last attended token for last-token pooling
        (decoders, `Family.pooling`), else 0, the classification token."""
        if self.family.pooling == "last":
            return last_positions(inputs.attention_mask)
        return torch.zeros(len(inputs), dtype=torch.long)

    @torch.no_grad()
    def logits(self, inputs: ModelInputs, *, embeddings: Tensor | None = None, batch_size: int = 64) -> Tensor:
        """Logits without gradients, in chunks of `batch_size` rows."""
        parts = []
        for start in range(0, len(inputs), batch_size):
            rows = slice(start, start + batch_size)
            emb = None if embeddings is None else embeddings[rows]
            parts.append(self.forward(inputs.rows(rows), embeddings=emb, logits_only=True).logits)
        return torch.cat(parts) if parts else torch.empty(0, self.num_labels)

    @contextmanager
    def head_token_only(self, active: bool = True) -> Iterator[None]:
        """Within the block, the last block's feed-forward sees the first token only.

        A family whose head pools the first token (`Family.pooling`) reads it from the last block's output and
        nothing else, and the feed-forward works token by token, so that token is unchanged; the other rows are
        left meaningless (the residual sum broadcasts). A no-op for models without a family map, and for
        feed-forwards run in chunks along the sequence (`chunk_size_feed_forward`), which need its length.
        """
        chunked = getattr(getattr(self.model, "config", None), "chunk_size_feed_forward", 0)
        if not (active and self.family.feed_forward and self.layers and self.family.pooling == "first") or chunked:
            yield
            return
        if getattr(self.config, "classifier_pooling", "cls") != "cls":  # ModernBERT's mean pooling reads every token
            yield
            return
        module = resolve(self.layers[-1], self.family.feed_forward)
        last = sum(layer is self.layers[-1] for layer in self.layers)  # a shared block: only its last call
        calls = [0]

        def first_token(_module: nn.Module, args: tuple) -> tuple | None:
            calls[0] += 1
            return (args[0][:, :1], *args[1:]) if args and calls[0] == last else None

        handle = module.register_forward_pre_hook(first_token)
        try:
            yield
        finally:
            handle.remove()

    def _run(self, inputs: ModelInputs, **flags: bool) -> Any:
        if self._forward_fn is not None:
            return self._forward_fn(self.model, inputs, **flags)
        if self.family.pooling == "last":
            return last_token_forward(
                self.model, resolve(self.model, self.family.head), inputs, self.pad_token_id, **flags
            )
        kwargs: dict[str, Any] = {
            "input_ids": inputs.input_ids,
            "attention_mask": inputs.attention_mask,
            "position_ids": inputs.position_ids,
        }
        if inputs.token_type_ids is not None:
            kwargs["token_type_ids"] = inputs.token_type_ids
        return self.model(**kwargs, **{k: v for k, v in flags.items() if v})


def _float(tensor: Tensor) -> Tensor:
    """`tensor` as float32 when it is a reduced-precision float (bfloat16, float16), else unchanged."""
    return tensor.float() if tensor.dtype in (torch.bfloat16, torch.float16) else tensor


class _StopForward(Exception):
    """Raised by a hook to end a forward pass once the embeddings are computed."""


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Within the block `model` is in eval mode; each module's own training flag is restored on exit."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in flags:
            module.training = training


@contextmanager
def _skipped(layers: Sequence[nn.Module], as_tuple: bool = False) -> Iterator[None]:
    """These blocks hand their input on unchanged (an instance-level `forward`, removed on exit); a module that is
    several blocks (a shared block) is skipped on its first calls only, once per block in `layers`. `as_tuple`:
    the family's blocks return (hidden, attention), so the skipped ones return (input, None)."""
    counts: dict[int, int] = {}
    for layer in layers:
        counts[id(layer)] = counts.get(id(layer), 0) + 1
    unique = list({id(layer): layer for layer in layers}.values())
    saved = [layer.__dict__.get("forward") for layer in unique]
    for layer in unique:
        layer.forward = _passthrough(layer, counts[id(layer)], as_tuple)
    try:
        yield
    finally:
        for layer, old in zip(unique, saved, strict=True):
            if old is None:
                del layer.forward
            else:
                layer.forward = old


def _passthrough(layer: nn.Module, skipped: int, as_tuple: bool) -> Callable[..., Any]:
    """A forward that returns its input for the first `skipped` calls and runs the block's own forward after."""
    calls = [0]
    own = type(layer).forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] > skipped:
            return own(layer, *args, **kwargs)
        hidden = args[0] if args else kwargs["hidden_states"]
        return (hidden, None) if as_tuple else hidden

    return forward


@dataclass
class _Output:
    """What a plain module's tensor output means: the logits."""

    logits: Tensor


def _replacement(embeddings: Tensor) -> Replacement:
    """The embedding module's output replaced by `embeddings` (shape checked)."""

    def replace(output: Tensor) -> Tensor:
        if output.shape != embeddings.shape:
            raise InputError(f"embeddings of shape {tuple(embeddings.shape)} do not fit inputs {tuple(output.shape)}")
        return embeddings

    return replace
