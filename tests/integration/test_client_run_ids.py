"""``runs/create`` with an id the client chose (what the SDK's queue sends): idempotent, checked, authorized.

Also what makes the queue's replays harmless on the server path: metric points sent again, grouped differently,
are stored once.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from shipyard.config import Settings
from shipyard.db import open_database
from shipyard.server import create_app
from shipyard.tracking.entities import ViewType
from shipyard.tracking.service import TrackingService
from shipyard.tracking.store import TrackingStore
from tests.support.auth import auth_server, ok_json

API = "/api/2.0/mlflow"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path, artifacts_uri=str(tmp_path / "artifacts"))
    with TestClient(create_app(settings), base_url="http://127.0.0.1", raise_server_exceptions=False) as test_client:
        yield test_client


def _experiment(client: Any, name: str) -> str:
    return str(ok_json(client.post(f"{API}/experiments/create", json={"name": name}))["experiment_id"])


def _create(client: Any, experiment_id: str, run_id: str, **fields: Any) -> Any:
    return client.post(f"{API}/runs/create", json={"experiment_id": experiment_id, "run_id": run_id, **fields})


def test_creating_a_run_again_with_its_id_returns_the_same_run(client: TestClient) -> None:
    experiment = _experiment(client, "e")
    run_id = uuid.uuid4().hex
    first = ok_json(_create(client, experiment, run_id, run_name="first", start_time=5))["run"]["info"]
    again = ok_json(_create(client, experiment, run_id, run_name="second", start_time=9))["run"]["info"]
    found = ok_json(client.post(f"{API}/runs/search", json={"experiment_ids": [experiment]}))["runs"]
    assert (first["run_id"], again, len(found)) == (run_id, first, 1)


def test_a_run_id_taken_in_another_experiment_is_refused(client: TestClient) -> None:
    run_id = uuid.uuid4().hex
    ok_json(_create(client, _experiment(client, "a"), run_id))
    answer = _create(client, _experiment(client, "b"), run_id)
    assert (answer.status_code, answer.json()["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")


@pytest.mark.parametrize("run_id", ["short", "A" * 32, "../" + "a" * 29, "g" * 32])
def test_a_malformed_client_run_id_is_refused(client: TestClient, run_id: str) -> None:
    answer = _create(client, _experiment(client, "e"), run_id)
    assert (answer.status_code, answer.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


def test_metric_points_sent_again_in_other_batches_are_stored_once(client: TestClient) -> None:
    run_id = ok_json(client.post(f"{API}/runs/create", json={"experiment_id": "0"}))["run"]["info"]["run_id"]

    def points(steps: range) -> list[dict[str, Any]]:
        return [{"key": "loss", "value": step / 10, "timestamp": 1000 + step, "step": step} for step in steps]

    ok_json(client.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": points(range(10))}))
    ok_json(client.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": points(range(5, 15))}))
    ok_json(client.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": points(range(3, 4))}))
    history = ok_json(client.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "loss"}))
    assert list(range(15)) == [m["step"] for m in history["metrics"]]


@pytest.mark.slow
def test_a_client_run_id_needs_the_permission_to_create_runs_there(tmp_path: Path) -> None:
    with auth_server(tmp_path) as server, server.admin() as admin:
        owned = _experiment(admin, "admins")
        run_id = uuid.uuid4().hex
        ok_json(_create(admin, owned, run_id))
        with server.client(server.user("bob")) as bob:
            denied = _create(bob, owned, uuid.uuid4().hex)  # bob may READ the admin's experiment, not EDIT it
            taken = _create(bob, _experiment(bob, "bobs"), run_id)  # an id of a run bob may not write to
    assert ((denied.status_code, denied.json()["error_code"]), (taken.status_code, taken.json()["error_code"])) == (
        (403, "PERMISSION_DENIED"),
        (400, "RESOURCE_ALREADY_EXISTS"),
    )


@pytest.fixture
def service(store_url: str) -> Iterator[TrackingService]:
    database = open_database(store_url)
    yield TrackingService(TrackingStore(database))
    database.dispose()


def test_concurrent_creates_with_one_client_id_make_one_run(service: TrackingService) -> None:
    experiment = service.create_experiment("race")
    run_id = uuid.uuid4().hex
    barrier = threading.Barrier(4)

    def create(_: int) -> str:
        barrier.wait()
        return service.create_run(experiment, run_id=run_id, run_name="r").run_id

    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(create, range(4)))
    found, _ = service.search_runs([experiment], None, ViewType.ALL, 100, [], None)
    assert (made, [r.run_id for r in found]) == ([run_id] * 4, [run_id])
