"""The registry's MLflow routes record who made a change (X-Shipyard-User) and why (the body's ``reason``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from shipyard.config import Settings
from shipyard.events import Event
from shipyard.registry.service import RegistryService
from shipyard.server import create_app

API = "/api/2.0/mlflow"
USER = {"X-Shipyard-User": "alice"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path, artifacts_uri=str(tmp_path / "artifacts"))
    # The guards answer loopback host names only (not TestClient's default "testserver").
    with TestClient(create_app(settings), base_url="http://127.0.0.1", raise_server_exceptions=False) as test_client:
        test_client.post(f"{API}/registered-models/create", json={"name": "churn"})
        for _ in range(2):
            test_client.post(f"{API}/model-versions/create", json={"name": "churn", "source": "s3://b/m"})
        yield test_client


def _latest(client: TestClient, kind: str) -> Event:
    registry: RegistryService = client.app.state.context.registry  # type: ignore[attr-defined]
    return next(e for e in registry.history("churn") if e.kind == kind)


def test_alias_route_records_actor_and_reason(client: TestClient) -> None:
    body = {"name": "churn", "alias": "champion", "version": "2", "reason": "best AUC"}
    client.post(f"{API}/registered-models/alias", json=body, headers=USER)

    event = _latest(client, "model_version_alias.created")
    assert ("alice", "best AUC", "2") == (event.actor, event.reason, event.to_value)


def test_transition_route_records_the_comment_as_reason(client: TestClient) -> None:
    body = {"name": "churn", "version": "1", "stage": "Production", "comment": "signed off"}
    client.post(f"{API}/model-versions/transition-stage", json=body, headers=USER)

    event = _latest(client, "model_version.stage_changed")
    assert ("alice", "signed off", "Production") == (event.actor, event.reason, event.to_value)


def test_delete_route_reads_reason_from_the_json_body(client: TestClient) -> None:
    client.request("DELETE", f"{API}/model-versions/delete", json={"name": "churn", "version": "1", "reason": "leak"})

    event = _latest(client, "model_version.deleted")
    assert ("anonymous", "leak", "1") == (event.actor, event.reason, event.version)


def test_route_without_actor_header_records_anonymous(client: TestClient) -> None:
    client.post(f"{API}/registered-models/set-tag", json={"name": "churn", "key": "team", "value": "red"})

    assert "anonymous" == _latest(client, "registered_model_tag.set").actor
