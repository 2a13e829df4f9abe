"""Search over 10,000 runs on SQLite: the plan probes indexes (no full scans); speed itself is measured in bench/."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, insert

import shipyard.tracking.tables as t
from shipyard.db import metadata
from shipyard.tracking._search_sql import runs_query
from shipyard.tracking.search import RUN_SEARCH, parse_filter, parse_order_by

N_RUNS = 10_000
TARGET = ("metrics.acc > 0.5 AND params.lr = '0.01'", ["metrics.loss DESC"])


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = sa.create_engine(f"sqlite:///{tmp_path_factory.mktemp('perf') / 'perf.db'}")

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA synchronous=OFF")
        dbapi_connection.execute("PRAGMA cache_size=-65536")  # what shipyard.db sets on its engines

    metadata.create_all(engine)
    rnd = random.Random(0)
    run_ids = [f"{rnd.getrandbits(128):032x}" for _ in range(N_RUNS)]
    with engine.begin() as conn:
        conn.execute(
            insert(t.experiments),
            [
                {"experiment_id": e, "name": f"e{e}", "artifact_location": "", "lifecycle_stage": "active",
                 "creation_time": 0, "last_update_time": 0}
                for e in (1, 2)
            ],
        )  # fmt: skip
        conn.execute(
            insert(t.runs),
            [
                {"run_uuid": run_id, "experiment_id": 2 if i % 10 == 0 else 1, "name": f"run-{i}", "user_id": "u",
                 "status": "FINISHED", "start_time": rnd.randrange(10**12), "end_time": None, "deleted_time": None,
                 "lifecycle_stage": "deleted" if i % 50 == 1 else "active", "artifact_uri": ""}
                for i, run_id in enumerate(run_ids)
            ],
        )  # fmt: skip
        conn.execute(
            insert(t.latest_metrics),
            [
                {"run_uuid": run_id, "key": key, "step": 0, "timestamp": 0, "value": rnd.random(), "is_nan": False}
                for run_id in run_ids
                for key in ("acc", "loss", "f1", "auc", "rmse")
            ],
        )
        conn.execute(
            insert(t.params),
            [
                {"run_uuid": run_id, "key": key, "value": rnd.choice(["0.1", "0.01", "0.001"])}
                for run_id in run_ids
                for key in ("lr", "batch", "model", "optimizer", "seed")
            ],
        )
        conn.execute(
            insert(t.tags),
            [
                {"run_uuid": run_id, "key": key, "value": f"v{i % 7}"}
                for i, run_id in enumerate(run_ids)
                for key in ("mlflow.runName", "team", "mlflow.user")
            ],
        )
        conn.exec_driver_sql("ANALYZE")
    yield engine
    engine.dispose()


def _query(filter_string: str, order_by: list[str]) -> sa.Select[str]:
    return runs_query(
        parse_filter(filter_string, RUN_SEARCH), parse_order_by(order_by, RUN_SEARCH), [1], ("active",), 0, 101
    )


def _plan(engine: Engine, query: sa.Select[str]) -> list[str]:
    compiled = query.compile(engine, compile_kwargs={"render_postcompile": True})
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    with engine.connect() as conn:
        return [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params)]


@pytest.mark.parametrize(
    ("filter_string", "order_by"),
    [
        TARGET,
        ("", []),
        ("", ["metrics.loss DESC"]),
        ("params.lr = '0.01'", ["params.batch"]),
        ("tags.team LIKE 'v1%' AND metrics.f1 != 0.5", ["tags.mlflow.runName DESC"]),
        ("params.model IS NULL", []),
        ("dataset.name = 'iris'", []),
    ],
)
def test_plan_probes_indexes_and_never_scans_a_table(big: Engine, filter_string: str, order_by: list[str]) -> None:
    plan = _plan(big, _query(filter_string, order_by))
    assert not [step for step in plan if step.startswith("SCAN")], plan
    assert all("USING" in step for step in plan if step.startswith("SEARCH")), plan


def test_target_plan_uses_the_runs_index_and_the_key_primary_keys(big: Engine) -> None:
    plan = "\n".join(_plan(big, _query(*TARGET)))
    assert "ix_runs_experiment_id_lifecycle_stage_start_time" in plan or "ix_latest_metrics_key_value" in plan
    assert "sqlite_autoindex_params_1 (run_uuid=? AND key=?)" in plan or "ix_params_key_value" in plan
    # latest_metrics is clustered on its key (WITHOUT ROWID), so the probe is on the table's PRIMARY KEY itself.
    assert "PRIMARY KEY (run_uuid=? AND key=?)" in plan or "sqlite_autoindex_latest_metrics_1" in plan


@pytest.mark.parametrize(("filter_string", "order_by"), [TARGET, ("", []), ("", ["metrics.loss DESC"])])
def test_a_page_of_ten_thousand_runs_is_full_and_stable(big: Engine, filter_string: str, order_by: list[str]) -> None:
    # Speed is measured in bench/ (search_runs); here only that the page is full and repeatable.
    query = _query(filter_string, order_by)
    with big.connect() as conn:
        first = conn.execute(query).fetchall()
        second = conn.execute(query).fetchall()
    assert (101, first) == (len(first), second)
