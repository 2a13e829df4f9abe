"""The SDK's REST backend: MLflow's REST API (and Shipyard's ``/api/v1/models`` reads) over the shared transport."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from shipyard._retry import RetryPolicy
from shipyard.client._transport import DEFAULT_RETRY, Transport
from shipyard.errors import ResourceAlreadyExists, ResourceNotFound
from shipyard.events import Event
from shipyard.registry.entities import LoggedModel, ModelVersion, RegisteredModel
from shipyard.registry.lineage import ModelLineage
from shipyard.registry.uris import ModelUri, resolve_model_uri, version_for
from shipyard.tracking.entities import DatasetInput, Experiment, Metric, Param, Run, RunTag, ViewType
from shipyard.tracking.service import artifact_key
from shipyard.tracking.validation import MetricGroups
from shipyard.wire.registry import (
    event_from_json,
    lineage_from_json,
    logged_model_from_json,
    model_version_from_json,
    registered_model_from_json,
)
from shipyard.wire.tracking import (
    dataset_input_to_json,
    experiment_from_json,
    metric_from_json,
    metric_to_json,
    run_from_json,
    tags_to_json,
)

__all__ = ["RestBackend"]

_API = "/api/2.0/mlflow"
_NATIVE = "/api/v1/models"
_ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


class RestBackend:
    """Backend that talks to any server speaking MLflow's REST API (Shipyard's or MLflow's).

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:5000``.
        retries: attempts for transient failures (connection errors, 429, 5xx), with exponential back-off.
        timeout_s: per-request timeout.
        backoff_s: the wait after the first failure (it doubles with each further one).
        token: an API token, sent as ``Authorization: Bearer`` (``MLFLOW_TRACKING_TOKEN``).
        username: with ``password``, HTTP Basic credentials (``MLFLOW_TRACKING_USERNAME``/``_PASSWORD``).
        password: see ``username``.
        headers: more headers for every request.
    """

    max_metrics_per_batch = 1000

    def __init__(
        self,
        base_url: str,
        *,
        retries: int = 5,
        timeout_s: float = 60.0,
        backoff_s: float = DEFAULT_RETRY.first_s,
        token: str = "",
        username: str = "",
        password: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.transport = Transport(
            base_url,
            token=token,
            username=username,
            password=password,
            retry=RetryPolicy(first_s=backoff_s, max_s=DEFAULT_RETRY.max_s, retries=retries),
            timeout_s=timeout_s,
            headers=headers,
        )
        self.base_url = self.transport.base_url

    @classmethod
    def over(cls, transport: Transport) -> RestBackend:
        """A backend over an existing transport (its credentials, retries and connection pool)."""
        backend = cls.__new__(cls)
        backend.transport = transport
        backend.base_url = transport.base_url
        return backend

    # ---------------------------------------------------------------------------------------------- plumbing
    def request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        """Send one request, retrying transient failures; raise the typed Shipyard error for an error answer."""
        return self.transport.request(method, path, payload)

    def _api(self, method: str, endpoint: str, payload: dict[str, Any] | None = None) -> Any:
        return self.request(method, f"{_API}/{endpoint}", payload)

    # -------------------------------------------------------------------------------------------- tracking
    def create_experiment(self, name: str, tags: dict[str, str] | None = None) -> str:
        body = self._api(
            "POST",
            "experiments/create",
            {"name": name, "tags": tags_to_json(tags or {})},
        )
        return str(body["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        return experiment_from_json(self._api("GET", "experiments/get", {"experiment_id": experiment_id})["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            body = self._api("GET", "experiments/get-by-name", {"experiment_name": name})
        except ResourceNotFound:
            return None
        return experiment_from_json(body["experiment"])

    def search_experiments(
        self,
        view_type: ViewType,
        filter_string: str | None,
        order_by: Sequence[str],
        max_results: int,
        page_token: str | None,
    ) -> tuple[list[Experiment], str | None]:
        payload: dict[str, Any] = {"view_type": view_type.value, "max_results": max_results, "order_by": list(order_by)}
        if filter_string:
            payload["filter"] = filter_string
        if page_token:
            payload["page_token"] = page_token
        body = self._api("POST", "experiments/search", payload)
        return [experiment_from_json(e) for e in body.get("experiments", [])], body.get("next_page_token") or None

    def delete_experiment(self, experiment_id: str) -> None:
        self._api("POST", "experiments/delete", {"experiment_id": experiment_id})

    def restore_experiment(self, experiment_id: str) -> None:
        self._api("POST", "experiments/restore", {"experiment_id": experiment_id})

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._api("POST", "experiments/update", {"experiment_id": experiment_id, "new_name": new_name})

    def create_run(
        self, experiment_id: str, run_name: str | None, tags: dict[str, str], start_time_ms: int, user_id: str
    ) -> Run:
        return self._create_run(None, experiment_id, run_name, tags, start_time_ms, user_id)

    def create_run_with_id(
        self,
        run_id: str,
        experiment_id: str,
        run_name: str | None,
        tags: dict[str, str],
        start_time_ms: int,
        user_id: str,
    ) -> Run:
        """``runs/create`` proposing ``run_id`` (32 hex digits): Shipyard's server makes the run with that id, and
        creating it again returns the same run, so the SDK's queue can retry or replay it safely. A server that
        ignores the field (MLflow's) answers with a run of its own id; the caller maps one to the other."""
        return self._create_run(run_id, experiment_id, run_name, tags, start_time_ms, user_id)

    def _create_run(
        self,
        run_id: str | None,
        experiment_id: str,
        run_name: str | None,
        tags: dict[str, str],
        start_time_ms: int,
        user_id: str,
    ) -> Run:
        payload: dict[str, Any] = {
            "experiment_id": experiment_id,
            "start_time": start_time_ms,
            "user_id": user_id,
            "tags": tags_to_json(tags),
        }
        if run_id is not None:
            payload["run_id"] = run_id
        if run_name:
            payload["run_name"] = run_name
        return run_from_json(self._api("POST", "runs/create", payload)["run"])

    def fail_fast(self) -> RestBackend:
        """This client without its own retries (one attempt per call), sharing the connection pool: for the SDK's
        queue, which retries with its own back-off and must notice an outage at once."""
        view = copy.copy(self)
        view.transport = self.transport.fail_fast()
        return view

    def get_run(self, run_id: str) -> Run:
        return run_from_json(self._api("GET", "runs/get", {"run_id": run_id})["run"])

    def update_run(self, run_id: str, status: str, end_time_ms: int | None) -> None:
        payload: dict[str, Any] = {"run_id": run_id, "run_uuid": run_id, "status": status}
        if end_time_ms is not None:
            payload["end_time"] = end_time_ms
        self._api("POST", "runs/update", payload)

    def delete_run(self, run_id: str) -> None:
        self._api("POST", "runs/delete", {"run_id": run_id})

    def restore_run(self, run_id: str) -> None:
        self._api("POST", "runs/restore", {"run_id": run_id})

    def log_batch(
        self, run_id: str, metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
    ) -> None:
        self._api(
            "POST",
            "runs/log-batch",
            {
                "run_id": run_id,
                "metrics": [metric_to_json(m) for m in metrics],
                "params": [{"key": p.key, "value": p.value} for p in params],
                "tags": [{"key": t.key, "value": t.value} for t in tags],
            },
        )

    def log_metric_columns(self, run_id: str, columns: MetricGroups) -> None:
        points = [
            Metric(key, v, t, s)
            if isinstance(key, str)
            else Metric(key.key, v, t, s, key.model_id, key.dataset_name, key.dataset_digest)
            for key, cols in columns.items()
            for s, t, v in zip(*cols, strict=True)
        ]
        for start in range(0, len(points), self.max_metrics_per_batch):
            self.log_batch(run_id, points[start : start + self.max_metrics_per_batch], (), ())

    def log_inputs(self, run_id: str, inputs: Sequence[DatasetInput]) -> None:
        self._api("POST", "runs/log-inputs", {"run_id": run_id, "datasets": [dataset_input_to_json(i) for i in inputs]})

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        points: list[Metric] = []
        token: str | None = None
        while True:
            payload: dict[str, Any] = {"run_id": run_id, "metric_key": key, "max_results": 25000}
            if token:
                payload["page_token"] = token
            body = self._api("GET", "metrics/get-history", payload)
            points.extend(metric_from_json(m) for m in body.get("metrics", []))
            token = body.get("next_page_token")
            if not token:
                return points

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        view_type: ViewType,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> tuple[list[Run], str | None]:
        payload: dict[str, Any] = {
            "experiment_ids": list(experiment_ids),
            "run_view_type": view_type.value,
            "max_results": max_results,
            "order_by": list(order_by),
        }
        if filter_string:
            payload["filter"] = filter_string
        if page_token:
            payload["page_token"] = page_token
        body = self._api("POST", "runs/search", payload)
        return [run_from_json(r) for r in body.get("runs", [])], body.get("next_page_token") or None

    # ------------------------------------------------------------------------------------------- artifacts
    @staticmethod
    def _artifact_key(artifact_uri: str, path: str) -> str:
        key = artifact_key(artifact_uri)
        return f"{key}/{path.strip('/')}" if path.strip("/") else key

    def _artifact_url(self, artifact_uri: str, path: str) -> str:
        return f"{_ARTIFACTS}/{quote(self._artifact_key(artifact_uri, path))}"

    def upload_artifact(self, run: Run, local_path: Path, artifact_path: str) -> None:
        self.upload_file(run.artifact_uri, local_path, artifact_path)

    def list_artifacts(self, run: Run, path: str) -> list[tuple[str, bool, int | None]]:
        return self.list_files(run.artifact_uri, path)

    def download_artifact(self, run: Run, path: str, destination: Path) -> Path:
        return self.download_file(run.artifact_uri, path, destination / Path(path).name)

    def upload_file(self, artifact_uri: str, local_path: Path, rel_path: str) -> None:
        def chunks() -> Iterator[bytes]:
            with local_path.open("rb") as handle:
                yield from iter(lambda: handle.read(1 << 20), b"")

        # A generator body cannot be replayed, so each attempt opens the file afresh.
        self.transport.upload(self._artifact_url(artifact_uri, rel_path), chunks)

    def list_files(self, artifact_uri: str, path: str) -> list[tuple[str, bool, int | None]]:
        body = self.request("GET", _ARTIFACTS, {"path": self._artifact_key(artifact_uri, path)})
        prefix = path.strip("/")
        return [
            (f"{prefix}/{f['path']}" if prefix else f["path"], bool(f.get("is_dir")), f.get("file_size"))
            for f in body.get("files", [])
        ]

    def download_file(self, artifact_uri: str, path: str, target: Path) -> Path:
        return self.transport.download(self._artifact_url(artifact_uri, path), target)

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
        payload: dict[str, Any] = {
            "experiment_id": experiment_id,
            "name": name,
            "params": tags_to_json(params),
            "tags": tags_to_json(tags),
        }
        if source_run_id:
            payload["source_run_id"] = source_run_id
        if model_type:
            payload["model_type"] = model_type
        return logged_model_from_json(self._api("POST", "logged-models", payload)["model"])

    def finalize_logged_model(self, model_id: str, status: str) -> None:
        self._api("PATCH", f"logged-models/{quote(model_id)}", {"model_id": model_id, "status": status})

    def log_outputs(self, run_id: str, outputs: Sequence[tuple[str, int]]) -> None:
        self._api(
            "POST", "runs/outputs", {"run_id": run_id, "models": [{"model_id": m, "step": s} for m, s in outputs]}
        )

    def resolve_model_uri(self, uri: str) -> str:
        """Where the files of a model URI are (the rules: `shipyard.registry.uris`), read through MLflow's routes."""
        return resolve_model_uri(uri, self).artifact_uri

    def version_for(self, parsed: ModelUri) -> ModelVersion:
        """The version a parsed ``models:/`` URI names (by number, alias, stage or ``latest``)."""
        return version_for(parsed, self)

    # What `shipyard.registry.uris` reads to resolve a URI, besides the registry calls below (`ModelLookups`).
    def get_logged_model(self, model_id: str) -> LoggedModel:
        """A logged model by id."""
        return logged_model_from_json(self._api("GET", f"logged-models/{quote(model_id, safe='')}")["model"])

    def logged_models_of_run(self, run: Run) -> list[LoggedModel]:
        """The logged models ``run`` produced."""
        body = self._api(
            "POST",
            "logged-models/search",
            {"experiment_ids": [run.experiment_id], "filter": f"source_run_id = '{run.run_id}'"},
        )
        return [logged_model_from_json(item) for item in body.get("models", [])]

    def version_files(self, mv: ModelVersion) -> tuple[str, LoggedModel | None]:
        """Where a version's files are (the server's download URI); the logged model is not looked up."""
        body = self._api("GET", "model-versions/get-download-uri", {"name": mv.name, "version": str(mv.version)})
        return str(body["artifact_uri"]), None

    def create_registered_model(self, name: str, tags: dict[str, str], description: str | None) -> RegisteredModel:
        payload: dict[str, Any] = {"name": name, "tags": tags_to_json(tags)}
        if description:
            payload["description"] = description
        try:
            return registered_model_from_json(
                self._api("POST", "registered-models/create", payload)["registered_model"]
            )
        except ResourceAlreadyExists:
            return self.get_registered_model(name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return registered_model_from_json(self._api("GET", "registered-models/get", {"name": name})["registered_model"])

    def search_registered_models(self, filter_string: str | None) -> list[RegisteredModel]:
        out: list[RegisteredModel] = []
        payload: dict[str, Any] = {"max_results": 1000, "order_by": ["name ASC"]}
        if filter_string:
            payload["filter"] = filter_string
        while True:
            body = self._api("GET", "registered-models/search", payload)
            out += [registered_model_from_json(m) for m in body.get("registered_models", [])]
            if not body.get("next_page_token"):
                return out
            payload["page_token"] = body["next_page_token"]

    def get_latest_versions(self, name: str, stages: Sequence[str]) -> list[ModelVersion]:
        body = self._api("POST", "registered-models/get-latest-versions", {"name": name, "stages": list(stages)})
        return [model_version_from_json(v) for v in body.get("model_versions", [])]

    def model_history(self, name: str) -> list[Event]:
        body = self.request("GET", f"{_NATIVE}/{quote(name, safe='')}/history")
        return [event_from_json(e) for e in body.get("events", [])]

    def model_lineage(self, name: str, version: str) -> ModelLineage:
        body = self.request("GET", f"{_NATIVE}/{quote(name, safe='')}/versions/{quote(version, safe='')}/lineage")
        return lineage_from_json(body["lineage"])

    def model_card(self, name: str, version: str) -> str:
        body = self.request("GET", f"{_NATIVE}/{quote(name, safe='')}/versions/{quote(version, safe='')}/card")
        return str(body["markdown"])

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
        payload: dict[str, Any] = {
            "name": name,
            "source": source,
            "tags": tags_to_json(tags),
        }
        for key, value in (
            ("run_id", run_id),
            ("model_id", model_id),
            ("description", description),
            ("reason", reason),
        ):
            if value:
                payload[key] = value
        return model_version_from_json(self._api("POST", "model-versions/create", payload)["model_version"])

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        body = self._api("GET", "model-versions/get", {"name": name, "version": version})
        return model_version_from_json(body["model_version"])

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        body = self._api("GET", "registered-models/alias", {"name": name, "alias": alias})
        return model_version_from_json(body["model_version"])

    def search_model_versions(self, filter_string: str | None, max_results: int) -> list[ModelVersion]:
        payload: dict[str, Any] = {"max_results": max_results}
        if filter_string:
            payload["filter"] = filter_string
        body = self._api("GET", "model-versions/search", payload)
        return [model_version_from_json(v) for v in body.get("model_versions", [])]

    def set_alias(self, name: str, alias: str, version: str, reason: str | None) -> None:
        self._api(
            "POST", "registered-models/alias", {"name": name, "alias": alias, "version": version, "reason": reason}
        )

    def delete_alias(self, name: str, alias: str, reason: str | None) -> None:
        self._api("DELETE", "registered-models/alias", {"name": name, "alias": alias, "reason": reason})

    def transition_stage(
        self, name: str, version: str, stage: str, archive_existing: bool, reason: str | None
    ) -> ModelVersion:
        body = self._api(
            "POST",
            "model-versions/transition-stage",
            {
                "name": name,
                "version": version,
                "stage": stage,
                "archive_existing_versions": archive_existing,
                "reason": reason,
            },
        )
        return model_version_from_json(body["model_version"])

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self._api("POST", "model-versions/set-tag", {"name": name, "version": version, "key": key, "value": value})

    def close(self) -> None:
        self.transport.close()
