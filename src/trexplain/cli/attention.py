"""`trexplain attention`, `layers`, `index` and `neighbours`: look inside the model layer by layer."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from trexplain import checks
from trexplain.cli.common import (
    Command,
    LoadOptions,
    ModelOptions,
    QuietOpt,
    TextColumnOpt,
    app,
    flag,
    guarded,
    read_inputs,
    say,
    with_blocks,
)
from trexplain.errors import InputError
from trexplain.models.capture import hidden_state_name
from trexplain.viz.terminal import attention_links_table, layer_predictions_view, neighbours_view, show


def _dump(data: object) -> None:
    sys.stdout.write(json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n")


@app.command(cls=Command)
@with_blocks
def attention(
    text: Annotated[str, typer.Argument(help="Text to show the attention of.")],
    *,
    loading: ModelOptions,
    layer: Annotated[
        int | None, typer.Option(help="Only this block (0-based, as 'block N' in every view; -1 = last).")
    ] = None,
    head: Annotated[int | None, typer.Option(help="Only this head (0-based).")] = None,
    top: Annotated[int, typer.Option(help="Links shown per head in the terminal view (at least 1).")] = 3,
    specials: Annotated[bool, flag("--specials", "Include links to/from special tokens in the summary.")] = False,
    decimals: Annotated[int, typer.Option(help="Decimals kept in the JSON output (0 to 15).")] = 4,
    as_json: Annotated[
        bool, flag("--json", 'Print {"tokens", "offsets", "attention": [L][H][T][T]} as compact JSON.')
    ] = False,
) -> None:
    """Attention probabilities per layer and head: JSON export, or the strongest links of every head."""
    with guarded():
        from trexplain.inspect.attention_maps import attention_maps

        [text] = read_inputs([text], None)
        checks.decimals(decimals, "--decimals")
        checks.count(top, "--top")  # both before the model loads, by the checks the library applies
        maps = attention_maps(loading.load(), text, layer=layer, head=head)
        if as_json:
            _dump(maps.to_dict(decimals))
            return
        show(attention_links_table(maps, top, specials))


@app.command(cls=Command)
def layers(
    text: Annotated[str, typer.Argument(help="Text containing the word to mask (or the mask token itself).")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="'demo' (its shipped per-layer heads) or a local masked-LM folder.")
    ] = "demo",
    mask: Annotated[str | None, typer.Option(help="Word to replace by the mask token.")] = None,
    k: Annotated[int, typer.Option("-k", min=1, help="Predictions per layer.")] = 5,
    as_json: Annotated[bool, flag("--json", "Print JSON.")] = False,
) -> None:
    """Top-k predictions for a masked word at every layer, through the model's masked-LM head (the demo's per-layer
    heads by default)."""
    with guarded():
        from trexplain.inspect.masked_layers import layer_predictions, load_masked_lm

        [text] = read_inputs([text], None)
        result = layer_predictions(load_masked_lm(model), text, mask, k)
        if as_json:
            _dump(result.to_dict())
            return
        show(layer_predictions_view(result, k))


@app.command(cls=Command)
@with_blocks
def index(
    corpus: Annotated[
        str, typer.Argument(help="'demo' (the demo model's tweet corpus) or a .txt/.csv/.tsv/.jsonl file.")
    ],
    out: Annotated[Path, typer.Option(help="Folder to write the index to (replaced whole if it holds an index).")],
    *,
    loading: ModelOptions,
    text_column: TextColumnOpt = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N texts.")] = None,
    layers: Annotated[
        str | None,
        typer.Option(
            help="Store only these hidden states, comma-separated: 0 = embeddings, N = after block N-1, -1 = last."
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per forward pass.")] = 32,
    quiet: QuietOpt = False,
) -> None:
    """Store the contextual embedding of every corpus token at every layer (float16, memory-mapped)."""
    with guarded(quiet):
        from trexplain.inspect.neighbours import INDEX_FILES, build_index, demo_corpus
        from trexplain.io import check_output

        source = None if corpus == "demo" else Path(corpus)
        check_output(out, inputs=[source] if source else [], folder=True, contents=INDEX_FILES, what="--out")
        try:
            chosen = [int(x) for x in layers.split(",")] if layers else None
        except ValueError as exc:
            raise InputError(f"--layers {layers!r}: give layer numbers separated by commas, e.g. 0,3,-1") from exc
        if source is None and text_column is not None:
            raise InputError("--text-column names a column of a corpus file; the demo corpus needs none")
        texts = demo_corpus(limit) if source is None else read_inputs(None, source, text_column)[:limit]
        adapter = loading.load()
        built = build_index(adapter, texts, out, model_source=loading.model, layers=chosen, batch_size=batch_size)
        meta = built.meta
        say(
            f"indexed {meta['tokens']} tokens of {meta['texts']} texts at layers "
            f"{', '.join(f'{i} ({hidden_state_name(i)})' for i in built.layers)} into {out}"
        )


@app.command(cls=Command)
@with_blocks
def neighbours(
    text: Annotated[str, typer.Argument(help="Text containing the query token.")],
    index_dir: Annotated[Path, typer.Option("--index", help="Index folder from `trexplain index`.")],
    token: Annotated[str, typer.Option(help="Token index (0 = first special token) or a word of the text.")],
    layer: Annotated[int, typer.Option(help="Hidden state: 0 = embeddings, N = after block N-1, -1 = last.")] = -1,
    k: Annotated[int, typer.Option("-k", min=1, help="Number of neighbours.")] = 10,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model (default: the one the index was built with).")
    ] = None,
    specials: Annotated[bool, flag("--specials", "Allow special tokens as neighbours.")] = False,
    as_json: Annotated[bool, flag("--json", "Print JSON.")] = False,
    *,
    loading: LoadOptions,
) -> None:
    """The k corpus tokens nearest (cosine) to one token of TEXT at one layer, with their sentences."""
    with guarded():
        from trexplain.inspect.neighbours import CorpusIndex
        from trexplain.inspect.neighbours import neighbours as find

        [text] = read_inputs([text], None)
        corpus = CorpusIndex.open(index_dir)
        adapter = loading.load(model or corpus.meta["model"])
        result = find(adapter, corpus, text, token, layer, k, include_special=specials)
        if as_json:
            _dump(result.to_dict())
            return
        show(neighbours_view(result))
