"""The Backend port the SDK and CLI talk to, and the choice of transport by tracking URI."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from shipyard.config import Settings
from shipyard.tracking.entities import DatasetInput, Experiment, Metric, Param, Run, RunTag, ViewType
from shipyard.tracking.validation import MetricColumns

__all__ = ["Backend", "open_backend"]


class Backend(Protocol):
    """Tracking operations, in-process or over MLflow's REST API. Both transports pass the same tests."""

    #: Largest number of metric points one ``log_batch`` call may carry.
    max_metrics_per_batch: int

    def create_experiment(self, name: str, tags: dict[str, str] | None = None) -> str: ...
    def get_experiment(self, experiment_id: str) -> Experiment: ...
    def get_experiment_by_name(self, name: str) -> Experiment | None: ...
    def search_experiments(
        self,
        view_type: ViewType,
        filter_string: str | None,
        order_by: Sequence[str],
        max_results: int,
        page_token: str | None,
    ) -> tuple[list[Experiment], str | None]: ...
    def delete_experiment(self, experiment_id: str) -> None: ...
    def restore_experiment(self, experiment_id: str) -> None: ...
    def rename_experiment(self, experiment_id: str, new_name: str) -> None: ...
    def create_run(
        self, experiment_id: str, run_name: str | None, tags: dict[str, str], start_time_ms: int, user_id: str
    ) -> Run: ...
    def get_run(self, run_id: str) -> Run: ...
    def update_run(self, run_id: str, status: str, end_time_ms: int | None) -> None: ...
    def delete_run(self, run_id: str) -> None: ...
    def restore_run(self, run_id: str) -> None: ...
    def log_batch(
        self, run_id: str, metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
    ) -> None: ...
    def log_metric_columns(self, run_id: str, columns: dict[str, MetricColumns]) -> None: ...
    def log_inputs(self, run_id: str, inputs: Sequence[DatasetInput]) -> None: ...
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]: ...
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        view_type: ViewType,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> tuple[list[Run], str | None]: ...
    def upload_artifact(self, run: Run, local_path: Path, artifact_path: str) -> None: ...
    def list_artifacts(self, run: Run, path: str) -> list[tuple[str, bool, int | None]]: ...
    def download_artifact(self, run: Run, path: str, destination: Path) -> Path: ...
    def close(self) -> None: ...


def open_backend(settings: Settings) -> Backend:
    """The transport the tracking URI names: ``http(s)://`` → REST client, anything else → embedded store."""
    uri = settings.tracking_uri
    if uri.startswith(("http://", "https://")):
        from shipyard.client.http import RestBackend

        return RestBackend(uri)
    from shipyard.client._local import LocalBackend

    store_uri = uri if "://" in uri else settings.resolved_store_uri
    return LocalBackend(store_uri, settings.resolved_artifacts_uri)
