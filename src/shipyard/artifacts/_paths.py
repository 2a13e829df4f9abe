"""Normalise artifact paths to relative POSIX keys and reject any that could leave the store root."""

from __future__ import annotations

import re
from urllib.parse import unquote

from shipyard.errors import ArtifactPathError

__all__ = ["safe_relpath"]

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
_SHOWN_CHARS = 200


def safe_relpath(path: str) -> str:
    """Normalise an artifact path to a POSIX key relative to the store root, or reject it.

    Empty and ``.`` components are dropped, so ``"a//b/./c"`` becomes ``"a/b/c"`` and ``""`` or ``"."``
    name the root itself (returned as ``""``). The path is not decoded: ``"a%20b"`` stays a file called
    ``a%20b``. But every percent-decoded form of it (decoded again until it stops changing, which catches
    ``%252e%252e``) is checked as well, because some later layer (a proxy, a browser, a cloud SDK) may decode
    it once more.

    Args:
        path: a slash-separated path relative to the store root, such as ``"1/abc123/artifacts/model/MLmodel"``.

    Returns:
        The normalised key, without leading, trailing or doubled slashes.

    Raises:
        ArtifactPathError: the path, or one of its decoded forms, contains a ``..`` component, is absolute
            (``/etc/passwd``, ``C:\\x``, ``\\\\server\\share``), contains a backslash or contains a NUL byte.

    Example:
        >>> safe_relpath("model//./MLmodel")
        'model/MLmodel'
    """
    form = path
    while True:
        _check_form(path, form)
        decoded = unquote(form)
        if decoded == form:
            break
        form = decoded
    return "/".join(part for part in path.split("/") if part not in ("", "."))


def _check_form(path: str, form: str) -> None:
    """Raise if one (possibly decoded) form of ``path`` could escape the root."""
    if "\x00" in form:
        _reject(path, "it contains a NUL byte")
    if "\\" in form:
        _reject(path, "it contains a backslash; separate components with '/'")
    if form.startswith("/") or _WINDOWS_DRIVE.match(form):
        _reject(path, "it is absolute; expected a path relative to the artifact root")
    if ".." in form.split("/"):
        _reject(path, "it contains a '..' component")


def _reject(path: str, reason: str) -> None:
    """Raise the ``ArtifactPathError`` for ``path``, showing at most a few hundred characters of it."""
    shown = path if len(path) <= _SHOWN_CHARS else path[:_SHOWN_CHARS] + "..."
    raise ArtifactPathError(f"Invalid artifact path {shown!r}: {reason}.")
