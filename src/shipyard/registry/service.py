"""Registry use cases: validation, MLflow's rules and model-URI resolution; shared by server, SDK and CLI."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from shipyard._ids import strict_experiment_id
from shipyard._visibility import EVERYTHING, Visible
from shipyard.db import Database
from shipyard.errors import InvalidParameter, ModelVersionNotFound
from shipyard.events import Event, EventStore
from shipyard.registry.entities import LoggedModel, LoggedModelStatus, ModelVersion, RegisteredModel, Stage
from shipyard.registry.logged_models import LoggedModelStore
from shipyard.registry.store import Change, RegistryStore
from shipyard.registry.uris import ModelUri, ResolvedModel, is_model_uri, resolve_model_uri, version_for
from shipyard.registry.validation import (
    check_alias,
    check_description,
    check_logged_model_entries,
    check_model_name,
    check_model_type,
    check_reason,
    check_registry_tag,
    check_registry_tags,
    check_run_link,
    check_stage,
    check_version,
    check_version_source,
)
from shipyard.tracking.entities import Run, ViewType
from shipyard.tracking.service import TrackingService, check_experiment_ids

__all__ = ["CARD_PREFIX", "EVALUATION_PREFIX", "RegistryService", "ResolvedModel"]

ANONYMOUS = "anonymous"
CARD_PREFIX = "shipyard.card."
EVALUATION_PREFIX = "shipyard.evaluation."
MAX_REGISTERED_MODELS = 1000
MAX_MODEL_VERSIONS = 200_000

_ACTIVE_STAGES = (Stage.STAGING, Stage.PRODUCTION)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class RegistryService:
    """The registry capability: logged models, registered models, versions, aliases, stages and history.

    Args:
        database: the metadata database (the same one tracking uses).
        tracking: the tracking service, to check runs and resolve ``runs:/`` URIs.
        clock_ms: the time source in milliseconds (replaceable in tests).
    """

    database: Database
    tracking: TrackingService
    clock_ms: Callable[[], int] = field(default=_now_ms)

    def __post_init__(self) -> None:
        self.store = RegistryStore(self.database)
        self.logged = LoggedModelStore(self.database, self.tracking.store)
        self.events = EventStore(self.database)
        # Metric points may name a logged model (MLflow 3's model_id); tracking checks and records them through us.
        self.tracking.link_logged_models(self.logged)

    def _change(self, actor: str | None, reason: str | None) -> Change:
        # Every reason recorded in the history comes through here, so this is where it is bounded.
        return Change(actor or ANONYMOUS, self.clock_ms(), check_reason(reason) or None)

    # ------------------------------------------------------------------------------------- logged models
    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        *,
        source_run_id: str | None = None,
        model_type: str | None = None,
        user_id: str | None = None,
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> LoggedModel:
        """Create a PENDING logged model; its files go under its ``artifact_location``.

        Raises:
            InvalidParameter: a bad experiment id or name, a ``model_type`` over 256 characters, or a tag or
                param whose key is over 250 or value over 100,000 characters.
            ResourceNotFound: the experiment or source run does not exist.
        """
        checked_params = check_logged_model_entries(params, "param")
        checked_tags = check_logged_model_entries(tags, "tag")
        check_model_type(model_type)
        exp_id = strict_experiment_id(experiment_id)
        self.tracking.get_experiment(str(exp_id))  # 404 for an unknown experiment
        if source_run_id:
            self.tracking.get_run(source_run_id)
        model_name = name or f"model-{self.clock_ms()}"
        check_model_name(model_name)
        return self.logged.create(
            exp_id,
            model_name,
            source_run_id=source_run_id or None,
            model_type=model_type or None,
            user_id=user_id,
            params=checked_params,
            tags=checked_tags,
            now_ms=self.clock_ms(),
        )

    def get_logged_model(self, model_id: str) -> LoggedModel:
        """One logged model."""
        return self.logged.get(model_id)

    def logged_model_experiment(self, model_id: str) -> str:
        """The experiment a logged model belongs to (for permission checks: cheaper than loading the model).

        Raises:
            ModelNotFound: no such logged model, or it is deleted.
        """
        return self.logged.experiment_of(model_id)

    def finalize_logged_model(self, model_id: str, status: str) -> LoggedModel:
        """Mark a logged model READY (or UPLOAD_FAILED) once its files are uploaded."""
        try:
            parsed = LoggedModelStatus(status)
        except ValueError:
            allowed = ", ".join(s.value for s in LoggedModelStatus)
            raise InvalidParameter(f"Invalid logged model status {status!r}; expected one of {allowed}.") from None
        return self.logged.finalize(model_id, parsed, self.clock_ms())

    def delete_logged_model(self, model_id: str) -> None:
        """Soft-delete a logged model."""
        self.logged.delete(model_id, self.clock_ms())

    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None:
        """Set tags on a logged model (keys of at most 250 characters, values of at most 100,000)."""
        self.logged.set_tags(model_id, check_logged_model_entries(tags, "tag"))

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """Remove one tag of a logged model."""
        self.logged.delete_tag(model_id, key)

    def log_logged_model_params(self, model_id: str, params: dict[str, str]) -> None:
        """Set params on a logged model (keys of at most 250 characters, values of at most 100,000)."""
        self.logged.log_params(model_id, check_logged_model_entries(params, "param"))

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        order_by: Sequence[str] = (),
        max_results: int = 100,
        page_token: str | None = None,
        *,
        visible: Visible = EVERYTHING,
    ) -> tuple[list[LoggedModel], str | None]:
        """Logged models of experiments matching MLflow's filter grammar.

        Args:
            experiment_ids: the experiments to search (at most ``MAX_SEARCHED_EXPERIMENTS``); none searches all.
            visible: the experiments the caller may see; logged models of others are never listed.
        """
        ids = [strict_experiment_id(e, "experiment_ids") for e in check_experiment_ids(experiment_ids)]
        if not 0 < max_results <= 10_000:
            raise InvalidParameter(f"max_results must be between 1 and 10000, got {max_results}.")
        return self.logged.search(
            ids, filter_string, order_by, max_results, page_token, ViewType.ACTIVE_ONLY, visible=visible
        )

    def log_outputs(self, run_id: str, outputs: Sequence[tuple[str, int]]) -> None:
        """Link logged models to the run that produced them."""
        self.logged.log_outputs(run_id, outputs)

    def run_outputs(self, run_id: str) -> list[tuple[str, int]]:
        """``(model_id, step)`` of the models a run produced."""
        return self.logged.outputs_of(run_id)

    # --------------------------------------------------------------------------------- registered models
    def create_registered_model(
        self,
        name: str,
        *,
        tags: dict[str, str] | None = None,
        description: str | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> RegisteredModel:
        """Create a registered model (RESOURCE_ALREADY_EXISTS if the name is taken).

        Raises:
            InvalidParameter: a bad name, a tag key over 250 or value over 100,000 characters, a description over
                5,000 or a reason over 5,000.
        """
        check_model_name(name)
        checked = check_registry_tags(tags, owner="Registered model")
        check_description(description)
        return self.store.create_registered_model(name, checked, description, actor, self._change(actor, reason))

    def get_registered_model(self, name: str) -> RegisteredModel:
        """A registered model with its tags, aliases and latest version per stage."""
        return self.store.get_registered_model(check_model_name(name))

    def rename_registered_model(
        self, name: str, new_name: str, *, actor: str | None = None, reason: str | None = None
    ) -> RegisteredModel:
        """Rename a registered model; versions, aliases and history follow."""
        check_model_name(name)
        check_model_name(new_name, "new_name")
        return self.store.rename_registered_model(name, new_name, self._change(actor, reason))

    def update_registered_model(
        self, name: str, description: str | None, *, actor: str | None = None, reason: str | None = None
    ) -> RegisteredModel:
        """Replace a registered model's description (at most 5,000 characters, MLflow's column)."""
        check_model_name(name)
        check_description(description)
        return self.store.update_registered_model(name, description, self._change(actor, reason))

    def delete_registered_model(self, name: str, *, actor: str | None = None, reason: str | None = None) -> None:
        """Delete a registered model and all its versions; its history stays readable."""
        self.store.delete_registered_model(check_model_name(name), self._change(actor, reason))

    def set_registered_model_tag(self, name: str, key: str, value: str, *, actor: str | None = None) -> None:
        """Set a registered model tag (key of at most 250 characters, value of at most 100,000, as MLflow)."""
        check_model_name(name)
        check_registry_tag(key, value, owner="Registered model")
        self.store.set_registered_model_tag(name, key, value, self._change(actor, None))

    def delete_registered_model_tag(self, name: str, key: str, *, actor: str | None = None) -> None:
        """Delete a registered model tag."""
        self.store.delete_registered_model_tag(check_model_name(name), key, self._change(actor, None))

    def search_registered_models(
        self,
        filter_string: str | None = None,
        order_by: Sequence[str] = (),
        max_results: int = 100,
        page_token: str | None = None,
        *,
        visible: Visible = EVERYTHING,
    ) -> tuple[list[RegisteredModel], str | None]:
        """Registered models matching MLflow's filter grammar (``name LIKE 'churn%'``, ``tags.team = 'x'``).

        Args:
            visible: the models the caller may see (by name); others are left out before the page is cut.
        """
        if not 0 < max_results <= MAX_REGISTERED_MODELS:
            raise InvalidParameter(
                f"Invalid value for max_results. It must be at most {MAX_REGISTERED_MODELS}, but got {max_results}"
            )
        return self.store.search_registered_models(filter_string, order_by, max_results, page_token, visible=visible)

    def get_latest_versions(self, name: str, stages: Sequence[str] = ()) -> list[ModelVersion]:
        """The newest version in each stage (deprecated in MLflow, still used)."""
        for s in stages:
            check_stage(s)
        return self.store.latest_versions(check_model_name(name), stages)

    # ------------------------------------------------------------------------------------ model versions
    def _storage_for(self, source: str, model_id: str | None) -> tuple[str, LoggedModel | None]:
        """Where a new version's files are, and the logged model they belong to (if any)."""
        if not is_model_uri(source):
            if model_id:
                owner = self.logged.get(model_id)
                return owner.artifact_location, owner
            return source, None
        resolved = self.resolve_model_uri(source)
        logged = resolved.logged_model
        if model_id and logged is not None and logged.model_id != model_id:
            raise InvalidParameter(
                f"The source {source!r} names logged model {logged.model_id!r} but model_id is {model_id!r}."
            )
        if logged is None and model_id:
            logged = self.logged.get(model_id)
        return resolved.artifact_uri, logged

    def create_model_version(
        self,
        name: str,
        source: str,
        *,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> ModelVersion:
        """Register a new version of ``name`` from a logged model, a ``runs:/`` URI or an artifact URI.

        Raises:
            InvalidParameter: a bad name; a source over 500 characters or one that could point the server outside
                its artifact root (see `check_version_source`); a run_link over 500 characters, a description
                over 5,000, a reason over 5,000, or a tag key over 250 or value over 100,000.
            ResourceNotFound: the registered model, run or logged model does not exist.
        """
        check_model_name(name)
        if not source:
            raise InvalidParameter("Missing value for required parameter 'source'.")
        checked_tags = check_registry_tags(tags, owner="Model version")
        check_run_link(run_link)
        check_description(description)
        change = self._change(actor, reason)
        self.store.model_key(name)  # 404 before resolving anything
        check_version_source(source, self.tracking.artifact_root)
        if run_id:
            self.tracking.get_run(run_id)
        storage, logged = self._storage_for(source, model_id or None)
        if run_id is None and logged is not None:
            run_id = logged.source_run_id
        return self.store.create_model_version(
            name,
            source,
            storage_location=storage,
            run_id=run_id or None,
            run_link=run_link or None,
            tags=checked_tags,
            description=description,
            model_id=logged.model_id if logged is not None else None,
            user_id=actor,
            change=change,
        )

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        """One model version."""
        return self.store.get_model_version(check_model_name(name), check_version(version))

    def update_model_version(
        self, name: str, version: str | int, description: str | None, *, actor: str | None = None
    ) -> ModelVersion:
        """Replace a version's description (at most 5,000 characters, MLflow's column)."""
        return self.store.update_model_version(
            check_model_name(name), check_version(version), check_description(description), self._change(actor, None)
        )

    def delete_model_version(
        self, name: str, version: str | int, *, actor: str | None = None, reason: str | None = None
    ) -> None:
        """Delete a version and any alias on it; its number is never reused."""
        self.store.delete_model_version(check_model_name(name), check_version(version), self._change(actor, reason))

    def transition_model_version_stage(
        self,
        name: str,
        version: str | int,
        stage: str,
        *,
        archive_existing_versions: bool = False,
        actor: str | None = None,
        reason: str | None = None,
    ) -> ModelVersion:
        """Move a version to a legacy stage, optionally archiving the versions already there."""
        parsed = check_stage(stage)
        if archive_existing_versions and parsed not in _ACTIVE_STAGES:
            raise InvalidParameter(
                f"Model version transition cannot archive existing model versions because '{parsed.value}' is "
                "not an Active stage. Valid stages are Staging and Production."
            )
        return self.store.transition_stage(
            check_model_name(name),
            check_version(version),
            parsed,
            archive_existing_versions,
            self._change(actor, reason),
        )

    def set_model_version_tag(
        self, name: str, version: str | int, key: str, value: str, *, actor: str | None = None
    ) -> None:
        """Set a version tag (key of at most 250 characters, value of at most 100,000, as MLflow)."""
        check_registry_tag(key, value, owner="Model version")
        self.store.set_model_version_tag(
            check_model_name(name), check_version(version), key, value, self._change(actor, None)
        )

    def delete_model_version_tag(self, name: str, version: str | int, key: str, *, actor: str | None = None) -> None:
        """Delete a version tag."""
        self.store.delete_model_version_tag(
            check_model_name(name), check_version(version), key, self._change(actor, None)
        )

    def search_model_versions(
        self,
        filter_string: str | None = None,
        order_by: Sequence[str] = (),
        max_results: int = 10_000,
        page_token: str | None = None,
        *,
        visible: Visible = EVERYTHING,
    ) -> tuple[list[ModelVersion], str | None]:
        """Model versions matching MLflow's filter grammar (``name = 'churn'``, ``run_id = '…'``).

        Args:
            visible: the models the caller may see (by name); versions of others are left out before the page
                is cut.
        """
        if not 0 < max_results <= MAX_MODEL_VERSIONS:
            raise InvalidParameter(
                f"Invalid value for max_results. It must be at most {MAX_MODEL_VERSIONS}, but got {max_results}"
            )
        return self.store.search_model_versions(filter_string, order_by, max_results, page_token, visible=visible)

    def get_download_uri(self, name: str, version: str | int) -> str:
        """Where a version's files are (what the MLflow client downloads)."""
        mv = self.get_model_version(name, version)
        return mv.storage_location or mv.source

    # -------------------------------------------------------------------------------------------- aliases
    def set_alias(
        self, name: str, alias: str, version: str | int, *, actor: str | None = None, reason: str | None = None
    ) -> None:
        """Point an alias (``champion``, ``challenger``, anything) at a version, moving it if needed."""
        self.store.set_alias(
            check_model_name(name), check_alias(alias), check_version(version), self._change(actor, reason)
        )

    def delete_alias(self, name: str, alias: str, *, actor: str | None = None, reason: str | None = None) -> None:
        """Remove an alias."""
        if not alias:
            raise InvalidParameter("Registered model alias name cannot be empty.")
        self.store.delete_alias(check_model_name(name), alias, self._change(actor, reason))

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version an alias points at."""
        if not alias:
            raise InvalidParameter("Registered model alias name cannot be empty.")
        if alias.lower() == "latest":
            # Reserved, never stored: MLflow answers the newest version (``models:/name@latest``).
            versions = self.get_latest_versions(name)
            if not versions:
                raise ModelVersionNotFound(f"Latest version not found for model {name}.")
            return max(versions, key=lambda v: v.version)
        return self.store.get_version_by_alias(check_model_name(name), alias)

    # ---------------------------------------------------------------------------------------- resolution
    def resolve_model_uri(self, uri: str) -> ResolvedModel:
        """Resolve a model URI to the folder holding the model (the forms and rules: `shipyard.registry.uris`).

        Raises:
            InvalidParameter: the URI is not one of the forms.
            ResourceNotFound: what it names does not exist.
        """
        return resolve_model_uri(uri, _StoreLookups(self))

    def version_for(self, parsed: ModelUri) -> ModelVersion:
        """The version a parsed ``models:/`` URI names (by number, alias, stage or ``latest``)."""
        return version_for(parsed, _StoreLookups(self))

    # -------------------------------------------------------------------------------- history and cards
    def history(self, name: str, *, limit: int = 1000) -> list[Event]:
        """Every recorded change of a registered model and its versions, newest first."""
        key = self.store.model_key(check_model_name(name))
        found = self.events.list_events(entity_id=str(key), limit=limit, newest_first=True)
        return [e for e in found if e.entity_type in ("registered_model", "model_version")]

    def set_card_fields(self, name: str, version: str | int, *, actor: str | None = None, **fields: str) -> None:
        """Owner-written model-card sections (``intended_use``, ``limitations``, …) on a version."""
        for key, value in fields.items():
            if not re.fullmatch(r"[a-z_]{1,64}", key):
                raise InvalidParameter(f"Invalid model card field {key!r}: use lower-case words joined by '_'.")
            self.set_model_version_tag(name, version, CARD_PREFIX + key, value, actor=actor)

    def runs_versions(self, run_id: str) -> list[ModelVersion]:
        """Model versions registered from a run."""
        return self.store.versions_of_run(run_id)


@dataclass(frozen=True)
class _StoreLookups:
    """What URI resolution reads, from this process's stores."""

    registry: RegistryService

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        return self.registry.get_model_version(name, version)

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self.registry.get_version_by_alias(name, alias)

    def get_latest_versions(self, name: str, stages: Sequence[str]) -> list[ModelVersion]:
        return self.registry.get_latest_versions(name, stages)

    def get_logged_model(self, model_id: str) -> LoggedModel:
        return self.registry.logged.get(model_id)

    def get_run(self, run_id: str) -> Run:
        return self.registry.tracking.get_run(run_id)

    def logged_models_of_run(self, run: Run) -> list[LoggedModel]:
        # Filter on the run (a validated id), not on a path: a quote in the path would break the filter.
        found, _ = self.registry.logged.search(
            [int(run.experiment_id)], f"source_run_id = '{run.run_id}'", (), 1000, None
        )
        return list(found)

    def version_files(self, mv: ModelVersion) -> tuple[str, LoggedModel | None]:
        linked = self.registry.logged.get(mv.model_id) if mv.model_id else None
        return mv.storage_location or mv.source, linked
