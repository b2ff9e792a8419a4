"""Evaluation: cost per explanation in model rows (used vs the minimum the metrics need), and the
faithfulness table of every registered method next to captum's IG, LIME and KernelSHAP, all scored by the
same code (captum's scores enter through the external-scores path)."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from benchmarks.common import Context
from trexplain.api import explain
from trexplain.evaluate import evaluate, faithfulness_table, load_scores
from trexplain.explanation import Explanation
from trexplain.methods import available_methods
from trexplain.models import ModelAdapter
from trexplain.models.batch import ModelInputs

CAPTUM_IG_STEPS = 50
CAPTUM_SAMPLES = 200


def run(ctx: Context) -> list[dict]:
    return cost_rows(ctx) + faithfulness_rows(ctx)


def cost_rows(ctx: Context) -> list[dict]:
    """Model rows and time per explanation: MoRF + LeRF + insertion (11 points each) and 2 × 5 AOPC bins."""
    rows = []
    for label, names in (("gxi alone", ["gxi"]), ("gxi+saliency+random, shared", ["gxi", "saliency"])):
        explanations = [e for name in names for e in explain(ctx.texts, ctx.adapter, name)]
        if len(names) > 1:
            from trexplain.evaluate import random_explanations

            explanations += random_explanations(explanations)
        start = time.perf_counter()
        result = evaluate(ctx.adapter, explanations)
        ms = (time.perf_counter() - start) * 1000 / len(explanations)
        n = len(explanations)
        rows.append(
            ctx.row(
                "evaluate",
                f"cost: {label}",
                ms,
                points_per_expl=round(result.requested / n, 1),
                min_rows_per_expl=round(result.needed / n, 1),
                rows_run_per_expl=round(result.forward_rows / n, 1),
            )
        )
    return rows


def faithfulness_rows(ctx: Context) -> list[dict]:
    """Every registered method plus captum IG / LIME / KernelSHAP, ranked with the random floor."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "captum.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in captum_records(ctx.adapter, ctx.texts)))
        external = load_scores(path, ctx.adapter)
    external += last_block_layer_ig(ctx)
    methods = [name for name, cls in available_methods().items() if cls.cost != "fitted"]  # fitted: bench_amortize
    table = faithfulness_table(ctx.adapter, ctx.texts, methods, external=external)
    ctx.notes.append(f"verdict ({len(ctx.texts)} texts, delete, words): {table.verdict}")
    return [
        ctx.row(
            "evaluate",
            f"faithfulness: {row['method']}",
            (row["seconds"] or 0.0) * 1000,
            comp=round(row["comprehensiveness"], 3),
            suff=round(row["sufficiency"], 3),
            delta_af=round(row["delta_af"], 3),
            completeness_err=None if row["completeness_error"] is None else round(row["completeness_error"], 4),
            n=row["n"],
        )
        for row in table.rows
    ]


def last_block_layer_ig(ctx: Context) -> list[Explanation]:
    """`layer-ig`'s map at the last block's input (its own `scores` are the embedding-level IG, as `ig`)."""
    return [
        replace(e, scores=e.layer_scores[-1], method="layer-ig (last block input)", layer_scores=None)
        for e in explain(ctx.texts, ctx.adapter, "layer-ig")
    ]


def captum_records(adapter: ModelAdapter, texts: list[str]) -> list[dict]:
    """captum's LayerIntegratedGradients (embedding module, pad baseline), Lime and KernelShap (words as
    features, pad baseline) for the predicted class, as external-score records with their time."""
    from captum.attr import KernelShap, LayerIntegratedGradients, Lime

    def forward(ids, mask, positions, types=None):
        return adapter.forward(ModelInputs(ids, mask, positions, types)).logits

    records = []
    for text in texts:
        batch = adapter.encode([text])
        inputs = batch.inputs
        target = int(adapter.logits(inputs).argmax())
        baseline = torch.where(batch.special_mask, inputs.input_ids, adapter.pad_token_id)
        args = (inputs.attention_mask, inputs.position_ids, inputs.token_type_ids)
        words = batch.word_ids.clone()
        words[words < 0] = int(words.max()) + 1  # special tokens: one more group whose baseline is itself
        tokens = batch.tokens[0]
        common = {"text": text, "tokens": tokens, "target": target}

        start = time.perf_counter()
        lig = LayerIntegratedGradients(forward, adapter.embedding_module)
        attributions, delta = lig.attribute(
            inputs.input_ids,
            baselines=baseline,
            additional_forward_args=args,
            target=target,
            n_steps=CAPTUM_IG_STEPS,
            internal_batch_size=CAPTUM_IG_STEPS,
            return_convergence_delta=True,
        )
        records.append(
            {
                **common,
                "method": "captum-ig",
                "scores": attributions.sum(-1)[0].tolist(),
                "seconds": time.perf_counter() - start,
                "diagnostics": {"completeness_error": abs(float(delta))},
            }
        )
        for name, cls in (("captum-lime", Lime), ("captum-kernelshap", KernelShap)):
            torch.manual_seed(0)
            start = time.perf_counter()
            scores = cls(forward).attribute(
                inputs.input_ids,
                baselines=baseline,
                additional_forward_args=args,
                target=target,
                feature_mask=words,
                n_samples=CAPTUM_SAMPLES,
                perturbations_per_eval=50,
            )
            # captum repeats each word's coefficient on all its tokens: keep one copy per word
            first = torch.zeros_like(words, dtype=torch.bool)
            first[0, [int((words[0] == w).nonzero()[0]) for w in words[0].unique()]] = True
            records.append(
                {
                    **common,
                    "method": name,
                    "scores": torch.where(first & ~batch.special_mask, scores, 0.0)[0].tolist(),
                    "seconds": time.perf_counter() - start,
                }
            )
    return records
