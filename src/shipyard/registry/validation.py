"""The registry's input rules (MLflow's, so that what one accepts the other accepts)."""

from __future__ import annotations

import posixpath
import re

from shipyard.errors import InvalidParameter
from shipyard.registry.entities import Stage

__all__ = ["check_alias", "check_model_name", "check_stage", "check_version"]

_ALIAS = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")
MAX_NAME_LENGTH = 256
MAX_ALIAS_LENGTH = 255


def check_model_name(name: str | None, field: str = "name") -> str:
    """A registered model name: non-empty, no ``/`` or ``:``, not a path that normalises to something else."""
    if name is None or not name.strip():
        raise InvalidParameter(f"Missing value for required parameter '{field}'.")
    if "/" in name or ":" in name:
        raise InvalidParameter(f"Invalid model name '{name}'. Names cannot contain '/' or ':'.")
    norm = posixpath.normpath(name)
    if norm != name or norm == "." or norm.startswith(".."):
        raise InvalidParameter(f"Invalid value '{name}' for parameter '{field}': names may not be relative paths.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidParameter(f"Model name '{name[:40]}…' is longer than {MAX_NAME_LENGTH} characters.")
    return name


def check_alias(alias: str | None) -> str:
    """An alias: letters, digits, ``_`` and ``-``; not ``latest`` and not a version (``v3``)."""
    if not alias:
        raise InvalidParameter("Registered model alias name cannot be empty.")
    if not _ALIAS.match(alias):
        raise InvalidParameter(
            f"Invalid alias name: '{alias}'. Aliases may only contain letters, digits, underscores and dashes."
        )
    if len(alias) > MAX_ALIAS_LENGTH:
        raise InvalidParameter(f"Alias '{alias[:40]}…' is longer than {MAX_ALIAS_LENGTH} characters.")
    if alias.lower() == "latest":
        raise InvalidParameter("'latest' alias name (case insensitive) is reserved.")
    if _VERSION_ALIAS.match(alias):
        raise InvalidParameter(f"Version alias name '{alias}' is reserved.")
    return alias


def check_version(text: str | int | None) -> int:
    """A version number from the wire (``"3"``)."""
    if text is None or text == "":
        raise InvalidParameter("Missing value for required parameter 'version'.")
    try:
        version = int(str(text))
    except ValueError:
        raise InvalidParameter(f"Parameter 'version' must be an integer, got {text!r}.") from None
    if version < 1:
        raise InvalidParameter(f"Parameter 'version' must be a positive integer, got {text!r}.")
    return version


def check_stage(text: str | None) -> Stage:
    """A legacy stage name, case-insensitively."""
    try:
        return Stage.parse(text or "")
    except ValueError:
        raise InvalidParameter(
            f"Invalid Model Version stage: {text}. Value must be one of None, Staging, Production, Archived."
        ) from None
