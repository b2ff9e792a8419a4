"""The capture API: read, or replace, what flows through named sites of a model during one forward pass.

Sites are named by strings so that methods, inspection and concept extraction ask for them the same way:
- `"embeddings"`: the embedding module's output (the input of every gradient method);
- `"block_input:L"` / `"block_output:L"`: the hidden states entering / leaving block L (0-based; -1 = last);
- `"attention:L"`: block L's attention probabilities [B, H, T, T] (read only);
- `"module:PATH"`: the output of any submodule by its dotted path (e.g. `"module:bert.pooler"`).
Captured tensors stay in the autograd graph when the forward runs with gradients, so methods can
differentiate with respect to them; `detach()` them otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from trexplain.errors import InputError

EMBEDDINGS = "embeddings"

Replacement = Callable[[Tensor], Tensor | None]
"""Called with a site's value; a returned tensor replaces it for the rest of the forward, None keeps it."""


def block_input(layer: int) -> str:
    return f"block_input:{layer}"


def hidden_state_name(index: int) -> str:
    """The one name of a hidden state (`output_hidden_states` index) used by every view: 0 is "embeddings"
    (the embedding output, block 0's input), i is "after block i-1" (blocks are numbered from 0)."""
    return "embeddings" if index == 0 else f"after block {index - 1}"


def every_block(kind: str, layers: int) -> list[str]:
    """The site of `kind` (`block_input`, `block_output`, `attention`) of every block, first block first."""
    return [f"{kind}:{layer}" for layer in range(layers)]


@dataclass(frozen=True)
class Site:
    """A parsed site name; `index` is the block (normalised to 0..L-1) for block and attention sites."""

    name: str
    kind: str
    index: int | None = None
    path: str | None = None

    @classmethod
    def parse(cls, name: str, layers: int) -> Site:
        """The site `name` for a model of `layers` blocks; an unknown or out-of-range name is an InputError."""
        kind, _, rest = str(name).partition(":")
        if kind == EMBEDDINGS and not rest:
            return cls(name, kind)
        if kind == "module" and rest:
            return cls(name, kind, path=rest)
        if kind in ("block_input", "block_output", "attention"):
            try:
                index = int(rest)
            except ValueError:
                index = None
            if index is not None and -layers <= index < layers:
                return cls(name, kind, index % layers)
            if not layers:
                raise InputError(
                    f"site {name!r}: the model's blocks are unknown; pass layers= to ModelAdapter.from_module"
                )
            raise InputError(f"site {name!r}: this model has blocks 0..{layers - 1} (or -1 for the last)")
        raise InputError(
            f"unknown site {name!r}; use embeddings, block_input:L, block_output:L, attention:L or module:PATH"
        )


@contextmanager
def capturing(
    model: nn.Module,
    embedding_module: nn.Module,
    layers: Sequence[nn.Module],
    sites: Sequence[Site],
    replace: Mapping[Site, Replacement],
) -> Iterator[dict[str, Tensor]]:
    """Within the block, forwards of `model` record every site in `sites` into the yielded dict (by name)
    and apply `replace`; attention sites are filled by the caller from the model's attention output."""
    captured: dict[str, Tensor] = {}
    wanted: dict[tuple, list[Site]] = {}
    for site in sites:
        if site.kind != "attention":
            wanted.setdefault(_hook_key(site), []).append(site)
    for site in replace:
        if site.kind == "attention":
            raise InputError(f"{site.name}: attention probabilities can be read, not replaced")
        wanted.setdefault(_hook_key(site), [])
    with ExitStack() as stack:
        for key, readers in wanted.items():
            target = _target(model, embedding_module, layers, key)
            edit = next((fn for site, fn in replace.items() if _hook_key(site) == key), None)
            names = [s.name for s in readers]
            call = _call_number(layers, key)
            if key[0] == "block_input":
                hook = _on_call(_pre_hook(names, edit, captured), call)
                handle = target.register_forward_pre_hook(hook, with_kwargs=True)
            else:
                handle = target.register_forward_hook(_on_call(_post_hook(names, edit, captured), call))
            stack.callback(handle.remove)
        yield captured


def _call_number(layers: Sequence[nn.Module], key: tuple) -> int | None:
    """Which call of its module block `index` is, when one module is several blocks (ALBERT's shared block is
    called once per layer); None for other sites (every call)."""
    kind, index, _ = key
    if kind not in ("block_input", "block_output"):
        return None
    return sum(layer is layers[index] for layer in layers[:index])


def _on_call(hook: Callable[..., Any], call: int | None) -> Callable[..., Any]:
    """`hook` run on the `call`-th call of its module within this forward only (every call when None)."""
    if call is None:
        return hook
    calls = [0]

    def counted(*args: Any) -> Any:
        calls[0] += 1
        return hook(*args) if calls[0] == call + 1 else None

    return counted


def _hook_key(site: Site) -> tuple:
    return (site.kind, site.index, site.path)


def _target(model: nn.Module, embedding_module: nn.Module, layers: Sequence[nn.Module], key: tuple) -> nn.Module:
    kind, index, path = key
    if kind == EMBEDDINGS:
        return embedding_module
    if kind in ("block_input", "block_output"):
        return layers[index]
    found = model
    for part in path.split("."):
        if not isinstance(getattr(found, part, None), nn.Module):
            raise InputError(f"site module:{path}: {type(found).__name__} has no submodule {part!r}")
        found = getattr(found, part)
    return found


def _pre_hook(names: list[str], edit: Replacement | None, captured: dict[str, Tensor]) -> Callable[..., Any]:
    def hook(_module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        hidden = args[0] if args else kwargs["hidden_states"]
        new = edit(hidden) if edit is not None else None
        for name in names:
            captured[name] = hidden if new is None else new
        if new is None:
            return None
        if args:
            return (new, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": new}

    return hook


def _post_hook(names: list[str], edit: Replacement | None, captured: dict[str, Tensor]) -> Callable[..., Any]:
    def hook(_module: nn.Module, _args: tuple, output: Any) -> Any:
        value = output[0] if isinstance(output, tuple) else output
        new = edit(value) if edit is not None else None
        for name in names:
            captured[name] = value if new is None else new
        if new is None:
            return None
        return (new, *output[1:]) if isinstance(output, tuple) else new

    return hook
