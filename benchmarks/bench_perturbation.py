"""Occlusion, LIME and KernelSHAP against captum's FeatureAblation, Lime and KernelShap at the same sample count.

captum runs on the embedding-module output with a feature mask over words (special tokens form one extra
group whose baseline equals the input, so they never move) and the pad token's embedding as baseline,
`perturbations_per_eval` = our batch size. Both sides explain the predicted class with n = 100 + 20·words
samples. Faithfulness of every method: AOPC comprehensiveness and sufficiency from `trexplain.evaluate`
(ERASER bins, word deletion), the same code for both sides.
"""

from __future__ import annotations

import statistics

import torch
from captum.attr import FeatureAblation, KernelShap, Lime

from benchmarks.common import Context, median_ms
from trexplain.api import to_explanations
from trexplain.evaluate import evaluate, explanations_from_records
from trexplain.explanation import Explanation
from trexplain.methods import Targets, get_method
from trexplain.methods.perturbation import default_samples
from trexplain.models import ModelAdapter
from trexplain.models.batch import Batch

BATCH = 64


def _ours(name: str, share: float = 1.0):
    """Our method at `share` of the sample count captum gets (1.0: the same)."""

    def explain(adapter: ModelAdapter, batch: Batch) -> Explanation:
        samples = max(2, round(share * default_samples(len(batch.words[0]))))
        params = {} if name == "occlusion" else {"n_samples": samples}
        if name == "kernelshap":
            params["exact_features"] = 0
        method = get_method(name, batch_size=BATCH, **params)
        return to_explanations(adapter, batch, method.attribute(adapter, batch, Targets("predicted", adapter)), method)[
            0
        ]

    return explain


def _captum(cls):
    def explain(adapter: ModelAdapter, batch: Batch) -> dict:
        inputs = batch.inputs
        embeddings = adapter.embed(inputs)
        pad_ids = torch.where(batch.maskable, adapter.pad_token_id, inputs.input_ids)
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
        first = [int(torch.nonzero(batch.word_ids[0] == w)[0]) for w in range(m)]
        words = [
            {"text": batch.texts[0][s:e], "start": s, "end": e, "score": float(attr[0, t, 0])}
            for (s, e), t in zip(batch.words[0], first, strict=True)
        ]
        return {"text": batch.texts[0], "words": words, "target": target, "method": f"captum {cls.__name__}"}

    return explain


def run(ctx: Context) -> list[dict]:
    pairs = [
        ("occlusion", _ours("occlusion"), _captum(FeatureAblation)),
        ("lime", _ours("lime"), _captum(Lime)),
        ("kernelshap", _ours("kernelshap"), _captum(KernelShap)),
    ]
    batches = {text: ctx.adapter.encode([text]) for text in ctx.texts}
    rows = []
    for name, ours, theirs in pairs:
        rows.extend(_compare(ctx, batches, name, ours, theirs))
    # Captum's faithfulness for less time: the same comparison with half of captum's samples.
    for name, cls in (("lime", Lime), ("kernelshap", KernelShap)):
        rows.extend(_compare(ctx, batches, f"{name} (half the samples)", _ours(name, 0.5), _captum(cls))[:1])
    return rows


def _compare(ctx: Context, batches: dict[str, Batch], name: str, ours, theirs) -> list[dict]:
    """Time and AOPC of ours and captum's on the same texts; our row carries the time ratio."""
    rows = []
    timed = []
    for fn in (ours, theirs):
        made: dict[str, Explanation | dict] = {}

        def call(text: str, fn=fn, made=made) -> None:
            made[text] = fn(ctx.adapter, batches[text])

        timed.append((median_ms(call, ctx.texts), [made[t] for t in ctx.texts]))
    (ours_ms, ours_out), (theirs_ms, theirs_out) = timed
    for label, ms, explanations in (
        (name, ours_ms, ours_out),
        (theirs_out[0]["method"], theirs_ms, explanations_from_records(theirs_out, ctx.adapter)),
    ):
        results = evaluate(ctx.adapter, explanations).results
        extra = {"x_captum": round(ours_ms / theirs_ms, 3)} if label == name else {}
        rows.append(
            ctx.row(
                "perturbation",
                label,
                ms,
                aopc_comp=round(statistics.mean(r.aopc_comprehensiveness for r in results), 4),
                aopc_suff=round(statistics.mean(r.aopc_sufficiency for r in results), 4),
                **extra,
            )
        )
    return rows
