"""Linking a metric to a logged model (``model_id``) changes that model: it takes EDIT on the model's experiment."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.auth import AuthServer, auth_server, ok_json

API = "/api/2.0/mlflow"


@dataclass(frozen=True)
class World:
    """Alice owns a logged model in her experiment; Bob owns a run and a logged model in his."""

    server: AuthServer
    alice: str
    bob: str
    alice_experiment: str
    alice_model: str
    bob_run: str
    bob_model: str


def _experiment_run_and_model(server: AuthServer, token: str, name: str) -> tuple[str, str, str]:
    with server.client(token) as client:
        experiment_id = ok_json(client.post(f"{API}/experiments/create", json={"name": name}))["experiment_id"]
        run = ok_json(client.post(f"{API}/runs/create", json={"experiment_id": experiment_id}))["run"]["info"]
        model = ok_json(client.post(f"{API}/logged-models", json={"experiment_id": experiment_id, "name": "m"}))
    return experiment_id, run["run_id"], model["model"]["info"]["model_id"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with auth_server(tmp_path_factory.mktemp("model-metrics")) as server:
        alice, bob = server.user("alice"), server.user("bob")
        alice_experiment, _, alice_model = _experiment_run_and_model(server, alice, "alice-exp")
        _, bob_run, bob_model = _experiment_run_and_model(server, bob, "bob-exp")
        yield World(server, alice, bob, alice_experiment, alice_model, bob_run, bob_model)


def _log_metric(world: World, model_id: str) -> tuple[int, str]:
    body = {"run_id": world.bob_run, "key": "acc", "value": 0.9, "timestamp": 1, "model_id": model_id}
    with world.server.client(world.bob) as client:
        answer = client.post(f"{API}/runs/log-metric", json=body)
    return answer.status_code, answer.json().get("error_code", "")


def _log_batch(world: World, model_id: str) -> tuple[int, str]:
    metrics = [{"key": "loss", "value": 0.1, "timestamp": 1}, {"key": "acc", "value": 1, "timestamp": 1}]
    metrics[1]["model_id"] = model_id
    with world.server.client(world.bob) as client:
        answer = client.post(f"{API}/runs/log-batch", json={"run_id": world.bob_run, "metrics": metrics})
    return answer.status_code, answer.json().get("error_code", "")


def test_a_metric_may_be_linked_to_a_model_of_ones_own(world: World) -> None:
    assert (200, 200) == (_log_metric(world, world.bob_model)[0], _log_batch(world, world.bob_model)[0])


def test_reading_a_model_is_not_enough_to_link_a_metric_to_it(world: World) -> None:
    assert ((403, "PERMISSION_DENIED"), (403, "PERMISSION_DENIED")) == (
        _log_metric(world, world.alice_model),
        _log_batch(world, world.alice_model),
    )


def test_an_unknown_model_is_a_bad_request_with_sign_in_on(world: World) -> None:
    unknown = "m-0123456789abcdef0123456789abcdef"

    assert ((400, "BAD_REQUEST"), (400, "BAD_REQUEST")) == (_log_metric(world, unknown), _log_batch(world, unknown))


def test_edit_on_the_models_experiment_lets_a_metric_be_linked(world: World) -> None:
    grant = {"resource_type": "experiment", "resource_id": world.alice_experiment, "username": "bob"}
    with world.server.client(world.alice) as client:
        ok_json(client.put("/api/v1/auth/permissions", json={**grant, "permission": "EDIT"}))
    try:
        linked = _log_metric(world, world.alice_model)
    finally:
        with world.server.client(world.alice) as client:
            client.request("DELETE", "/api/v1/auth/permissions", json=grant)

    assert 200 == linked[0]
