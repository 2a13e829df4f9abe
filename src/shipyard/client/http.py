"""The HTTP transport: MLflow's REST API over httpx, with retries and typed errors."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from shipyard.errors import ParamConflict, StoreUnavailable, error_from_code
from shipyard.tracking.entities import DatasetInput, Experiment, Metric, Param, Run, RunTag, ViewType
from shipyard.tracking.service import artifact_key
from shipyard.tracking.validation import MetricColumns
from shipyard.wire.tracking import (
    dataset_input_to_json,
    encode_float,
    experiment_from_json,
    metric_from_json,
    run_from_json,
)

__all__ = ["RestBackend"]

_RETRY_STATUSES = {429, 500, 502, 503, 504}
_API = "/api/2.0/mlflow"
_ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


class RestBackend:
    """Backend that talks to any server speaking MLflow's REST API (Shipyard's or MLflow's).

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:5000``.
        retries: attempts for transient failures (connection errors, 429, 5xx), with exponential back-off.
        timeout_s: per-request timeout.
    """

    max_metrics_per_batch = 1000

    def __init__(self, base_url: str, *, retries: int = 5, timeout_s: float = 60.0, backoff_s: float = 0.2) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff_s = backoff_s
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s)

    # ---------------------------------------------------------------------------------------------- plumbing
    def request(self, method: str, path: str, payload: dict[str, Any] | None = None, **kw: Any) -> Any:
        """Send one request, retrying transient failures; raise the typed Shipyard error for an error answer."""
        for attempt in range(self.retries + 1):
            try:
                if method == "GET":
                    response = self._http.request(method, path, params=payload, **kw)
                else:
                    response = self._http.request(method, path, json=payload, **kw)
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise StoreUnavailable(f"Cannot reach {self.base_url}: {exc}") from exc
            else:
                if response.status_code not in _RETRY_STATUSES or attempt == self.retries:
                    return self._decode(response)
            time.sleep(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable")

    def _decode(self, response: httpx.Response) -> Any:
        if response.is_success:
            return response.json() if response.content else {}
        try:
            body = response.json()
            code, message = body.get("error_code", "INTERNAL_ERROR"), body.get("message", response.text)
        except ValueError:
            code, message = "INTERNAL_ERROR", f"HTTP {response.status_code}: {response.text[:500]}"
        if response.status_code in _RETRY_STATUSES and code not in ("INVALID_PARAMETER_VALUE",):
            raise StoreUnavailable(f"{self.base_url} answered {response.status_code}: {message}")
        if code == "INVALID_PARAMETER_VALUE" and message.startswith("Changing param values is not allowed"):
            raise ParamConflict(message)  # same code as any bad value on the wire; MLflow's message tells them apart
        raise error_from_code(code, message)

    def _api(self, method: str, endpoint: str, payload: dict[str, Any] | None = None) -> Any:
        return self.request(method, f"{_API}/{endpoint}", payload)

    # -------------------------------------------------------------------------------------------- tracking
    def create_experiment(self, name: str, tags: dict[str, str] | None = None) -> str:
        body = self._api(
            "POST",
            "experiments/create",
            {"name": name, "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
        )
        return str(body["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        return experiment_from_json(self._api("GET", "experiments/get", {"experiment_id": experiment_id})["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        from shipyard.errors import ResourceNotFound

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
        payload: dict[str, Any] = {
            "experiment_id": experiment_id,
            "start_time": start_time_ms,
            "user_id": user_id,
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        }
        if run_name:
            payload["run_name"] = run_name
        return run_from_json(self._api("POST", "runs/create", payload)["run"])

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
                "metrics": [
                    {"key": m.key, "value": encode_float(m.value), "timestamp": m.timestamp_ms, "step": m.step}
                    for m in metrics
                ],
                "params": [{"key": p.key, "value": p.value} for p in params],
                "tags": [{"key": t.key, "value": t.value} for t in tags],
            },
        )

    def log_metric_columns(self, run_id: str, columns: dict[str, MetricColumns]) -> None:
        points = [Metric(key, v, t, s) for key, cols in columns.items() for s, t, v in zip(*cols, strict=True)]
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
    def _artifact_key(run: Run, path: str) -> str:
        key = artifact_key(run.artifact_uri)
        return f"{key}/{path.strip('/')}" if path.strip("/") else key

    def _artifact_url(self, run: Run, path: str) -> str:
        return f"{_ARTIFACTS}/{quote(self._artifact_key(run, path))}"

    def upload_artifact(self, run: Run, local_path: Path, artifact_path: str) -> None:
        def chunks() -> Iterator[bytes]:
            with local_path.open("rb") as handle:
                yield from iter(lambda: handle.read(1 << 20), b"")

        # A generator body cannot be replayed, so each attempt opens the file afresh.
        for attempt in range(self.retries + 1):
            try:
                response = self._http.put(self._artifact_url(run, artifact_path), content=chunks())
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise StoreUnavailable(f"Cannot reach {self.base_url}: {exc}") from exc
            else:
                if response.status_code not in _RETRY_STATUSES or attempt == self.retries:
                    self._decode(response)
                    return
            time.sleep(self.backoff_s * 2**attempt)

    def list_artifacts(self, run: Run, path: str) -> list[tuple[str, bool, int | None]]:
        body = self.request("GET", _ARTIFACTS, {"path": self._artifact_key(run, path)})
        prefix = path.strip("/")
        return [
            (f"{prefix}/{f['path']}" if prefix else f["path"], bool(f.get("is_dir")), f.get("file_size"))
            for f in body.get("files", [])
        ]

    def download_artifact(self, run: Run, path: str, destination: Path) -> Path:
        target = destination / Path(path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        with self._http.stream("GET", self._artifact_url(run, path)) as response:
            if not response.is_success:
                response.read()
                self._decode(response)
            with target.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
        return target

    def close(self) -> None:
        self._http.close()
