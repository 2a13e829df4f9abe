"""The registry's input rules (MLflow's, so that what one accepts the other accepts)."""

from __future__ import annotations

import posixpath
import re

from shipyard.errors import InvalidParameter
from shipyard.registry.entities import Stage
from shipyard.registry.uris import parse_model_uri
from shipyard.tracking.validation import check_artifact_uri, check_length

__all__ = [
    "MAX_ALIAS_LENGTH",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_MODEL_TYPE_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_REASON_LENGTH",
    "MAX_RUN_LINK_LENGTH",
    "MAX_SOURCE_LENGTH",
    "MAX_TAG_KEY_LENGTH",
    "MAX_TAG_VALUE_LENGTH",
    "check_alias",
    "check_description",
    "check_logged_model_entries",
    "check_model_name",
    "check_model_type",
    "check_reason",
    "check_registry_tag",
    "check_registry_tags",
    "check_run_link",
    "check_stage",
    "check_version",
    "check_version_source",
]

_ALIAS = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")
MAX_NAME_LENGTH = 256
MAX_ALIAS_LENGTH = 255
# MLflow refuses registry tag keys over 250 and values over 100,000 characters (MAX_MODEL_REGISTRY_TAG_*);
# Shipyard applies the same limits to logged-model tags and params, which MLflow keeps in unbounded columns.
MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 100_000
# The widths of MLflow's registry columns (VARCHAR(5000) and VARCHAR(500)), enforced on every database.
MAX_DESCRIPTION_LENGTH = 5000
MAX_SOURCE_LENGTH = 500
MAX_RUN_LINK_LENGTH = 500
# Shipyard's own: MLflow stores no reason (and ignores a transition comment); a logged model's type column.
MAX_REASON_LENGTH = 5000
MAX_MODEL_TYPE_LENGTH = 256


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


_MODEL_URI_FORMS = "runs:/<run_id>/<path>, models:/<name>/<version>, models:/<name>@<alias>, models:/<model_id>, "


def check_version_source(source: str, artifact_root: str) -> str:
    """A model version's ``source``: a model URI, or a location that keeps the server inside its artifact root.

    Accepted: ``runs:/<run_id>/<path>`` and ``models:/…`` (resolved by the registry), and what
    `check_artifact_uri` accepts: ``mlflow-artifacts:`` URIs, ``s3://`` URIs and folders beneath the
    artifact root. ``..`` components (raw or percent-encoded), other schemes (``file:`` elsewhere, ``dbfs:``,
    ``hdfs:``, ``http:``, …) and paths outside the root are refused, and so is a source over 500 characters
    (the width of MLflow's column).

    Args:
        source: what the client sent.
        artifact_root: the server's artifact root; empty refuses every local path.

    Returns:
        ``source``, unchanged.

    Raises:
        InvalidParameter: the source is too long or refused; the message says why and what is accepted.
    """
    check_length("'source'", source, MAX_SOURCE_LENGTH)
    if source.startswith(("runs:", "models:")):
        parse_model_uri(source)
        return source
    return check_artifact_uri(source, artifact_root, field="source", extra=_MODEL_URI_FORMS)


def check_registry_tag(key: object, value: object, *, owner: str = "Registered model") -> tuple[str, str]:
    """A registered-model or model-version tag: a non-empty key of at most 250 characters, a value of at most 100,000.

    Over-long keys and values are refused, not cut, as MLflow refuses them.

    Args:
        key: the tag key sent.
        value: the tag value sent.
        owner: what the tag is on, as the message names it (``Registered model``, ``Model version``).

    Returns:
        ``(key, value)``.

    Raises:
        InvalidParameter: the key is missing or either part is not a string or too long.

    Example:
        >>> check_registry_tag("team", "fraud")
        ('team', 'fraud')
    """
    if not isinstance(key, str) or not key:
        raise InvalidParameter("Missing value for required parameter 'key'.")
    if not isinstance(value, str):
        raise InvalidParameter(f"{owner} tag '{key[:60]}' value must be a string, got {type(value).__name__}.")
    check_length(f"{owner} tag key", key, MAX_TAG_KEY_LENGTH)
    check_length(f"{owner} tag '{key}' value", value, MAX_TAG_VALUE_LENGTH)
    return key, value


def check_registry_tags(tags: dict[str, str] | None, *, owner: str = "Registered model") -> dict[str, str]:
    """`check_registry_tag` for each of ``tags`` (None is no tags)."""
    return dict(check_registry_tag(k, v, owner=owner) for k, v in (tags or {}).items())


def check_logged_model_entries(entries: dict[str, str] | None, kind: str) -> dict[str, str]:
    """A logged model's tags or params: keys of 1 to 250 characters, values of at most 100,000.

    MLflow keeps these in unbounded columns; Shipyard applies the registry's tag limits to both.

    Args:
        entries: the tags or params sent (None is none).
        kind: ``tag`` or ``param``, as the message names it.

    Returns:
        ``entries`` as a new dict.

    Raises:
        InvalidParameter: a key is empty or too long, or a value is too long.
    """
    checked: dict[str, str] = {}
    for key, value in (entries or {}).items():
        if not key:
            raise InvalidParameter(f"Logged model {kind} key must be a non-empty string.")
        check_length(f"Logged model {kind} key", key, MAX_TAG_KEY_LENGTH)
        check_length(f"Logged model {kind} '{key}' value", value, MAX_TAG_VALUE_LENGTH)
        checked[key] = value
    return checked


def check_description(description: str | None) -> str | None:
    """A registered model's or version's description: at most 5,000 characters (MLflow's column), or None."""
    return check_length("'description'", description, MAX_DESCRIPTION_LENGTH)


def check_run_link(run_link: str | None) -> str | None:
    """A model version's ``run_link``: at most 500 characters (MLflow's column), or None."""
    return check_length("'run_link'", run_link, MAX_RUN_LINK_LENGTH)


def check_reason(reason: str | None) -> str | None:
    """Why a registry change was made (a ``reason``, or a transition's ``comment``): at most 5,000 characters."""
    return check_length("'reason' (or a transition's 'comment')", reason, MAX_REASON_LENGTH)


def check_model_type(model_type: str | None) -> str | None:
    """A logged model's ``model_type``: at most 256 characters (the column's width), or None."""
    return check_length("'model_type'", model_type, MAX_MODEL_TYPE_LENGTH)
