"""The warning raised whenever a model file is stored with, or loaded from, pickle."""

from __future__ import annotations

import warnings

__all__ = ["PickleWarning", "pickle_message", "warn_pickle"]


class PickleWarning(UserWarning):
    """A model file is stored with pickle or cloudpickle: loading it executes code from the file."""


def pickle_message(file_name: str, serialization: str) -> str:
    """The one wording used for every pickle warning."""
    return (
        f"{file_name} is stored with {serialization}: loading it executes code from the file; "
        "load only models you trust"
    )


def warn_pickle(file_name: str, serialization: str, reason: str = "", *, stacklevel: int = 3) -> None:
    """Emit a ``PickleWarning`` about ``file_name``, with an optional reason appended."""
    message = pickle_message(file_name, serialization)
    warnings.warn(PickleWarning(f"{message} ({reason})" if reason else message), stacklevel=stacklevel)
