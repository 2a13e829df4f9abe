"""Fixtures for the MLflow-compatibility suite: one tracking server per session, a fresh experiment per test.

The suite drives the server only through the public ``mlflow`` client. It runs against Shipyard's
server by default; set ``SHIPYARD_COMPAT_TARGET=mlflow`` to run the very same tests against MLflow's
own server, which is how the tests themselves are validated.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from tests.support.servers import RunningServer, mlflow_server, shipyard_server

TARGET_ENV = "SHIPYARD_COMPAT_TARGET"
_TARGETS = {"shipyard": shipyard_server, "mlflow": mlflow_server}
_COMPAT_DIR = Path(__file__).parent

# Read by the mlflow client on every request: a server error must fail the test at once
# instead of being retried with backoff for minutes.
_CLIENT_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "compat: MLflow-compatibility tests that drive a tracking server through the mlflow client"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Conftest hooks see every collected item, so mark only the ones in this package.
    for item in items:
        if _COMPAT_DIR in item.path.parents:
            item.add_marker(pytest.mark.compat)


def compat_target() -> str:
    """Which server the suite runs against: ``shipyard`` (default) or ``mlflow``."""
    target = os.environ.get(TARGET_ENV, "shipyard").strip().lower() or "shipyard"
    if target not in _TARGETS:
        raise pytest.UsageError(f"{TARGET_ENV}={target!r} is not valid; expected one of {sorted(_TARGETS)}.")
    return target


@pytest.fixture(scope="session")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Start the tracking server under test and point the mlflow client at it."""
    target = compat_target()
    patch = pytest.MonkeyPatch()
    for name, value in _CLIENT_ENV.items():
        patch.setenv(name, value)
    try:
        with _TARGETS[target](tmp_path_factory.mktemp(f"{target}-server")) as server:
            # Set after the server started so the server process does not inherit it.
            patch.setenv("MLFLOW_TRACKING_URI", server.url)
            mlflow.set_tracking_uri(server.url)
            yield server
    finally:
        mlflow.set_tracking_uri(None)
        patch.undo()


@pytest.fixture(scope="session")
def client(tracking_server: RunningServer) -> MlflowClient:
    """An ``MlflowClient`` bound to the server under test."""
    return MlflowClient(tracking_uri=tracking_server.url)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Make names that no other test (or earlier session on the same server) uses."""
    test = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:80].strip("-")

    def make(label: str = "") -> str:
        return "-".join(part for part in ("compat", test, label, uuid.uuid4().hex[:10]) if part)

    return make


@pytest.fixture
def experiment_id(client: MlflowClient, unique_name: Callable[[str], str]) -> str:
    """A fresh experiment, made the active one for the fluent ``mlflow.*`` functions."""
    new_id = client.create_experiment(unique_name("exp"))
    mlflow.set_experiment(experiment_id=new_id)
    return new_id


@pytest.fixture(autouse=True)
def _no_active_run_left(tracking_server: RunningServer) -> Iterator[None]:
    """End any fluent run a failing test left open, so the next test starts clean."""
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()


# --- search_runs data -------------------------------------------------------------------------

# name: (start_time, status, metrics, params, tags). "acc" has a tie (beta, delta) for the
# comparison filters; "score" and "seed" are unique so orderings are fully determined.
SEARCH_RUNS = {
    "alpha": (
        1_000,
        "FINISHED",
        {"acc": 0.70, "loss": 0.9, "score": 3.0},
        {"model": "linear", "depth": "2", "seed": "s3"},
        {"team": "red"},
    ),
    "beta": (
        2_000,
        "FINISHED",
        {"acc": 0.80, "loss": 0.5, "score": 1.0},
        {"model": "Tree", "depth": "4", "seed": "s1"},
        {"team": "blue"},
    ),
    "gamma": (
        3_000,
        "FAILED",
        {"acc": 0.90, "loss": 0.5, "score": 4.0},
        {"model": "tree", "depth": "8", "seed": "s4"},
        {"team": "red"},
    ),
    "delta": (
        4_000,
        "RUNNING",
        {"acc": 0.80, "loss": 0.3, "score": 2.0},
        {"model": "forest", "depth": "4", "seed": "s2"},
        {"team": "green"},
    ),
}


@pytest.fixture
def search_runs_ids(client: MlflowClient, experiment_id: str) -> dict[str, str]:
    """Four runs with known metrics, params, tags, start times and statuses; name -> run_id."""
    ids = {}
    for name, (start_time, status, metrics, params, tags) in SEARCH_RUNS.items():
        run_id = client.create_run(experiment_id, start_time=start_time, run_name=name).info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric(key, value, start_time, 0) for key, value in metrics.items()],
            params=[Param(key, value) for key, value in params.items()],
            tags=[RunTag(key, value) for key, value in tags.items()],
        )
        if status != "RUNNING":
            client.set_terminated(run_id, status=status, end_time=start_time + 500)
        ids[name] = run_id
    return ids
