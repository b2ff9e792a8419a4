"""`make_report`: texts in, the whole study out (explanations, attention, evaluation) as one report dict."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from trexplain.errors import InputError, MethodError
from trexplain.evaluate.table import RANDOM, FaithfulnessTable
from trexplain.explanation import Explanation
from trexplain.methods.base import DEFAULT_METHOD, TargetSpec
from trexplain.models.adapter import ModelAdapter
from trexplain.models.protocol import Adapter
from trexplain.viz.payload import ATTENTION_MAX_TOKENS, build_payload, model_info

ATTENTION_TEXTS = 20  # attention maps are large; by default the first 20 texts carry them
SANITY_TEXTS = 10  # the randomisation check re-explains its texts once per model part


def make_report(
    inputs: Any,
    adapter: Adapter,
    methods: Sequence[str] = (DEFAULT_METHOD,),
    *,
    target: TargetSpec = "predicted",
    params: dict[str, Any] | None = None,
    evaluate: bool = False,
    sanity: bool = False,
    sanity_texts: int = SANITY_TEXTS,
    attention_texts: int = ATTENTION_TEXTS,
    attention_max_tokens: int = ATTENTION_MAX_TOKENS,
    strategy: str | None = None,
    batch_size: int = 16,
    truncate: bool = False,
    title: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Explain `inputs` (texts, or images for an image classifier: whatever `adapter.modality` reads) with every
    method, add attention maps where the modality shows them, and (optionally) faithfulness (features removed by
    `strategy`, default the modality's) and the cascading randomisation check on the first `sanity_texts`
    inputs; return the report dict that `write_report` turns into one HTML file and `figures.write_figures`
    (or `image.write_overlays`) into images."""
    from trexplain.study import study

    modality = adapter.modality
    items = modality.read(inputs)
    if not items:
        raise InputError(f"no {modality.unit} to report on; pass them as arguments or --input FILE")
    methods = list(methods) or [DEFAULT_METHOD]
    params = dict(params or {})
    result = study(
        items,
        adapter,
        methods,
        target=target,
        params={name: params for name in methods},
        evaluate=evaluate,
        sanity=sanity,
        sanity_texts=sanity_texts,
        strategy=strategy,
        batch_size=batch_size,
        truncate=truncate,
        progress=progress,
    )
    per_input = result.per_input
    count = max(0, min(attention_texts, len(items))) if modality.shows_attention else 0
    attention: list[dict[str, Any] | None] = [None] * len(items)
    if count:
        attention[:count] = attention_maps(adapter, per_input[:count], batch_size)
    evaluation, summary = (None, None)
    if result.table is not None:
        evaluation = evaluation_per_text(result.table, per_input, key=modality.name)
        summary = {"table": result.table.rows, "verdict": result.table.verdict}
    checks = [check.to_dict() for check in result.sanity] if sanity else None
    table = result.table
    run = {
        "methods": methods,
        "target": target if isinstance(target, str) else ",".join(map(str, target)),
        **{f"param {k}": v for k, v in params.items()},
        modality.unit: len(items),
        "attention": f"first {count} texts, up to {attention_max_tokens} tokens" if count else "off",
        "evaluate": f"{table.level}s, strategy {table.strategy}" if table is not None else False,
        "sanity": f"first {min(len(items), max(1, sanity_texts))} {modality.unit}" if sanity else "off",
        "truncate": truncate,
        **modality.settings(adapter),
        "torch": torch.__version__,
    }
    return build_payload(
        per_input,
        title=title or f"trexplain report · {adapter.name}",
        model=model_info(adapter),
        params=run,
        attention=attention,
        evaluation=evaluation,
        summary=summary,
        sanity=checks,
        attention_max_tokens=attention_max_tokens,
    )


@torch.no_grad()
def attention_maps(
    adapter: ModelAdapter, per_text: Sequence[Sequence[Explanation]], batch_size: int = 16
) -> list[dict[str, Any] | None]:
    """`{"tokens", "offsets", "attention": [L, H, T, T]}` per text (None where the model returns none)."""
    out: list[dict[str, Any] | None] = []
    for start in range(0, len(per_text), batch_size):
        groups = per_text[start : start + batch_size]
        truncate = any(g[0].diagnostics.get("truncated_tokens") for g in groups)
        batch = adapter.encode([g[0].text for g in groups], truncate=truncate)
        try:
            _, attentions = adapter.attention_probabilities(batch.inputs)
        except MethodError:  # a model without attention probabilities: the report simply has no maps
            out.extend([None] * len(groups))
            continue
        stacked = torch.stack([a.float() for a in attentions], dim=1).cpu().numpy()  # [B, L, H, T, T]
        for row in range(len(groups)):
            n = batch.lengths[row]
            out.append(
                {
                    "tokens": list(batch.tokens[row]),
                    "offsets": batch.offsets[row],
                    "attention": stacked[row, :, :, :n, :n],
                }
            )
    return out


def evaluation_per_text(
    table: FaithfulnessTable,
    per_text: Sequence[Sequence[Explanation]],
    key: Callable[[Explanation], str] = lambda e: e.text,
) -> list[list[dict]]:
    """The faithfulness results of each text's explanations, then of its random floor, text by text.

    Results come explanation by explanation (in `per_text` order), target by target, and then the random
    floor's, one per distinct input (the `text` of its results, which `key` gives for an explanation: the
    text itself, or the modality's `name` of it); an input given twice gets its own results once
    each, the floor's both times.
    """
    entries = [{k: v for k, v in r.to_dict().items() if k != "text"} for r in table.evaluation.results]
    out, cursor = [], 0
    for group in per_text:
        size = sum(len(e.targets) for e in group)
        out.append(entries[cursor : cursor + size])
        cursor += size
    floor: dict[str, list[dict[str, Any]]] = {}
    for r, entry in zip(table.evaluation.results[cursor:], entries[cursor:], strict=True):
        if r.method == RANDOM:
            floor.setdefault(r.text, []).append(entry)
    for group, found in zip(per_text, out, strict=True):
        found.extend(floor.get(key(group[0]), []))
    return out


def write_report(payload: dict[str, Any], path: str | Path) -> Path:
    """Write the self-contained HTML file for a report dict (atomically: whole or not at all); returns the path."""
    from trexplain.io import atomic_file
    from trexplain.viz.html import render

    with atomic_file(path) as handle:
        handle.write(render(payload))
    return Path(path)


RUN_SAMPLE = 200  # texts of a run shown in its report (a seeded sample, plus those the dataset lists name)


def run_report(
    folder: str | Path,
    *,
    sample: int = RUN_SAMPLE,
    seed: int = 0,
    title: str | None = None,
    min_count: int | None = None,
) -> dict[str, Any]:
    """The report dict of a dataset run: a seeded sample of `sample` texts (and every text the dataset
    summary lists) with their explanations, paginated by the page, and the summary as the `dataset` section
    (words ranked when at least `min_count` texts hold them; default `runs.summary.MIN_COUNT`)."""
    import itertools

    import numpy as np

    from trexplain.arrow import from_arrow
    from trexplain.runs.load import shard_tables
    from trexplain.runs.manifest import read_manifest
    from trexplain.runs.summary import MIN_COUNT, summarize

    manifest = read_manifest(folder)
    config = manifest["config"]
    total = int(manifest.get("texts", 0))
    if not total:
        raise InputError(f"{folder} has no finished shards yet; run `trexplain run` into it first")
    dataset = summarize(folder, min_count=MIN_COUNT if min_count is None else min_count)
    listed = {entry["id"] for entries in dataset["lists"].values() for entry in entries}
    chosen = set(np.random.default_rng(seed).choice(total, size=min(sample, total), replace=False).tolist())
    per_text: list[list[Explanation]] = []
    number = 0
    for table in shard_tables(folder):
        ids = table.column("id").to_pylist()
        keep = []
        for i, key in enumerate(ids):
            if i == 0 or key != ids[i - 1]:
                number += 1
            if number - 1 in chosen or key in listed:
                keep.append(i)
        explanations = from_arrow(table.take(keep)) if keep else []
        for _, rows in itertools.groupby(zip(keep, explanations, strict=True), key=lambda item: ids[item[0]]):
            per_text.append([e for _, e in rows])
    run = {
        "run": str(folder),
        "methods": config["methods"],
        "target": config["target"],
        "texts in the run": total,
        "texts shown": f"{len(per_text)} (a sample of {min(sample, total)} with seed {seed}, and the listed ones)",
        "input": config["input_name"],
        "evaluate": config["evaluate"],
        "complete": manifest.get("complete", False),
    }
    payload = build_payload(
        per_text,
        title=title or f"trexplain run · {config['model']} · {total} texts",
        model={"name": config["model"], "weights_sha256": config["weights_sha256"]},
        params=run,
    )
    payload["dataset"] = dataset
    return payload
