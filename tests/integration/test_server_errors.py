"""Bad input gets MLflow-style 4xx answers, never a 500, and never escapes the artifact root."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from shipyard.config import Settings
from shipyard.server import create_app

API = "/api/2.0/mlflow"
ART = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path, artifacts_uri=str(tmp_path / "artifacts"))
    # The guards answer loopback host names only (not TestClient's default "testserver").
    with TestClient(create_app(settings), base_url="http://127.0.0.1", raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def run(client: TestClient) -> dict[str, Any]:
    exp = client.post(f"{API}/experiments/create", json={"name": "e"}).json()["experiment_id"]
    body: dict[str, Any] = client.post(f"{API}/runs/create", json={"experiment_id": exp}).json()["run"]["info"]
    return body


def _error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error_code"]


def test_malformed_json_is_a_bad_request(client: TestClient) -> None:
    response = client.post(
        f"{API}/experiments/create", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert (400, "BAD_REQUEST") == _error(response)


def test_json_array_body_is_a_bad_request(client: TestClient) -> None:
    assert (400, "BAD_REQUEST") == _error(client.post(f"{API}/experiments/create", json=[1, 2]))


def test_wrong_type_for_name_is_invalid(client: TestClient) -> None:
    assert (400, "INVALID_PARAMETER_VALUE") == _error(client.post(f"{API}/experiments/create", json={"name": 5}))


def test_missing_required_field_names_it(client: TestClient) -> None:
    response = client.post(f"{API}/experiments/create", json={})
    assert (400, "INVALID_PARAMETER_VALUE", True) == (*_error(response), "'name'" in response.json()["message"])


def test_duplicate_experiment_answers_resource_already_exists(client: TestClient) -> None:
    client.post(f"{API}/experiments/create", json={"name": "twice"})
    assert (400, "RESOURCE_ALREADY_EXISTS") == _error(client.post(f"{API}/experiments/create", json={"name": "twice"}))


def test_missing_run_is_404(client: TestClient) -> None:
    response = client.get(f"{API}/runs/get", params={"run_id": "0123456789abcdef0123456789abcdef"})
    assert (404, "RESOURCE_DOES_NOT_EXIST") == _error(response)


def test_unknown_endpoint_is_404_endpoint_not_found(client: TestClient) -> None:
    assert (404, "ENDPOINT_NOT_FOUND") == _error(client.post(f"{API}/runs/fly"))


@pytest.mark.parametrize(
    "metric",
    [
        {"key": "m", "value": "abc", "timestamp": 1},
        {"key": "m", "value": 1.0, "timestamp": "yesterday"},
        {"key": "m", "value": 1.0, "timestamp": 1, "step": 2**70},
        {"key": "m", "value": 1.0, "timestamp": -1},
        {"key": "m", "value": True, "timestamp": 1},
        {"key": "m" * 251, "value": 1.0, "timestamp": 1},
        {"key": "bad;name", "value": 1.0, "timestamp": 1},
        {"key": "../up", "value": 1.0, "timestamp": 1},
        {"key": "m", "timestamp": 1},
        {"value": 1.0, "timestamp": 1},
    ],
)
def test_bad_metric_is_a_4xx(client: TestClient, run: dict[str, Any], metric: dict[str, Any]) -> None:
    response = client.post(f"{API}/runs/log-metric", json={"run_id": run["run_id"], **metric})
    assert (400, "INVALID_PARAMETER_VALUE") == _error(response)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_special_float_metrics_are_stored(client: TestClient, run: dict[str, Any], value: str) -> None:
    body = {"run_id": run["run_id"], "key": "m", "value": value, "timestamp": 1, "step": 0}
    assert 200 == client.post(f"{API}/runs/log-metric", json=body).status_code
    got = client.get(f"{API}/runs/get", params={"run_id": run["run_id"]}).json()["run"]["data"]["metrics"][0]
    assert value == got["value"]


def test_bare_nan_in_json_body_is_accepted(client: TestClient, run: dict[str, Any]) -> None:
    raw = b'{"run_id": "%s", "key": "m", "value": NaN, "timestamp": 1}' % run["run_id"].encode()
    response = client.post(f"{API}/runs/log-metric", content=raw, headers={"content-type": "application/json"})
    assert 200 == response.status_code


def test_int64_fields_sent_as_strings_are_accepted(client: TestClient, run: dict[str, Any]) -> None:
    body = {"run_id": run["run_id"], "key": "m", "value": "2.5", "timestamp": "17", "step": "3"}
    client.post(f"{API}/runs/log-metric", json=body)
    history = client.get(f"{API}/metrics/get-history", params={"run_id": run["run_id"], "metric_key": "m"}).json()
    assert [{"key": "m", "value": 2.5, "timestamp": 17, "step": 3}] == history["metrics"]


def test_unknown_fields_are_ignored_like_mlflow(client: TestClient, run: dict[str, Any]) -> None:
    body = {"run_id": run["run_id"], "key": "p", "value": "1", "surprise": {"x": 1}}
    assert 200 == client.post(f"{API}/runs/log-parameter", json=body).status_code


def test_overlong_param_key_is_refused(client: TestClient, run: dict[str, Any]) -> None:
    body = {"run_id": run["run_id"], "key": "k" * 300, "value": "1"}
    assert (400, "INVALID_PARAMETER_VALUE") == _error(client.post(f"{API}/runs/log-parameter", json=body))


def test_conflicting_param_is_invalid_parameter_value(client: TestClient, run: dict[str, Any]) -> None:
    client.post(f"{API}/runs/log-parameter", json={"run_id": run["run_id"], "key": "p", "value": "1"})
    response = client.post(f"{API}/runs/log-parameter", json={"run_id": run["run_id"], "key": "p", "value": "2"})
    assert (400, "INVALID_PARAMETER_VALUE") == _error(response)


def test_bad_filter_is_invalid_parameter_value(client: TestClient, run: dict[str, Any]) -> None:
    response = client.post(
        f"{API}/runs/search", json={"experiment_ids": [run["experiment_id"]], "filter": "metrics.x >>> 1"}
    )
    assert (400, "INVALID_PARAMETER_VALUE") == _error(response)


def test_huge_max_results_is_invalid(client: TestClient, run: dict[str, Any]) -> None:
    response = client.post(f"{API}/runs/search", json={"experiment_ids": [run["experiment_id"]], "max_results": 10**9})
    assert (400, "INVALID_PARAMETER_VALUE") == _error(response)


def test_empty_search_answers_empty_object(client: TestClient, run: dict[str, Any]) -> None:
    response = client.post(
        f"{API}/runs/search", json={"experiment_ids": [run["experiment_id"]], "filter": "metrics.none > 1"}
    )
    assert {} == response.json()


# ----------------------------------------------------------------------------------------------------- artifacts
TRAVERSALS = [
    "1/../../outside.txt",
    "%2e%2e/%2e%2e/outside.txt",
    "1/%252e%252e/%252e%252e/outside.txt",
    "1/..%2f..%2foutside.txt",
    "1/..\\..\\outside.txt",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_artifact_upload_cannot_escape_the_root(client: TestClient, tmp_path: Path, path: str) -> None:
    response = client.put(f"{ART}/{path}", content=b"pwned")
    assert (response.status_code in (400, 404), (tmp_path / "outside.txt").exists()) == (True, False)


@pytest.mark.parametrize("path", TRAVERSALS)
def test_artifact_download_cannot_escape_the_root(client: TestClient, tmp_path: Path, path: str) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    response = client.get(f"{ART}/{path}")
    assert (response.status_code in (400, 404), b"secret" in response.content) == (True, False)


def test_artifact_listing_cannot_escape_the_root(client: TestClient) -> None:
    response = client.get(ART, params={"path": "../.."})
    assert (400, "INVALID_PARAMETER_VALUE") == _error(response)


def test_absolute_artifact_path_is_refused(client: TestClient) -> None:
    response = client.get(ART, params={"path": "/etc"})
    assert 400 == response.status_code


def test_symlink_out_of_the_root_is_not_followed(client: TestClient, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.txt").write_text("secret")
    (tmp_path / "artifacts" / "1").mkdir(parents=True)
    (tmp_path / "artifacts" / "1" / "link").symlink_to(secret)
    read = client.get(f"{ART}/1/link/key.txt")
    write = client.put(f"{ART}/1/link/new.txt", content=b"x")
    assert (read.status_code, b"secret" in read.content, write.status_code, (secret / "new.txt").exists()) == (
        400,
        False,
        400,
        False,
    )


def test_artifact_round_trip_and_listing(client: TestClient, run: dict[str, Any]) -> None:
    base = run["artifact_uri"].removeprefix("mlflow-artifacts:/")
    client.put(f"{ART}/{base}/dir/a.txt", content=b"hello")
    listing = client.get(ART, params={"path": f"{base}/dir"}).json()
    assert ({"files": [{"path": "a.txt", "is_dir": False, "file_size": 5}]}, b"hello") == (
        listing,
        client.get(f"{ART}/{base}/dir/a.txt").content,
    )


def test_missing_artifact_is_404(client: TestClient) -> None:
    assert 404 == client.get(f"{ART}/1/nothing/here.txt").status_code
