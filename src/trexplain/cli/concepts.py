"""`trexplain concepts fit | show | explain`: dictionaries of what a layer represents, from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from trexplain.cli.common import (
    BatchSizeOpt,
    Command,
    Commands,
    LoadOptions,
    ModelOptions,
    ParamOpt,
    QuietOpt,
    TextColumnOpt,
    TruncateOpt,
    app,
    check_outputs,
    flag,
    guarded,
    parse_params,
    read_inputs,
    say,
    with_blocks,
)
from trexplain.viz import terminal

concepts_app = typer.Typer(
    cls=Commands,
    no_args_is_help=True,
    help="Concepts: learn a dictionary of a layer's activations, see what each concept means and how much it matters.",
)
app.add_typer(concepts_app, name="concepts")

DirArg = Annotated[Path, typer.Argument(help="A concept folder from `trexplain concepts fit`.")]
JsonOpt = Annotated[bool, flag("--json", "Print JSON instead of tables.")]


def _dump(data: object) -> None:
    sys.stdout.write(json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n")


@concepts_app.command(cls=Command)
@with_blocks
def fit(
    input_file: Annotated[
        str, typer.Option("--input", "-i", help="'demo' (the demo corpus) or a .txt/.csv/.tsv/.jsonl file of texts.")
    ],
    out: Annotated[Path, typer.Option(help="Concept folder to write (replaced whole if it is one).")],
    layer: Annotated[int, typer.Option(help="Block whose output is read (0-based, -1 = last).")] = -1,
    site: Annotated[
        str | None, typer.Option(help="Any capture site instead of --layer: embeddings, block_input:L, module:PATH.")
    ] = None,
    granularity: Annotated[str, typer.Option(help="cls, mean, token or word.")] = "cls",
    word_reduce: Annotated[str, typer.Option(help="How a word's tokens combine (word granularity).")] = "mean",
    method: Annotated[str, typer.Option(help="pca, ica, nmf, semi-nmf, kmeans, relu-sae, topk-sae, ...")] = "semi-nmf",
    k: Annotated[int, typer.Option("-k", min=1, help="Number of concepts.")] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the dictionary.")] = 0,
    params: ParamOpt = None,
    label: Annotated[
        str | None, typer.Option("--class", help="A class-wise dictionary: only texts predicted as this class.")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N texts.")] = None,
    text_column: TextColumnOpt = None,
    importance_texts: Annotated[int, typer.Option(min=1, help="Texts for importance per class.")] = 200,
    deletion_texts: Annotated[int, typer.Option(min=1, help="Texts for the deletion curves.")] = 100,
    stability: Annotated[bool, flag("--stability", "Fit a second seed and report the matched cosine.")] = False,
    batch_size: BatchSizeOpt = 32,
    truncate: TruncateOpt = False,
    quiet: QuietOpt = False,
    *,
    loading: ModelOptions,
) -> None:
    """Fit a dictionary of concepts on a corpus and save it with its interpretation, importance and metrics."""
    with guarded(quiet):
        from trexplain.concepts.conceptset import CONTENTS, fit_concepts
        from trexplain.inspect.neighbours import demo_corpus
        from trexplain.io import check_output

        source = None if input_file == "demo" else Path(input_file)
        check_output(out, inputs=[source] if source else [], folder=True, contents=CONTENTS, what="--out")
        texts = demo_corpus(limit) if source is None else read_inputs(None, source, text_column)[:limit]
        result = fit_concepts(
            loading.load(),
            texts,
            site=site or f"block_output:{layer}",
            granularity=granularity,
            method=method,
            n_concepts=k,
            seed=seed,
            params=parse_params(params or []),
            class_label=label,
            word_reduce=word_reduce,
            importance_texts=importance_texts,
            deletion_texts=deletion_texts,
            stability=stability,
            batch_size=batch_size,
            truncate=truncate,
            model_source=loading.model,
        )
        result.save(out)
        say(f"wrote {out} ({result.n_concepts} concepts of {result.meta['texts_used']} texts)")


@concepts_app.command(cls=Command)
@with_blocks
def show(
    folder: DirArg,
    as_json: JsonOpt = False,
    html: Annotated[
        Path | None, typer.Option(help="Also write a self-contained HTML page (loads the model for its heatmaps).")
    ] = None,
    texts: Annotated[
        list[str] | None, typer.Option("--text", help="A text drawn as a concept heatmap in --html (repeatable).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Model for --html (default: the one the concepts were fitted on)."),
    ] = None,
    importance: Annotated[str, typer.Option(help="gradient, concept_x_gradient or ablation.")] = "ablation",
    inputs: Annotated[int, typer.Option(min=1, help="Top inputs shown per concept.")] = 1,
    quiet: QuietOpt = False,
    *,
    loading: LoadOptions,
) -> None:
    """Per concept: label (labels.json), top words, top inputs, importance per class; then the metrics, each with
    what it means."""
    with guarded(quiet):
        from trexplain.concepts.conceptset import CONTENTS, ConceptSet
        from trexplain.concepts.terminal import concepts_view

        check_outputs({"--html": html}, inputs=[folder / name for name in CONTENTS])
        concepts = ConceptSet.load(folder)
        if html is not None:
            from trexplain.concepts.report import write_html

            adapter = loading.load(model or concepts.meta.get("model_source") or "demo")
            write_html(concepts, html, adapter=adapter, texts=read_inputs(texts, None) if texts else ())
            say(f"wrote {html}")
        if as_json:
            _dump(concepts.to_dict())
            return
        terminal.show(concepts_view(concepts, importance=importance, inputs=inputs))


@concepts_app.command(cls=Command)
@with_blocks
def explain(
    text: Annotated[str, typer.Argument(help="The text to explain.")],
    concepts_dir: Annotated[Path, typer.Option("--concepts", help="A concept folder from `concepts fit`.")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model (default: the one the concepts were fitted on).")
    ] = None,
    as_json: JsonOpt = False,
    html: Annotated[
        Path | None,
        typer.Option(help="Also write a self-contained HTML page: the text's concepts, a heatmap, then the set."),
    ] = None,
    top: Annotated[int, typer.Option(min=1, help="Concepts shown.")] = 8,
    truncate: TruncateOpt = False,
    quiet: QuietOpt = False,
    *,
    loading: LoadOptions,
) -> None:
    """Which concepts fire in TEXT and how much each contributes to its prediction."""
    with guarded(quiet):
        from trexplain.concepts.conceptset import CONTENTS, ConceptSet
        from trexplain.concepts.terminal import explain_view

        check_outputs({"--html": html}, inputs=[concepts_dir / name for name in CONTENTS])
        [text] = read_inputs([text], None)
        concepts = ConceptSet.load(concepts_dir)
        adapter = loading.load(model or concepts.meta.get("model_source") or "demo")
        concepts.check_model(adapter)
        result = concepts.explain(adapter, text, truncate=truncate)
        if html is not None:
            from trexplain.concepts.report import write_explain_html

            write_explain_html(concepts, result, html)
            say(f"wrote {html}")
        if as_json:
            _dump(result)
            return
        terminal.show(explain_view(result, top=top))


@concepts_app.command(cls=Command)
@with_blocks
def label(
    concepts_dir: DirArg,
    llm_url: Annotated[
        str,
        typer.Option(
            "--llm-url", help="Base URL of an OpenAI-compatible chat endpoint, e.g. http://127.0.0.1:8080/v1."
        ),
    ],
    llm_model: Annotated[str, typer.Option("--llm-model", help="The endpoint's model name.")],
    api_key_env: Annotated[
        str, typer.Option(help="Environment variable holding the API key (unset: no key is sent).")
    ] = "OPENAI_API_KEY",
    held_out: Annotated[
        str | None,
        typer.Option(
            help="Texts to score the labels on ('demo' = the demo corpus, or a file); the top inputs are left out."
        ),
    ] = None,
    held_out_limit: Annotated[int, typer.Option(min=1, help="At most this many held-out texts are run.")] = 500,
    score: Annotated[bool, typer.Option("--score/--no-score", help="Score each label on held-out texts.")] = True,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model (default: the one the concepts were fitted on).")
    ] = None,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds per request.")] = 60.0,
    retries: Annotated[int, typer.Option(min=0, help="Retries of a request on 429, 5xx or a timeout.")] = 3,
    workers: Annotated[int, typer.Option(min=1, help="Requests in flight at once.")] = 1,
    text_column: TextColumnOpt = None,
    quiet: QuietOpt = False,
    *,
    loading: LoadOptions,
) -> None:
    """Name each concept with a language model from its top inputs, and score each label on held-out texts.

    Nothing is sent without --llm-url. Answers are cached in DIR/labels-cache, so a rerun sends nothing new;
    the labels go to DIR/labels.json, which `concepts show` displays."""
    with guarded(quiet):
        from trexplain.concepts.conceptset import ConceptSet
        from trexplain.concepts.labels import candidates_from_activations, examples_from_top_inputs, label_folder
        from trexplain.errors import InputError
        from trexplain.inspect.neighbours import demo_corpus

        concepts = ConceptSet.load(concepts_dir)
        top = {c: entry.get("top_inputs") or [] for c, entry in enumerate(concepts.interpretation["concepts"])}
        examples = examples_from_top_inputs(top)
        candidates = None
        if score:
            if held_out is None:
                raise InputError("label scoring needs held-out texts: give --held-out FILE (or demo), or --no-score")
            shown = {entry["text"] for entries in top.values() for entry in entries}
            source = demo_corpus() if held_out == "demo" else read_inputs(None, Path(held_out), text_column)
            texts = [t for t in dict.fromkeys(source) if t not in shown][:held_out_limit]
            adapter = loading.load(model or concepts.meta.get("model_source") or "demo")
            concepts.check_model(adapter)
            candidates = candidates_from_activations(concepts.text_codes(adapter, texts), texts)
        path = label_folder(
            concepts_dir,
            examples,
            candidates,
            base_url=llm_url,
            model=llm_model,
            api_key_env=api_key_env or None,
            timeout=timeout,
            retries=retries,
            score=score,
            workers=workers,
        )
        say(f"wrote {path} ({len(examples)} labels)")
