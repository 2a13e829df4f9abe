"""The embedded transport: Shipyard's services in this process, on SQLite (or any store URL)."""

from __future__ import annotations

import getpass
import shutil
from collections.abc import Sequence
from pathlib import Path

from shipyard._composition import build_services
from shipyard.artifacts import safe_relpath
from shipyard.config import Settings
from shipyard.errors import ExperimentNotFound, ResourceAlreadyExists
from shipyard.events import Event
from shipyard.models import summarize_mlmodel
from shipyard.registry.card import version_card
from shipyard.registry.entities import LoggedModel, ModelVersion, RegisteredModel
from shipyard.registry.lineage import ModelLineage, model_lineage
from shipyard.registry.uris import ModelUri
from shipyard.tracking.entities import DatasetInput, Experiment, Metric, Param, Run, RunTag, ViewType
from shipyard.tracking.service import artifact_key
from shipyard.tracking.validation import MetricGroups

__all__ = ["LocalBackend"]


class LocalBackend:
    """Backend that calls TrackingService directly: no server, no HTTP."""

    # The embedded store takes big batches: one transaction per 50,000 points keeps ingest fast.
    max_metrics_per_batch = 50_000

    def __init__(
        self,
        store_uri: str,
        artifacts_uri: str,
        *,
        s3_endpoint_url: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        """Open the store and artifact store and build the services on them (`build_services`, embedded).

        Args:
            store_uri: the metadata store (``sqlite:///…`` or ``postgresql://…``).
            artifacts_uri: the artifact root.
            s3_endpoint_url: an S3-compatible endpoint for an ``s3://`` root (else the one ``settings`` names).
            settings: the rest of the configuration (the defaults when omitted).
        """
        base = (settings or Settings()).with_overrides(s3_endpoint_url=s3_endpoint_url)
        self.services = build_services(base, store_uri=store_uri, artifacts_uri=artifacts_uri, embedded=True)
        self.database = self.services.database
        self.service = self.services.tracking
        self.registry = self.services.registry
        self.artifacts = self.services.artifacts
        self.actor = _user()

    def create_experiment(self, name: str, tags: dict[str, str] | None = None) -> str:
        return self.service.create_experiment(name, tags=tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.service.get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            return self.service.get_experiment_by_name(name)
        except ExperimentNotFound:
            return None

    def search_experiments(
        self,
        view_type: ViewType,
        filter_string: str | None,
        order_by: Sequence[str],
        max_results: int,
        page_token: str | None,
    ) -> tuple[list[Experiment], str | None]:
        return self.service.search_experiments(view_type, filter_string, order_by, max_results, page_token)

    def delete_experiment(self, experiment_id: str) -> None:
        self.service.delete_experiment(experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        self.service.restore_experiment(experiment_id)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.service.rename_experiment(experiment_id, new_name)

    def create_run(
        self, experiment_id: str, run_name: str | None, tags: dict[str, str], start_time_ms: int, user_id: str
    ) -> Run:
        return self.service.create_run(
            experiment_id, user_id=user_id, start_time_ms=start_time_ms, tags=tags, run_name=run_name
        )

    def get_run(self, run_id: str) -> Run:
        return self.service.get_run(run_id)

    def update_run(self, run_id: str, status: str, end_time_ms: int | None) -> None:
        self.service.update_run(run_id, status=status, end_time_ms=end_time_ms)

    def delete_run(self, run_id: str) -> None:
        self.service.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self.service.restore_run(run_id)

    def log_batch(
        self, run_id: str, metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
    ) -> None:
        self.service.log_batch(run_id, metrics, params, tags, enforce_limits=False)

    def log_metric_columns(self, run_id: str, columns: MetricGroups) -> None:
        self.service.log_metric_columns(run_id, columns)

    def log_inputs(self, run_id: str, inputs: Sequence[DatasetInput]) -> None:
        self.service.log_inputs(run_id, inputs)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.service.get_metric_history(run_id, key)[0]

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        view_type: ViewType,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> tuple[list[Run], str | None]:
        return self.service.search_runs(experiment_ids, filter_string, view_type, max_results, order_by, page_token)

    def _key(self, run: Run, path: str) -> str:
        base = artifact_key(run.artifact_uri)
        return f"{base}/{safe_relpath(path)}" if path.strip("/") else base

    def upload_artifact(self, run: Run, local_path: Path, artifact_path: str) -> None:
        with local_path.open("rb") as handle:
            self.artifacts.write_stream(self._key(run, artifact_path), iter(lambda: handle.read(1 << 20), b""))

    def list_artifacts(self, run: Run, path: str) -> list[tuple[str, bool, int | None]]:
        base = artifact_key(run.artifact_uri)
        out = []
        for info in self.artifacts.list_dir(self._key(run, path)):
            rel = info.path[len(base) + 1 :] if info.path.startswith(base + "/") else info.path
            out.append((rel, info.is_dir, info.size_bytes))
        return out

    def download_artifact(self, run: Run, path: str, destination: Path) -> Path:
        target = destination / Path(path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        with self.artifacts.open_read(self._key(run, path)) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        return target

    # ------------------------------------------------------------------------------- artifacts by URI
    @staticmethod
    def _uri_key(artifact_uri: str, path: str) -> str:
        base = artifact_key(artifact_uri)
        return f"{base}/{safe_relpath(path)}" if path.strip("/") else base

    def upload_file(self, artifact_uri: str, local_path: Path, rel_path: str) -> None:
        with local_path.open("rb") as handle:
            self.artifacts.write_stream(self._uri_key(artifact_uri, rel_path), iter(lambda: handle.read(1 << 20), b""))

    def list_files(self, artifact_uri: str, path: str) -> list[tuple[str, bool, int | None]]:
        base = artifact_key(artifact_uri)
        out = []
        for info in self.artifacts.list_dir(self._uri_key(artifact_uri, path)):
            rel = info.path[len(base) + 1 :] if info.path.startswith(base + "/") else info.path
            out.append((rel, info.is_dir, info.size_bytes))
        return out

    def download_file(self, artifact_uri: str, path: str, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        with self.artifacts.open_read(self._uri_key(artifact_uri, path)) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        return target

    # ---------------------------------------------------------------------------------------- registry
    def create_logged_model(
        self,
        experiment_id: str,
        name: str,
        source_run_id: str | None,
        model_type: str | None,
        params: dict[str, str],
        tags: dict[str, str],
    ) -> LoggedModel:
        return self.registry.create_logged_model(
            experiment_id,
            name,
            source_run_id=source_run_id,
            model_type=model_type,
            user_id=self.actor,
            params=params,
            tags=tags,
        )

    def finalize_logged_model(self, model_id: str, status: str) -> None:
        self.registry.finalize_logged_model(model_id, status)

    def log_outputs(self, run_id: str, outputs: Sequence[tuple[str, int]]) -> None:
        self.registry.log_outputs(run_id, outputs)

    def resolve_model_uri(self, uri: str) -> str:
        return self.registry.resolve_model_uri(uri).artifact_uri

    def version_for(self, parsed: ModelUri) -> ModelVersion:
        return self.registry.version_for(parsed)

    def create_registered_model(self, name: str, tags: dict[str, str], description: str | None) -> RegisteredModel:
        try:
            return self.registry.create_registered_model(name, tags=tags, description=description, actor=self.actor)
        except ResourceAlreadyExists:
            return self.registry.get_registered_model(name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self.registry.get_registered_model(name)

    def search_registered_models(self, filter_string: str | None) -> list[RegisteredModel]:
        out: list[RegisteredModel] = []
        token: str | None = None
        while True:
            page, token = self.registry.search_registered_models(filter_string, ["name ASC"], 1000, token)
            out += page
            if not token:
                return out

    def get_latest_versions(self, name: str, stages: Sequence[str]) -> list[ModelVersion]:
        return self.registry.get_latest_versions(name, stages)

    def model_history(self, name: str) -> list[Event]:
        return self.registry.history(name)

    def model_lineage(self, name: str, version: str) -> ModelLineage:
        return model_lineage(self.registry, name, version)

    def model_card(self, name: str, version: str) -> str:
        return version_card(self.artifacts, self.model_lineage(name, version), summarize_mlmodel)

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None,
        model_id: str | None,
        tags: dict[str, str],
        description: str | None,
        reason: str | None,
    ) -> ModelVersion:
        return self.registry.create_model_version(
            name,
            source,
            run_id=run_id,
            model_id=model_id,
            tags=tags,
            description=description,
            actor=self.actor,
            reason=reason,
        )

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        return self.registry.get_model_version(name, version)

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self.registry.get_version_by_alias(name, alias)

    def search_model_versions(self, filter_string: str | None, max_results: int) -> list[ModelVersion]:
        return self.registry.search_model_versions(filter_string, max_results=max_results)[0]

    def set_alias(self, name: str, alias: str, version: str, reason: str | None) -> None:
        self.registry.set_alias(name, alias, version, actor=self.actor, reason=reason)

    def delete_alias(self, name: str, alias: str, reason: str | None) -> None:
        self.registry.delete_alias(name, alias, actor=self.actor, reason=reason)

    def transition_stage(
        self, name: str, version: str, stage: str, archive_existing: bool, reason: str | None
    ) -> ModelVersion:
        return self.registry.transition_model_version_stage(
            name, version, stage, archive_existing_versions=archive_existing, actor=self.actor, reason=reason
        )

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self.registry.set_model_version_tag(name, version, key, value, actor=self.actor)

    def close(self) -> None:
        self.database.dispose()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return "unknown"
