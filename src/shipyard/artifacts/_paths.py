"""Normalise artifact paths to relative POSIX keys and reject any that could leave the store root."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote, unquote_to_bytes

from shipyard.errors import ArtifactPathError

__all__ = ["safe_relpath"]

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
# A URI rather than a path: ``file:`` in any spelling, or any scheme followed by a slash (``s3:/``, ``http://``).
_URI = re.compile(r"^(?:file:|[A-Za-z][A-Za-z0-9+.-]+:/)", re.IGNORECASE)
_SHOWN_CHARS = 200
# Honest paths have one or two forms; a path with more is encoded over and over, which only an attack needs.
_MAX_FORMS = 32


def safe_relpath(path: str) -> str:
    """Normalise an artifact path to a POSIX key relative to the store root, or reject it.

    Empty and ``.`` components are dropped, so ``"a//b/./c"`` becomes ``"a/b/c"`` and ``""`` or ``"."``
    name the root itself (returned as ``""``). The path is not decoded: ``"a%20b"`` stays a file called
    ``a%20b``. But every percent-decoded form of it (decoded again until it stops changing, which catches
    ``%252e%252e``), the Unicode NFKC form of each (which turns fullwidth dots and slashes, U+FF0E and U+FF0F,
    into ``.`` and ``/``) and the decoded forms of those are checked as well, because some later layer (a
    proxy, a browser, a cloud SDK, another file system) may decode it once more.

    Args:
        path: a slash-separated path relative to the store root, such as ``"1/abc123/artifacts/model/MLmodel"``.

    Returns:
        The normalised key, without leading, trailing or doubled slashes.

    Raises:
        ArtifactPathError: the path, or one of its decoded forms, contains a ``..`` component (also spelt
            ``..;x`` or ``..`` plus trailing spaces, which some servers and file systems read as ``..``), is
            absolute (``/etc/passwd``, ``C:\\x``, ``\\\\server\\share``), is a URI (``file:///etc/passwd``),
            contains a backslash or a NUL byte, or is not valid UTF-8 once decoded (overlong forms such as
            ``%c0%ae``, or the U+FFFD a lenient decoder left in their place).

    Example:
        >>> safe_relpath("model//./MLmodel")
        'model/MLmodel'
    """
    pending: list[str] = [path]
    seen: set[str] = set()
    while pending:
        form = pending.pop()
        if form in seen:
            continue
        seen.add(form)
        if len(seen) > _MAX_FORMS:
            _reject(path, "it is percent-encoded or Unicode-escaped too many times over")
        _check_form(path, form)
        pending += [unquote(form), unicodedata.normalize("NFKC", form)]
    return "/".join(part for part in path.split("/") if part not in ("", "."))


def _check_form(path: str, form: str) -> None:
    """Raise if one (possibly decoded) form of ``path`` could escape the root."""
    if "\x00" in form:
        _reject(path, "it contains a NUL byte")
    if "\ufffd" in form or not _is_valid_utf8(form):
        _reject(path, "it is not valid UTF-8 once percent-decoded (an overlong form such as %c0%ae, or U+FFFD)")
    if "\\" in form:
        _reject(path, "it contains a backslash; separate components with '/'")
    parts = form.split("/")
    # The leading check sees "/x"; the normalised one sees "./C:/x" or "./file:/x" as the store would join them.
    for start in (form, "/".join(part for part in parts if part not in ("", "."))):
        if _URI.match(start):
            _reject(path, "it is a URI; expected a path relative to the artifact root, such as 'model/MLmodel'")
        if start.startswith("/") or _WINDOWS_DRIVE.match(start):
            _reject(path, "it is absolute; expected a path relative to the artifact root")
    if any(_is_parent(part) for part in parts):
        _reject(path, "it contains a '..' component")


def _is_parent(part: str) -> bool:
    """Whether a component means "the parent folder" to this or some other layer.

    ``..;jsessionid=x`` is ``..`` to servers that strip path parameters, and ``.. `` is ``..`` on Windows,
    which drops trailing spaces.
    """
    return part.split(";", 1)[0].rstrip(" ") == ".."


def _is_valid_utf8(form: str) -> bool:
    """Whether ``form`` (no lone surrogates) and the bytes it percent-decodes to are strict UTF-8."""
    try:
        form.encode("utf-8")
        if "%" in form:
            unquote_to_bytes(form).decode("utf-8")
    except UnicodeError:
        return False
    return True


def _reject(path: str, reason: str) -> None:
    """Raise the ``ArtifactPathError`` for ``path``, showing at most a few hundred characters of it."""
    shown = path if len(path) <= _SHOWN_CHARS else path[:_SHOWN_CHARS] + "..."
    raise ArtifactPathError(f"Invalid artifact path {shown!r}: {reason}.")
