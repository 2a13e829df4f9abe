"""Monitor data paths are authorized by owner (issue 12, item 5): a deployment editor may point a monitor only at
her deployment's own prediction log and at data inside experiments she can READ."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from shipyard.db import open_database
from shipyard.monitoring.monitors import MonitorService, parse_spec
from shipyard.predlog._writer import PredictionLog, PredictionLogConfig, PredictionRecord
from tests.support.auth import AuthServer, auth_server, ok_json

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
MONITORS = "/api/v1/monitors"
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY_MS = 86_400_000
OURS, THEIRS = "churn-a", "payroll-b"
SECRET_EMAIL = "ceo@payroll.example"


@dataclass(frozen=True)
class World:
    """Alice may EDIT deployment ``churn-a`` and READ experiment ``shared``; she is denied ``private`` and
    deployment ``payroll-b``, whose prediction log holds emails and salary ranges."""

    server: AuthServer
    artifacts: Path
    alice: str
    shared: str
    private: str


def _grant(admin: httpx.Client, resource_type: str, resource_id: str, permission: str) -> None:
    body = {"resource_type": resource_type, "resource_id": resource_id, "username": "alice", "permission": permission}
    ok_json(admin.put("/api/v1/auth/permissions", json=body))


def _write_log(root: Path, deployment: str, frame: pd.DataFrame) -> None:
    """Two days of the deployment's prediction log, written by the serving log writer under ``root``."""
    with PredictionLog(PredictionLogConfig(uri=str(root))) as log:
        for day in range(2):
            time_ms = T0_MS + day * DAY_MS + 3_600_000
            log.append(PredictionRecord(f"r{day}", time_ms, deployment, "blue", deployment, "1", frame, [0] * 2, 1.0))


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("monitor-paths")
    with auth_server(root) as server:
        artifacts = root / "artifacts"
        alice = server.user("alice")
        reference = _parquet(pd.DataFrame({"age": [30.0, 41.0], "plan": ["basic", "pro"]}))
        with server.admin() as admin:
            shared = ok_json(admin.post(f"{API}/experiments/create", json={"name": "shared"}))["experiment_id"]
            private = ok_json(admin.post(f"{API}/experiments/create", json={"name": "private"}))["experiment_id"]
            for experiment_id in (shared, private):
                ok_json(admin.put(f"{ARTIFACTS}/{experiment_id}/reference/train.parquet", content=reference))
            _grant(admin, "deployment", OURS, "EDIT")
            _grant(admin, "experiment", shared, "READ")
            _grant(admin, "experiment", private, "NO_PERMISSIONS")
            _grant(admin, "deployment", THEIRS, "NO_PERMISSIONS")
        logs = artifacts / "deployments"  # where `shipyard serve` logs by default
        _write_log(logs, OURS, pd.DataFrame({"age": [25.0, 52.0], "plan": ["basic", "basic"]}))
        secrets = pd.DataFrame({"email": [SECRET_EMAIL, "cfo@payroll.example"], "salary_range": ["400k+", "300k+"]})
        _write_log(logs, THEIRS, secrets)
        yield World(server, artifacts, alice, shared, private)


def _spec(world: World, name: str, reference: str, *, log_root: str | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "deployment": {"uri": log_root or str(world.artifacts / "deployments"), "name": OURS},
        "reference": {"path": reference},
        "window": "1d",
        "start_ms": T0_MS,
    }


def _create(world: World, spec: dict[str, Any]) -> httpx.Response:
    with world.server.client(world.alice) as alice:
        return alice.post(MONITORS, json={"spec": spec})


def _exists(world: World, name: str) -> bool:
    with world.server.admin() as admin:
        return admin.get(f"{MONITORS}/{name}").status_code == 200


def test_another_deployments_log_as_reference_is_refused(world: World) -> None:
    """Regression (issue 12, item 5): on commit 665ca51 a user with EDIT on one deployment created a monitor whose
    reference was another deployment's prediction log (it lies inside the artifact root, the only check), and
    read its emails and salary ranges from the window details."""
    theirs = str(world.artifacts / "deployments" / "predictions" / THEIRS)

    answer = _create(world, _spec(world, "steal-b", theirs))

    assert (403, "PERMISSION_DENIED", False) == (
        answer.status_code,
        answer.json()["error_code"],
        _exists(world, "steal-b"),
    )
    assert "reference.path" in answer.json()["message"]
    assert THEIRS in answer.json()["message"]


def test_a_reference_in_an_experiment_she_can_read_is_accepted_and_runs(world: World) -> None:
    reference = str(world.artifacts / world.shared / "reference" / "train.parquet")

    created = _create(world, _spec(world, "from-shared", reference))
    with world.server.client(world.alice) as alice:
        ran = alice.post(f"{MONITORS}/from-shared/run", json={"now_ms": T0_MS + 2 * DAY_MS})
        shown = alice.get(f"{MONITORS}/from-shared")

    assert [200, 200, 200] == [r.status_code for r in (created, ran, shown)], [created.text, ran.text, shown.text]
    assert [T0_MS, T0_MS + DAY_MS] == [w["start_ms"] for w in shown.json()["windows"]]


def test_her_own_deployments_log_as_reference_is_accepted(world: World) -> None:
    ours = f"file://{world.artifacts / 'deployments' / 'predictions' / OURS}"

    answer = _create(world, _spec(world, "from-own-log", ours))

    assert 200 == answer.status_code, answer.text


def test_a_reference_in_an_experiment_she_is_denied_is_refused(world: World) -> None:
    reference = str(world.artifacts / world.private / "reference" / "train.parquet")

    answer = _create(world, _spec(world, "from-private", reference))

    assert (403, False) == (answer.status_code, _exists(world, "from-private"))
    assert f"experiment '{world.private}'" in answer.json()["message"]


def test_a_log_root_inside_an_experiment_she_is_denied_is_refused(world: World) -> None:
    reference = str(world.artifacts / world.shared / "reference" / "train.parquet")

    answer = _create(world, _spec(world, "log-in-private", reference, log_root=str(world.artifacts / world.private)))

    assert (403, False) == (answer.status_code, _exists(world, "log-in-private"))
    assert "deployment.uri" in answer.json()["message"]


@pytest.mark.parametrize(
    "spelling",
    [
        "deployments/predictions/{ours}/../{theirs}",
        "deployments/predictions/{ours}/%2e%2e/{theirs}",
        "deployments/predictions/{ours}/%252e%252e/{theirs}",
        "deployments/predictions/{ours}/\uff0e\uff0e/{theirs}",
        "{shared}/../deployments/predictions/{theirs}",
        "deployments//predictions/./{theirs}",
    ],
)
def test_other_spellings_of_another_deployments_log_are_refused(world: World, spelling: str) -> None:
    path = f"{world.artifacts}/" + spelling.format(ours=OURS, theirs=THEIRS, shared=world.shared)

    answer = _create(world, _spec(world, "spelled", path))

    assert (403, False) == (answer.status_code, _exists(world, "spelled")), answer.text


def test_a_link_inside_a_readable_experiment_to_another_log_is_refused(world: World) -> None:
    folder = world.artifacts / world.shared / "linked"
    folder.mkdir(exist_ok=True)
    link = folder / "data"
    if not link.is_symlink():
        link.symlink_to(world.artifacts / "deployments" / "predictions" / THEIRS, target_is_directory=True)

    through_folder = _create(world, _spec(world, "linked", str(folder)))
    through_link = _create(world, _spec(world, "linked", str(link)))

    assert (403, 403, False) == (through_folder.status_code, through_link.status_code, _exists(world, "linked"))


def test_a_stored_spec_naming_another_log_is_neither_shown_nor_run(world: World) -> None:
    """Regression (issue 12, item 5): a monitor stored before the fix (on commit 665ca51 the API accepted it) must
    not serve the other deployment's values through its windows, over the API or the UI."""
    theirs = str(world.artifacts / "deployments" / "predictions" / THEIRS)
    spec = parse_spec({**_spec(world, "stored-before", theirs), "columns": ["email", "salary_range"]})
    database = open_database(f"sqlite:///{world.artifacts.parent / 'shipyard.db'}")
    try:
        MonitorService(database).create(spec, actor="alice")
    finally:
        database.dispose()
    with world.server.admin() as admin:
        ok_json(admin.post(f"{MONITORS}/stored-before/run", json={"now_ms": T0_MS + 2 * DAY_MS}))
    with world.server.client(world.alice) as alice:
        answers = [
            alice.get(f"{MONITORS}/stored-before"),
            alice.post(f"{MONITORS}/stored-before/run", json={"now_ms": T0_MS + 2 * DAY_MS}),
            alice.get("/monitoring/stored-before"),
            alice.get("/monitoring/stored-before/columns/email"),
        ]

    assert [403, 403, 403, 403] == [a.status_code for a in answers], [a.text[:200] for a in answers]
    assert not any(SECRET_EMAIL in a.text for a in answers)


def test_monitors_of_a_deployment_she_cannot_read_are_not_listed_or_shown(world: World) -> None:
    spec = {**_spec(world, "payroll-watch", str(world.artifacts / world.private)), "deployment": None}
    spec["deployment"] = {"uri": str(world.artifacts / "deployments"), "name": THEIRS}
    spec["reference"] = {"window": {"start_ms": T0_MS, "end_ms": T0_MS + DAY_MS}}
    with world.server.admin() as admin:
        ok_json(admin.post(MONITORS, json={"spec": spec}))
    with world.server.client(world.alice) as alice:
        listed = [m["name"] for m in ok_json(alice.get(MONITORS))["monitors"]]
        shown = alice.get(f"{MONITORS}/payroll-watch")
        page = alice.get("/monitoring")

    assert (False, 403, False) == ("payroll-watch" in listed, shown.status_code, "payroll-watch" in page.text)


def test_an_admins_monitor_of_a_log_outside_the_root_stays_readable_to_the_deployments_users(world: World) -> None:
    outside = world.artifacts.parent / "serve-log"  # shipyard serve --prediction-log outside the artifact root
    _write_log(outside, OURS, pd.DataFrame({"age": [25.0, 52.0], "plan": ["basic", "basic"]}))
    spec = _spec(world, "outside-log", "unused", log_root=str(outside))
    spec["reference"] = {"window": {"start_ms": T0_MS, "end_ms": T0_MS + DAY_MS}}
    with world.server.admin() as admin:
        ok_json(admin.post(MONITORS, json={"spec": spec}))
    with world.server.client(world.alice) as alice:
        shown = alice.get(f"{MONITORS}/outside-log")
        replaced = alice.post(MONITORS, json={"spec": spec, "replace": True})

    assert (200, 403) == (shown.status_code, replaced.status_code), shown.text
