"""Occlusion, LIME and KernelSHAP against captum's FeatureAblation, Lime and KernelShap at the same sample count.

captum runs on the embedding-module output with a feature mask over words (special tokens form one extra
group whose baseline equals the input, so they never move) and the pad token's embedding as baseline,
`perturbations_per_eval` = our batch size. Both sides explain the predicted class with n = 100 + 20·words
samples. Faithfulness of every method: AOPC comprehensiveness (ERASER bins, predicted-class probability,
words deleted in order of their score), computed the same way for all.
"""

from __future__ import annotations

import math

import torch
from captum.attr import FeatureAblation, KernelShap, Lime

from benchmarks.common import Context, median_ms
from trexplain.methods import Targets, get_method
from trexplain.methods.perturbation import default_samples
from trexplain.models import ModelAdapter
from trexplain.models.batch import Batch
from trexplain.perturb import remove

BATCH = 64
BINS = (0.01, 0.05, 0.1, 0.2, 0.5)


def _ours(name: str):
    def explain(adapter: ModelAdapter, batch: Batch) -> torch.Tensor:
        m = len(batch.words[0])
        params = {} if name == "occlusion" else {"n_samples": default_samples(m), "batch_size": BATCH}
        if name == "kernelshap":
            params["exact_features"] = 0
        method = get_method(name, **params)
        result = method.attribute(adapter, batch, Targets("predicted", adapter))
        words = batch.word_ids[0, : batch.lengths[0]]
        onehot = (words.unsqueeze(0) == torch.arange(m).unsqueeze(1)).to(result.scores)
        return result.scores[0, 0, : batch.lengths[0]] @ onehot.T

    return explain


def _captum(cls):
    def explain(adapter: ModelAdapter, batch: Batch) -> torch.Tensor:
        inputs = batch.inputs
        embeddings = adapter.embed(inputs)
        movable = batch.maskable
        pad_ids = torch.where(movable, adapter.pad_token_id, inputs.input_ids)
        baseline = adapter.embed(inputs.with_ids(pad_ids))
        m = len(batch.words[0])
        groups = torch.where(batch.word_ids >= 0, batch.word_ids, m)
        with torch.no_grad():
            target = int(adapter.forward(inputs).logits.argmax(-1))

        def forward(e: torch.Tensor) -> torch.Tensor:
            return adapter.forward(inputs.rows([0] * len(e)), embeddings=e).logits

        kwargs = {"perturbations_per_eval": BATCH}
        if cls is not FeatureAblation:
            kwargs["n_samples"] = default_samples(m)
        with torch.no_grad():
            attr = cls(forward).attribute(
                embeddings, baselines=baseline, target=target, feature_mask=groups.unsqueeze(-1), **kwargs
            )
        first = torch.tensor([int(torch.nonzero(batch.word_ids[0] == w)[0]) for w in range(m)])
        return attr[0, first, 0]

    return explain


def comprehensiveness(adapter: ModelAdapter, batch: Batch, word_scores: torch.Tensor) -> float:
    """AOPC comprehensiveness: mean drop of the predicted-class probability as the top-k % words are deleted."""
    m = len(word_scores)
    rank = torch.empty(m, dtype=torch.long)
    rank[torch.sort(word_scores, descending=True, stable=True).indices] = torch.arange(m)
    counts = torch.tensor([min(m, max(1, math.ceil(k * m - 1e-9))) for k in BINS])
    removed_words = rank.unsqueeze(0) < counts.unsqueeze(1)
    feats = batch.word_ids[0, : batch.lengths[0]].unsqueeze(0) == torch.arange(m).unsqueeze(1)
    removed = (removed_words.float() @ feats.float()) > 0
    with torch.no_grad():
        full = adapter.forward(batch.inputs).logits.softmax(-1)[0]
        target = int(full.argmax())
        probs = adapter.logits(remove(adapter, batch, 0, removed, "delete")).softmax(-1)[:, target]
    return float((full[target] - probs).sum() / (len(BINS) + 1))


def run(ctx: Context) -> list[dict]:
    pairs = [
        ("occlusion", _ours("occlusion"), "captum FeatureAblation", _captum(FeatureAblation)),
        ("lime", _ours("lime"), "captum Lime", _captum(Lime)),
        ("kernelshap", _ours("kernelshap"), "captum KernelShap", _captum(KernelShap)),
    ]
    batches = {text: ctx.adapter.encode([text]) for text in ctx.texts}
    rows = []
    for ours_name, ours, theirs_name, theirs in pairs:
        measured = {}
        for label, fn in ((ours_name, ours), (theirs_name, theirs)):
            scores: dict[str, torch.Tensor] = {}

            def call(text: str, fn=fn, scores=scores) -> None:
                scores[text] = fn(ctx.adapter, batches[text])

            ms = median_ms(call, ctx.texts)
            aopc = sum(comprehensiveness(ctx.adapter, batches[t], scores[t]) for t in ctx.texts) / len(ctx.texts)
            measured[label] = (ms, aopc)
        (ours_ms, ours_aopc), (theirs_ms, theirs_aopc) = measured[ours_name], measured[theirs_name]
        rows.append(
            ctx.row(
                "perturbation",
                ours_name,
                ours_ms,
                aopc_comp=round(ours_aopc, 4),
                x_captum=round(ours_ms / theirs_ms, 3),
            )
        )
        rows.append(ctx.row("perturbation", theirs_name, theirs_ms, aopc_comp=round(theirs_aopc, 4)))
    return rows
