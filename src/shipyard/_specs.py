"""Reading a spec (a deployment, a monitor, later a pipeline): YAML or JSON text, or a file, parsed safely to a mapping.

Safely means ``yaml.safe_load`` (no Python objects built from tags), a size limit checked before parsing, and
errors that name the spec and what was wrong (`InvalidParameter`), never a YAML traceback. Validating the mapping
against the spec's model is the caller's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidParameter

__all__ = ["MAX_SPEC_BYTES", "read_spec_file", "read_spec_text", "spec_mapping"]

MAX_SPEC_BYTES = 256 * 1024


def read_spec_file(path: str | Path, *, what: str, max_bytes: int = MAX_SPEC_BYTES) -> bytes:
    """The bytes of a spec file, refused when unreadable or larger than ``max_bytes``.

    Args:
        path: the file.
        what: how messages name it, e.g. ``"deployment spec"``.
        max_bytes: the largest file accepted.

    Raises:
        InvalidParameter: ``Cannot read the <what> '<path>': <reason>.``, or the file is too large.
    """
    file = Path(path)
    try:
        with file.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise InvalidParameter(f"Cannot read the {what} {str(file)!r}: {exc.strerror or exc}.") from None
    if len(data) > max_bytes:
        raise InvalidParameter(f"The {what} {str(file)!r} is larger than {max_bytes // 1024} KiB.")
    return data


def read_spec_text(path: str | Path, *, what: str, max_bytes: int = MAX_SPEC_BYTES) -> str:
    """The text of a spec file (UTF-8), refused as `read_spec_file` refuses it or when it is not UTF-8.

    Raises:
        InvalidParameter: unreadable, too large, or not UTF-8 text.
    """
    data = read_spec_file(path, what=what, max_bytes=max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidParameter(f"Cannot read the {what} {str(path)!r}: it is not UTF-8 text ({exc.reason}).") from None


def spec_mapping(
    text: str | bytes,
    *,
    source: str,
    expected: str,
    max_bytes: int = MAX_SPEC_BYTES,
    detail_chars: int | None = 300,
) -> Mapping[str, Any]:
    """Parse YAML (or JSON, which is YAML) text that must hold a mapping.

    Args:
        text: the spec's text.
        source: how messages name it, starting a sentence: ``"The monitor spec"``, ``"deployment spec 'a.yaml'"``.
        expected: what the mapping must hold, for the message when it is not one: ``"'name' and 'routes'"``.
        max_bytes: the largest text accepted.
        detail_chars: how much of the YAML parser's own message to quote (None: all of it).

    Raises:
        InvalidParameter: too large, not YAML, or not a mapping; the message names ``source``.

    Example:
        >>> spec_mapping("name: churn", source="The spec", expected="'name'")
        {'name': 'churn'}
    """
    import yaml

    if len(text) > max_bytes:
        raise InvalidParameter(f"{source} is larger than {max_bytes // 1024} KiB.")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        detail = str(exc) if detail_chars is None else str(exc)[:detail_chars]
        raise InvalidParameter(f"{source} is not valid YAML or JSON: {detail}") from None
    if not isinstance(data, Mapping):
        raise InvalidParameter(f"{source} must be a mapping with {expected}.")
    return data
