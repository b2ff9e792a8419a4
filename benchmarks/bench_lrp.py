"""CP-LRP and AttnLRP: time per explanation, one class and all classes (batched vs one backward per class), and
per family on random small models (ratios to that model's forward+backward)."""

from __future__ import annotations

from benchmarks.common import Context, median_ms
from benchmarks.families import family_contexts, lrp_rows
from trexplain.methods import Targets
from trexplain.methods.autograd import target_gradients
from trexplain.methods.lrp import attnlrp_rules, cp_lrp_rules, lrp_attribution


def run(ctx: Context) -> list[dict]:
    rows = []
    for name, rules in (("cp-lrp", cp_lrp_rules), ("attnlrp", attnlrp_rules)):
        one_ms = 0.0
        for target, gradients, label in (
            ("predicted", target_gradients, "predicted"),
            ("all", target_gradients, "all, one batched backward"),
            ("all", target_gradients, "all, one backward per class"),
        ):
            targets = Targets(target, ctx.adapter)

            def call(text: str, targets=targets, rules=rules, gradients=gradients) -> None:
                lrp_attribution(ctx.adapter, ctx.adapter.encode([text]), targets, rules(), gradients)

            ms = median_ms(call, ctx.texts)
            one_ms = one_ms or ms
            rows.append(ctx.row("lrp", f"{name} ({label})", ms, x_one_class=round(ms / one_ms, 2)))
    rows.extend(per_family(ctx))
    return rows


def per_family(ctx: Context) -> list[dict]:
    """cp-lrp and attnlrp (predicted class) on a random small model of every family."""
    return lrp_rows(family_contexts(ctx), "lrp")
