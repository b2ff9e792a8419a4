"""Typed errors: every message names the problem and the fix, so the CLI can print one clear line."""

from __future__ import annotations


class TrexplainError(Exception):
    """Base class of every error trexplain raises on purpose."""


class ModelLoadError(TrexplainError):
    """A model folder is missing, corrupt, pickle-only without opt-in, or of an unsupported family."""


class ModelNotCachedError(ModelLoadError):
    """A hub model is not in the local cache and the hub may not be asked (offline mode)."""


class ModelNotFoundError(ModelLoadError):
    """The hub has no such model repo, or no such revision of it."""


class ModelAccessError(ModelLoadError):
    """The hub refused access to a gated or private model (HTTP 401/403): log in or set HF_TOKEN."""


class HubUnreachableError(ModelLoadError):
    """The hub could not be reached after retries, and the model is not cached."""


class DeviceError(ModelLoadError):
    """A device or dtype is unknown or not available here, or a model's parts sit on different devices/dtypes."""


class InputError(TrexplainError, ValueError):
    """A text, file or argument cannot be explained as given."""


class InputTooLongError(InputError):
    """A text has more tokens than the model accepts and truncation was not asked for."""


class TargetError(TrexplainError, ValueError):
    """A requested target class does not exist for this model."""


class MethodError(TrexplainError, ValueError):
    """An unknown method name or invalid method parameters."""


class ImageError(InputError):
    """An image cannot be read or explained as given (missing file, unknown format, bad mode, shape or values)."""


class RunMismatchError(InputError):
    """An output folder already holds a dataset run made with another model, input or parameters."""
