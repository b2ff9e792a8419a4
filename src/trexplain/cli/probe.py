"""`trexplain probe`: an adversarial or counterfactual edit of one text, or the attack table of a data set."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from trexplain.cli.common import (
    Command,
    InputOpt,
    ModelOptions,
    ParamOpt,
    QuietOpt,
    TextColumnOpt,
    app,
    check_outputs,
    flag,
    guarded,
    parse_params,
    read_inputs,
    with_blocks,
    written,
)
from trexplain.errors import InputError
from trexplain.viz.terminal import show


@app.command(cls=Command)
@with_blocks
def probe(
    texts: Annotated[list[str] | None, typer.Argument(help="The text to probe (one).")] = None,
    *,
    input_file: InputOpt = None,
    text_column: TextColumnOpt = None,
    label_column: Annotated[
        str | None, typer.Option(help="Column/field of --input with gold labels (accuracy before and after).")
    ] = None,
    loading: ModelOptions,
    target: Annotated[str | None, typer.Option(help="Class to reach (a counterfactual); default: any other.")] = None,
    edits: Annotated[str, typer.Option(help="Edit sources, comma-separated: delete, embed, char, mlm, words.")] = (
        "delete,embed,char"
    ),
    rank: Annotated[
        list[str] | None,
        typer.Option(help="Word ranking: an attribution method, deletion or random (repeatable with --input)."),
    ] = None,
    trust: Annotated[
        Path | None, typer.Option(help="`trexplain evaluate --json` output: rank with the method it trusts most.")
    ] = None,
    budget: Annotated[int, typer.Option(min=1, help="Most model queries per text.")] = 500,
    max_fraction: Annotated[float, typer.Option(min=0.0, max=1.0, help="Most share of words changed.")] = 0.2,
    protect: Annotated[list[str] | None, typer.Option(help="A word never to edit (repeatable).")] = None,
    similarity: Annotated[
        float | None, typer.Option(help="Lowest cosine of mean-pooled last hidden states, edited vs original.")
    ] = None,
    beam: Annotated[int, typer.Option(min=1, help="Beam width (1: greedy).")] = 1,
    neighbours: Annotated[int, typer.Option(min=1, help="Candidates per word from embed and mlm.")] = 20,
    mlm: Annotated[Path | None, typer.Option(help="Local masked-LM folder (safetensors) for the mlm edits.")] = None,
    words: Annotated[Path | None, typer.Option(help="Word list for the words edits (.json or .csv).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of random ranking and character edits.")] = 0,
    param: ParamOpt = None,
    as_json: Annotated[bool, flag("--json", "Print the JSON result to stdout.")] = False,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write a report page (one text).")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Find a small edit that changes the prediction (or reaches --target), every model query counted."""
    with guarded(quiet):
        from trexplain.probe import Constraints, prober
        from trexplain.probe.view import result_view, table_view, texts_view

        check_outputs({"--html": html_out}, [input_file, words, trust])
        items = read_inputs(texts, input_file, text_column)
        dataset = input_file is not None
        if not dataset and len(items) != 1:
            raise InputError("probe takes one text; give several with --input FILE")
        if not dataset and rank and len(rank) > 1:
            raise InputError("several --rank options compare rankings over a data set; give --input FILE")
        if dataset and (html_out or target):
            raise InputError("--html and --target work on one text; drop them with --input")
        labels = None
        if label_column is not None:
            if not dataset:
                raise InputError("--label-column names a column of the --input file")
            from trexplain.inputs import read_texts

            labels = read_texts(input_file, label_column)
        constraints = Constraints(max_fraction, frozenset(protect or ()), similarity, budget)
        adapter = loading.load()
        options = dict(
            edits=[e.strip() for e in edits.split(",") if e.strip()],
            trust=trust,
            constraints=constraints,
            beam=beam,
            seed=seed,
            neighbours=neighbours,
            mlm=mlm,
            words=words,
            params=parse_params(param or []),
        )
        if dataset:
            from trexplain.probe.table import attack_table

            probers = [prober(adapter, ranking=r, **options) for r in (rank or [None])]
            table = attack_table(probers, items, labels)
            if as_json:
                sys.stdout.write(json.dumps(table.to_dict(), indent=2) + "\n")
            else:
                show(texts_view(table, items))
                show(table_view(table))
            return
        result = prober(adapter, ranking=(rank or [None])[0], explain=True, **options).run(items[0], target)
        if html_out:
            from trexplain.io import write_text
            from trexplain.probe.view import probe_payload
            from trexplain.viz.html import render
            from trexplain.viz.payload import model_info

            write_text(html_out, render(probe_payload(result, model_info(adapter))), what="--html")
            written(html_out, 2, "texts")
        if as_json:
            sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
        elif not html_out:
            show(result_view(result))
