"""Upgrades from every released schema revision to head keep every row, on SQLite and PostgreSQL (issue 13, item 1).

For each revision Alembic knows, first to head (head itself is the no-op case): a fresh database is migrated to it,
every table it has then is filled (rows generated from the reflected schema by tests/support/schema_fill.py,
plus the objects an older Shipyard stored, as it stored them), and `upgrade_to_head` runs. Every row must come
through with every value it had, the old objects must read back, and take new writes, through the services, and
running `upgrade_to_head` again must change nothing.

A migration added later is covered without editing this file. One that rewrites rows on purpose (as 0005 rewrites
experiment grants) has to leave the generated rows and the objects below alone, or this file must say what it
changes.
"""

from __future__ import annotations

import hashlib
import json
import struct
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, create_engine, delete, insert, update

from shipyard.auth import AuthService, Level, Permissions, Principal
from shipyard.db import Database, current_revision, head_revision, open_database
from shipyard.db._migrate import alembic_config, upgrade_to_head
from shipyard.monitoring.monitors import MonitorService
from shipyard.registry.service import RegistryService
from shipyard.tracking.service import TrackingService
from shipyard.tracking.store import TrackingStore
from tests.conftest import PG_ADMIN_URL, require_postgres
from tests.support.schema_fill import (
    ROWS_PER_TABLE,
    changed_rows,
    complete_row,
    fill_every_table,
    primary_keys,
    reflect,
    snapshot,
)

# ---------------------------------------------------------------------------------------------------------------
# What an older Shipyard stored, written as it wrote it: these literals are the released on-disk formats (metric
# chunks are little-endian int64/float64 arrays named by their SHA-1; passwords argon2id; tokens and sessions
# SHA-256 of the secret; monitor specs JSON), frozen here so that a change in how head reads them shows up.
T0 = 1_780_000_000_000
RUN_ID = "5f0c6d1e2b3a49f8a7e6d5c4b3a2f1e0"
MODEL_ID = "m-0123456789abcdef0123456789abcdef"
DATASET_ID = "0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a"
EXPERIMENT = "churn-πρόβλεψη"
ARTIFACTS = "mlflow-artifacts:/churn"
MODEL = "churn-модель"
MONITOR = "churn-drift"
LOSS = ((0, T0 + 1000, 1.0), (1, T0 + 2000, 0.5), (2, T0 + 3000, 0.25))  # step, timestamp, value
PASSWORD = "corr3ct-hörse-battery"  # the test user's, hashed below
# argon2id as Shipyard stores it; the cost is part of the hash, and a low one keeps each check at ~2 ms.
PASSWORD_HASH = "$argon2id$v=19$m=1024,t=1,p=1$yhghne8HkMhu3WH/xOjzJA$FqXeHMQddQGsI0/dkHDDzBrTgMdcBA/KUUO74hzEVQA"
TOKEN = "sy_QyTUjAqzJfVzMv-JPEI7VfA8ifW_wFHsZKLZvk01QzI"
SESSION = "uQ3bWm0n1p_session-secret-of-the-test-user"
CSRF = "csrf-4f1c2b"
SPEC = {
    "name": MONITOR,
    "deployment": {"uri": "/data/predlog", "name": "churn"},
    "reference": {"window": {"start_ms": 0, "end_ms": 86_400_000}},
    "alerts": [{"rule": "drifted_share", "name": "half-drifted", "at_least": 0.5, "severity": "critical"}],
}
WINDOW_COLUMNS = {"âge": {"test": "ks", "score": 0.012, "threshold": 0.05, "drifted": True, "kind": "num"}}


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _chunk() -> dict[str, Any]:
    steps = struct.pack("<3q", *(s for s, _, _ in LOSS))
    stamps = struct.pack("<3q", *(t for _, t, _ in LOSS))
    vals = struct.pack("<3d", *(v for _, _, v in LOSS))
    return {
        "digest": hashlib.sha1(steps + stamps + vals, usedforsecurity=False).hexdigest(),
        "n_points": len(LOSS),
        "min_timestamp": LOSS[0][1],
        "max_timestamp": LOSS[-1][1],
        "steps": steps,
        "timestamps": stamps,
        "vals": vals,
    }


@dataclass(frozen=True)
class Old:
    """Ids the database handed out to the old objects."""

    experiment_id: str


def _put(conn: Connection, tables: MetaData, name: str, row: dict[str, Any]) -> Sequence[Any] | None:
    """Insert ``row`` when the table exists at this revision; its primary key, or None."""
    table = tables.tables.get(name)
    if table is None:
        return None
    key = conn.execute(insert(table).values(complete_row(table, row))).inserted_primary_key
    return None if key is None else tuple(key)


def _store_tracking(conn: Connection, tables: MetaData) -> str:
    times = {"creation_time": T0, "last_update_time": T0}
    lifecycle = {"lifecycle_stage": "active"}
    default = {"experiment_id": 0, "name": "Default", "artifact_location": "mlflow-artifacts:/0"}
    _put(conn, tables, "experiments", default | lifecycle | times)
    key = _put(conn, tables, "experiments", {"name": EXPERIMENT, "artifact_location": ARTIFACTS} | lifecycle | times)
    assert key is not None
    exp_id = key[0]
    _put(conn, tables, "experiment_tags", {"experiment_id": exp_id, "key": "team", "value": "données-équipe"})
    run = {"run_uuid": RUN_ID, "experiment_id": exp_id, "name": "baseline-ü", "user_id": "ada", "status": "FINISHED"}
    _put(
        conn,
        tables,
        "runs",
        run
        | lifecycle
        | {
            "start_time": T0,
            "end_time": T0 + 60_000,
            "deleted_time": None,
            "artifact_uri": f"{ARTIFACTS}/{RUN_ID}/artifacts",
        },
    )
    for key_, value in (("mlflow.runName", "baseline-ü"), ("note", "first try — 最初の試み")):
        _put(conn, tables, "tags", {"run_uuid": RUN_ID, "key": key_, "value": value})
    for key_, value in (("learning_rate", "0.01"), ("optimizer", "adam-β")):
        _put(conn, tables, "params", {"run_uuid": RUN_ID, "key": key_, "value": value})
    _put(conn, tables, "metric_chunks", {"run_uuid": RUN_ID, "key": "loss"} | _chunk())
    step, stamp, last = LOSS[-1]
    _put(
        conn,
        tables,
        "latest_metrics",
        {
            "run_uuid": RUN_ID,
            "key": "loss",
            "step": step,
            "timestamp": stamp,
            "value": last,
            "is_nan": False,
        },
    )
    _put(
        conn,
        tables,
        "datasets",
        {
            "dataset_uuid": DATASET_ID,
            "experiment_id": exp_id,
            "name": "iris",
            "digest": "d1g3st",
            "source_type": "local",
            "source": '{"uri": "/data/iris.csv"}',
            "schema": "",
            "profile": "",
        },
    )
    _put(
        conn,
        tables,
        "run_inputs",
        {
            "run_uuid": RUN_ID,
            "dataset_uuid": DATASET_ID,
            "tags_json": json.dumps({"mlflow.data.context": "training"}),
        },
    )
    return str(exp_id)


def _store_registry(conn: Connection, tables: MetaData, exp_id: str) -> None:
    times = {"creation_time": T0, "last_updated_time": T0}
    _put(
        conn,
        tables,
        "logged_models",
        times
        | {
            "model_id": MODEL_ID,
            "experiment_id": int(exp_id),
            "name": "model",
            "artifact_location": f"{ARTIFACTS}/models/{MODEL_ID}/artifacts",
            "status": "LOGGED_MODEL_READY",
            "status_message": None,
            "user_id": "ada",
            "model_type": None,
            "source_run_id": RUN_ID,
            "lifecycle_stage": "active",
        },
    )
    _put(conn, tables, "logged_model_params", {"model_id": MODEL_ID, "key": "max_depth", "value": "4"})
    _put(conn, tables, "logged_model_tags", {"model_id": MODEL_ID, "key": "flavor", "value": "sklearn"})
    _put(conn, tables, "run_outputs", {"run_uuid": RUN_ID, "model_id": MODEL_ID, "step": 0})
    key = _put(
        conn,
        tables,
        "registered_models",
        times
        | {
            "name": MODEL,
            "description": "Prédit le churn",
            "user_id": "ada",
            "last_version": 1,
        },
    )
    if key is None:
        return
    model_key = int(key[0])
    _put(conn, tables, "registered_model_tags", {"model_key": model_key, "key": "owner", "value": "ada"})
    _put(
        conn,
        tables,
        "model_versions",
        times
        | {
            "model_key": model_key,
            "version": 1,
            "description": None,
            "user_id": "ada",
            "current_stage": "Production",
            "source": f"models:/{MODEL_ID}",
            "storage_location": f"{ARTIFACTS}/models/{MODEL_ID}/artifacts",
            "run_id": RUN_ID,
            "run_link": None,
            "status": "READY",
            "status_message": None,
            "model_id": MODEL_ID,
        },
    )
    _put(conn, tables, "model_version_tags", {"model_key": model_key, "version": 1, "key": "validated", "value": "✓"})
    _put(conn, tables, "registered_model_aliases", {"model_key": model_key, "alias": "champion", "version": 1})
    for kind, version in (("registered_model.created", None), ("model_version.created", "1")):
        _put(
            conn,
            tables,
            "events",
            {
                "occurred_at": T0,
                "kind": kind,
                "entity_type": "model_version" if version else "registered_model",
                "entity_id": str(model_key),
                "entity_name": MODEL,
                "version": version,
                "actor": "ada",
                "from_value": None,
                "to_value": version,
                "reason": None,
                "payload": json.dumps({"name": MODEL, **({"version": version} if version else {})}, sort_keys=True),
            },
        )


def _store_accounts(conn: Connection, tables: MetaData, exp_id: str) -> None:
    _put(
        conn,
        tables,
        "users",
        {
            "username": "ada",
            "password_hash": PASSWORD_HASH,
            "is_admin": False,
            "created_at": T0,
            "updated_at": T0,
        },
    )
    _put(
        conn,
        tables,
        "api_tokens",
        {
            "token_id": "0a1b2c3d4e5f6a7b",
            "token_hash": _sha256(TOKEN),
            "username": "ada",
            "name": "ci-🚀",
            "prefix": TOKEN[:10],
            "created_at": T0,
            "expires_at": None,
            "last_used_at": None,
        },
    )
    _put(
        conn,
        tables,
        "sessions",
        {
            "session_hash": _sha256(SESSION),
            "username": "ada",
            "csrf_token": CSRF,
            "created_at": T0,
            "expires_at": 4_102_444_800_000,  # 2100
        },
    )
    for resource_type, resource_id, level in (("experiment", exp_id, Level.EDIT), ("registered_model", MODEL, 3)):
        _put(
            conn,
            tables,
            "permissions",
            {
                "resource_type": resource_type,
                "resource_id": resource_id,
                "username": "ada",
                "level": int(level),
            },
        )


def _store_monitor(conn: Connection, tables: MetaData) -> None:
    monitor_id = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"
    _put(
        conn,
        tables,
        "monitors",
        {
            "monitor_id": monitor_id,
            "name": MONITOR,
            "deployment": "churn",
            "spec": json.dumps(SPEC, sort_keys=True),
            "created_by": "ada",
            "created_at": T0,
            "updated_at": T0,
            "last_run_at": T0,
            "evaluated_through": T0,
        },
    )
    _put(
        conn,
        tables,
        "monitor_windows",
        {
            "monitor_id": monitor_id,
            "window_start": T0 - 86_400_000,
            "window_end": T0,
            "computed_at": T0,
            "rows": 1234,
            "drifted_share": 1.0,
            "dataset_drift": True,
            "columns": json.dumps(WINDOW_COLUMNS),
            "quality": "{}",
            "ops": json.dumps({"requests": 1234}),
            "metrics": json.dumps({"rows": 1234}),
            "error": None,
        },
    )
    _put(
        conn,
        tables,
        "monitor_alerts",
        {
            "monitor_id": monitor_id,
            "rule": "half-drifted",
            "severity": "critical",
            "state": "FIRING",
            "message": "1.0 of the columns drifted (at least 0.5)",
            "value": 1.0,
            "window_start": T0 - 86_400_000,
            "fired_at": T0,
            "fired_event_id": None,
            "resolved_window_start": None,
            "resolved_at": None,
            "resolved_event_id": None,
        },
    )


def store_old_objects(engine: Engine, tables: MetaData) -> Old:
    """The objects of every area whose tables exist at this revision, as the release that had them wrote them."""
    with engine.begin() as conn:
        exp_id = _store_tracking(conn, tables)
        _store_registry(conn, tables, exp_id)
        _store_accounts(conn, tables, exp_id)
        _store_monitor(conn, tables)
    return Old(exp_id)


# ---------------------------------------------------------------------------------------------------------------
def _revisions() -> list[str]:
    """Every revision Alembic knows, oldest first (head last)."""
    script = ScriptDirectory.from_config(alembic_config(create_engine("sqlite://")))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh, empty database of each kind (a PostgreSQL one is dropped afterwards), not migrated."""
    if request.param == "sqlite":
        database = open_database(f"sqlite:///{tmp_path / 'store.db'}", migrate=False)
        yield database
        database.dispose()
        return
    require_postgres()
    import psycopg

    name = f"shipyard_upgrade_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database = open_database(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", migrate=False)
    try:
        yield database
    finally:
        database.dispose()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _tracking(database: Database, old: Old) -> tuple[dict[str, Any], TrackingService]:
    tracking = TrackingService(TrackingStore(database))
    exp = tracking.get_experiment(old.experiment_id)
    run = tracking.get_run(RUN_ID)
    seen: dict[str, Any] = {
        "experiment": (exp.name, exp.artifact_location, exp.lifecycle_stage, exp.tags),
        "run": (
            run.experiment_id,
            run.run_name,
            run.user_id,
            run.status,
            run.start_time_ms,
            run.end_time_ms,
            run.artifact_uri,
            run.params,
            run.tags,
            [(m.key, m.value, m.step, m.timestamp_ms) for m in run.metrics],
            [(i.name, i.digest, i.source, i.tags) for i in run.inputs],
        ),
        "loss": [(m.step, m.timestamp_ms, m.value) for m in tracking.get_metric_history(RUN_ID, "loss")[0]],
    }
    tracking.log_metric(RUN_ID, "loss", 0.125, T0 + 4000, step=3)
    tracking.log_param(RUN_ID, "seed", "7")
    new_exp = tracking.create_experiment("after-upgrade")
    seen["written"] = (
        [m.value for m in tracking.get_metric_history(RUN_ID, "loss")[0]],
        tracking.get_run(RUN_ID).params["seed"],
        tracking.get_experiment(new_exp).name,
        new_exp != old.experiment_id,
    )
    return seen, tracking


def _expected_tracking(old: Old) -> dict[str, Any]:
    return {
        "experiment": (EXPERIMENT, ARTIFACTS, "active", {"team": "données-équipe"}),
        "run": (
            old.experiment_id,
            "baseline-ü",
            "ada",
            "FINISHED",
            T0,
            T0 + 60_000,
            f"{ARTIFACTS}/{RUN_ID}/artifacts",
            {"learning_rate": "0.01", "optimizer": "adam-β"},
            {"mlflow.runName": "baseline-ü", "note": "first try — 最初の試み"},
            [("loss", 0.25, 2, T0 + 3000)],
            [("iris", "d1g3st", '{"uri": "/data/iris.csv"}', {"mlflow.data.context": "training"})],
        ),
        "loss": list(LOSS),
        "written": ([1.0, 0.5, 0.25, 0.125], "7", "after-upgrade", True),
    }


def _registry(database: Database, tracking: TrackingService) -> dict[str, Any]:
    registry = RegistryService(database, tracking)
    model = registry.get_registered_model(MODEL)
    champion = registry.get_version_by_alias(MODEL, "champion")
    logged = registry.get_logged_model(MODEL_ID)
    seen: dict[str, Any] = {
        "model": (model.description, model.tags, model.aliases),
        "champion": (
            champion.version,
            champion.current_stage,
            champion.source,
            champion.run_id,
            champion.model_id,
            champion.tags,
        ),
        "logged": (logged.source_run_id, logged.status, logged.params, logged.tags, registry.run_outputs(RUN_ID)),
        "history": [(e.kind, e.version) for e in registry.history(MODEL)],
    }
    added = registry.create_model_version(MODEL, f"models:/{MODEL_ID}", run_id=RUN_ID, actor="ada")
    registry.set_alias(MODEL, "challenger", added.version, actor="ada")
    seen["written"] = (added.version, added.model_id, registry.get_registered_model(MODEL).aliases)
    return seen


_EXPECTED_REGISTRY = {
    "model": ("Prédit le churn", {"owner": "ada"}, {"champion": 1}),
    "champion": (1, "Production", f"models:/{MODEL_ID}", RUN_ID, MODEL_ID, {"validated": "✓"}),
    "logged": (RUN_ID, "LOGGED_MODEL_READY", {"max_depth": "4"}, {"flavor": "sklearn"}, [(MODEL_ID, 0)]),
    "history": [("model_version.created", "1"), ("registered_model.created", None)],
    "written": (2, MODEL_ID, {"challenger": 2, "champion": 1}),
}


def _accounts(database: Database, old: Old) -> dict[str, Any]:
    accounts = AuthService(database)
    grants = Permissions(database, Level.READ)
    ada = Principal("ada", is_admin=False, via="basic")
    by_password = accounts.check_password("ada", PASSWORD)
    by_token = accounts.user_for_token(TOKEN)
    session = accounts.session(SESSION)
    seen: dict[str, Any] = {
        "users": (
            by_password and (by_password.username, by_password.is_admin),
            by_token and by_token.username,
            session and (session[0].username, session[1]),
        ),
        "grants": (grants.level(ada, "experiment", old.experiment_id), grants.level(ada, "registered_model", MODEL)),
    }
    _token, secret = accounts.create_token("ada", "after-upgrade")
    grants.grant("experiment", old.experiment_id, "ada", Level.MANAGE, actor="admin")
    new_owner = accounts.user_for_token(secret)
    seen["written"] = (new_owner and new_owner.username, grants.level(ada, "experiment", old.experiment_id))
    return seen


_EXPECTED_ACCOUNTS = {
    "users": (("ada", False), "ada", ("ada", CSRF)),
    "grants": (Level.EDIT, Level.MANAGE),
    "written": ("ada", Level.MANAGE),
}


def _monitors(database: Database) -> dict[str, Any]:
    monitors = MonitorService(database)
    monitor = monitors.get(MONITOR)
    seen: dict[str, Any] = {
        "monitor": (monitor.created_by, monitor.evaluated_through_ms, monitor.spec.model_dump(exclude_defaults=True)),
        "windows": [(w.start_ms, w.rows, w.dataset_drift, w.columns, w.ops) for w in monitors.windows(MONITOR)],
        "alerts": [(a.rule, a.severity, a.state, a.value) for a in monitors.alerts(MONITOR)],
    }
    monitors.create(monitor.spec.model_copy(update={"name": "churn-drift-2"}), actor="ada")
    added = monitors.get("churn-drift-2")
    seen["written"] = (added.spec.deployment_name, added.created_by)
    return seen


_EXPECTED_MONITORS = {
    "monitor": ("ada", T0, SPEC),
    "windows": [(T0 - 86_400_000, 1234, True, WINDOW_COLUMNS, {"requests": 1234})],
    "alerts": [("half-drifted", "critical", "FIRING", 1.0)],
    "written": ("churn", "ada"),
}


# One test per (database, revision) rather than one per check: the set-up is most of the cost, and pytest-xdist
# would repeat a shared one on each worker.
@pytest.mark.parametrize("revision", _revisions())
def test_a_database_filled_at_each_revision_upgrades_to_head_with_every_row_and_object_intact(
    empty_database: Database, revision: str
) -> None:
    engine = empty_database.engine
    command.upgrade(alembic_config(engine), revision)
    tables = reflect(engine)
    fill_every_table(engine, tables)
    old = store_old_objects(engine, tables)
    before = snapshot(engine, tables)

    upgrade_to_head(engine)
    head_tables = reflect(engine)
    after = snapshot(engine, head_tables)
    at = current_revision(engine)
    upgrade_to_head(engine)  # at head already: a no-op
    again = snapshot(engine, head_tables)

    present = set(tables.tables)
    expected: dict[str, Any] = {
        "tables with fewer rows than filled": [],
        "rows lost or changed": {},
        "revision": head_revision(engine),
        "rows changed by upgrading again": {},
        "tracking": _expected_tracking(old),
    }
    seen, tracking = _tracking(empty_database, old)
    actual: dict[str, Any] = {
        "tables with fewer rows than filled": sorted(t for t, rows in before.items() if len(rows) < ROWS_PER_TABLE),
        "rows lost or changed": changed_rows(before, after, primary_keys(tables)),
        "revision": at,
        "rows changed by upgrading again": changed_rows(after, again, primary_keys(head_tables)),
        "tracking": seen,
    }
    if "registered_models" in present:
        actual["registry"], expected["registry"] = _registry(empty_database, tracking), _EXPECTED_REGISTRY
    if "users" in present:
        actual["accounts"], expected["accounts"] = _accounts(empty_database, old), _EXPECTED_ACCOUNTS
    if "monitors" in present:
        actual["monitors"], expected["monitors"] = _monitors(empty_database), _EXPECTED_MONITORS

    assert expected == actual


def test_the_row_comparison_reports_a_lost_row_and_a_changed_value(tmp_path: Path) -> None:
    """The check above can fail: a deleted tag and an edited param are both reported."""
    database = open_database(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        tables = reflect(database.engine)
        fill_every_table(database.engine, tables)
        before = snapshot(database.engine, tables)
        with database.write() as conn:
            first_tag, first_param = before["tags"][0], before["params"][0]
            conn.execute(delete(tables.tables["tags"]).where(tables.tables["tags"].c.key == first_tag["key"]))
            params = tables.tables["params"]
            conn.execute(update(params).where(params.c.key == first_param["key"]).values(value="edited"))
        found = changed_rows(before, snapshot(database.engine, tables), primary_keys(tables))
    finally:
        database.dispose()

    assert (["params", "tags"], 1, 2) == (sorted(found), len(found["params"]), len(found["tags"]))
