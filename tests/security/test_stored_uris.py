"""Stored locations (a version's ``source``, an experiment's ``artifact_location``) never point the server outside
its artifact root: refused at creation, and harmless at read time when a row got into the database anyway."""

from __future__ import annotations

import sqlite3
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.security.conftest import CANARY_TEXT, Target

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
# From the artifact root (root/data/artifacts) to the canary folder (root/outside).
UP_TO_CANARIES = "../../outside"
CANARY_NAMES = ("secret.txt", "keys.txt")


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@dataclass(frozen=True)
class Seed:
    """What the module created through the API: an experiment, a run, a logged model and a registered model."""

    experiment_id: str
    run_id: str
    logged_model_id: str
    model: str


@pytest.fixture(scope="module")
def seed(target: Target) -> Seed:
    with target.client() as http:
        exp = _ok(http.post(f"{API}/experiments/create", json={"name": _unique("uris")}))["experiment_id"]
        run = _ok(http.post(f"{API}/runs/create", json={"experiment_id": exp}))["run"]["info"]["run_id"]
        logged = _ok(http.post(f"{API}/logged-models", json={"experiment_id": exp, "name": "clf"}))["model"]
        model = _unique("uris-model")
        _ok(http.post(f"{API}/registered-models/create", json={"name": model}))
    return Seed(exp, run, logged["info"]["model_id"], model)


def _create_version(target: Target, model: str, source: str, **extra: str) -> httpx.Response:
    with target.client() as http:
        return http.post(f"{API}/model-versions/create", json={"name": model, "source": source, **extra})


def _create_experiment(target: Target, location: str) -> httpx.Response:
    with target.client() as http:
        return http.post(f"{API}/experiments/create", json={"name": _unique("loc"), "artifact_location": location})


# --- refused at creation -----------------------------------------------------------------------------------------

OUTSIDE_LOCATIONS = [
    "/etc/passwd",
    "/etc",
    "file:///etc",
    "file://localhost/etc",
    "file:/etc",
    "file://fileserver/share",
    "//proc/self/root/etc",
    "mlflow-artifacts:/../../etc",
    f"mlflow-artifacts:/{UP_TO_CANARIES}",
    "mlflow-artifacts:/%2e%2e/%2e%2e/outside",
    "mlflow-artifacts:/1/%252e%252e/%252e%252e/%252e%252e/outside",
    "mlflow-artifacts://evil.example/../../etc",
    "mlflow-artifacts:",
    "dbfs:/databricks/secrets",
    "hdfs://namenode/user/x",
    "ftp://files.example/model",
    "http://169.254.169.254/latest/meta-data/",
    "https://models.example/model.tar",
    "gs://bucket/model",
    "s3://bucket/../other/model",
    "s3:/bucket/model",
    "relative/model",
    "C:\\models\\x",
]


@pytest.mark.parametrize("source", [*OUTSIDE_LOCATIONS, "runs:/{run}/../../../etc", "runs:/{run}/%2e%2e/%2e%2e"])
def test_version_source_outside_the_root_is_refused(target: Target, seed: Seed, source: str) -> None:
    response = _create_version(target, seed.model, source.format(run=seed.run_id))
    assert (400, "INVALID_PARAMETER_VALUE") == (response.status_code, response.json()["error_code"])


@pytest.mark.parametrize("source", ["models:/x/1/../..", "models:/../../1", "models:/%2e%2e/1"])
def test_version_source_model_uri_climbing_out_is_refused(target: Target, seed: Seed, source: str) -> None:
    assert 400 == _create_version(target, seed.model, source).status_code


def test_refusal_names_the_problem_and_what_is_accepted(target: Target, seed: Seed) -> None:
    message = _create_version(target, seed.model, "/etc/passwd").json()["message"]
    assert ("outside this server's artifact root" in message, "Accepted: runs:/" in message) == (True, True)


def test_refusal_of_an_unserved_scheme_names_the_scheme(target: Target, seed: Seed) -> None:
    assert "'dbfs:'" in _create_version(target, seed.model, "dbfs:/x").json()["message"]


def test_a_refused_source_creates_no_version(target: Target) -> None:
    model = _unique("refused")
    with target.client() as http:
        _ok(http.post(f"{API}/registered-models/create", json={"name": model}))
        http.post(f"{API}/model-versions/create", json={"name": model, "source": "/etc"})
        found = _ok(http.get(f"{API}/model-versions/search", params={"filter": f"name = '{model}'"}))
    assert [] == found.get("model_versions", [])


@pytest.mark.parametrize("location", OUTSIDE_LOCATIONS)
def test_experiment_artifact_location_outside_the_root_is_refused(target: Target, location: str) -> None:
    response = _create_experiment(target, location)
    assert (400, "INVALID_PARAMETER_VALUE") == (response.status_code, response.json()["error_code"])


def test_experiment_refusal_names_the_field(target: Target) -> None:
    assert "Invalid artifact_location '/etc'" in _create_experiment(target, "/etc").json()["message"]


# --- what stays legitimate -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "runs:/{run}/model",
        "mlflow-artifacts:/1/abc/artifacts/model",
        "mlflow-artifacts://shipyard.example:5000/1/abc/artifacts/model",
        "mlflow-artifacts:///1/abc/artifacts/model",
        "s3://bucket/models/churn",
        "{root}/1/abc/artifacts/model",
        "file://{root}/1/abc/artifacts/model",
        "file://localhost{root}/1/abc/artifacts/model",
    ],
)
def test_version_source_inside_the_root_or_a_model_uri_is_accepted(target: Target, seed: Seed, source: str) -> None:
    given = source.format(run=seed.run_id, root=target.artifacts)
    assert given == _ok(_create_version(target, seed.model, given))["model_version"]["source"]


def test_version_from_a_logged_model_uri_is_accepted(target: Target, seed: Seed) -> None:
    source = f"models:/{seed.logged_model_id}"
    created = _ok(_create_version(target, seed.model, source, model_id=seed.logged_model_id))
    assert source == created["model_version"]["source"]


def test_version_from_another_version_is_accepted(target: Target, seed: Seed) -> None:
    first = _ok(_create_version(target, seed.model, "mlflow-artifacts:/1/abc/artifacts/model"))["model_version"]
    source = f"models:/{seed.model}/{first['version']}"
    assert source == _ok(_create_version(target, seed.model, source))["model_version"]["source"]


def test_experiment_without_location_gets_one_under_the_proxy(target: Target) -> None:
    with target.client() as http:
        exp = _ok(http.post(f"{API}/experiments/create", json={"name": _unique("noloc")}))["experiment_id"]
        location = _ok(http.get(f"{API}/experiments/get", params={"experiment_id": exp}))["experiment"]
    assert f"mlflow-artifacts:/{exp}" == location["artifact_location"]


@pytest.mark.parametrize("location", ["mlflow-artifacts:/team-a", "s3://bucket/team-a", "{root}/team-a"])
def test_experiment_location_inside_the_root_is_accepted(target: Target, location: str) -> None:
    assert 200 == _create_experiment(target, location.format(root=target.artifacts)).status_code


# --- harmless at read time: rows planted in the database, bypassing validation -----------------------------------


class Store:
    """Direct SQL on the server's SQLite store, to plant rows no API would accept."""

    def __init__(self, target: Target) -> None:
        self.path = target.root / "data" / "shipyard.db"

    def execute(self, sql: str, params: tuple[Any, ...]) -> None:
        with sqlite3.connect(self.path, timeout=30) as conn:
            conn.execute(sql, params)

    def version(self, model: str, number: int, location: str) -> None:
        now = int(time.time() * 1000)
        with sqlite3.connect(self.path, timeout=30) as conn:
            row = conn.execute("SELECT model_key FROM registered_models WHERE name = ?", (model,)).fetchone()
            conn.execute(
                "INSERT INTO model_versions (model_key, version, creation_time, last_updated_time, current_stage,"
                " source, storage_location, status) VALUES (?, ?, ?, ?, 'None', ?, ?, 'READY')",
                (row[0], number, now, now, location, location),
            )
            conn.execute("UPDATE registered_models SET last_version = ? WHERE model_key = ?", (number, row[0]))

    def run(self, experiment_id: str, artifact_uri: str) -> str:
        run_id = uuid.uuid4().hex
        self.execute(
            "INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, lifecycle_stage,"
            " artifact_uri) VALUES (?, ?, 'planted', 'mallory', 'FINISHED', ?, 'active', ?)",
            (run_id, int(experiment_id), int(time.time() * 1000), artifact_uri),
        )
        return run_id

    def logged_model(self, experiment_id: str, location: str) -> str:
        model_id = "m-" + uuid.uuid4().hex
        now = int(time.time() * 1000)
        self.execute(
            "INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, creation_time,"
            " last_updated_time, status, lifecycle_stage) VALUES (?, ?, 'planted', ?, ?, ?, 'LOGGED_MODEL_READY',"
            " 'active')",
            (model_id, int(experiment_id), location, now, now),
        )
        return model_id


@pytest.fixture(scope="module")
def store(target: Target) -> Store:
    return Store(target)


def _planted_locations(target: Target) -> list[str]:
    canaries = target.canary_dir
    return [
        str(canaries),
        f"file://{canaries}",
        f"{target.artifacts}/{UP_TO_CANARIES}",
        f"mlflow-artifacts:/{UP_TO_CANARIES}",
        "mlflow-artifacts:/%2e%2e/%2e%2e/outside",
        f"mlflow-artifacts://evil.example/{UP_TO_CANARIES}",
    ]


PLANTED_COUNT = 6


@dataclass(frozen=True)
class Planted:
    """A registered model whose versions 1..6 point outside the root, and runs whose artifact URIs do."""

    model: str
    runs: list[str]


@pytest.fixture(scope="module")
def planted(target: Target, store: Store, seed: Seed) -> Planted:
    model = _unique("planted")
    with target.client() as http:
        _ok(http.post(f"{API}/registered-models/create", json={"name": model}))
    locations = _planted_locations(target)
    assert PLANTED_COUNT == len(locations)
    for number, location in enumerate(locations, start=1):
        store.version(model, number, location)
    return Planted(model, [store.run(seed.experiment_id, location) for location in locations])


def _leaks(response: httpx.Response) -> bool:
    """Whether an answer shows a canary's content or name."""
    return CANARY_TEXT.strip() in response.text or any(name in response.text for name in CANARY_NAMES)


VERSIONS = range(1, PLANTED_COUNT + 1)


@pytest.mark.parametrize("version", VERSIONS)
def test_planted_version_page_lists_nothing_outside(target: Target, planted: Planted, version: int) -> None:
    with target.client() as http:
        response = http.get(f"/models/{planted.model}/versions/{version}")
    assert (response.status_code < 500, False) == (True, _leaks(response))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", ["secret.txt", "nested/keys.txt"])
def test_planted_version_raw_route_refuses(target: Target, planted: Planted, version: int, path: str) -> None:
    with target.client() as http:
        response = http.get(f"/models/{planted.model}/versions/{version}/raw", params={"path": path})
    assert (True, False) == (400 <= response.status_code < 500, _leaks(response))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("route", ["card", "lineage"])
def test_planted_version_native_routes_read_nothing_outside(
    target: Target, planted: Planted, version: int, route: str
) -> None:
    with target.client() as http:
        response = http.get(f"/api/v1/models/{planted.model}/versions/{version}/{route}")
    assert (response.status_code < 500, False) == (True, _leaks(response))


@pytest.mark.parametrize("index", range(PLANTED_COUNT))
def test_planted_run_page_lists_nothing_outside(target: Target, planted: Planted, index: int) -> None:
    with target.client() as http:
        response = http.get(f"/runs/{planted.runs[index]}", params={"artifact": "secret.txt"})
    assert (response.status_code < 500, False) == (True, _leaks(response))


@pytest.mark.parametrize("index", range(PLANTED_COUNT))
def test_planted_run_raw_route_refuses(target: Target, planted: Planted, index: int) -> None:
    with target.client() as http:
        response = http.get(f"/ui/artifacts/{planted.runs[index]}/raw", params={"path": "secret.txt"})
    assert (True, False) == (400 <= response.status_code < 500, _leaks(response))


@pytest.mark.parametrize("key", [UP_TO_CANARIES, "%2e%2e/%2e%2e/outside", "..%2f..%2foutside"])
def test_proxy_listing_of_a_planted_key_refuses(target: Target, key: str) -> None:
    # What MLflow's client asks for when it lists an artifact location mlflow-artifacts:/<key>.
    response = target.raw("GET", f"{ARTIFACTS}?path={key}")
    assert (True, False) == (400 <= response.status < 500, CANARY_NAMES[0].encode() in response.body)


@pytest.mark.parametrize("key", [UP_TO_CANARIES, "%2e%2e/%2e%2e/outside", "..%2f..%2foutside"])
def test_proxy_download_of_a_planted_key_refuses(target: Target, key: str) -> None:
    response = target.raw("GET", f"{ARTIFACTS}/{key}/secret.txt")
    assert (True, False) == (400 <= response.status < 500, CANARY_TEXT.encode() in response.body)


@pytest.fixture(scope="module")
def planted_logged_model(target: Target, store: Store, seed: Seed) -> str:
    return store.logged_model(seed.experiment_id, f"mlflow-artifacts:/{UP_TO_CANARIES}")


def test_planted_logged_model_listing_refuses(target: Target, planted_logged_model: str) -> None:
    with target.client() as http:
        location = _ok(http.get(f"{API}/logged-models/{planted_logged_model}"))["model"]["info"]["artifact_uri"]
    key = location.removeprefix("mlflow-artifacts:/")
    response = target.raw("GET", f"{ARTIFACTS}?path={quote(key, safe='/.')}")
    assert (True, False) == (400 <= response.status < 500, CANARY_NAMES[0].encode() in response.body)


@pytest.fixture(scope="module")
def version_of_planted_logged_model(target: Target, seed: Seed, planted_logged_model: str) -> str:
    """A version registered (through the API, legitimately) from the planted logged model."""
    model = _unique("from-planted")
    with target.client() as http:
        _ok(http.post(f"{API}/registered-models/create", json={"name": model}))
    _ok(_create_version(target, model, f"models:/{planted_logged_model}", model_id=planted_logged_model))
    return model


def test_version_of_a_planted_logged_model_lists_nothing_outside(
    target: Target, version_of_planted_logged_model: str
) -> None:
    with target.client() as http:
        page = http.get(f"/models/{version_of_planted_logged_model}/versions/1")
        raw = http.get(f"/models/{version_of_planted_logged_model}/versions/1/raw", params={"path": "secret.txt"})
    assert (page.status_code < 500, _leaks(page), 400 <= raw.status_code < 500, _leaks(raw)) == (
        True,
        False,
        True,
        False,
    )


def test_run_in_a_planted_experiment_cannot_write_outside(target: Target, store: Store) -> None:
    exp_name = _unique("planted-exp")
    now = int(time.time() * 1000)
    store.execute(
        "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time)"
        " VALUES (?, ?, 'active', ?, ?)",
        (exp_name, f"mlflow-artifacts:/{UP_TO_CANARIES}", now, now),
    )
    with target.client() as http:
        exp = _ok(http.get(f"{API}/experiments/get-by-name", params={"experiment_name": exp_name}))["experiment"]
        run = _ok(http.post(f"{API}/runs/create", json={"experiment_id": exp["experiment_id"]}))["run"]["info"]
    key = run["artifact_uri"].removeprefix("mlflow-artifacts:/")
    response = target.raw("PUT", f"{ARTIFACTS}/{key}/secret.txt", body=b"overwritten")
    assert 400 <= response.status < 500  # the canary fixture checks that nothing outside changed


# --- positive controls: the same routes do read what is inside the root ----------------------------------------


@pytest.fixture(scope="module")
def inside(target: Target, store: Store, seed: Seed) -> tuple[str, str]:
    """A planted version and a planted run whose locations are inside the root, with one file each."""
    key = _unique("inside")
    with target.client() as http:
        assert 200 == http.put(f"{ARTIFACTS}/{key}/inside.txt", content=b"inside the root").status_code
        model = _unique("inside-model")
        _ok(http.post(f"{API}/registered-models/create", json={"name": model}))
    store.version(model, 1, f"mlflow-artifacts:/{key}")
    return model, store.run(seed.experiment_id, f"mlflow-artifacts:/{key}")


def test_control_version_page_lists_a_file_inside(target: Target, inside: tuple[str, str]) -> None:
    with target.client() as http:
        assert "inside.txt" in http.get(f"/models/{inside[0]}/versions/1").text


def test_control_version_raw_route_serves_a_file_inside(target: Target, inside: tuple[str, str]) -> None:
    with target.client() as http:
        response = http.get(f"/models/{inside[0]}/versions/1/raw", params={"path": "inside.txt"})
    assert (200, "inside the root") == (response.status_code, response.text)


def test_control_run_raw_route_serves_a_file_inside(target: Target, inside: tuple[str, str]) -> None:
    with target.client() as http:
        response = http.get(f"/ui/artifacts/{inside[1]}/raw", params={"path": "inside.txt"})
    assert (200, "inside the root") == (response.status_code, response.text)
