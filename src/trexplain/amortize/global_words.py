"""Global explanations over a dataset run of any method (amortized, cp-lrp, kernelshap, ...): per class, the words
whose scores push towards it (and against it) most, with how many texts hold them and a t-interval of their mean
score. The statistics and why a t-interval over texts: `trexplain.runs.words`; the run streams shard by shard.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from trexplain.arrow import from_arrow
from trexplain.errors import InputError
from trexplain.io import write_text
from trexplain.runs.load import shard_tables
from trexplain.runs.manifest import methods_of, read_manifest
from trexplain.runs.words import CONFIDENCE, WordStats, check_options


def global_words(
    run: str | os.PathLike[str],
    *,
    method: str | None = None,
    top: int = 15,
    min_count: int = 5,
    confidence: float = CONFIDENCE,
    out: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Per class, the `top` words with the highest mean score above zero ("for") and the lowest below zero
    ("against") among words held by at least `min_count` of the class's texts: mean, t-interval (low, high),
    count (texts holding it), frequency (count over the class's texts), occurrences and share of texts where it
    scored above zero. Written as JSON to `out` when given."""
    check_options(top, min_count, confidence)
    methods = list(methods_of(read_manifest(run)["config"]))
    if method is None:
        if len(methods) != 1:
            raise InputError(f"the run {run} holds {', '.join(methods)}; name the method to summarise (--method)")
        method = methods[0]
    elif method not in methods:
        raise InputError(f"the run {run} holds {', '.join(methods)}, not {method!r}; name one of them")
    stats = WordStats()
    for table in shard_tables(run):
        for e in from_arrow(table.filter(pc.equal(table.column("method"), method))):
            stats.add(e)
    result = {
        "run": str(Path(run)),
        "method": method,
        "min_count": min_count,
        "confidence": confidence,
        "interval": "t",
        "classes": stats.table(top, min_count, confidence),
    }
    if out is not None:
        write_text(out, json.dumps(result, indent=1, ensure_ascii=False) + "\n", what="--out")
    return result
