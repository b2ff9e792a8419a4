"""Typed errors: every message names the problem and the fix, so the CLI can print one clear line."""

from __future__ import annotations


class TrexplainError(Exception):
    """Base class of every error trexplain raises on purpose."""


class ModelLoadError(TrexplainError):
    """A model folder is missing, corrupt, pickle-only without opt-in, or of an unsupported family."""


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
