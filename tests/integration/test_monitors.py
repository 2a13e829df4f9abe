"""Monitors over a real prediction log: windows stored once, alerts raised on entering and resolved on leaving,
events in the outbox, the CLI, and the REST routes' permissions on a server with sign-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.db import Database, open_database
from shipyard.errors import InvalidParameter, ResourceAlreadyExists
from shipyard.events import EventStore, WebhookService
from shipyard.monitoring.monitors import ALERT_FIRED, ALERT_RESOLVED, MonitorService, parse_spec
from shipyard.predlog._writer import (
    FeedbackLog,
    FeedbackRecord,
    PredictionLog,
    PredictionLogConfig,
    PredictionRecord,
)
from tests.support.auth import auth_server

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY_MS = 86_400_000
DAYS = 6
DRIFTED_DAYS = (3, 4)  # day 0 is the reference, days 1-2 and 5 look like it
REQUESTS_PER_DAY = 24
ROWS_PER_REQUEST = 10
DEPLOYMENT = "churn"


def write_log(uri: str, *, deployment: str = DEPLOYMENT, days: int = DAYS) -> None:
    """A prediction log with labels: stable days, and drifted days where inputs shift, the model is wrong, and the
    canary (version 2) is slow."""
    rng = np.random.default_rng(7)
    config = PredictionLogConfig(uri=uri)
    with PredictionLog(config) as log, FeedbackLog(config) as feedback:
        for day in range(days):
            drifted = day in DRIFTED_DAYS
            for index in range(REQUESTS_PER_DAY):
                time_ms = T0_MS + day * DAY_MS + index * 3_600_000
                frame = pd.DataFrame(
                    {
                        "x": rng.normal(3.0 if drifted else 0.0, 1.0, ROWS_PER_REQUEST),
                        "tenure": rng.normal(12.0, 3.0, ROWS_PER_REQUEST),
                        "plan": rng.choice(["pro", "free"] if drifted else ["basic", "pro", "free"], ROWS_PER_REQUEST),
                    }
                )
                truth = (frame["x"] > 0).astype(int).to_numpy()
                predictions = 1 - truth if drifted else truth
                version, latency_ms = ("2", 80.0) if index % 4 == 0 and day == 4 else ("1", 4.0 + index % 3)
                request_id = f"d{day}-r{index}"
                log.append(
                    PredictionRecord(
                        request_id, time_ms, deployment, "main", "churn", version, frame, predictions, latency_ms
                    )
                )
                labels = [FeedbackRecord(request_id, int(label), row=row) for row, label in enumerate(truth)]
                feedback.append(labels, deployment=deployment, time_ms=time_ms + 60_000)


def spec_of(uri: str, name: str = "churn-drift", **changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "deployment": {"uri": uri, "name": DEPLOYMENT},
        "reference": {"window": {"start_ms": T0_MS, "end_ms": T0_MS + DAY_MS}},
        "window": "1d",
        "start_ms": T0_MS + DAY_MS,
        "drift": {"preset": "robust"},  # effect sizes: stable days never drift by chance, as p-values can
        "alerts": [
            {"name": "many-columns", "rule": "drifted_share", "at_least": 0.5, "severity": "critical"},
            {"name": "x-drift", "rule": "column_drift", "column": "x", "windows": 2},
            {"name": "dataset", "rule": "dataset_drift"},
            {"name": "accuracy", "rule": "metric", "metric": "accuracy", "below": 0.8},
            {"name": "slow", "rule": "metric", "metric": "latency_p95_ms", "above": 50, "severity": "info"},
        ],
    }
    spec.update(changes)
    return spec


@pytest.fixture(scope="module")
def log_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = str(tmp_path_factory.mktemp("predlog"))
    write_log(uri)
    return uri


@pytest.fixture
def database(store_url: str) -> Iterator[Database]:
    """The monitor store on SQLite and on the real PostgreSQL (tests/conftest.py's ``store_url``)."""
    db = open_database(store_url)
    yield db
    db.dispose()


@pytest.fixture
def service(database: Database, log_uri: str) -> MonitorService:
    monitors = MonitorService(database)
    monitors.create(parse_spec(spec_of(log_uri)), actor="alice")
    return monitors


def _day(day: int) -> int:
    return T0_MS + day * DAY_MS


def _events(database: Database) -> list[tuple[str, str, int]]:
    found = EventStore(database).list_events(entity_type="monitor")
    return [(e.kind, e.payload["rule"], (e.payload["window_start_ms"] - T0_MS) // DAY_MS) for e in found]


def test_a_run_stores_every_complete_window_after_the_start(service: MonitorService) -> None:
    result = service.run("churn-drift", now_ms=_day(DAYS) + 5)

    windows = service.windows("churn-drift")
    assert [_day(d) for d in range(1, DAYS)] == list(result.computed)
    assert [REQUESTS_PER_DAY * ROWS_PER_REQUEST] * (DAYS - 1) == [w.rows for w in windows]


def test_drifted_days_have_a_high_drifted_share_and_stable_days_a_low_one(service: MonitorService) -> None:
    service.run("churn-drift", now_ms=_day(DAYS))

    shares = {(w.start_ms - T0_MS) // DAY_MS: w.drifted_share for w in service.windows("churn-drift")}
    assert all(shares[d] is not None and shares[d] >= 0.5 for d in DRIFTED_DAYS), shares
    assert all(shares[d] is not None and shares[d] < 0.5 for d in (1, 2, 5)), shares


def test_running_again_computes_nothing_and_records_no_event(service: MonitorService, database: Database) -> None:
    service.run("churn-drift", now_ms=_day(DAYS))
    before = _events(database)

    again = service.run("churn-drift", now_ms=_day(DAYS) + 1000)

    assert ((), (), ()) == (again.computed, again.fired, again.resolved)
    assert before == _events(database)


def test_alerts_fire_once_on_entering_and_resolve_on_leaving(service: MonitorService, database: Database) -> None:
    for day in range(2, DAYS + 1):  # one run per day, as a scheduler would
        service.run("churn-drift", now_ms=_day(day) + 60_000)

    expected = [
        (ALERT_FIRED, "many-columns", 3),
        (ALERT_FIRED, "dataset", 3),
        (ALERT_FIRED, "accuracy", 3),
        (ALERT_FIRED, "x-drift", 4),
        (ALERT_FIRED, "slow", 4),
        (ALERT_RESOLVED, "many-columns", 5),
        (ALERT_RESOLVED, "x-drift", 5),
        (ALERT_RESOLVED, "dataset", 5),
        (ALERT_RESOLVED, "accuracy", 5),
        (ALERT_RESOLVED, "slow", 5),
    ]
    assert expected == _events(database)


def test_one_catch_up_run_records_the_same_alerts_as_daily_runs(service: MonitorService, database: Database) -> None:
    service.run("churn-drift", now_ms=_day(DAYS))

    assert 10 == len(_events(database))
    assert {"RESOLVED"} == {a.state for a in service.alerts("churn-drift")}


def test_an_alert_event_names_the_monitor_the_deployment_and_the_window(
    service: MonitorService, database: Database
) -> None:
    service.run("churn-drift", now_ms=_day(4))

    event = EventStore(database).list_events(entity_type="monitor", kinds=[ALERT_FIRED])[0]
    assert ("churn-drift", "churn", "critical", _day(3), _day(4)) == (
        event.entity_name,
        event.payload["deployment"],
        event.payload["severity"],
        event.payload["window_start_ms"],
        event.payload["window_end_ms"],
    )
    assert ("x" in event.payload["drifted_columns"], "FIRING") == (True, event.to_value)


def test_a_webhook_subscribed_to_alerts_gets_a_delivery_per_alert_event(
    service: MonitorService, database: Database
) -> None:
    hooks = WebhookService(database)
    hook = hooks.create("alerts", "https://hooks.example.com/alerts", ["alert.*"])

    service.run("churn-drift", now_ms=_day(4))

    fired = EventStore(database).list_events(entity_type="monitor")
    assert sorted(e.event_id for e in fired) == sorted(d.event_id for d in hooks.deliveries(hook.webhook_id))


def test_a_firing_alert_stays_one_alert_while_it_keeps_firing(service: MonitorService) -> None:
    service.run("churn-drift", now_ms=_day(4))
    service.run("churn-drift", now_ms=_day(5))

    share_alerts = [a for a in service.alerts("churn-drift") if a.rule == "many-columns"]
    assert [("FIRING", _day(3))] == [(a.state, a.window_start_ms) for a in share_alerts]


def test_windows_keep_quality_ops_and_histograms(service: MonitorService) -> None:
    service.run("churn-drift", now_ms=_day(5))

    windows = {(w.start_ms - T0_MS) // DAY_MS: w for w in service.windows("churn-drift")}
    histogram = windows[3].columns["x"]["histogram"]
    assert (1.0, 0.0) == (windows[1].metrics["accuracy"], windows[3].metrics["accuracy"])
    assert {"1", "2"} == set(windows[4].ops["versions"])
    assert len(histogram["edges"]) - 1 == len(histogram["reference"]) == len(histogram["current"]) <= 20
    assert ["basic", "free", "pro"] == sorted(windows[3].columns["plan"]["histogram"]["categories"])


def test_catch_up_is_bounded_to_the_newest_windows(database: Database, log_uri: str) -> None:
    monitors = MonitorService(database)
    monitors.create(parse_spec(spec_of(log_uri, start_ms=None, max_catch_up=2)), actor="alice")

    result = monitors.run("churn-drift", now_ms=_day(DAYS))

    assert (_day(DAYS - 2), _day(DAYS - 1)) == result.computed


def test_a_spec_error_names_the_field(log_uri: str) -> None:
    bad = spec_of(log_uri)
    bad["alerts"][1]["windows"] = 0

    with pytest.raises(InvalidParameter, match=r"alerts\.1\.column_drift\.windows"):
        parse_spec(bad)


def test_a_monitor_name_is_unique(service: MonitorService, log_uri: str) -> None:
    with pytest.raises(ResourceAlreadyExists):
        service.create(parse_spec(spec_of(log_uri)), actor="bob")


def test_a_parquet_data_set_with_a_time_column_is_monitored(database: Database, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    times = pd.to_datetime([T0_MS + h * 3_600_000 for h in range(72)], unit="ms", utc=True)
    frame = pd.DataFrame({"ts": times, "x": np.r_[rng.normal(0, 1, 48), rng.normal(5, 1, 24)]})
    frame.to_parquet(tmp_path / "data.parquet")
    frame.iloc[:24].drop(columns="ts").to_parquet(tmp_path / "train.parquet")
    spec = {
        "name": "table",
        "dataset": {"path": str(tmp_path / "data.parquet"), "time_column": "ts"},
        "reference": {"path": str(tmp_path / "train.parquet")},
        "start_ms": T0_MS,
    }
    monitors = MonitorService(database)
    monitors.create(parse_spec(spec), actor="alice")

    monitors.run("table", now_ms=_day(3))

    assert [False, False, True] == [w.dataset_drift for w in monitors.windows("table")]


def test_the_cli_creates_runs_shows_and_deletes_a_monitor(tmp_path: Path, log_uri: str) -> None:
    import yaml

    store = f"sqlite:///{tmp_path / 'cli.db'}"
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(spec_of(log_uri)))
    runner = CliRunner()

    created = runner.invoke(app, ["monitors", "create", str(path), "--store", store])
    ran = runner.invoke(app, ["monitors", "run", "churn-drift", "--now-ms", str(_day(4)), "--store", store])
    shown = runner.invoke(app, ["monitors", "show", "churn-drift", "--store", store], env={"COLUMNS": "200"})
    deleted = runner.invoke(app, ["monitors", "delete", "churn-drift", "--store", store])
    listed = runner.invoke(app, ["monitors", "list", "--store", store])

    assert [0, 0, 0, 0, 0] == [r.exit_code for r in (created, ran, shown, deleted, listed)], ran.output
    assert (True, True) == ("3 window(s)" in ran.output, "many-columns" in ran.output)
    assert (True, False) == ("FIRING" in shown.output, "churn-drift" in listed.output)


def test_rest_routes_follow_the_deployment_grants(tmp_path: Path) -> None:
    with auth_server(tmp_path / "server") as server:
        log = str(tmp_path / "server" / "artifacts" / "predlog")
        write_log(log, days=3)
        bob = server.user("bob")
        body = {"spec": spec_of(log, alerts=[])}
        with server.client(bob) as as_bob, server.admin() as admin:
            refused = as_bob.post("/api/v1/monitors", json=body)
            granted = admin.put(
                "/api/v1/auth/permissions",
                json={
                    "resource_type": "deployment",
                    "resource_id": DEPLOYMENT,
                    "username": "bob",
                    "permission": "EDIT",
                },
            )
            created = as_bob.post("/api/v1/monitors", json=body)
            outside = as_bob.post("/api/v1/monitors", json={"spec": spec_of(str(tmp_path), name="elsewhere")})
            ran = as_bob.post("/api/v1/monitors/churn-drift/run", json={"now_ms": _day(3)})
            shown = as_bob.get("/api/v1/monitors/churn-drift")
            anonymous = httpx.get(f"{server.url}/api/v1/monitors/churn-drift", timeout=30)
    statuses = [r.status_code for r in (refused, granted, created, outside, ran, shown, anonymous)]
    assert [403, 200, 200, 403, 200, 200, 401] == statuses, [r.text for r in (refused, created, outside, ran)]
    assert [_day(1), _day(2)] == [w["start_ms"] for w in shown.json()["windows"]]


def test_error_rates_come_from_the_servers_counters_and_alert_like_any_metric(
    database: Database, tmp_path: Path
) -> None:
    from shipyard.artifacts import open_artifact_store
    from shipyard.predlog._ops import write_ops_snapshot

    uri = str(tmp_path / "log")
    write_log(uri, days=4)
    store = open_artifact_store(uri)
    # one serving process, snapshots at the end of each day: day 2 fails 30 of 100 requests, the others 1
    served, failed = 0, 0
    for day in range(4):
        served, failed = served + 100, failed + (30 if day == 2 else 1)
        totals = {"1": {"requests": served, "errors": failed, "client_errors": 0}}
        write_ops_snapshot(store, DEPLOYMENT, totals, started_ms=T0_MS - 1, now_ms=_day(day + 1) - 1)
    rule = {"name": "errors", "rule": "metric", "metric": "error_rate", "above": 0.1}
    monitors = MonitorService(database)
    monitors.create(parse_spec(spec_of(uri, name="errors", alerts=[rule])), actor="alice")

    monitors.run("errors", now_ms=_day(4) + 1)
    windows = monitors.windows("errors", limit=10)

    assert [0.01, 0.3, 0.01] == [round(w.ops["error_rate"], 4) for w in windows]
    assert [(ALERT_FIRED, "errors", 2), (ALERT_RESOLVED, "errors", 3)] == _events(database)
