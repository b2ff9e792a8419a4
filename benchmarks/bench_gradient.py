"""Single-pass gradient methods: time per explanation, one class and all classes."""

from __future__ import annotations

from benchmarks.common import Context, median_ms
from trexplain.methods import Targets, get_method


def run(ctx: Context) -> list[dict]:
    rows = []
    for name in ("saliency", "gxi"):
        method = get_method(name)
        for target in ("predicted", "all"):
            targets = Targets(target, ctx.adapter)

            def call(text: str, method=method, targets=targets) -> None:
                method.attribute(ctx.adapter, ctx.adapter.encode([text]), targets)

            rows.append(ctx.row("gradient", f"{name} ({target})", median_ms(call, ctx.texts)))
    return rows
