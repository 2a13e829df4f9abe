"""The embedded transport: Shipyard's services in this process, on SQLite (or any store URL)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from shipyard.artifacts import open_artifact_store, safe_relpath
from shipyard.db import open_database
from shipyard.errors import ExperimentNotFound
from shipyard.tracking.entities import DatasetInput, Experiment, Metric, Param, Run, RunTag, ViewType
from shipyard.tracking.service import TrackingService, artifact_key
from shipyard.tracking.store import TrackingStore
from shipyard.tracking.validation import MetricColumns

__all__ = ["LocalBackend"]


class LocalBackend:
    """Backend that calls TrackingService directly: no server, no HTTP."""

    # The embedded store takes big batches: one transaction per 50,000 points keeps ingest fast.
    max_metrics_per_batch = 50_000

    def __init__(self, store_uri: str, artifacts_uri: str) -> None:
        self.database = open_database(store_uri)
        self.service = TrackingService(TrackingStore(self.database))
        self.artifacts = open_artifact_store(artifacts_uri)

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

    def log_metric_columns(self, run_id: str, columns: dict[str, MetricColumns]) -> None:
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

    def close(self) -> None:
        self.database.dispose()
