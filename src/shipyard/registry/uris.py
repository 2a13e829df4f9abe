"""Model URIs, parsed once for every interface: ``models:/name/3``, ``models:/name@alias``, stages, ``runs:/``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from shipyard.artifacts import safe_relpath
from shipyard.errors import InvalidParameter
from shipyard.registry.entities import Stage

__all__ = ["ModelUri", "UriKind", "parse_model_uri"]

LOGGED_MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")
LATEST = "latest"


class UriKind(StrEnum):
    """What a model URI names."""

    LOGGED_MODEL = "logged_model"  # models:/m-<32 hex>
    VERSION = "version"  # models:/name/3
    ALIAS = "alias"  # models:/name@champion
    STAGE = "stage"  # models:/name/Production, models:/name/latest
    RUN = "run"  # runs:/<run_id>/<path>


@dataclass(frozen=True, slots=True)
class ModelUri:
    """A parsed model URI.

    Attributes:
        kind: what it names.
        name: the registered model (version, alias and stage forms), the logged model id, or the run id.
        ref: the version number, the alias, the stage (or ``latest``), or the path inside the run.
    """

    kind: UriKind
    name: str
    ref: str = ""


def _confined(uri: str, path: str) -> str:
    """``path`` unchanged, if no form of it (raw, percent-decoded) could climb out of a folder."""
    try:
        safe_relpath(path)
    except InvalidParameter as exc:
        raise InvalidParameter(
            f"Invalid model URI {uri!r}: its path could climb out of its folder ({exc.message.rstrip('.')}). Expected "
            "runs:/<run_id>/<path>, models:/<name>/<version>, models:/<name>@<alias> or models:/<model_id>."
        ) from None
    return path


def parse_model_uri(uri: str, *, bare: bool = False) -> ModelUri:
    """Parse ``uri``.

    Args:
        uri: ``models:/…`` or ``runs:/…``.
        bare: also accept the registry forms without ``models:/`` (``churn/3``, ``churn@champion``), as the CLI does.

    Raises:
        InvalidParameter: ``uri`` is none of the forms, or has a ``..`` component (raw or percent-encoded).
    """
    if uri.startswith("runs:/"):
        run_id, _, path = uri[len("runs:/") :].strip("/").partition("/")
        if not run_id or not path:
            raise InvalidParameter(f"Invalid runs URI {uri!r}: expected runs:/<run_id>/<path>.")
        return ModelUri(UriKind.RUN, run_id, _confined(uri, path))
    if uri.startswith("models:/"):
        body = _confined(uri, uri[len("models:/") :].strip("/"))
    elif bare:
        body = uri.strip()
    else:
        raise InvalidParameter(f"Not a model URI: {uri!r}; expected models:/… or runs:/….")
    what = "model version" if bare else "model URI"
    expected = f"Invalid {what} {uri!r}: expected NAME/VERSION, NAME@ALIAS, NAME/<stage> or models:/NAME/VERSION."
    if LOGGED_MODEL_ID.match(body):
        return ModelUri(UriKind.LOGGED_MODEL, body)
    if "@" in body and "/" not in body.split("@", 1)[1]:
        name, alias = body.split("@", 1)
        if not name or not alias:
            raise InvalidParameter(expected)
        return ModelUri(UriKind.ALIAS, name, alias)
    name, _, ref = body.rpartition("/")
    if not name or not ref:
        raise InvalidParameter(expected)
    if ref.isdigit():
        return ModelUri(UriKind.VERSION, name, ref)
    if ref.lower() == LATEST:
        return ModelUri(UriKind.STAGE, name, LATEST)
    try:
        return ModelUri(UriKind.STAGE, name, Stage.parse(ref).value)
    except ValueError:
        raise InvalidParameter(f"Invalid {what} {uri!r}: {ref!r} is not a version, stage or 'latest'.") from None
