"""The typer app and what every command shares: input reading, output checks, method checks, one-line errors."""

from __future__ import annotations

import contextlib
import errno
import functools
import inspect
import json
import logging
import os
import typing
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

from trexplain import __version__
from trexplain.errors import InputError, TrexplainError
from trexplain.methods.base import DEFAULT_METHOD
from trexplain.viz.terminal import visible

if TYPE_CHECKING:
    from trexplain.methods.base import Method
    from trexplain.models.adapter import ModelAdapter
    from trexplain.models.protocol import Adapter

UsageError = typer.BadParameter.__bases__[0]  # click's, whether typer vendors click (>= 0.26) or not
ClickException = UsageError.__bases__[0]


class PlainHelp:
    """`--help` is a flag like the others: no `<bool>` in the help."""

    def get_help_option(self, ctx: typer.Context) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = ""
        return option


class Commands(PlainHelp, TyperGroup):
    """The command group: a bad option value or an unknown command is one `error:` line like any other."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            where = (exc.ctx or ctx).command_path
            fail(f"{exc.format_message()} (see {where} --help)")


class Command(PlainHelp, TyperCommand):
    """Every command (`@app.command(cls=Command)`)."""


app = typer.Typer(cls=Commands, add_completion=False, no_args_is_help=True)
stderr = Console(stderr=True, soft_wrap=True, highlight=False)  # soft_wrap: an error line is never wrapped
STDOUT = Path("-")
LENGTH_WARNING = "Token indices sequence length is longer than"  # transformers' own, before our clear error


def flag(name: str, help: str) -> Any:
    """A plain on/off option: `--name` only (no `--no-name` twin), without a `<bool>` in the help."""
    return typer.Option(name, help=help, metavar="")


ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        help="Local model folder, Hugging Face id (org/name[@revision]), 'demo' (the default), 'demo-decoder' or "
        "'vit-demo'.",
    ),
]
DeviceOpt = Annotated[
    str | None, typer.Option(help="Where the model runs: cpu (the default), cuda, cuda:N, mps or auto.")
]
DtypeOpt = Annotated[
    str | None, typer.Option(help="float32 (default), bfloat16 or float16; gradient and LRP methods stay in float32.")
]
AttentionOpt = Annotated[
    str,
    typer.Option(
        help="eager (default: attention methods read its probabilities) or sdpa (fused, memory-efficient for long "
        "inputs; gradient, LRP and perturbation methods run on it)."
    ),
]
OfflineOpt = Annotated[bool, flag("--offline", "Use only the local Hugging Face cache (as HF_HUB_OFFLINE=1).")]
InputOpt = Annotated[
    Path | None,
    typer.Option("--input", "-i", help=".txt (one per line), .csv/.tsv (a 'text' column) or .jsonl (a 'text' field)."),
]
TextColumnOpt = Annotated[
    str | None,
    typer.Option("--text-column", help="The .csv/.tsv column or .jsonl field holding the texts (default: text)."),
]
MethodsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--method",
        help="Method name (repeatable); see `trexplain methods`. Default: cp-lrp (evaluate: every cheap method).",
    ),
]
TargetOpt = Annotated[
    str,
    typer.Option(help="predicted, all, a label name (comma-separated for several), or A-B: logit A − logit B."),
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        help="Method parameter NAME=VALUE for every --method, or METHOD.NAME=VALUE for one (repeatable).",
    ),
]
ImageOpt = Annotated[
    list[Path] | None,
    typer.Option("--image", help="An image file to explain (repeatable); --input may also name a folder of images."),
]
PickleOpt = Annotated[bool, flag("--allow-pickle", "Allow pickle weights (pytorch_model.bin) from a trusted source.")]
MissingWeightsOpt = Annotated[
    bool, flag("--allow-missing-weights", "Load a folder whose weights do not all fit the model, with a warning.")
]
TruncateOpt = Annotated[bool, flag("--truncate", "Truncate over-long texts (recorded) instead of failing.")]
BatchSizeOpt = Annotated[int, typer.Option(min=1, help="Texts per batch.")]
QuietOpt = Annotated[bool, flag("--quiet", "No progress display (it only ever shows on a terminal, on stderr).")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"trexplain {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True, metavar=""),
    ] = False,
) -> None:
    """Explain transformer classifiers, and measure how far each explanation can be trusted."""


def parse_target(target: str) -> Any:
    """`--target` value: one spec, or a list for comma-separated labels."""
    return target.split(",") if "," in target else target


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """`--param NAME=VALUE` pairs as a dict; values parse as JSON where they can (numbers, booleans)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--param {pair!r}: write it as NAME=VALUE, e.g. --param steps=32")
        try:
            params[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            params[key.replace("-", "_")] = value
    return params


def method_params(pairs: list[str], names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`--param` values per method: `NAME=VALUE` for every method in `names`, `METHOD.NAME=VALUE` for one."""
    shared = parse_params([p for p in pairs if "." not in p.partition("=")[0]])
    out: dict[str, dict[str, Any]] = {name: dict(shared) for name in names}
    for pair in pairs:
        key, _, rest = pair.partition("=")
        if "." not in key:
            continue
        method, _, name = key.partition(".")
        if method not in out:
            raise InputError(
                f"--param {pair!r} is for {method!r}, which is not among the methods run ({', '.join(names)})"
            )
        out[method].update(parse_params([f"{name}={rest}"]))
    return {name: values for name, values in out.items() if values}


def with_blocks(command: Callable[..., Any]) -> Callable[..., Any]:
    """Expand each parameter of `command` annotated with an option block (a dataclass whose fields are typer
    options, e.g. `ModelOptions`) into the block's options, and call `command` with the block built from them:
    options shared by several commands are declared once, in their block (its own options listed before those
    it inherits: --model before --device)."""
    signature = inspect.signature(command, eval_str=True)
    params: list[inspect.Parameter] = []
    blocks: dict[str, tuple[type, list[str]]] = {}
    for param in signature.parameters.values():
        if not (isinstance(param.annotation, type) and is_dataclass(param.annotation)):
            params.append(param)
            continue
        hints = typing.get_type_hints(param.annotation, include_extras=True)
        own = vars(param.annotation).get("__annotations__", {})
        ordered = sorted(fields(param.annotation), key=lambda f: f.name not in own)  # its own options first
        params += [
            inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name])
            for f in ordered
        ]
        blocks[param.name] = (param.annotation, [f.name for f in ordered])

    @functools.wraps(command)
    def expanded(**given: Any) -> Any:
        for name, (block, names) in blocks.items():
            given[name] = block(**{n: given.pop(n) for n in names})
        return command(**given)

    kinds = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params]
    expanded.__signature__ = signature.replace(parameters=kinds)  # type: ignore[attr-defined]
    expanded.__annotations__ = {p.name: p.annotation for p in kinds}
    return expanded


@dataclass(frozen=True)
class LoadOptions:
    """How every command loads a model; `load_keywords` is the one place these options become `load_model`
    keywords (a new loading option is one field here and one entry there)."""

    device: DeviceOpt = None
    dtype: DtypeOpt = None
    offline: OfflineOpt = False
    attn_implementation: AttentionOpt = "eager"
    allow_pickle: PickleOpt = False
    allow_missing_weights: MissingWeightsOpt = False

    def load_keywords(self) -> dict[str, Any]:
        """The `load_model` keywords these options give (device, dtype and offline only when named)."""
        out: dict[str, Any] = {"allow_pickle": self.allow_pickle, "allow_missing_weights": self.allow_missing_weights}
        if self.device is not None:
            out["device"] = self.device
        if self.dtype is not None:
            out["dtype"] = self.dtype
        if self.offline:
            out["offline"] = True
        if self.attn_implementation != "eager":
            out["attn_implementation"] = self.attn_implementation
        return out

    def load(self, source: str) -> ModelAdapter:
        """`load_model(source)` with these options."""
        from trexplain.models.loading import load_model

        return load_model(source, **self.load_keywords())


@dataclass(frozen=True)
class ModelOptions(LoadOptions):
    """`--model` and the loading options: the block of every command working on one model."""

    model: ModelOpt = "demo"

    def load(self, source: str | None = None) -> ModelAdapter:
        """The model of `--model` (or `source`, e.g. the image demo for images) with these options."""
        return super().load(self.model if source is None else source)


@dataclass(frozen=True)
class MethodOptions:
    """`--method`, `--param` and `--target`: which methods run, with which parameters, for which classes."""

    method: MethodsOpt = None
    param: ParamOpt = None
    target: TargetOpt = "predicted"

    def names(self, default: Sequence[str] = (DEFAULT_METHOD,)) -> list[str]:
        """The methods named with --method (in order), or `default`."""
        return list(self.method or default)

    def methods(self, default: Sequence[str] = (DEFAULT_METHOD,)) -> list[Method]:
        """The methods as instances with their --param values, checked before any model loads (none: `default`,
        which may be empty: the command's own default, e.g. evaluate's every cheap method)."""
        from trexplain.checks import methods

        names = self.names(default)
        if not names:
            if self.param:
                raise InputError("--param applies to the methods named with --method; name them")
            return []
        return methods(names, method_params(self.param or [], names))

    def shared_params(self) -> dict[str, Any]:
        """The --param values as one mapping every method takes (for commands that give all methods the same)."""
        if any("." in pair.partition("=")[0] for pair in self.param or []):
            raise InputError("this command gives every --method the same --param NAME=VALUE; drop the METHOD. prefix")
        return parse_params(self.param or [])

    def target_spec(self) -> Any:
        """`--target` as a target spec: one, or a list for comma-separated labels."""
        return parse_target(self.target)


@dataclass(frozen=True)
class InputOptions:
    """`--input`, `--image` and `--text-column`: where the texts (or images) come from."""

    input_file: InputOpt = None
    image: ImageOpt = None
    text_column: TextColumnOpt = None

    def images(self, texts: list[str] | None) -> list[Path] | None:
        """The image files to work on (see `image_inputs`), or None for texts."""
        return image_inputs(self.image, self.input_file, texts)

    def texts(self, texts: list[str] | None) -> list[str]:
        """The texts: the arguments or the texts of --input (see `read_inputs`)."""
        return read_inputs(texts, self.input_file, self.text_column)


def read_inputs(texts: list[str] | None, input_file: Path | None, text_column: str | None = None) -> list[str]:
    """The texts to work on: the arguments (valid Unicode) or the texts of `--input`, not both."""
    from trexplain.inputs import check_text, read_texts

    if texts and input_file:
        raise InputError("give texts as arguments or --input FILE, not both")
    if input_file:
        return read_texts(input_file, text_column)
    if text_column is not None:
        raise InputError("--text-column names a column of the --input file; give --input FILE or drop it")
    if not texts:
        raise InputError("no text given; pass TEXT arguments or --input FILE")
    return [check_text(text, f"text argument {i + 1}") for i, text in enumerate(texts)]


def image_inputs(images: list[Path] | None, input_file: Path | None, texts: list[str] | None) -> list[Path] | None:
    """The image files to work on (`--image` files, or every image in an `--input` folder), or None for texts."""
    from trexplain.models.images import image_files

    if input_file is not None and input_file.is_dir():
        if images:
            raise InputError("give --image files or an --input folder of images, not both")
        images = image_files(input_file)
    if images and texts:
        raise InputError("give texts or --image files, not both")
    if images and input_file is not None and not input_file.is_dir():
        raise InputError("--input FILE holds texts; give images with --image or an --input folder")
    return list(images) if images else None


def model_given(ctx: typer.Context) -> bool:
    """Whether `--model` was given on the command line (or by environment), not left at its default (compared by name:
    typer's context may carry its own copy of click's `ParameterSource`)."""
    source = ctx.get_parameter_source("model")
    return source is not None and source.name != "DEFAULT"


def image_model(model: str, images: list[Path] | None, given: bool = False) -> str:
    """The model to load: for images with the text demo, the bundled image demo, said on stderr, unless `--model demo`
    was `given` explicitly, which is an error naming the image demo (the text demo takes no images)."""
    from trexplain.models.demo import DEMO_NAMES

    if not images or model not in DEMO_NAMES:
        return model
    if given:
        raise InputError(
            f"--model {model or 'demo'} is the text demo and takes no images; use --model vit-demo (the bundled image "
            "demo) or an image classifier's folder or hub id"
        )
    say("images: explaining with the bundled image demo vit-demo (the text demo takes no images; --model picks one)")
    return "vit-demo"


DATA_SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet", ".txt")


def warn_if_path(text: str) -> None:
    """Warn when a TEXT argument looks like a file (an existing file, or one word ending in a data or image file
    suffix): it is still explained as the text it is, but the user most likely meant `--input` or `--image`."""
    from trexplain.models.images import IMAGE_SUFFIXES

    lowered = text.lower()
    one_word = bool(text) and not any(c.isspace() for c in text)
    exists = False
    if len(text) < 4096:  # a longer argument is no path (and would make the OS raise)
        with contextlib.suppress(OSError, ValueError):
            exists = Path(text).is_file()
    if lowered.endswith(IMAGE_SUFFIXES) and (one_word or exists):
        option = "--image"
    elif exists or (one_word and lowered.endswith(DATA_SUFFIXES)):
        option = "--input"
    else:
        return
    warnings.warn(f"{text!r} looks like a file; did you mean `{option} {text}`? (explained as a text)", stacklevel=2)


def warn_if_paths(adapter: Adapter, texts: Sequence[str] | None) -> None:
    """`warn_if_path` for each TEXT argument of a text model (an image model reads them as image paths)."""
    if adapter.modality.kind == "text":
        for text in texts or []:
            warn_if_path(text)


def check_outputs(
    outputs: Mapping[str, Path | None], inputs: Sequence[Path | None] = (), folders: Sequence[str] = ()
) -> None:
    """Before any work: each output (by option; `folders` take a folder of figures) can be written, is no
    input, and no two options write the same file."""
    from trexplain.io import check_output

    sources = [p for p in inputs if p is not None]
    seen: dict[Path, str] = {}
    for option, path in outputs.items():
        if path is None:
            continue
        target = check_output(path, inputs=sources, folder=option in folders, what=option)
        if target in seen and not (option in folders and seen[target] in folders):
            raise InputError(f"{option} and {seen[target]} both write {path}; give each output its own path")
        seen[target] = option


def say(message: str) -> None:
    """One plain line on stderr (control characters shown, never obeyed)."""
    stderr.print(Text(visible(message)))


def written(path: Path, count: int, unit: str) -> None:
    """Say on stderr what a command wrote: path, count and size (`unit` plural, made singular for one)."""
    unit = unit.removesuffix("s") if count == 1 else unit
    size = path.stat().st_size
    shown = f"{size} B" if size < 1000 else f"{size / 1e3:.1f} kB" if size < 1e6 else f"{size / 1e6:.2f} MB"
    say(f"wrote {path} ({count} {unit}, {shown})")


@contextlib.contextmanager
def guarded(quiet: bool = False) -> Iterator[None]:
    """Run a command: typed errors, file-system errors and user-level failures become one `error:` line (exit 2);
    each warning is one `warning:` line; transformers' premature sequence-length warning is dropped. Long work
    shows progress with an ETA on stderr when it is a terminal, unless `quiet`."""
    from trexplain.progress import Silent, reporting, terminal_reporter

    tokenizer_log = logging.getLogger("transformers.tokenization_utils_base")
    tokenizer_log.addFilter(_drop_length_warning)
    try:
        with warnings.catch_warnings(), reporting(terminal_reporter(quiet) or Silent()):
            warnings.showwarning = _show_warning
            yield
    except TrexplainError as exc:
        fail(str(exc))
    except (typer.Exit, typer.Abort, ClickException):
        raise
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise  # the reader of stdout went away: typer exits quietly
        where = f"{exc.filename}: " if exc.filename else ""
        fail(f"{where}{exc.strerror or exc}; check the path and try again")
    except UnicodeDecodeError as exc:
        fail(f"an input is not UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); save it as UTF-8")
    except Exception as exc:
        if os.environ.get("TREXPLAIN_DEBUG"):
            raise
        fail(f"internal error ({type(exc).__name__}: {exc}); please report it (TREXPLAIN_DEBUG=1 shows where)", 1)
    finally:
        tokenizer_log.removeFilter(_drop_length_warning)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `error: message` as one line on stderr and exit with `code`."""
    stderr.print(Text.assemble(("error:", "bold red"), " ", visible(message)))
    raise typer.Exit(code=code)


def _drop_length_warning(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith(LENGTH_WARNING)


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    stderr.print(Text.assemble(("warning:", "yellow"), " ", visible(str(message))))
