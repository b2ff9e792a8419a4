"""The JSON API under `/api/`: each route checks its limits, runs one library call in the worker pool
(`compute`) and answers with the records of `explain --json` (or, with `"format": "report"`, the report payload
the page draws). Long work (evaluate, sanity, a data table) runs as a job: 202 with its id, then poll
`GET /api/jobs/{id}` for progress and the result, `DELETE` it to cancel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from trexplain import checks
from trexplain.errors import InputError
from trexplain.methods.base import DEFAULT_METHOD, available_methods
from trexplain.server import compute, panels
from trexplain.server.jobs import KEEP_FINISHED
from trexplain.server.limits import LimitError, check_at_most, check_k, check_methods, check_params, check_texts
from trexplain.server.models import ServedModel
from trexplain.study import StudyOptions

# the library's own checks run on the JSON values, so `"target": true` is refused as in Python, not taken as 1
Target = Annotated[str | int | list[str | int], BeforeValidator(lambda value: checks.target(value))]
Goal = Annotated[str | int | None, BeforeValidator(lambda value: checks.goal(value))]
Layer = Annotated[int, BeforeValidator(lambda value: checks.whole(value, "layer"))]
Count = Annotated[int, BeforeValidator(lambda value: checks.count(value))]
Form = Literal["records", "report"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExplainBody(Strict):
    texts: list[str] = Field(min_length=1, description="Texts to explain (or give `text`).")
    model: str | None = Field(None, description="A served model's name (default: the first).")
    methods: list[str] = Field([DEFAULT_METHOD], min_length=1)
    target: Target = "predicted"
    params: dict[str, dict[str, Any]] = Field({}, description="Parameters per method, e.g. {'ig': {'steps': 16}}.")
    truncate: bool = Field(False, description="Explain only the first tokens an over-long text has room for.")
    windows: bool = Field(
        False, description="Explain an over-long text in overlapping windows the model takes (not with truncate)."
    )
    format: Form = "records"


class EvaluateBody(ExplainBody):
    sanity: bool = Field(False, description="Also run the model-randomisation check (slow).")


class TextBody(Strict):
    text: str
    model: str | None = None


class LayersBody(TextBody):
    method: str = DEFAULT_METHOD
    target: Target = "predicted"
    params: dict[str, Any] = {}


class AttentionBody(TextBody):
    layer: Layer | None = Field(None, description="One block's full per-head maps; omit for the aggregates.")


class NeighboursBody(TextBody):
    token: int | str = Field(description="Token index (0 = first special token) or a word of the text.")
    layer: Layer = -1
    k: Count = 10


class MaskedBody(TextBody):
    word: str | None = Field(None, description="Word to mask (default: the text holds the mask token).")
    k: Count = 5


class CompareBody(Strict):
    text: str
    models: list[str] = Field(min_length=2, max_length=2)
    methods: list[str] = Field([DEFAULT_METHOD], min_length=1)
    target: Target = "predicted"
    params: dict[str, dict[str, Any]] = {}
    format: Form = "records"


class TableBody(Strict):
    texts: list[str] = Field(min_length=1)
    model: str | None = None
    method: str = "gxi"


class ProbeBody(TextBody):
    target: Goal = Field(None, description="Class to reach (counterfactual); none: any other class.")
    edits: list[str] = Field(list(panels.PROBE_EDITS), min_length=1, description="Edit sources: delete, embed, char.")
    rank: str | None = Field(None, description="Ranking: a method, 'deletion' or 'random' (default cp-lrp).")
    params: dict[str, Any] = Field({}, description="Parameters of the ranking method.")
    budget: Annotated[int | None, BeforeValidator(lambda v: checks.optional_whole(v, "budget", least=1))] = Field(
        None, description="Most model queries (default 500, or the server's limit)."
    )
    seed: Annotated[int, BeforeValidator(lambda value: checks.whole(value, "seed"))] = 0
    format: Form = "records"


class ConceptsBody(Strict):
    text: str
    concepts: str | None = Field(None, description="A served concept folder's name (default: the first).")


def served(request: Request, name: str | None) -> ServedModel:
    models: dict[str, ServedModel] = request.app.state.models
    if name is None:
        return next(iter(models.values()))
    if name not in models:
        raise UnknownModel(name, list(models))
    return models[name]


class UnknownModel(InputError):
    def __init__(self, name: str, names: list[str]) -> None:
        super().__init__(f"no model {name!r} is served; served: {', '.join(names)}")


def _checked(request: Request, body: ExplainBody, *, most: int | None = None) -> ServedModel:
    check_texts(body.texts, request.app.state.limits, most=most)
    return served(request, body.model)


def _options(request: Request, body: ExplainBody | CompareBody, **keywords: Any) -> StudyOptions:
    """The request's methods, parameters (per method) and target as checked study options, every bounded
    parameter within the server's limits before any method is made."""
    check_methods(body.methods, request.app.state.limits)
    _within_limits(request, body.params)
    return StudyOptions.build(body.methods, body.params, target=body.target, **keywords)


def _within_limits(request: Request, params: Mapping[str, Mapping[str, Any]]) -> None:
    """`check_params` on the values as numbers: a number written as a string (`"steps": "1e9"`) is the number
    the method would make of it, so it cannot slip past the limit (and a billion steps are never allocated)."""
    numeric = {method: {key: _number(value) for key, value in values.items()} for method, values in params.items()}
    check_params(numeric, request.app.state.limits)


def _number(value: Any) -> Any:
    """A numeric string as its float; anything else as it is (the method's own conversion judges it)."""
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


router = APIRouter(prefix="/api")


@router.get("/models")
def models(request: Request) -> dict[str, Any]:
    """The served models (labels, layers, heads, masked-LM head, index), the methods and their parameters, the
    limits, and which optional panels the server supports."""
    methods = {
        name: {
            "summary": cls.summary,
            "signed": cls.signed,
            "cost": cls.cost,
            "layer_site": cls.layer_site,
            "params": [{"name": p.name, "type": p.type, "default": _jsonable(p.default)} for p in cls.describe()],
        }
        for name, cls in available_methods().items()
    }
    return {
        "models": [m.info() for m in request.app.state.models.values()],
        "methods": methods,
        "default_method": DEFAULT_METHOD,
        "limits": request.app.state.limits.to_dict(),
        "capabilities": request.app.state.capabilities,
        "concepts": [c.info() for c in request.app.state.concepts.values()],
        "run": None if request.app.state.run is None else request.app.state.run.info(),
    }


@router.post("/explain")
async def explain(request: Request, body: ExplainBody) -> dict[str, Any]:
    """Explain texts with methods for a target: `Study.to_dict()` (its `records` are `explain --json`'s)."""
    model = _checked(request, body)
    limits = request.app.state.limits
    options = _options(request, body, truncate=body.truncate, windows=body.windows, batch_size=limits.batch_texts)

    def work() -> dict[str, Any]:
        return compute.study_json(compute.served_study(model, body.texts, options), model, body.format)

    return await request.app.state.jobs.run("explain", work)


@router.post("/layers")
async def layers(request: Request, body: LayersBody) -> dict[str, Any]:
    """Relevance by layer: the method's `layer_scores` per target ([layers][tokens]) and where rows are taken."""
    cls = available_methods().get(body.method)
    if cls is not None and cls.layer_site is None:
        with_layers = ", ".join(n for n, c in available_methods().items() if c.layer_site)
        raise InputError(f"{body.method} has no per-layer scores; use one of {with_layers}")
    check_texts([body.text], request.app.state.limits)
    model = served(request, body.model)
    _within_limits(request, {body.method: body.params})
    options = StudyOptions.build([body.method], {body.method: body.params}, target=body.target)

    def work() -> dict[str, Any]:
        result = compute.served_study(model, [body.text], options)
        record = result.records()[0]
        return {"method": body.method, "layer_site": cls.layer_site if cls else None, "record": record}

    return await request.app.state.jobs.run("layers", work)


@router.post("/attention")
async def attention(request: Request, body: AttentionBody) -> dict[str, Any]:
    """Attention of one text: aggregates (per block mean/max over heads, head thumbnails), or with `layer` that
    block's full per-head maps, each map as uint8 (× 255) zlib base64, as in the report."""
    check_texts([body.text], request.app.state.limits)
    model = served(request, body.model)
    if body.layer is None:
        return await request.app.state.jobs.run("attention", lambda: compute.attention_summary(model, body.text))
    return await request.app.state.jobs.run("attention", lambda: compute.attention_layer(model, body.text, body.layer))


@router.post("/neighbours")
async def neighbours(request: Request, body: NeighboursBody) -> dict[str, Any]:
    """The k corpus tokens nearest to one token of the text at one layer (needs `serve --index DIR`)."""
    check_texts([body.text], request.app.state.limits)
    check_k(body.k, request.app.state.limits)
    model = served(request, body.model)
    return await request.app.state.jobs.run(
        "neighbours", lambda: compute.neighbours_json(model, body.text, body.token, body.layer, body.k)
    )


@router.post("/masked")
async def masked(request: Request, body: MaskedBody) -> dict[str, Any]:
    """Top-k predictions for a masked word at every layer (models served with a masked-LM head)."""
    check_texts([body.text], request.app.state.limits)
    check_k(body.k, request.app.state.limits)
    model = served(request, body.model)
    return await request.app.state.jobs.run("masked", lambda: compute.masked_json(model, body.text, body.word, body.k))


@router.post("/compare")
async def compare(request: Request, body: CompareBody) -> dict[str, Any]:
    """The same text explained by two served models: `{"models": [...], "results": [one Study dict each]}`."""
    limits = request.app.state.limits
    check_texts([body.text], limits)
    pair = [served(request, name) for name in body.models]
    options = _options(request, body)

    def work() -> dict[str, Any]:
        out = []
        for model in pair:
            result = compute.served_study(model, [body.text], options)
            out.append(compute.study_json(result, model, body.format))
        return {"models": [m.name for m in pair], "results": out}

    return await request.app.state.jobs.run("compare", work)


@router.post("/evaluate", status_code=202)
def evaluate(request: Request, body: EvaluateBody) -> dict[str, Any]:
    """Start a job: explain and evaluate (removal curves, AOPC, the random floor; optionally the sanity check).
    Poll `GET /api/jobs/{id}`; its result is `Study.to_dict()` (or the report payload)."""
    if body.windows:
        raise InputError(
            "windows explain an over-long text, but removal curves need the whole text in one model input; "
            "evaluate with truncate instead"
        )
    model = _checked(request, body)
    limits = request.app.state.limits
    options = _options(
        request, body, evaluate=True, sanity=body.sanity, truncate=body.truncate, batch_size=limits.batch_texts
    )

    def work() -> dict[str, Any]:
        result = compute.served_study(model, body.texts, options)
        return compute.study_json(result, model, body.format)

    return request.app.state.jobs.submit("evaluate", work, timeout=limits.job_timeout_s).to_dict()


@router.post("/table", status_code=202)
def table(request: Request, body: TableBody) -> dict[str, Any]:
    """Start a job: predict, explain (one method) and evaluate many texts; the result's `rows` hold each text's
    predicted class, confidence and faithfulness (AOPC comprehensiveness / sufficiency) for the data table."""
    limits = request.app.state.limits
    check_texts(body.texts, limits, most=limits.max_table_texts, what="max_table_texts")
    model = served(request, body.model)
    options = StudyOptions.build([body.method], evaluate=True, batch_size=limits.batch_texts)

    def work() -> dict[str, Any]:
        result = compute.served_study(model, body.texts, options)
        return {"model": model.name, "method": body.method, "rows": compute.table_rows(result, body.method)}

    return request.app.state.jobs.submit("table", work, timeout=limits.job_timeout_s).to_dict()


@router.post("/probe", status_code=202)
def probe(request: Request, body: ProbeBody) -> dict[str, Any]:
    """Start a job: find a small edit of the text that changes the prediction (or reaches `target`), every model
    query counted (`trexplain.probe`); its result is `ProbeResult.to_dict()` with both explanations (or, with
    `"format": "report"`, the payload whose probe section the page draws)."""
    limits = request.app.state.limits
    check_texts([body.text], limits)
    budget = min(500, limits.max_probe_budget) if body.budget is None else body.budget
    check_at_most(budget, limits, "max_probe_budget", "budget")
    _within_limits(request, {body.rank or DEFAULT_METHOD: body.params})
    model = served(request, body.model)
    if not request.app.state.capabilities["probe"]:
        raise InputError("probing is not installed with this server")

    def work() -> dict[str, Any]:
        return panels.probe_json(
            model,
            body.text,
            target=body.target,
            edits=body.edits,
            ranking=body.rank,
            budget=budget,
            seed=body.seed,
            params=body.params,
            form=body.format,
        )

    return request.app.state.jobs.submit("probe", work, timeout=limits.job_timeout_s).to_dict()


class NoConcepts(InputError):
    """No concept folder is served, or none of that name."""


def _concepts(request: Request, name: str | None) -> panels.ServedConcepts:
    sets: dict[str, panels.ServedConcepts] = request.app.state.concepts
    if not sets:
        raise NoConcepts("no concept folder is served; start serve with --concepts DIR (trexplain concepts fit)")
    if name is None:
        return next(iter(sets.values()))
    if name not in sets:
        raise NoConcepts(f"no concept folder {name!r} is served; served: {', '.join(sets)}")
    return sets[name]


@router.get("/concepts")
def concepts(request: Request, name: str | None = None) -> dict[str, Any]:
    """A served concept folder (default: the first): its report payload (per class the concepts ranked by
    importance, their top words and inputs, labels, deletion curves, metrics) and the names of all folders."""
    found = _concepts(request, name)
    return {**found.summary(), "folders": [c.info() for c in request.app.state.concepts.values()]}


@router.post("/concepts/explain")
async def concepts_explain(request: Request, body: ConceptsBody) -> dict[str, Any]:
    """Which concepts fire in a text and their contribution to its prediction (`ConceptSet.explain`: code,
    ablation, concept × gradient, gradient per concept, token codes), and the payload drawing it."""
    check_texts([body.text], request.app.state.limits)
    found = _concepts(request, body.concepts)
    return await request.app.state.jobs.run("concepts", lambda: found.explain(body.text))


class NoRun(InputError):
    """No run folder is served."""


def _run(request: Request) -> panels.ServedRun:
    if request.app.state.run is None:
        raise NoRun("no run folder is served; start serve with --run DIR (a `trexplain run` output folder)")
    return request.app.state.run


@router.get("/run")
def run(request: Request) -> dict[str, Any]:
    """The served run folder (read-only): its manifest and the dataset summary (`runs.summary.summarize`)."""
    found = _run(request)
    return {"info": found.info(), "manifest": found.manifest, "summary": found.summary}


@router.get("/run/rows")
def run_rows(
    request: Request,
    offset: int = Query(0, ge=0),
    limit: int | None = Query(None, ge=1, description="rows per page (default 50, or the server's max_rows)"),
    sort: str = Query("row", description=f"one of {', '.join(panels.RUN_SORTS)}"),
    desc: bool = False,
    predicted: str | None = Query(None, description="only texts predicted as this class"),
    min_confidence: float = Query(0.0, ge=0, le=1),
    method: str | None = Query(None, description="whose faithfulness to show and sort by (default: the first)"),
) -> dict[str, Any]:
    """One page of the run's texts (prediction, confidence, faithfulness), filtered and sorted."""
    limits = request.app.state.limits
    limit = min(50, limits.max_rows) if limit is None else limit
    check_at_most(limit, limits, "max_rows", "limit")
    return _run(request).page(
        offset, limit, sort=sort, desc=desc, predicted=predicted, min_confidence=min_confidence, method=method
    )


@router.get("/jobs/{job_id}")
def job(request: Request, job_id: str) -> JSONResponse:
    """A job's state and progress; when done its `result`, when failed its `error`."""
    found = _job(request, job_id)
    out = found.to_dict()
    if found.state == "done":
        out["result"] = found.result
    elif found.state == "failed":
        return error_response(found.error, extra={"job": out})
    return JSONResponse(out)


@router.delete("/jobs/{job_id}")
def cancel(request: Request, job_id: str) -> dict[str, Any]:
    """Cancel a job: it stops at its next step (state `cancelled`)."""
    found = _job(request, job_id)
    found.cancel.set()
    return found.to_dict()


class UnknownJob(InputError):
    """No job of that id (never made, or finished long ago and dropped)."""


def _job(request: Request, job_id: str):
    found = request.app.state.jobs.get(job_id)
    if found is None:
        raise UnknownJob(f"no job {job_id!r}; finished jobs are kept until {KEEP_FINISHED} newer ones finished")
    return found


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else repr(value)


def error_response(exc: BaseException | None, extra: dict[str, Any] | None = None) -> JSONResponse:
    """The JSON error of an exception: a limit (its status and name), a library error (400; 404 for an unknown
    model or job), or anything else (500, the type only)."""
    from trexplain.errors import TrexplainError

    if isinstance(exc, LimitError):
        status, error = exc.status, exc.to_dict()
    elif isinstance(exc, UnknownModel | UnknownJob | NoConcepts | NoRun):
        status, error = 404, {"type": type(exc).__name__, "message": str(exc)}
    elif isinstance(exc, TrexplainError):
        status, error = 400, {"type": type(exc).__name__, "message": str(exc)}
    else:
        status, error = 500, {"type": "internal", "message": f"the server failed ({type(exc).__name__}); see its log"}
    return JSONResponse({"error": error, **(extra or {})}, status_code=status)
