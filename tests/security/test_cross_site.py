"""Cross-site and DNS-rebinding requests are refused; the real clients' own requests still go through.

Attacks modelled: a page on another site posting to the API or the UI's forms (CSRF, with and without a
CORS preflight), and a hostile DNS name rebound to 127.0.0.1 (the browser then sends that name as ``Host``).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient

from shipyard.server._guards import HostMatcher, normalize_origin
from tests.security.conftest import Target
from tests.support.servers import RunningServer, shipyard_server

API = "/api/2.0/mlflow"
TRUSTED_ORIGIN = "https://app.example.com"
EVIL_ORIGIN = "https://evil.example"
SIMPLE_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x")


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _port(target: Target) -> str:
    return target.url.rsplit(":", 1)[1]


def _experiment_exists(target: Target, name: str) -> bool:
    with target.client() as client:
        response = client.get(f"{API}/experiments/get-by-name", params={"experiment_name": name})
    return response.status_code == 200


def _form_token(client: httpx.Client, page: str) -> str:
    """Open the page as a person would (keeping its cookies) and return the token its forms carry."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text)
    return found.group(1) if found else ""


def _create_experiment_body(name: str) -> bytes:
    return f'{{"name": "{name}"}}'.encode()


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A second server with one trusted CORS origin and an extra allowed host name."""
    env = {
        "SHIPYARD_DELIVER_WEBHOOKS": "0",
        "SHIPYARD_CORS_ORIGINS": TRUSTED_ORIGIN,
        "SHIPYARD_ALLOWED_HOSTS": "mlflow.internal,127.0.0.1",
    }
    with shipyard_server(tmp_path_factory.mktemp("configured"), env=env) as server:
        yield server


# --- DNS rebinding: the Host header -----------------------------------------------------------------------


@pytest.mark.parametrize("path", [f"{API}/experiments/search?max_results=1", "/", "/models"])
def test_foreign_host_is_refused(target: Target, path: str) -> None:
    response = target.raw("GET", path, headers={"Host": f"rebound.evil.example:{_port(target)}"})

    assert (400, True) == (response.status, b"SHIPYARD_ALLOWED_HOSTS" in response.body)


def test_foreign_host_cannot_write(target: Target) -> None:
    name = _unique("rebound")
    body = _create_experiment_body(name)
    headers = {"Host": f"evil.example:{_port(target)}", "Content-Type": "application/json"}

    response = target.raw("POST", f"{API}/experiments/create", body=body, headers=headers)

    assert (400, False) == (response.status, _experiment_exists(target, name))


@pytest.mark.parametrize(
    "host",
    ["localhost.evil.example", "127.0.0.1.evil.example", "127.0.0.1:80@evil.example", "evil.example:5000:1", "[::1"],
)
def test_look_alike_and_malformed_hosts_are_refused(target: Target, host: str) -> None:
    assert 400 == target.raw("GET", f"{API}/experiments/search?max_results=1", headers={"Host": host}).status


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "LOCALHOST", "127.0.0.1"])
def test_loopback_host_names_are_served(target: Target, host: str) -> None:
    response = target.raw(
        "GET", f"{API}/experiments/search?max_results=1", headers={"Host": host.format(port=_port(target))}
    )

    assert 200 == response.status


def test_health_answers_any_host_for_probes(target: Target) -> None:
    assert 200 == target.raw("GET", "/health", headers={"Host": "10.1.2.3:5000"}).status


def test_configured_host_name_is_served(configured: RunningServer) -> None:
    response = httpx.get(
        f"{configured.url}/api/2.0/mlflow/experiments/search?max_results=1", headers={"Host": "mlflow.internal"}
    )

    assert 200 == response.status_code


def test_configured_hosts_replace_the_loopback_defaults(configured: RunningServer) -> None:
    response = httpx.get(
        f"{configured.url}/api/2.0/mlflow/experiments/search?max_results=1", headers={"Host": "localhost"}
    )

    assert 400 == response.status_code


# --- cross-site writes: Origin and Sec-Fetch-Site --------------------------------------------------------


@pytest.mark.parametrize("origin", [EVIL_ORIGIN, "null", "http://127.0.0.1:1", "http://localhost.evil.example"])
def test_write_from_another_origin_is_refused(target: Target, origin: str) -> None:
    name = _unique("csrf")
    with target.client() as client:
        response = client.post(f"{API}/experiments/create", json={"name": name}, headers={"Origin": origin})

    assert (403, False) == (response.status_code, _experiment_exists(target, name))


@pytest.mark.parametrize(
    ("method", "path"), [("PATCH", "registered-models/update"), ("DELETE", "registered-models/delete")]
)
def test_other_write_methods_from_another_origin_are_refused(target: Target, method: str, path: str) -> None:
    name = _unique("csrf-model")
    with target.client() as client:
        client.post(f"{API}/registered-models/create", json={"name": name}).raise_for_status()
        response = client.request(
            method, f"{API}/{path}", json={"name": name, "description": "pwned"}, headers={"Origin": EVIL_ORIGIN}
        )
        model = client.get(f"{API}/registered-models/get", params={"name": name}).json()["registered_model"]

    assert (403, "") == (response.status_code, model.get("description", ""))


def test_write_from_the_same_origin_is_accepted(target: Target) -> None:
    name = _unique("same-origin")
    with target.client() as client:
        response = client.post(f"{API}/experiments/create", json={"name": name}, headers={"Origin": target.url})

    assert (200, True) == (response.status_code, _experiment_exists(target, name))


def test_write_with_a_default_port_origin_matches_a_portless_host(target: Target) -> None:
    headers = {"Host": "localhost", "Origin": "http://localhost", "Content-Type": "application/json"}
    name = _unique("default-port")

    response = target.raw("POST", f"{API}/experiments/create", body=_create_experiment_body(name), headers=headers)

    assert 200 == response.status


def test_cross_site_fetch_metadata_without_origin_is_refused(target: Target) -> None:
    name = _unique("fetch-meta")
    with target.client() as client:
        response = client.post(
            f"{API}/experiments/create", json={"name": name}, headers={"Sec-Fetch-Site": "cross-site"}
        )

    assert (403, False) == (response.status_code, _experiment_exists(target, name))


def test_same_origin_fetch_metadata_is_accepted(target: Target) -> None:
    with target.client() as client:
        response = client.post(
            f"{API}/experiments/create", json={"name": _unique("fetch-ok")}, headers={"Sec-Fetch-Site": "same-origin"}
        )

    assert 200 == response.status_code


def test_reads_from_another_origin_are_answered_but_not_shared(target: Target) -> None:
    with target.client() as client:
        response = client.get(f"{API}/experiments/search", params={"max_results": 1}, headers={"Origin": EVIL_ORIGIN})

    assert (200, None) == (response.status_code, response.headers.get("access-control-allow-origin"))


def test_ui_form_from_another_origin_is_refused(target: Target) -> None:
    name = _unique("ui-csrf")
    client = MlflowClient(tracking_uri=target.url)
    client.create_registered_model(name)
    client.create_model_version(name, source="mlflow-artifacts:/nowhere/model")
    with target.client() as http:
        # Even with the form's token (which another site cannot read), another origin is refused.
        form = {
            "alias": "champion",
            "version": "1",
            "reason": "csrf",
            "csrf_token": _form_token(http, f"/models/{name}"),
        }
        response = http.post(f"/models/{name}/aliases", data=form, headers={"Origin": EVIL_ORIGIN})

    assert (403, {}) == (response.status_code, client.get_registered_model(name).aliases)


# --- API bodies a browser sends without a preflight -----------------------------------------------------


@pytest.mark.parametrize("content_type", SIMPLE_TYPES)
def test_api_write_with_a_simple_content_type_is_refused(target: Target, content_type: str) -> None:
    name = _unique("simple")
    with target.client() as client:
        response = client.post(
            f"{API}/experiments/create", content=_create_experiment_body(name), headers={"Content-Type": content_type}
        )

    assert (415, "application/json", False) == (
        response.status_code,
        response.json()["message"].split("Content-Type: ")[-1].rstrip("."),
        _experiment_exists(target, name),
    )


def test_api_write_without_a_content_type_is_refused(target: Target) -> None:
    name = _unique("untyped")

    response = target.raw("POST", f"{API}/experiments/create", body=_create_experiment_body(name))

    assert (415, False) == (response.status, _experiment_exists(target, name))


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_other_api_writes_with_text_plain_are_refused(target: Target, method: str) -> None:
    name = _unique("plain-model")
    with target.client() as client:
        client.post(f"{API}/registered-models/create", json={"name": name}).raise_for_status()
        path = "registered-models/update" if method == "PATCH" else "registered-models/delete"
        body = f'{{"name": "{name}", "description": "pwned"}}'.encode()
        response = client.request(method, f"{API}/{path}", content=body, headers={"Content-Type": "text/plain"})

    assert 415 == response.status_code


def test_api_write_with_json_and_a_charset_is_accepted(target: Target) -> None:
    name = _unique("charset")
    with target.client() as client:
        response = client.post(
            f"{API}/experiments/create",
            content=_create_experiment_body(name),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )

    assert (200, True) == (response.status_code, _experiment_exists(target, name))


def test_artifact_upload_labelled_text_plain_is_accepted(target: Target) -> None:
    # The mlflow client labels MLmodel, .txt, .yaml and the like text/plain when it uploads them.
    with target.client() as client:
        response = client.put(
            "/api/2.0/mlflow-artifacts/artifacts/uploads/MLmodel",
            content=b"flavors: {}\n",
            headers={"Content-Type": "text/plain"},
        )
        read = client.get("/api/2.0/mlflow-artifacts/artifacts/uploads/MLmodel")

    assert (200, b"flavors: {}\n") == (response.status_code, read.content)


def test_ui_form_from_the_same_origin_keeps_working(target: Target) -> None:
    name = _unique("ui-form")
    client = MlflowClient(tracking_uri=target.url)
    client.create_registered_model(name)
    client.create_model_version(name, source="mlflow-artifacts:/nowhere/model")
    with target.client() as http:
        form = {"alias": "champion", "version": "1", "reason": "ok", "csrf_token": _form_token(http, f"/models/{name}")}
        response = http.post(f"/models/{name}/aliases", data=form, headers={"Origin": target.url})

    assert (303, {"champion": "1"}) == (response.status_code, client.get_registered_model(name).aliases)


# --- the real clients still work ------------------------------------------------------------------------


def test_mlflow_client_writes_go_through(target: Target, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=target.url)
    experiment_id = client.create_experiment(_unique("mlflow-client"))
    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "depth", "4")
    client.log_metric(run_id, "acc", 0.9)
    client.set_tag(run_id, "team", "red")
    (tmp_path / "notes.txt").write_text("hello")
    client.log_artifact(run_id, str(tmp_path / "notes.txt"))
    client.set_terminated(run_id)
    name = _unique("mlflow-model")
    client.create_registered_model(name)
    client.update_registered_model(name, description="updated")  # PATCH
    client.create_model_version(name, source=f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias(name, "champion", "1")
    client.delete_registered_model_alias(name, "champion")  # DELETE
    run = client.get_run(run_id)

    assert ({"depth": "4"}, "FINISHED", ["notes.txt"], "updated") == (
        run.data.params,
        run.info.status,
        [f.path for f in client.list_artifacts(run_id)],
        client.get_registered_model(name).description,
    )


def test_shipyard_client_writes_go_through(target: Target, tmp_path: Path) -> None:
    from shipyard.client.http import RestBackend
    from shipyard.tracking.entities import Metric

    # The trusted client's credentials, once auth is on.
    backend = RestBackend(target.url, retries=0, headers=dict(target.headers))
    try:
        experiment_id = backend.create_experiment(_unique("shipyard-client"))
        run = backend.create_run(experiment_id, None, {}, int(time.time() * 1000), "tester")
        backend.log_batch(run.run_id, [Metric("acc", 0.5, int(time.time() * 1000), 0)], (), ())
        (tmp_path / "data.txt").write_text("x" * 10)
        backend.upload_artifact(run, tmp_path / "data.txt", "data.txt")
        stored = (
            [m.value for m in backend.get_metric_history(run.run_id, "acc")],
            [entry[0] for entry in backend.list_artifacts(run, "")],
        )
    finally:
        backend.close()

    assert ([0.5], ["data.txt"]) == stored


# --- CORS -----------------------------------------------------------------------------------------------


def test_cors_is_closed_by_default(target: Target) -> None:
    with target.client() as client:
        response = client.get(
            f"{API}/experiments/search", params={"max_results": 1}, headers={"Origin": TRUSTED_ORIGIN}
        )

    assert [] == [h for h in response.headers if h.lower().startswith("access-control-")]


def test_preflight_gets_no_allow_headers_by_default(target: Target) -> None:
    headers = {
        "Origin": TRUSTED_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    with target.client() as client:
        response = client.options(f"{API}/experiments/create", headers=headers)

    assert (True, []) == (
        response.status_code >= 400,
        [h for h in response.headers if h.lower().startswith("access-control-")],
    )


def test_configured_origin_gets_cors_headers(configured: RunningServer) -> None:
    response = httpx.get(
        f"{configured.url}{API}/experiments/search", params={"max_results": 1}, headers={"Origin": TRUSTED_ORIGIN}
    )

    assert TRUSTED_ORIGIN == response.headers.get("access-control-allow-origin")


def test_configured_origin_passes_the_preflight(configured: RunningServer) -> None:
    headers = {
        "Origin": TRUSTED_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    response = httpx.options(f"{configured.url}{API}/experiments/create", headers=headers)

    assert (200, TRUSTED_ORIGIN, True) == (
        response.status_code,
        response.headers.get("access-control-allow-origin"),
        "POST" in response.headers.get("access-control-allow-methods", ""),
    )


def test_configured_origin_may_write(configured: RunningServer) -> None:
    response = httpx.post(
        f"{configured.url}{API}/experiments/create", json={"name": _unique("cors")}, headers={"Origin": TRUSTED_ORIGIN}
    )

    assert (200, TRUSTED_ORIGIN) == (response.status_code, response.headers.get("access-control-allow-origin"))


def test_other_origins_stay_refused_when_one_is_configured(configured: RunningServer) -> None:
    response = httpx.post(
        f"{configured.url}{API}/experiments/create",
        json={"name": _unique("cors-evil")},
        headers={"Origin": EVIL_ORIGIN},
    )

    assert (403, None) == (response.status_code, response.headers.get("access-control-allow-origin"))


# --- host and origin matching rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "host", "served"),
    [
        ((), "localhost:5000", True),
        ((), "[::1]:5000", True),
        ((), "0.0.0.0:5000", False),
        (("*",), "anything.example:1", True),
        (("mlflow.example.com",), "MLflow.Example.com:443", True),
        (("mlflow.example.com:8080",), "mlflow.example.com:9090", False),
        (("mlflow.example.com:8080",), "mlflow.example.com:8080", True),
        ((".example.com",), "a.b.example.com", True),
        ((".example.com",), "example.com", True),
        ((".example.com",), "badexample.com", False),
        (("::1",), "[::1]:80", True),
        (("10.0.0.5",), "10.0.0.5.evil.example", False),
    ],
)
def test_host_matching(allowed: tuple[str, ...], host: str, served: bool) -> None:
    assert served == HostMatcher(allowed).allows(host)


@pytest.mark.parametrize(
    ("configured", "normalized"),
    [
        ("https://App.Example.com/", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("*", "*"),
    ],
)
def test_configured_origins_are_normalized_as_browsers_send_them(configured: str, normalized: str) -> None:
    assert normalized == normalize_origin(configured)
