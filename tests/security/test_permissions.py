"""Permissions: per experiment and registered model, checked on every route, searches filtered, changes audited."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.auth import AuthServer, auth_server

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


@dataclass(frozen=True)
class World:
    """Alice owns an experiment (with a run and an artifact) and a model; Bob and Carol are other users."""

    server: AuthServer
    alice: str
    bob: str
    carol: str
    experiment_id: str
    run_id: str
    artifact: str
    model: str


def _ok(answer: httpx.Response) -> dict:  # type: ignore[type-arg]
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with auth_server(tmp_path_factory.mktemp("authz")) as server:
        alice, bob, carol = server.user("alice"), server.user("bob"), server.user("carol")
        with server.client(alice) as client:
            experiment_id = _ok(client.post(f"{API}/experiments/create", json={"name": "alice-private"}))[
                "experiment_id"
            ]
            run = _ok(client.post(f"{API}/runs/create", json={"experiment_id": experiment_id}))["run"]["info"]
            artifact = f"{experiment_id}/{run['run_id']}/artifacts/secret.txt"
            assert client.put(f"{ARTIFACTS}/{artifact}", content=b"alice's data").status_code == 200
            _ok(client.post(f"{API}/registered-models/create", json={"name": "alice-model"}))
            _ok(
                client.post(
                    f"{API}/model-versions/create",
                    json={"name": "alice-model", "source": f"runs:/{run['run_id']}/model", "run_id": run["run_id"]},
                )
            )
            # Carol may not even see Alice's things.
            for resource_type, resource_id in (("experiment", experiment_id), ("registered_model", "alice-model")):
                _ok(
                    client.put(
                        "/api/v1/auth/permissions",
                        json={
                            "resource_type": resource_type,
                            "resource_id": resource_id,
                            "username": "carol",
                            "permission": "NO_PERMISSIONS",
                        },
                    )
                )
        yield World(server, alice, bob, carol, experiment_id, run["run_id"], artifact, "alice-model")


def _status(world: World, token: str, method: str, path: str, body: object = None) -> int:
    with world.server.client(token) as client:
        if method == "GET":
            return client.get(path, params=body).status_code  # type: ignore[arg-type]
        if method == "PUT":
            return client.put(path, content=b"overwritten").status_code
        return client.request(method, path, json=body).status_code


def _reads(world: World) -> list[tuple[str, str, object]]:
    return [
        ("GET", f"{API}/experiments/get", {"experiment_id": world.experiment_id}),
        ("GET", f"{API}/runs/get", {"run_id": world.run_id}),
        ("GET", f"{API}/metrics/get-history", {"run_id": world.run_id, "metric_key": "m"}),
        ("POST", f"{API}/runs/search", {"experiment_ids": [world.experiment_id]}),
        ("GET", f"{ARTIFACTS}/{world.artifact}", None),
        ("GET", ARTIFACTS, {"path": world.artifact.rsplit("/", 1)[0]}),
        ("GET", f"{API}/registered-models/get", {"name": world.model}),
        ("GET", f"{API}/model-versions/get", {"name": world.model, "version": "1"}),
        ("GET", f"{API}/model-versions/get-download-uri", {"name": world.model, "version": "1"}),
        ("GET", f"/api/v1/models/{world.model}/history", None),
        ("GET", f"/api/v1/models/{world.model}/versions/1/lineage", None),
    ]


def _writes(world: World) -> list[tuple[str, str, object]]:
    return [
        ("POST", f"{API}/runs/log-metric", {"run_id": world.run_id, "key": "m", "value": 1, "timestamp": 1}),
        ("POST", f"{API}/runs/set-tag", {"run_id": world.run_id, "key": "k", "value": "v"}),
        ("POST", f"{API}/runs/create", {"experiment_id": world.experiment_id}),
        (
            "POST",
            f"{API}/experiments/set-experiment-tag",
            {"experiment_id": world.experiment_id, "key": "k", "value": "v"},
        ),
        ("PUT", f"{ARTIFACTS}/{world.artifact}", None),
        ("DELETE", f"{ARTIFACTS}/{world.artifact}", None),
        ("POST", f"{API}/registered-models/alias", {"name": world.model, "alias": "champion", "version": "1"}),
        ("PATCH", f"{API}/registered-models/update", {"name": world.model, "description": "hijacked"}),
        (
            "POST",
            f"{API}/model-versions/transition-stage",
            {"name": world.model, "version": "1", "stage": "Production"},
        ),
    ]


def _manages(world: World) -> list[tuple[str, str, object]]:
    return [
        ("POST", f"{API}/experiments/delete", {"experiment_id": world.experiment_id}),
        ("POST", f"{API}/runs/delete", {"run_id": world.run_id}),
        ("DELETE", f"{API}/registered-models/delete", {"name": world.model}),
        ("POST", f"{API}/registered-models/rename", {"name": world.model, "new_name": "stolen"}),
        (
            "PUT",
            "/api/v1/auth/permissions",
            {
                "resource_type": "experiment",
                "resource_id": world.experiment_id,
                "username": "bob",
                "permission": "MANAGE",
            },
        ),
    ]


def _permissions_put(world: World, token: str, body: object) -> int:
    with world.server.client(token) as client:
        return client.put("/api/v1/auth/permissions", json=body).status_code


def test_by_default_another_user_may_read(world: World) -> None:
    statuses = [_status(world, world.bob, m, p, b) for m, p, b in _reads(world)]

    assert [200] * len(statuses) == statuses


@pytest.mark.parametrize("index", range(9))
def test_by_default_another_user_may_not_change(world: World, index: int) -> None:
    method, path, body = _writes(world)[index]

    assert 403 == _status(world, world.bob, method, path, body)


@pytest.mark.parametrize("index", range(5))
def test_another_user_may_not_delete_rename_or_grant(world: World, index: int) -> None:
    method, path, body = _manages(world)[index]
    if method == "PUT":
        assert 403 == _permissions_put(world, world.bob, body)
    else:
        assert 403 == _status(world, world.bob, method, path, body)


@pytest.mark.parametrize("index", range(11))
def test_a_user_with_no_permissions_may_not_read(world: World, index: int) -> None:
    method, path, body = _reads(world)[index]

    assert 403 == _status(world, world.carol, method, path, body)


def test_artifact_content_never_reaches_a_user_without_read(world: World) -> None:
    with world.server.client(world.carol) as client:
        answer = client.get(f"{ARTIFACTS}/{world.artifact}")

    assert (403, False) == (answer.status_code, b"alice's data" in answer.content)


def test_searches_never_return_what_the_caller_may_not_read(world: World) -> None:
    with world.server.client(world.carol) as client:
        experiments = client.post(f"{API}/experiments/search", json={"max_results": 1000}).json()
        models = client.get(f"{API}/registered-models/search").json()
        versions = client.get(f"{API}/model-versions/search").json()
    with world.server.client(world.bob) as client:
        bob_experiments = client.post(f"{API}/experiments/search", json={"max_results": 1000}).json()

    assert (False, [], [], True) == (
        world.experiment_id in {e["experiment_id"] for e in experiments.get("experiments", [])},
        models.get("registered_models", []),
        versions.get("model_versions", []),
        world.experiment_id in {e["experiment_id"] for e in bob_experiments["experiments"]},
    )


def test_the_ui_hides_and_refuses_what_the_viewer_may_not_read(world: World) -> None:
    with world.server.client(world.carol) as client:
        listing = client.get("/").text
        models = client.get("/models").text
        page = client.get(f"/experiments/{world.experiment_id}")
        run = client.get(f"/runs/{world.run_id}")
        raw = client.get(f"/ui/artifacts/{world.run_id}/raw", params={"path": "secret.txt"})

    assert (False, False, 403, 403, 403) == (
        "alice-private" in listing,
        "alice-model" in models,
        page.status_code,
        run.status_code,
        raw.status_code,
    )


def test_granting_edit_lets_a_user_log_and_is_audited(world: World) -> None:
    grant = {"resource_type": "experiment", "resource_id": world.experiment_id, "username": "bob", "permission": "EDIT"}
    granted = _permissions_put(world, world.alice, grant)
    logged = _status(
        world, world.bob, "POST", f"{API}/runs/set-tag", {"run_id": world.run_id, "key": "by", "value": "bob"}
    )
    deleted = _status(world, world.bob, "POST", f"{API}/runs/delete", {"run_id": world.run_id})
    with sqlite3.connect(world.server.server.root / "shipyard.db") as db:
        events = db.execute(
            "SELECT kind, actor, from_value, to_value FROM events WHERE kind LIKE 'permission.%' AND entity_id = ?",
            (f"experiment:{world.experiment_id}",),
        ).fetchall()

    assert (200, 200, 403, True) == (
        granted,
        logged,
        deleted,
        ("permission.granted", "alice", None, "EDIT") in events,
    )


def test_revoking_a_grant_is_audited_and_takes_effect(world: World) -> None:
    grant = {"resource_type": "registered_model", "resource_id": world.model, "username": "bob"}
    _permissions_put(world, world.alice, {**grant, "permission": "EDIT"})
    with world.server.client(world.alice) as client:
        revoked = client.request("DELETE", "/api/v1/auth/permissions", json=grant).status_code
    after = _status(
        world, world.bob, "PATCH", f"{API}/registered-models/update", {"name": world.model, "description": "x"}
    )
    with sqlite3.connect(world.server.server.root / "shipyard.db") as db:
        kinds = [row[0] for row in db.execute("SELECT kind FROM events WHERE kind = 'permission.revoked'")]

    assert (200, 403, True) == (revoked, after, len(kinds) >= 1)


def test_creator_of_a_model_may_manage_it(world: World) -> None:
    with world.server.client(world.bob) as client:
        created = client.post(f"{API}/registered-models/create", json={"name": "bob-model"}).status_code
        grants = client.get(
            "/api/v1/auth/permissions", params={"resource_type": "registered_model", "resource_id": "bob-model"}
        ).json()
        renamed = client.post(f"{API}/registered-models/rename", json={"name": "bob-model", "new_name": "bob-model-2"})
        deleted = client.request("DELETE", f"{API}/registered-models/delete", json={"name": "bob-model-2"})

    assert (200, [("bob", "MANAGE")], 200, 200) == (
        created,
        [(g["username"], g["permission"]) for g in grants["grants"]],
        renamed.status_code,
        deleted.status_code,
    )


def test_a_version_cannot_point_at_a_run_the_user_may_not_read(world: World) -> None:
    with world.server.client(world.carol) as client:
        client.post(f"{API}/registered-models/create", json={"name": "carol-model"})
        answer = client.post(
            f"{API}/model-versions/create",
            json={"name": "carol-model", "source": f"runs:/{world.run_id}/model", "run_id": world.run_id},
        )

    assert 403 == answer.status_code


def test_only_admins_may_choose_an_artifact_location(world: World) -> None:
    body = {"name": "aimed", "artifact_location": f"mlflow-artifacts:/{world.experiment_id}"}
    with world.server.client(world.bob) as client:
        assert 403 == client.post(f"{API}/experiments/create", json=body).status_code


def test_webhooks_are_for_admins_only(world: World) -> None:
    with world.server.client(world.bob) as client:
        listed = client.get(f"{API}/webhooks").status_code
        created = client.post(
            f"{API}/webhooks", json={"name": "w", "url": "https://example.com/h", "events": ["*"]}
        ).status_code

    assert (403, 403) == (listed, created)


def test_unknown_permission_name_is_a_400(world: World) -> None:
    body = {"resource_type": "experiment", "resource_id": world.experiment_id, "username": "bob", "permission": "OWNER"}

    assert 400 == _permissions_put(world, world.alice, body)
