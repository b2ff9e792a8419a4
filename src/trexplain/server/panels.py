"""What the optional panels serve: probes (`trexplain.probe`), concept folders (`trexplain.concepts`) checked
against the served model's weights, and a dataset run folder (`trexplain.runs`) read once into one row per text
for the data table. Each function returns a JSON-ready dict; the model calls run in the worker pool."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trexplain.errors import InputError
from trexplain.models.heads import SINGLE_LABEL, outputs_np
from trexplain.server.models import ServedModel

PROBE_EDITS = ("delete", "embed", "char")
"""Edit sources a client may ask for: the others (`mlm`, `words`) read server-side files."""

RUN_SORTS = ("row", "predicted", "confidence", "comprehensiveness", "sufficiency")
RUN_COLUMNS = ("id", "row", "text", "method", "labels", "logits", "targets")
RUN_FAITHFULNESS = ("comprehensiveness", "sufficiency")


# ------------------------------------------------------------------ probe
def probe_json(
    served: ServedModel,
    text: str,
    *,
    target: str | int | None,
    edits: Sequence[str],
    ranking: str | None,
    budget: int,
    seed: int,
    params: Mapping[str, Any],
    form: str,
) -> dict[str, Any]:
    """One probe of `text` with both explanations: `ProbeResult.to_dict()`, or ("report") the report payload
    whose `probe` section `section-probe.js` draws."""
    from trexplain.probe import Constraints, prober
    from trexplain.probe.view import probe_payload
    from trexplain.progress import stage
    from trexplain.viz.payload import model_info

    unknown = sorted(set(edits) - set(PROBE_EDITS))
    if unknown:
        raise InputError(f"edits {', '.join(unknown)} are not served; use {', '.join(PROBE_EDITS)}")
    adapter = served.adapter
    with adapter.session(), stage("probing", total=1) as advance:
        search = prober(
            adapter,
            edits=list(edits),
            ranking=ranking,
            constraints=Constraints(budget=budget),
            seed=seed,
            params=dict(params),
            explain=True,
        )
        result = search.run(text, target)
        advance()
    if form == "report":
        return probe_payload(result, model_info(adapter))
    return result.to_dict()


# ------------------------------------------------------------------ concepts
@dataclass
class ServedConcepts:
    """A concept folder (`ConceptSet`) and the served model it was fitted on."""

    name: str
    concepts: Any
    model: ServedModel

    def info(self) -> dict[str, Any]:
        meta = self.concepts.meta
        return {
            "name": self.name,
            "model": self.model.name,
            "method": meta.get("method"),
            "site": meta.get("site"),
            "granularity": meta.get("granularity"),
            "n_concepts": self.concepts.n_concepts,
            "labelled": bool(self.concepts.labels),
        }

    def summary(self) -> dict[str, Any]:
        """The folder as the report's concepts payload: per class the concepts ranked by importance, their top
        words and inputs, labels where the folder has them, deletion curves and metrics."""
        from trexplain.concepts.report import payload

        return {"name": self.name, "model": self.model.name, "payload": payload(self.concepts)}

    def explain(self, text: str) -> dict[str, Any]:
        """Which concepts fire in `text` and what each contributes (`ConceptSet.explain`), and the payload that
        draws it as the concepts section's heatmap example."""
        from trexplain.concepts.conceptset import finite_json
        from trexplain.concepts.report import payload

        with self.model.adapter.session():
            found = finite_json(self.concepts.explain(self.model.adapter, text, truncate=True))
        drawn = payload(self.concepts, [found])
        return {"name": self.name, "model": self.model.name, "result": found, "payload": drawn}


def attach_concepts(sets: Sequence[Any], models: Mapping[str, ServedModel]) -> dict[str, ServedConcepts]:
    """Each concept set with the served model whose weights it was fitted on (`ConceptSet.check_model`), by a
    unique name (its folder's name); an InputError when no served model has those weights."""
    out: dict[str, ServedConcepts] = {}
    for concepts in sets:
        owner = None
        for model in models.values():
            try:
                concepts.check_model(model.adapter)
            except InputError:
                continue
            owner = model
            break
        base = Path(concepts.path).name if concepts.path is not None else "concepts"
        if owner is None:
            raise InputError(
                f"the concepts {base} were fitted on {concepts.meta.get('model')!r} with weights no served model has; "
                f"serve that model too (--model {concepts.meta.get('model_source') or 'DIR'})"
            )
        name = base
        for n in itertools.count(2):
            if name not in out:
                break
            name = f"{base}-{n}"
        out[name] = ServedConcepts(name, concepts, owner)
    return out


def load_concept_sets(folders: Sequence[str | os.PathLike[str]]) -> list[Any]:
    from trexplain.concepts.conceptset import ConceptSet

    return [ConceptSet.load(folder) for folder in folders]


# ------------------------------------------------------------------ run folders
@dataclass
class ServedRun:
    """A dataset run folder, read once (the columns the data table needs): one row per text with its
    prediction, confidence and, per method, the faithfulness of its explanation of the predicted class."""

    path: Path
    manifest: dict[str, Any]
    rows: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, folder: str | os.PathLike[str]) -> ServedRun:
        from trexplain.runs.load import shard_tables
        from trexplain.runs.manifest import read_manifest
        from trexplain.runs.summary import summarize

        path = Path(folder)
        manifest = read_manifest(path)
        rows: list[dict[str, Any]] = []
        head = None
        for table in shard_tables(path):
            if head is None and len(table):  # one model wrote the run: its head, as recorded in the first row
                head = json.loads(table.column("diagnostics")[0].as_py() or "{}").get("head", SINGLE_LABEL)
            names = [n for n in (*RUN_COLUMNS, *RUN_FAITHFULNESS) if n in table.column_names]
            columns = {n: table.column(n).to_pylist() for n in names}
            ids = columns["id"]
            for _, group in itertools.groupby(range(len(ids)), key=lambda i: ids[i]):
                rows.append(_run_row([{n: columns[n][i] for n in names} for i in group], head))
        if not rows:
            raise InputError(f"{path} has no finished shards yet; run `trexplain run` into it first")
        return cls(path, manifest, rows, summarize(path))

    def info(self) -> dict[str, Any]:
        config = self.manifest.get("config", {})
        return {
            "name": self.path.name,
            "model": config.get("model"),
            "methods": list(config.get("methods", [])),
            "texts": len(self.rows),
            "evaluate": bool(config.get("evaluate")),
            "complete": bool(self.manifest.get("complete")),
        }

    def page(
        self,
        offset: int,
        limit: int,
        *,
        sort: str = "row",
        desc: bool = False,
        predicted: str | None = None,
        min_confidence: float = 0.0,
        method: str | None = None,
    ) -> dict[str, Any]:
        """Rows `offset`…`offset + limit` after filtering (predicted class, least confidence) and sorting (a
        `RUN_SORTS` key; faithfulness of `method`, default the run's first); missing values sort last."""
        methods = self.info()["methods"]
        method = method or (methods[0] if methods else None)
        if method not in methods:
            raise InputError(f"the run has no method {method!r}; it has {', '.join(methods)}")
        if sort not in RUN_SORTS:
            raise InputError(f"cannot sort by {sort!r}; use one of {', '.join(RUN_SORTS)}")
        chosen = [
            r for r in self.rows if (not predicted or r["predicted"] == predicted) and r["confidence"] >= min_confidence
        ]

        def value(r: dict[str, Any]) -> Any:
            return r["faithfulness"].get(method, {}).get(sort) if sort in RUN_FAITHFULNESS else r[sort]

        present = sorted((r for r in chosen if value(r) is not None), key=lambda r: (value(r), r["row"]), reverse=desc)
        ordered = present + [r for r in chosen if value(r) is None]
        out = []
        for r in ordered[offset : offset + limit]:
            faith = r["faithfulness"].get(method, {})
            out.append({**r, "method": method, **{n: faith.get(n) for n in RUN_FAITHFULNESS}})
        return {"total": len(self.rows), "matched": len(chosen), "offset": offset, "method": method, "rows": out}


def _run_row(group: list[dict[str, Any]], head: str) -> dict[str, Any]:
    """One text of a run from its rows (one per method): prediction and confidence from the logits (through the
    model's `head`, `models.heads`), and each method's AOPC for the predicted class where the run was evaluated."""
    first = group[0]
    logits = np.asarray(first["logits"], dtype=np.float64)
    probs = outputs_np(logits, head)
    predicted = int(np.argmax(logits))
    faithfulness = {}
    for entry in group:
        targets = list(entry["targets"])
        k = targets.index(predicted) if predicted in targets else None
        values = {n: _finite(None if k is None or entry.get(n) is None else entry[n][k]) for n in RUN_FAITHFULNESS}
        if any(v is not None for v in values.values()):
            faithfulness[entry["method"]] = values
    return {
        "row": int(first["row"]),
        "id": first["id"],
        "text": first["text"],
        "predicted": first["labels"][predicted],
        "confidence": float(probs[predicted]),
        "faithfulness": faithfulness,
    }


def _finite(value: Any) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)
