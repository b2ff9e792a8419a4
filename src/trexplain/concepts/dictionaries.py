"""The dictionary interface every concept method implements, scikit-learn style, and saving/loading them.

A dictionary of `n_concepts` concepts encodes activations X [rows, dim] into codes [rows, k] and decodes
codes back with one affine map for every method: `decode(codes) = codes @ components_ + bias_`, where
`components_` [k, dim] are the concept directions and `bias_` [dim] the offset the method removed (PCA and
ICA: the mean; NMF: the shift; SAEs: the decoder bias; else zeros). `decode_torch` is the same map on
tensors, differentiable, for gradients of the model's output with respect to the codes.

A saved dictionary is a folder: `dictionary.json` (method, parameters, fitted scalars) and
`arrays.safetensors` (every fitted array); no pickle.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from torch import Tensor

from trexplain.concepts.activations import ActivationStore
from trexplain.errors import InputError, MethodError
from trexplain.folders import atomic_dir

FORMAT, VERSION = "trexplain-dictionary", 1
PARAMS, ARRAYS = "dictionary.json", "arrays.safetensors"
ENCODE_ROWS = 8192
DICTIONARIES: dict[str, type[Dictionary]] = {}

D = TypeVar("D", bound="Dictionary")
Data = np.ndarray | Tensor | ActivationStore
"""What `fit` and `encode` take: an array or tensor [rows, dim], or an `ActivationStore`."""


class Dictionary:
    """Concepts as directions in activation space: `fit(X)`, `encode(X)` → codes, `decode(codes)` → X̂.

    Subclasses set `method` (their registry name), `_arrays` and `_scalars` (fitted attributes saved with the
    dictionary), implement `_fit(X)` and `_encode(X)`, and take every parameter as a keyword of `__init__`.
    """

    method: ClassVar[str] = ""
    _arrays: ClassVar[tuple[str, ...]] = ("components_", "bias_")
    _scalars: ClassVar[tuple[str, ...]] = ()
    components_: np.ndarray
    bias_: np.ndarray

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.method:
            DICTIONARIES[cls.method] = cls

    def __init__(self, n_concepts: int, *, seed: int = 0) -> None:
        if isinstance(n_concepts, bool) or not isinstance(n_concepts, (int, np.integer)) or n_concepts < 1:
            raise MethodError(f"n_concepts must be a positive integer, got {n_concepts!r}")
        self.n_concepts = int(n_concepts)
        self.seed = int(seed)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    # ------------------------------------------------------------ interface
    @classmethod
    def param_names(cls) -> list[str]:
        """Names of the `__init__` parameters, the subclass's own first, then those it passes on (`**kwargs`)."""
        names: list[str] = []
        for klass in cls.__mro__:
            if "__init__" in vars(klass) and issubclass(klass, Dictionary):
                for name, param in inspect.signature(vars(klass)["__init__"]).parameters.items():
                    passed_on = param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL)
                    if name != "self" and not passed_on and name not in names:
                        names.append(name)
        return names

    def get_params(self) -> dict[str, Any]:
        """The `__init__` parameters, by name (JSON-ready)."""
        return {name: getattr(self, name) for name in self.param_names()}

    @property
    def fitted(self) -> bool:
        return hasattr(self, "components_")

    @property
    def dim(self) -> int:
        """Width of the activations this dictionary was fitted on."""
        return int(self._check_fitted().components_.shape[1])

    def fit(self: D, X: Data) -> D:
        """Learn the concepts from activations X; returns self."""
        self._fit(X)
        return self

    def encode(self, X: Data) -> np.ndarray:
        """Codes [rows, n_concepts] of activations X."""
        self._check_fitted()
        return self._encode(X)

    def fit_encode(self, X: Data) -> np.ndarray:
        """`fit(X).encode(X)`."""
        return self.fit(X).encode(X)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Activations [rows, dim] rebuilt from codes: `codes @ components_ + bias_`."""
        self._check_fitted()
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != len(self.components_):
            raise InputError(f"codes must be [rows, {len(self.components_)}], got shape {list(codes.shape)}")
        return codes @ self.components_ + self.bias_

    def decode_torch(self, codes: Tensor) -> Tensor:
        """`decode` on a tensor [..., n_concepts] (same dtype and device out), differentiable in the codes."""
        self._check_fitted()
        components = torch.as_tensor(self.components_, device=codes.device, dtype=codes.dtype)
        bias = torch.as_tensor(self.bias_, device=codes.device, dtype=codes.dtype)
        return codes @ components + bias

    # ---------------------------------------------------------- subclasses
    def _fit(self, X: Data) -> None:
        raise NotImplementedError

    def _encode(self, X: Data) -> np.ndarray:
        raise NotImplementedError

    def _check_fitted(self) -> Dictionary:
        if not self.fitted:
            raise InputError(f"this {type(self).__name__} is not fitted; call fit(X) first")
        return self

    def _check_width(self, X: np.ndarray) -> np.ndarray:
        if X.shape[1] != self.dim:
            raise InputError(f"X has {X.shape[1]} columns; this dictionary was fitted on {self.dim}")
        return X

    # ----------------------------------------------------------- save/load
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted dictionary to the folder `path` (new or empty), atomically (`folders.atomic_dir`)."""
        self._check_fitted()
        with atomic_dir(path, contents=(PARAMS, ARRAYS), what="dictionary folder") as folder:
            self.write_files(folder)
        return Path(path)

    def write_files(self, folder: Path) -> None:
        """Write the fitted dictionary's files (`PARAMS`, `ARRAYS`) into the existing folder `folder`; `save` (or a
        concept folder's save) wraps it in an atomic folder write."""
        from safetensors.numpy import save_file

        self._check_fitted()
        arrays = {name: np.asarray(getattr(self, name)) for name in self._arrays}
        save_file({name: np.ascontiguousarray(a) for name, a in arrays.items()}, str(folder / ARRAYS))
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "method": self.method,
            "params": self.get_params(),
            "fitted": {name: getattr(self, name) for name in self._scalars},
            # scikit-learn leaves some arrays in column-major order; BLAS rounds differently on each layout,
            # so a reloaded array gets its layout back for bit-equal codes
            "fortran_order": [name for name, a in arrays.items() if a.ndim > 1 and not a.flags.c_contiguous],
        }
        (folder / PARAMS).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Dictionary:
        """The dictionary saved in folder `path` (of this class, or of any when called on `Dictionary`)."""
        from safetensors.numpy import load_file

        path = Path(path)
        if not (path / PARAMS).is_file() or not (path / ARRAYS).is_file():
            raise InputError(f"{path} is not a saved dictionary (needs {PARAMS} and {ARRAYS}); save one first")
        meta = json.loads((path / PARAMS).read_text())
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise InputError(f"{path}: not a {FORMAT} version {VERSION} folder; fit and save the dictionary again")
        kind = DICTIONARIES.get(meta["method"])
        if kind is None or not issubclass(kind, cls):
            raise InputError(f"{path} holds a {meta['method']!r} dictionary, not a {cls.__name__}")
        dictionary = kind(**meta["params"])
        for name, value in load_file(str(path / ARRAYS)).items():
            setattr(dictionary, name, np.asfortranarray(value) if name in meta["fortran_order"] else value)
        for name, value in meta["fitted"].items():
            setattr(dictionary, name, value)
        return dictionary


def make(method: str, n_concepts: int, **params: Any) -> Dictionary:
    """A dictionary by registry name (`pca`, `semi-nmf`, `topk-sae`, ...) with its parameters."""
    if method not in DICTIONARIES:
        raise MethodError(f"unknown concept method {method!r}; use one of {', '.join(sorted(DICTIONARIES))}")
    kind = DICTIONARIES[method]
    try:
        return kind(n_concepts, **params)
    except TypeError as exc:
        accepted = [p for p in kind.param_names() if p != "n_concepts"]
        raise MethodError(f"{method}: {exc}; its parameters are {', '.join(accepted)}") from exc


def load(path: str | os.PathLike[str]) -> Dictionary:
    """The dictionary saved in folder `path`, whatever its method."""
    return Dictionary.load(path)


def sklearn_class(name: str) -> Any:
    """The scikit-learn class `name` (from `sklearn.decomposition` or `sklearn.cluster`); a clear error when
    scikit-learn is not installed."""
    try:
        import sklearn.cluster
        import sklearn.decomposition
    except ImportError as exc:
        raise InputError("this concept method needs scikit-learn: pip install 'trexplain[concepts]'") from exc
    return getattr(sklearn.decomposition, name, None) or getattr(sklearn.cluster, name)


# ------------------------------------------------------------------- data
def as_array(X: Data) -> np.ndarray:
    """X as one float32 array [rows, dim] in memory; rejects empty, non-2-D and non-finite data."""
    if isinstance(X, ActivationStore):
        array = X.to_numpy(np.float32)
    elif isinstance(X, Tensor):
        array = X.detach().cpu().float().numpy()
    else:
        array = np.asarray(X, dtype=np.float32)
    if array.ndim != 2 or not array.size:
        raise InputError(f"activations must be a non-empty [rows, dim] array, got shape {list(array.shape)}")
    if not np.isfinite(array).all():
        raise InputError("activations contain NaN or infinity; extract them again (float32 if float16 overflowed)")
    return array


def row_batches(X: Data, size: int = ENCODE_ROWS, *, shuffle: bool = False, seed: int = 0) -> Iterator[np.ndarray]:
    """X in float32 minibatches of at most `size` rows (a store is read from disk batch by batch)."""
    if isinstance(X, ActivationStore):
        if not len(X):
            raise InputError("the activation store (or selection) has no rows")
        for batch in X.batches(size, shuffle=shuffle, seed=seed):
            yield as_array(batch)
        return
    array = as_array(X)
    order = np.random.default_rng(seed).permutation(len(array)) if shuffle else None
    for start in range(0, len(array), size):
        yield array[start : start + size] if order is None else array[np.sort(order[start : start + size])]


def data_width(X: Data) -> int:
    """The number of columns of X."""
    return X.dim if isinstance(X, ActivationStore) else int(np.shape(X)[-1])
