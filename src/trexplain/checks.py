"""One check per kind of argument, shared by every entry point (Python, CLI, server, runs, probe, concepts,
attention, neighbours), so they cannot disagree on what a whole number, a flag, a target or a layer is.

Each check returns the value in its canonical type (an `int` for `np.int64(3)`, a list for a target list) or
raises a typed error naming the argument and what it takes. Booleans are never numbers here.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any

from trexplain.errors import InputError, MethodError, TargetError
from trexplain.methods.base import DEFAULT_METHOD, Method, get_method, short_repr, target_specs, type_name

MAX_DECIMALS = 15  # float64 holds about 15 significant decimal digits; more rounds nothing


def whole(value: object, name: str, *, least: int | None = None, most: int | None = None) -> int:
    """`value` as an int within [least, most]; a bool, a float, a string or any other type is an InputError."""
    wanted = "a whole number"
    if least is not None and most is not None:
        wanted += f" from {least} to {most}"
    elif least is not None:
        wanted += f" of at least {least}"
    elif most is not None:
        wanted += f" of at most {most}"
    fits = not isinstance(value, bool) and isinstance(value, numbers.Integral)
    if not fits or (least is not None and int(value) < least) or (most is not None and int(value) > most):
        raise InputError(f"{name} must be {wanted}, got {short_repr(value)}")
    return int(value)


def optional_whole(value: object, name: str, *, least: int | None = None, most: int | None = None) -> int | None:
    """None, or `value` checked by `whole`."""
    return None if value is None else whole(value, name, least=least, most=most)


def flag(value: object, name: str) -> bool:
    """`value` as a bool; 0, 1, "yes" and any other non-bool is an InputError."""
    if not isinstance(value, bool):
        raise InputError(f"{name} must be True or False, got {short_repr(value)}")
    return value


def text_option(value: object, name: str) -> str:
    """A non-blank string option (a column name, a word); anything else is an InputError."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{name} must be a non-blank string, got {short_repr(value)}")
    return value


def choice(value: object, name: str, choices: Sequence[str]) -> str:
    """One of `choices`; anything else is an InputError listing them."""
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)}, got {short_repr(value)}")
    return value


def target(spec: object) -> str | int | list[str | int]:
    """A target spec ('predicted', 'all', a label, a class index or a list of them) in canonical form; a bool,
    a float, None or an empty list is a TargetError (see `methods.base.target_specs`)."""
    items = target_specs(spec)
    several = isinstance(spec, Sequence) and not isinstance(spec, (str, bytes, bytearray))
    return items if several else items[0]


def goal(spec: object, what: str = "the probe's target") -> str | int | None:
    """One class or none: a probe's class to reach or a class-wise concept dictionary's class; one label or class
    index checked as a target, or None."""
    if spec is None:
        return None
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        raise TargetError(f"{what} is one class; give one label or class index, got {short_repr(spec)}")
    found = target(spec)
    if found in ("predicted", "all"):
        raise TargetError(f"{what} is one class, not {found!r}; give a label or class index (or none)")
    return found


def layer(value: object, count: int, name: str = "layer", *, valid: str | None = None) -> int:
    """A layer (or head, block) index in [-count, count) as its index in [0, count); negative counts from the
    end. `valid` says which indices exist (default: "this model has N layers (0 to N-1)")."""
    number = whole(value, name)
    if not -count <= number < count:
        raise InputError(
            f"{name} {number} does not exist; {valid or f'this model has {count} {name}s (0 to {count - 1})'}"
        )
    return number % count


def decimals(value: object, name: str = "decimals") -> int:
    """Decimals to round to: 0 to MAX_DECIMALS (a negative count would round every weight to 0)."""
    return whole(value, name, least=0, most=MAX_DECIMALS)


def count(value: object, name: str = "k") -> int:
    """How many results to return (k, top, n): a whole number of at least 1."""
    return whole(value, name, least=1)


def model_source(source: object, *, adapters: bool = False) -> str | os.PathLike[str] | None:
    """What `load_model` takes: None (the demo), a name or folder as str, or a path; bytes and others refused.
    `adapters`: the caller also takes a loaded ModelAdapter (said in the message)."""
    if isinstance(source, str) and not source.strip():
        raise InputError("model is a blank string; give a model folder or 'demo'")
    if source is None or isinstance(source, (str, os.PathLike)):
        return source
    kinds = "a ModelAdapter, a model folder or None (the demo)" if adapters else "a model folder, 'demo' or None"
    fix = "decode it first" if isinstance(source, (bytes, bytearray)) else "e.g. load_model('path/to/folder')"
    raise InputError(f"model must be {kinds}, got {type_name(source)} ({short_repr(source)}); {fix}")


def method_names(methods: object) -> list[Any]:
    """A method or list of methods (names or instances) as a non-empty list; an empty list is a MethodError
    (each item is checked by `get_method`, whose error names what a method is)."""
    if isinstance(methods, (str, bytes, bytearray, Method, Mapping)) or not isinstance(methods, Sequence):
        return [methods]
    if not methods:
        raise MethodError(f"no method given (an empty list); name at least one, e.g. [{DEFAULT_METHOD!r}, 'ig']")
    return list(methods)


def method_params(params: object, what: str = "params") -> dict[str, Any]:
    """One method's parameters: a mapping from parameter name to value (None: none)."""
    if params is None:
        return {}
    if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
        raise MethodError(
            f"{what} must map parameter names to values, e.g. {{'steps': 32}}, got {type_name(params)} "
            f"({short_repr(params)})"
        )
    return dict(params)


def per_method_params(params: object, names: Sequence[str], what: str = "params") -> dict[str, dict[str, Any]]:
    """Parameters per method name (`{"ig": {"steps": 32}}`; a Method as key stands for its name); a name that is
    not among `names` is an InputError."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise MethodError(f"{what} must map method names to their parameters, e.g. {{'ig': {{'steps': 32}}}}")
    out = {
        key.name if isinstance(key, Method) else key: method_params(values, f"{what}[{key!r}]")
        for key, values in params.items()
    }
    unknown = sorted(set(out) - set(names))
    if unknown:
        raise InputError(
            f"parameters given for {', '.join(unknown)}, which does not run here "
            f"(methods: {', '.join(map(str, names))})"
        )
    return out


def methods(chosen: object, params: object = None) -> list[Method]:
    """The one way to turn methods and their parameters into Method instances: `chosen` is a name, a Method or
    a list of them; `params` maps each method name to its parameters (`{"ig": {"steps": 32}}`).

    A name given with parameters and as an instance, or a method named twice, is a MethodError."""
    items = method_names(chosen)
    given = per_method_params(params, [m.name if isinstance(m, Method) else m for m in items])
    out: dict[str, Method] = {}
    for item in items:
        method = get_method(item, **given.get(item.name if isinstance(item, Method) else item, {}))
        if method.name in out:
            raise MethodError(f"{method.name} is named twice; name each method once, with its parameters")
        out[method.name] = method
    return list(out.values())


def changed_params(method: Method) -> dict[str, Any]:
    """The method's parameters that differ from their defaults, as converted (`seed="0"` and an omitted seed
    are the same): what a study records and a run compares on resume."""
    defaults = {p.name: p.default for p in type(method).describe()}
    return {k: v for k, v in method.params().items() if k not in defaults or v != defaults[k]}
