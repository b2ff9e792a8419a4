"""`trexplain amortize fit | global | show`: fit an explainer on a teacher's dataset run, rank words per class."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from trexplain.cli.common import (
    Command,
    Commands,
    ModelOptions,
    QuietOpt,
    app,
    flag,
    guarded,
    parse_params,
    say,
    with_blocks,
)
from trexplain.viz import terminal

amortize_app = typer.Typer(
    cls=Commands,
    no_args_is_help=True,
    help="Amortized explanations: fit an explainer once (e.g. on KernelSHAP), then explain at one forward pass.",
)
app.add_typer(amortize_app, name="amortize")


@amortize_app.command(cls=Command)
@with_blocks
def fit(
    input_file: Annotated[
        Path, typer.Option("--input", "-i", help="Training texts: .txt, .csv, .tsv, .jsonl or .parquet.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Explainer folder to write (replaced whole if it is one).")],
    teacher: Annotated[str, typer.Option(help="Teacher method: kernelshap (exact identity kept), lime, ...")] = (
        "kernelshap"
    ),
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Teacher parameter NAME=VALUE (repeatable).")
    ] = None,
    run: Annotated[
        Path | None, typer.Option(help="The teacher's run folder (default: OUT.teacher-run; an existing one resumes).")
    ] = None,
    objective: Annotated[str, typer.Option(help="imitation, removal (comp/suff surrogate) or both.")] = "imitation",
    layers: Annotated[
        str | None, typer.Option(help="Blocks read, comma-separated (e.g. 3,-1); default: chosen on held-out texts.")
    ] = None,
    width: Annotated[int, typer.Option(min=1, help="Hidden width of the explainer network.")] = 256,
    epochs: Annotated[int, typer.Option(min=1, help="Most training epochs (early stopping ends sooner).")] = 40,
    patience: Annotated[int, typer.Option(min=1, help="Epochs without held-out improvement before stopping.")] = 5,
    validation: Annotated[float, typer.Option(help="Held-out fraction of the texts.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the split and the training.")] = 0,
    ensemble: Annotated[
        int, typer.Option(min=1, help="Networks averaged (trained with seeds SEED, SEED+1, ...; still one forward).")
    ] = 1,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N texts of the input.")] = None,
    text_column: Annotated[str | None, typer.Option(help="Column/field holding the text.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Processes for the teacher run.")] = 1,
    truncate: Annotated[bool, flag("--truncate", "Truncate over-long texts (recorded) instead of failing.")] = False,
    quiet: QuietOpt = False,
    *,
    loading: ModelOptions,
) -> None:
    """Run the teacher over --input (a resumable dataset run), train an explainer on it and save it to --out."""
    with guarded(quiet):
        from trexplain.amortize import fit as fit_explainer

        chosen = None if layers is None else [int(x) for x in layers.split(",") if x.strip()]
        explainer = fit_explainer(
            loading.load(),
            input_file,
            out,
            teacher=teacher,
            teacher_params=parse_params(param or []),
            run=run,
            limit=limit,
            text_column=text_column,
            workers=workers,
            truncate=truncate,
            objective=objective,
            layers=chosen,
            width=width,
            epochs=epochs,
            patience=patience,
            validation=validation,
            seed=seed,
            ensemble=ensemble,
        )
        held = explainer.meta["validation"]
        say(
            f"wrote {out}: layers {explainer.layers}, held-out Spearman {held['spearman']}, Pearson {held['pearson']} "
            f"with {teacher} on {held['texts']} texts; explain with --method amortized --param explainer={out}"
        )


@amortize_app.command(cls=Command)
def show(folder: Annotated[Path, typer.Argument(help="An explainer folder from `trexplain amortize fit`.")]) -> None:
    """Print an explainer's record (model, teacher, layers, training curves, held-out agreement) as JSON."""
    with guarded():
        from trexplain.amortize import Explainer

        meta = Explainer.load(folder).meta
        sys.stdout.write(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")


@amortize_app.command("global", cls=Command)
def global_(
    run: Annotated[Path, typer.Argument(help="A dataset run folder (`trexplain run`).")],
    method: Annotated[str | None, typer.Option(help="The run's method to summarise (if it holds several).")] = None,
    top: Annotated[int, typer.Option(min=1, help="Words per class and direction.")] = 15,
    min_count: Annotated[int, typer.Option(min=2, help="Fewest texts holding a word for it to be ranked.")] = 5,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the table as JSON.")] = None,
) -> None:
    """Per class, the words that push towards it (and against it) most over a run, with 95% intervals."""
    with guarded():
        from trexplain.amortize import global_words

        result = global_words(run, method=method, top=top, min_count=min_count, out=out)
        for label, entry in result["classes"].items():
            for direction in ("for", "against"):
                table = Table(title=f"{label} — words {direction} ({entry['texts']} texts, {result['method']})")
                for column in ("word", "mean", "95% interval", "count", "frequency", "positive"):
                    table.add_column(column, justify="left" if column == "word" else "right")
                for r in entry[direction]:
                    interval = f"[{r['low']:.3g}, {r['high']:.3g}]"
                    share = f"{r['positive_share']:.0%}"
                    table.add_row(
                        r["word"], f"{r['mean']:.3g}", interval, str(r["count"]), f"{r['frequency']:.3f}", share
                    )
                terminal.show(table)
        if out is not None:
            say(f"wrote {out}")
