"""`make_image_report`: images in, the whole study out (explanations, patch evaluation, sanity) as one report dict.

The image counterpart of `report.run.make_report`: the same payload (`viz.payload.build_payload`), each input
an image record (`ImageLayout.to_dict()`: the input as a PNG data URL, grid, patch size, special tokens,
preprocessing) that the report's image card draws as a heatmap overlay; attention maps are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from trexplain.errors import InputError
from trexplain.evaluate.patches import image_key
from trexplain.methods.base import DEFAULT_METHOD, TargetSpec
from trexplain.models.vision import VisionAdapter
from trexplain.report.run import evaluation_per_text
from trexplain.viz.payload import build_payload, model_info

SANITY_IMAGES = 10  # the randomisation check re-explains its images once per model part


def make_image_report(
    images: Sequence[Any],
    adapter: VisionAdapter,
    methods: Sequence[str] = (DEFAULT_METHOD,),
    *,
    target: TargetSpec = "predicted",
    params: dict[str, Any] | None = None,
    evaluate: bool = False,
    sanity: bool = False,
    sanity_images: int = SANITY_IMAGES,
    strategy: str = "delete",
    batch_size: int = 16,
    title: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Explain `images` with every method, optionally evaluate them on patches and sanity-check the first
    `sanity_images`; the report dict that `report.run.write_report` turns into one HTML file."""
    from trexplain.study import study

    items = list(images) if isinstance(images, (list, tuple)) else [images]
    if not items:
        raise InputError("no image to report on; pass --image FILE or an --input folder of images")
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
        sanity_texts=sanity_images,
        strategy=strategy,
        batch_size=batch_size,
        progress=progress,
    )
    per_image = result.per_input
    evaluation, summary = None, None
    if result.table is not None:
        evaluation = evaluation_per_text(result.table, per_image, key=lambda e: image_key(e.layout))
        summary = {"table": result.table.rows, "verdict": result.table.verdict}
    run = {
        "methods": methods,
        "target": target if isinstance(target, str) else ",".join(map(str, target)),
        **{f"param {k}": v for k, v in params.items()},
        "images": len(items),
        "evaluate": f"patches, fill {result.table.strategy}" if result.table is not None else False,
        "sanity": f"first {min(len(items), max(1, sanity_images))} images" if sanity else "off",
        "preprocessing": adapter.preprocessing.to_dict(),
        "torch": torch.__version__,
    }
    return build_payload(
        per_image,
        title=title or f"trexplain report · {adapter.name}",
        model=model_info(adapter),
        params=run,
        evaluation=evaluation,
        summary=summary,
        sanity=[check.to_dict() for check in result.sanity] if sanity else None,
    )
