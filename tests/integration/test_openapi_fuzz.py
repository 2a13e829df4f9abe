"""The native API's OpenAPI document, and a fuzzer over it: no request it describes gets a 5xx answer.

Schemathesis generates requests from ``/api/openapi.json`` (valid ones, and ones that break the schema) and sends
them to a real app in-process, with sign-in on and an admin's token, and with sign-in off. The store is seeded
with a registered model and its version, a monitor, a user and a webhook; half of the requests name those in their
path, so they reach real rows (a monitor run at a fuzzed time, a real lineage), and valid requests' answers are
checked against the documented schemas too. The run is bounded in examples per operation and derandomized, so it
repeats.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from shipyard.config import Settings
from shipyard.server.app import create_app

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

EXAMPLES = 12  # per operation and mode
# Each new account hashes its password (argon2id, about 0.3 s): a few examples say as much as many.
FEWER_EXAMPLES = {("POST", "/api/v1/auth/users"): 4, ("PATCH", "/api/v1/auth/users/{username}"): 6}
ADMIN, PASSWORD = "admin", "admin-password-1"
API = "/api/2.0/mlflow"
# Allowed hosts: schemathesis addresses the app as "testserver", the seeding client as 127.0.0.1.
HOSTS = ("testserver", "127.0.0.1")


@dataclass(frozen=True)
class Fuzzed:
    """The app under test, the headers every request sends, and the seeded resources' path parameters by prefix."""

    app: FastAPI
    headers: dict[str, str]
    known: dict[str, dict[str, str]]


def _seed(client: TestClient, log_root: Path) -> dict[str, dict[str, str]]:
    """A registered model with a version, a monitor of a deployment's (empty) log, a user and a webhook."""
    ok = 200
    assert client.post(f"{API}/registered-models/create", json={"name": "m"}).status_code == ok
    experiment_id = client.post(f"{API}/experiments/create", json={"name": "e"}).json()["experiment_id"]
    run_id = client.post(f"{API}/runs/create", json={"experiment_id": experiment_id}).json()["run"]["info"]["run_id"]
    version = {"name": "m", "source": f"runs:/{run_id}/model", "run_id": run_id}
    assert client.post(f"{API}/model-versions/create", json=version).status_code == ok
    spec = {
        "name": "watch",
        "deployment": {"uri": str(log_root), "name": "m"},
        "reference": {"window": {"start_ms": 1_700_000_000_000, "end_ms": 1_700_086_400_000}},
    }
    assert client.post("/api/v1/monitors", json={"spec": spec}).status_code == ok
    user = {"username": "someone", "password": "someone-password-1"}
    assert client.post("/api/v1/auth/users", json=user).status_code == ok
    hook = {
        "name": "h",
        "url": "https://hooks.example.com/x",
        "events": [{"entity": "registered_model", "action": "created"}],
    }
    webhook_id = client.post(f"{API}/webhooks", json=hook).json()["webhook"]["webhook_id"]
    return {
        "/api/v1/models/": {"name": "m", "version": "1"},
        "/api/v1/monitors/": {"name": "watch"},
        "/api/v1/auth/users/": {"username": "someone"},
        "/api/v1/webhooks/": {"webhook_id": webhook_id},
    }


@pytest.fixture
def auth(request: pytest.FixtureRequest) -> bool:
    """Whether sign-in is on (parametrized by the test)."""
    return bool(request.param)


@pytest.fixture
def fuzzed(auth: bool, tmp_path: Path) -> Iterator[Fuzzed]:
    """A real app over SQLite in a temporary folder, seeded, with an admin's token when sign-in is on."""
    app = create_app(Settings(home=tmp_path, auth=auth, deliver_webhooks=False, allowed_hosts=HOSTS))
    headers: dict[str, str] = {}
    if auth:
        ctx = app.state.context
        ctx.accounts.create_user(ADMIN, PASSWORD, is_admin=True, actor=None)
        _token, secret = ctx.accounts.create_token(ADMIN, "fuzz", actor=None)
        headers = {"Authorization": f"Bearer {secret}"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's TestClient warns about httpx itself
        with TestClient(app, base_url="http://127.0.0.1", headers=headers) as client:
            known = _seed(client, tmp_path / "artifacts" / "deployments")
    try:
        yield Fuzzed(app, headers, known)
    finally:
        app.state.context.database.dispose()


def _originals(route: Any) -> list[Any]:
    """The routes behind one entry of ``app.routes`` (recent FastAPI keeps an included router as one entry)."""
    from fastapi import routing

    iterate = getattr(routing, "iter_route_contexts", None)
    if iterate is None:
        return [route]
    return [context.original_route for context in iterate([route])]


def _native_operations(app: FastAPI) -> set[tuple[str, str]]:
    """Every registered native route: (method, path template)."""
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        for original in _originals(route):
            if isinstance(original, APIRoute) and original.path.startswith("/api/v1/"):
                found.update((m, original.path) for m in original.methods or () if m != "HEAD")  # GET's twin
    return found


def _json_schema_of(operation: dict[str, Any]) -> Any:
    return operation.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {}).get("schema")


def test_every_native_route_is_documented_with_a_response_schema(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path))
    document = app.openapi()

    documented = {
        (method.upper(), path): operation
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    routes = _native_operations(app)
    without_schema = sorted(key for key in routes if not _json_schema_of(documented.get(key, {})))
    assert (True, [], set()) == (len(routes) >= 19, without_schema, set(documented) - routes)


def test_each_operation_names_the_permission_it_needs(tmp_path: Path) -> None:
    document = create_app(Settings(home=tmp_path)).openapi()

    unnamed = [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if not operation.get("x-shipyard-permission")
    ]
    assert [] == unnamed


def test_the_mlflow_routes_stay_out_of_the_document(tmp_path: Path) -> None:
    document = create_app(Settings(home=tmp_path)).openapi()

    assert [] == [path for path in document["paths"] if not path.startswith("/api/v1/")]


def test_validation_errors_answer_400_in_mlflows_shape(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with TestClient(app, base_url="http://127.0.0.1") as client:
            answer = client.post("/api/v1/auth/users", json={"username": "ann", "password": ["not", "a", "string"]})

    expected = (400, "INVALID_PARAMETER_VALUE", "Invalid value ['not', 'a', 'string'] for parameter 'password'")
    assert expected == (answer.status_code, answer.json()["error_code"], answer.json()["message"][: len(expected[2])])


def _strategy(operation: Any, mode: GenerationMode, known: dict[str, dict[str, str]]) -> Any:
    """Requests with generated path parameters, or (half of them) with the seeded resources' names in the path."""
    generated = operation.as_strategy(generation_mode=mode)
    names = [parameter.name for parameter in operation.path_parameters]
    seeded = next((values for prefix, values in known.items() if operation.path.startswith(prefix)), {})
    # Deleting or changing the seeded resources would leave the rest of the run nothing real to reach.
    if not names or operation.method.upper() in ("DELETE", "PATCH") or not set(names) <= set(seeded):
        return generated
    return generated | operation.as_strategy(generation_mode=mode, path_parameters={n: seeded[n] for n in names})


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "auth"),
    [
        (GenerationMode.POSITIVE, True),
        (GenerationMode.NEGATIVE, True),
        (GenerationMode.POSITIVE, False),  # sign-in off changes who the caller is, not how fields are read
    ],
    ids=["valid-auth-on", "invalid-auth-on", "valid-auth-off"],
    indirect=["auth"],
)
def test_no_native_operation_answers_a_server_error(fuzzed: Fuzzed, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", fuzzed.app, headers=fuzzed.headers)
    checks = [not_a_server_error, *([response_schema_conformance] if mode is GenerationMode.POSITIVE else [])]
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and not (operation.query or operation.body):
            continue  # a path of strings cannot be sent invalid

        @settings(
            max_examples=FEWER_EXAMPLES.get((operation.method.upper(), operation.path), EXAMPLES),
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=_strategy(operation, mode, fuzzed.known))
        def fuzz(case: Any) -> None:
            case.call_and_validate(headers=fuzzed.headers, checks=checks)

        try:
            fuzz()
        except Unsatisfiable:  # nothing about this operation could be made invalid
            continue
        except Exception as exc:  # every operation runs; the failures are reported together
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")

    assert [] == failures
