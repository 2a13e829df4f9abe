"""Model URIs, parsed and resolved once for every interface: ``models:/name/3``, ``models:/name@alias``, stages,
``models:/<model_id>`` and ``runs:/``.

`parse_model_uri` is the grammar. `resolve_model_uri` and `version_for` are the decisions (which version an alias,
stage or ``latest`` names; where a run's model lives): the registry service runs them over its stores, the SDK's
REST client over MLflow's routes, each through a small `ModelLookups`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from shipyard.artifacts import safe_relpath
from shipyard.errors import InvalidParameter, ModelVersionNotFound
from shipyard.registry.entities import LoggedModel, ModelVersion, Stage
from shipyard.tracking.entities import Run

__all__ = [
    "LATEST",
    "ModelLookups",
    "ModelUri",
    "ResolvedModel",
    "UriKind",
    "follows_alias",
    "is_model_uri",
    "parse_model_uri",
    "resolve_model_uri",
    "version_for",
]

_SCHEMES = ("models:/", "runs:/")

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


def is_model_uri(text: str) -> bool:
    """Whether ``text`` is written as a model URI (``models:/…`` or ``runs:/…``) rather than a folder or file."""
    return text.startswith(_SCHEMES)


def follows_alias(uri: str) -> bool:
    """Whether ``uri`` names a registered model by alias (``models:/churn@champion``), so what it names can move."""
    if not uri.startswith("models:/"):
        return False
    try:
        return parse_model_uri(uri).kind is UriKind.ALIAS
    except InvalidParameter:
        return False


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """Where a model URI's files are, and what it named.

    Attributes:
        artifact_uri: the folder holding the model (``mlflow-artifacts:/…``, or what the version's source says).
        version: the model version, for ``models:/name/…`` URIs.
        logged_model: the logged model, when the files belong to one (and the lookups could say).
        run_id: the run that produced the model, when known.
    """

    artifact_uri: str
    version: ModelVersion | None = None
    logged_model: LoggedModel | None = None
    run_id: str | None = None


class ModelLookups(Protocol):
    """The reads resolving a model URI needs: the registry's stores in-process, MLflow's routes over REST."""

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        """One version by number."""
        ...

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version an alias points at (``latest``: the newest)."""
        ...

    def get_latest_versions(self, name: str, stages: Sequence[str]) -> list[ModelVersion]:
        """The newest version per stage (every stage when ``stages`` is empty)."""
        ...

    def get_logged_model(self, model_id: str) -> LoggedModel:
        """A logged model by id."""
        ...

    def get_run(self, run_id: str) -> Run:
        """A run by id."""
        ...

    def logged_models_of_run(self, run: Run) -> list[LoggedModel]:
        """The logged models ``run`` produced."""
        ...

    def version_files(self, mv: ModelVersion) -> tuple[str, LoggedModel | None]:
        """Where a version's files are, and the logged model they belong to when the lookups know it cheaply."""
        ...


def version_for(parsed: ModelUri, lookups: ModelLookups) -> ModelVersion:
    """The version a parsed ``models:/`` URI names (by number, alias, stage or ``latest``).

    Raises:
        InvalidParameter: the URI names a logged model or a run, not a registered version.
        ResourceNotFound: no such model, version or alias; no version in that stage.
    """
    if parsed.kind is UriKind.VERSION:
        return lookups.get_model_version(parsed.name, parsed.ref)
    if parsed.kind is UriKind.ALIAS:
        return lookups.get_version_by_alias(parsed.name, parsed.ref)
    if parsed.kind is not UriKind.STAGE:
        raise InvalidParameter(f"models:/{parsed.name} names a logged model, not a registered version.")
    versions = lookups.get_latest_versions(parsed.name, [] if parsed.ref == LATEST else [parsed.ref])
    if not versions:
        raise ModelVersionNotFound(f"No versions of model with name '{parsed.name}' and stage '{parsed.ref}' found")
    return max(versions, key=lambda v: v.version)


def resolve_model_uri(uri: str, lookups: ModelLookups) -> ResolvedModel:
    """Resolve ``models:/name/3``, ``models:/name@alias``, ``models:/name/Production``, ``models:/name/latest``,
    ``models:/m-…`` (a logged model) and ``runs:/<run>/<path>`` to the folder holding the model.

    ``runs:/<run>/<name>/…`` names the logged model ``name`` of that run when it has one (MLflow 3 keeps a
    model's files outside the run), else the path in the run's own artifacts.

    Raises:
        InvalidParameter: the URI is not one of these forms.
        ResourceNotFound: what it names does not exist.
    """
    parsed = parse_model_uri(uri)
    if parsed.kind is UriKind.RUN:
        run = lookups.get_run(parsed.name)
        head, _, rest = parsed.ref.partition("/")
        for logged in lookups.logged_models_of_run(run):
            if logged.name == head:
                return ResolvedModel(
                    logged.artifact_location + (f"/{rest}" if rest else ""), logged_model=logged, run_id=run.run_id
                )
        return ResolvedModel(f"{run.artifact_uri.rstrip('/')}/{parsed.ref}", run_id=run.run_id)
    if parsed.kind is UriKind.LOGGED_MODEL:
        logged = lookups.get_logged_model(parsed.name)
        return ResolvedModel(logged.artifact_location, logged_model=logged, run_id=logged.source_run_id)
    mv = version_for(parsed, lookups)
    location, linked = lookups.version_files(mv)
    return ResolvedModel(location, version=mv, logged_model=linked, run_id=mv.run_id)
