"""Search SQL on real SQLite and PostgreSQL: exact run and experiment ids returned, in MLflow's order."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, insert

import shipyard.tracking.tables as t
from shipyard.db import metadata
from shipyard.errors import InvalidParameter
from shipyard.tracking._search_sql import experiments_query, runs_query
from shipyard.tracking.search import EXPERIMENT_SEARCH, RUN_SEARCH, parse_filter, parse_order_by

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
NAN = math.nan


@pytest.fixture(scope="module")
def pg_engine() -> Iterator[Engine]:
    """An engine whose search_path is a schema of its own, dropped at the end of the module."""
    admin = sa.create_engine(PG_URL)
    schema = f"search_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:  # pragma: no cover - only when the server is down
        admin.dispose()
        pytest.skip(f"PostgreSQL at {PG_URL} is unreachable: {exc.orig}")
    engine = sa.create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    metadata.create_all(engine)
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A SQLite database file in a temporary folder, shared by the module's tests."""
    engine = sa.create_engine(f"sqlite:///{tmp_path_factory.mktemp('search') / 'search.db'}")

    @sa.event.listens_for(engine, "connect")
    def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
        # Test data is thrown away: skip the fsync of every commit.
        dbapi_connection.execute("PRAGMA synchronous=OFF")

    metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A database with the tracking tables and no rows, on each backend; emptied after the test."""
    engine: Engine = request.getfixturevalue(f"{'pg' if request.param == 'postgresql' else 'sqlite'}_engine")
    yield engine
    clear(engine)


def clear(engine: Engine) -> None:
    """Delete every row, children first."""
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


@dataclass
class RunRow:
    """A run to insert, with the latest metrics, params, tags and dataset inputs it carries."""

    run_id: str
    experiment_id: int = 1
    start_time: int | None = 0
    end_time: int | None = None
    name: str = ""
    status: str = "FINISHED"
    user_id: str = "alice"
    lifecycle_stage: str = "active"
    artifact_uri: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    inputs: list[tuple[str, str, str | None]] = field(default_factory=list)  # (name, digest, context)


def add_experiment(
    engine: Engine,
    experiment_id: int,
    name: str | None = None,
    *,
    creation_time: int = 0,
    last_update_time: int = 0,
    stage: str = "active",
    tags: dict[str, str] | None = None,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(t.experiments),
            [
                {
                    "experiment_id": experiment_id,
                    "name": name or f"exp-{experiment_id}",
                    "artifact_location": "/tmp",
                    "lifecycle_stage": stage,
                    "creation_time": creation_time,
                    "last_update_time": last_update_time,
                }
            ],
        )
        if tags:
            conn.execute(
                insert(t.experiment_tags),
                [{"experiment_id": experiment_id, "key": k, "value": v} for k, v in tags.items()],
            )


def add_runs(engine: Engine, *rows: RunRow) -> None:
    """Insert runs with Core, creating their experiments when missing."""
    with engine.begin() as conn:
        known = {r[0] for r in conn.execute(sa.select(t.experiments.c.experiment_id))}
    for exp_id in sorted({row.experiment_id for row in rows} - known):
        add_experiment(engine, exp_id)
    with engine.begin() as conn:
        conn.execute(
            insert(t.runs),
            [
                {
                    "run_uuid": r.run_id,
                    "experiment_id": r.experiment_id,
                    "name": r.name,
                    "user_id": r.user_id,
                    "status": r.status,
                    "start_time": r.start_time,
                    "end_time": r.end_time,
                    "deleted_time": None,
                    "lifecycle_stage": r.lifecycle_stage,
                    "artifact_uri": r.artifact_uri,
                }
                for r in rows
            ],
        )
        metrics = [
            {
                "run_uuid": r.run_id,
                "key": k,
                "step": 0,
                "timestamp": 0,
                "value": 0.0 if math.isnan(v) else v,
                "is_nan": math.isnan(v),
            }
            for r in rows
            for k, v in r.metrics.items()
        ]
        if metrics:
            conn.execute(insert(t.latest_metrics), metrics)
        params = [{"run_uuid": r.run_id, "key": k, "value": v} for r in rows for k, v in r.params.items()]
        if params:
            conn.execute(insert(t.params), params)
        tags = [{"run_uuid": r.run_id, "key": k, "value": v} for r in rows for k, v in r.tags.items()]
        if tags:
            conn.execute(insert(t.tags), tags)
        for r in rows:
            for name, digest, context in r.inputs:
                found = conn.execute(
                    sa.select(t.datasets.c.dataset_uuid).where(
                        t.datasets.c.experiment_id == r.experiment_id,
                        t.datasets.c.name == name,
                        t.datasets.c.digest == digest,
                    )
                ).scalar()
                if found is None:
                    found = uuid.uuid4().hex
                    conn.execute(
                        insert(t.datasets),
                        [
                            {
                                "dataset_uuid": found,
                                "experiment_id": r.experiment_id,
                                "name": name,
                                "digest": digest,
                                "source_type": "local",
                                "source": "/data",
                                "schema": "",
                                "profile": "",
                            }
                        ],
                    )
                tags_json = "{}" if context is None else f'{{"mlflow.data.context": "{context}"}}'
                conn.execute(
                    insert(t.run_inputs), [{"run_uuid": r.run_id, "dataset_uuid": found, "tags_json": tags_json}]
                )


def search(
    engine: Engine,
    filter_string: str | None = None,
    order_by: Sequence[str] = (),
    *,
    experiment_ids: Sequence[int] = (1,),
    stages: Sequence[str] = ("active",),
    offset: int = 0,
    limit: int = 1000,
) -> list[str]:
    query = runs_query(
        parse_filter(filter_string, RUN_SEARCH),
        parse_order_by(list(order_by), RUN_SEARCH),
        list(experiment_ids),
        tuple(stages),
        offset,
        limit,
    )
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(query)]


def search_experiments(
    engine: Engine,
    filter_string: str | None = None,
    order_by: Sequence[str] = (),
    *,
    stages: Sequence[str] = ("active",),
    offset: int = 0,
    limit: int = 1000,
) -> list[int]:
    query = experiments_query(
        parse_filter(filter_string, EXPERIMENT_SEARCH),
        parse_order_by(list(order_by), EXPERIMENT_SEARCH),
        tuple(stages),
        offset,
        limit,
    )
    with engine.connect() as conn:
        return [int(row[0]) for row in conn.execute(query)]


# ---------------------------------------------------------------------------------------------------------
# Metrics


@pytest.fixture
def metric_runs(engine: Engine) -> Engine:
    add_runs(
        engine,
        RunRow("r1", start_time=5, metrics={"acc": 0.9, "loss": 1.0}),
        RunRow("r2", start_time=4, metrics={"acc": 0.5, "loss": 2.0}),
        RunRow("r3", start_time=3, metrics={"acc": NAN, "loss": 0.0}),
        RunRow("r4", start_time=2, metrics={"loss": 3.0}),
        RunRow("r5", start_time=1, metrics={"acc": 0.0}),
    )
    return engine


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("metrics.acc > 0.6", ["r1"]),
        ("metrics.acc >= 0.5", ["r1", "r2"]),
        ("metrics.acc < 0.6", ["r2", "r5"]),
        ("metrics.acc <= 0", ["r5"]),
        ("metrics.acc = 0", ["r5"]),  # the NaN placeholder 0 never matches
        ("metrics.acc != 0.5", ["r1", "r3", "r5"]),  # NaN != anything; a run without acc never matches
        ("metrics.acc > -1e9", ["r1", "r2", "r5"]),
        ("metrics.acc > 0.1 AND metrics.loss < 1.5", ["r1"]),
        ("metrics.acc > 0.1 AND metrics.acc < 0.8", ["r2"]),
        ("metrics.nope > 0", []),
        ("metrics.nope != 0", []),
    ],
)
def test_metric_filter(metric_runs: Engine, filter_string: str, expected: list[str]) -> None:
    assert expected == search(metric_runs, filter_string)


def test_metric_order_desc_puts_nan_then_missing_last(metric_runs: Engine) -> None:
    assert ["r1", "r2", "r5", "r3", "r4"] == search(metric_runs, order_by=["metrics.acc DESC"])


def test_metric_order_asc_puts_nan_then_missing_last(metric_runs: Engine) -> None:
    assert ["r5", "r2", "r1", "r3", "r4"] == search(metric_runs, order_by=["metrics.acc ASC"])


def test_metric_filter_and_order_on_the_same_key(metric_runs: Engine) -> None:
    assert ["r2", "r1", "r3"] == search(metric_runs, "metrics.acc != 0", ["metrics.acc"])


def test_second_order_key_breaks_ties(engine: Engine) -> None:
    add_runs(
        engine,
        RunRow("a", start_time=1, metrics={"m": 1.0}, params={"p": "y"}),
        RunRow("b", start_time=2, metrics={"m": 1.0}, params={"p": "x"}),
        RunRow("c", start_time=3, metrics={"m": 2.0}, params={"p": "z"}),
    )
    assert ["c", "b", "a"] == search(engine, order_by=["metrics.m DESC", "params.p ASC"])
    assert ["c", "a", "b"] == search(engine, order_by=["metrics.m DESC", "params.p DESC"])


# ---------------------------------------------------------------------------------------------------------
# Params and tags


@pytest.fixture
def string_runs(engine: Engine) -> Engine:
    add_runs(
        engine,
        RunRow("r1", start_time=5, params={"model": "CNN-small", "lr": "0.1"}, tags={"mlflow.runName": "alpha"}),
        RunRow("r2", start_time=4, params={"model": "cnn_large", "lr": "0.01"}, tags={"team": "Vision"}),
        RunRow("r3", start_time=3, params={"model": "rnn*[x]?"}, tags={"team": "nlp", "a b": "c d"}),
        RunRow("r4", start_time=2, params={"model": "C:\\models\\x"}),
        RunRow("r5", start_time=1),
    )
    return engine


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("params.lr = '0.1'", ["r1"]),
        ("params.lr != '0.1'", ["r2"]),  # runs without the param never match !=
        ("params.model LIKE 'cnn%'", ["r2"]),  # LIKE is case-sensitive
        ("params.model LIKE 'CNN%'", ["r1"]),
        ("params.model ILIKE 'cnn%'", ["r1", "r2"]),
        ("params.model ILIKE '%LARGE'", ["r2"]),
        ("params.model LIKE 'cnn_large'", ["r2"]),
        ("params.model LIKE 'cnn_l%'", ["r2"]),
        ("params.model LIKE '___-%'", ["r1"]),  # _ is one character
        ("params.model LIKE 'rnn*[x]?'", ["r3"]),  # GLOB metacharacters are literal
        ("params.model LIKE 'rnn%?'", ["r3"]),
        ("params.model LIKE 'rnn'", []),
        ("params.model LIKE 'C:\\\\models%'", ["r4"]),  # '\\' in the literal is one backslash
        ("params.model LIKE 'C:\\models\\_'", ["r4"]),  # a backslash is literal in LIKE: no escape character
        ("params.lr IS NULL", ["r3", "r4", "r5"]),
        ("params.lr IS NOT NULL", ["r1", "r2"]),
        ("params.lr IS NOT NULL AND params.model LIKE '%N%'", ["r1"]),
        ("tags.mlflow.runName = 'alpha'", ["r1"]),
        ("tags.`mlflow.runName` = 'alpha'", ["r1"]),
        ("tags.team = 'vision'", []),
        ("tags.team ILIKE 'VISION'", ["r2"]),
        ("tags.team != 'nlp'", ["r2"]),
        ('tags."a b" = "c d"', ["r3"]),
        ("tags.team IS NULL", ["r1", "r4", "r5"]),
        ("params.lr = '0.1' AND tags.team = 'Vision'", []),
    ],
)
def test_string_filter(string_runs: Engine, filter_string: str, expected: list[str]) -> None:
    assert expected == search(string_runs, filter_string)


def test_param_order_is_by_code_point_with_missing_last(string_runs: Engine) -> None:
    # Upper case before lower case, '*' as a character: the same order on SQLite and PostgreSQL.
    assert ["r4", "r1", "r2", "r3", "r5"] == search(string_runs, order_by=["params.model"])
    assert ["r3", "r2", "r1", "r4", "r5"] == search(string_runs, order_by=["params.model DESC"])


def test_tag_order_puts_missing_last_in_both_directions(string_runs: Engine) -> None:
    assert ["r2", "r3", "r1", "r4", "r5"] == search(string_runs, order_by=["tags.team"])
    assert ["r3", "r2", "r1", "r4", "r5"] == search(string_runs, order_by=["tags.team DESC"])


def test_like_query_reused_with_other_patterns_stays_correct(string_runs: Engine) -> None:
    # The statement cache must bind each pattern afresh (GLOB twin included).
    assert ["r2"] == search(string_runs, "params.model LIKE 'cnn%'")
    assert ["r1"] == search(string_runs, "params.model LIKE 'CNN%'")
    assert ["r3"] == search(string_runs, "params.model LIKE 'rnn%'")


# ---------------------------------------------------------------------------------------------------------
# Attributes


@pytest.fixture
def attribute_runs(engine: Engine) -> Engine:
    add_runs(
        engine,
        RunRow(
            "r1",
            start_time=100,
            end_time=150,
            name="alpha",
            status="FINISHED",
            user_id="alice",
            artifact_uri="s3://bucket/r1",
        ),
        RunRow(
            "r2", start_time=200, end_time=None, name="Beta", status="RUNNING", user_id="bob", artifact_uri="file:///r2"
        ),
        RunRow(
            "r3",
            start_time=300,
            end_time=320,
            name="alphabet",
            status="FAILED",
            user_id="alice",
            artifact_uri="s3://bucket/r3",
        ),
        RunRow("r4", start_time=None, end_time=None, name="gamma", status="FINISHED", user_id="carol"),
        RunRow("r5", start_time=250, name="deleted one", lifecycle_stage="deleted"),
    )
    return engine


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("attributes.run_id = 'r2'", ["r2"]),
        ("run_id IN ('r1', 'r3', 'zz')", ["r3", "r1"]),
        ("run_id NOT IN ('r1')", ["r3", "r2", "r4"]),
        ("run_name = 'alpha'", ["r1"]),
        ("run_name LIKE 'alpha%'", ["r3", "r1"]),
        ("`Run name` LIKE 'beta'", []),
        ("attributes.run_name ILIKE 'beta'", ["r2"]),
        ("status = 'FINISHED'", ["r1", "r4"]),
        ("status != 'FINISHED'", ["r3", "r2"]),
        ("user_id = 'alice'", ["r3", "r1"]),
        ("artifact_uri LIKE 's3://%'", ["r3", "r1"]),
        ("start_time > 150", ["r3", "r2"]),
        ("start_time >= 200.5", ["r3"]),
        ("start_time >= 199.6", ["r3", "r2"]),  # a float is never rounded to the column's integer type
        ("start_time <= 200.4", ["r2", "r1"]),
        ("start_time > 199.6", ["r3", "r2"]),
        ("start_time < 200.5", ["r2", "r1"]),
        ("start_time = 200.0", ["r2"]),
        ("start_time != 200", ["r3", "r1"]),  # NULL start_time never matches
        ("created <= 100", ["r1"]),
        ("end_time > 0", ["r3", "r1"]),
        ("end_time != 150", ["r3"]),
        ("lifecycle_stage = 'active'", ["r3", "r2", "r1", "r4"]),
    ],
)
def test_attribute_filter(attribute_runs: Engine, filter_string: str, expected: list[str]) -> None:
    assert expected == search(attribute_runs, filter_string)


def test_default_order_is_start_time_desc_with_null_last_then_run_id(engine: Engine) -> None:
    add_runs(
        engine,
        RunRow("b", start_time=10),
        RunRow("a", start_time=10),
        RunRow("c", start_time=20),
        RunRow("d", start_time=None),
        RunRow("0", start_time=5),
    )
    assert ["c", "a", "b", "0", "d"] == search(engine)


def test_order_by_start_time_replaces_the_default(engine: Engine) -> None:
    add_runs(
        engine,
        RunRow("b", start_time=10),
        RunRow("a", start_time=10),
        RunRow("c", start_time=5),
        RunRow("d", start_time=None),
    )
    assert ["c", "a", "b", "d"] == search(engine, order_by=["start_time"])
    assert ["a", "b", "c", "d"] == search(engine, order_by=["attributes.start_time DESC"])


def test_order_by_nullable_attribute_puts_nulls_last(attribute_runs: Engine) -> None:
    assert ["r1", "r3", "r2", "r4"] == search(attribute_runs, order_by=["end_time"])
    assert ["r3", "r1", "r2", "r4"] == search(attribute_runs, order_by=["end_time DESC"])


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (["run_name"], ["r2", "r1", "r3", "r4"]),
        (["run_name DESC"], ["r4", "r3", "r1", "r2"]),
        (["run_id DESC"], ["r4", "r3", "r2", "r1"]),
        (["status", "user_id DESC"], ["r3", "r4", "r1", "r2"]),
        (["user_id"], ["r3", "r1", "r2", "r4"]),
    ],
)
def test_order_by_string_attribute(attribute_runs: Engine, order_by: list[str], expected: list[str]) -> None:
    assert expected == search(attribute_runs, order_by=order_by)


def test_lifecycle_stages_select_runs(attribute_runs: Engine) -> None:
    assert ["r5"] == search(attribute_runs, stages=["deleted"])
    assert ["r3", "r5", "r2", "r1", "r4"] == search(attribute_runs, stages=["active", "deleted"])


def test_experiment_ids_select_runs(engine: Engine) -> None:
    add_runs(
        engine,
        RunRow("a", experiment_id=1, start_time=1),
        RunRow("b", experiment_id=2, start_time=2),
        RunRow("c", experiment_id=3, start_time=3),
    )
    assert ["c", "a"] == search(engine, experiment_ids=[1, 3])
    assert [] == search(engine, experiment_ids=[])


def test_offset_and_limit_page_through_the_order(engine: Engine) -> None:
    add_runs(engine, *(RunRow(f"r{i}", start_time=i) for i in range(7)))
    assert ["r6", "r5", "r4"] == search(engine, limit=3)
    assert ["r3", "r2", "r1"] == search(engine, offset=3, limit=3)
    assert ["r0"] == search(engine, offset=6, limit=3)
    assert [] == search(engine, offset=7, limit=3)


@pytest.mark.parametrize(("offset", "limit"), [(-1, 10), (0, -1)])
def test_negative_paging_is_invalid(engine: Engine, offset: int, limit: int) -> None:
    with pytest.raises(InvalidParameter):
        search(engine, offset=offset, limit=limit)


def test_numbers_beyond_the_column_range_do_not_break_the_query(engine: Engine) -> None:
    add_runs(engine, RunRow("a", start_time=5, metrics={"m": 1.0}))
    assert ["a"] == search(engine, "start_time < 1e30 AND metrics.m < 1e400 AND start_time > -9223372036854775808")
    assert [] == search(engine, "start_time > 9223372036854775807")


# ---------------------------------------------------------------------------------------------------------
# Datasets


@pytest.fixture
def dataset_runs(engine: Engine) -> Engine:
    add_runs(
        engine,
        RunRow("r1", start_time=3, inputs=[("iris", "abc123", "training"), ("wine", "def456", "eval")]),
        RunRow("r2", start_time=2, inputs=[("iris", "ffff00", "Eval")]),
        RunRow("r3", start_time=1, inputs=[("mnist", "abc999", None)]),
        RunRow("r4", start_time=0),
    )
    return engine


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("datasets.name = 'iris'", ["r1", "r2"]),
        ("dataset.name != 'iris'", ["r1", "r3"]),  # some input is not iris (MLflow semantics)
        ("dataset.name IN ('wine', 'mnist')", ["r1", "r3"]),
        ("dataset.name NOT IN ('iris')", ["r1", "r3"]),
        ("dataset.digest LIKE 'abc%'", ["r1", "r3"]),
        ("dataset.digest LIKE 'ABC%'", []),
        ("dataset.digest ILIKE 'ABC%'", ["r1", "r3"]),
        ("dataset.context = 'eval'", ["r1"]),
        ("dataset.context ILIKE 'eval'", ["r1", "r2"]),
        ("dataset.context LIKE 'train%'", ["r1"]),
        ("dataset.context IN ('training', 'Eval')", ["r1", "r2"]),
        ("dataset.context != 'training'", ["r1", "r2"]),  # r3's input has no context: no match
        ("dataset.name = 'wine' AND dataset.digest = 'abc123'", ["r1"]),  # each comparison on its own
        ("dataset.name = 'iris' AND dataset.context = 'Eval'", ["r2"]),
    ],
)
def test_dataset_filter(dataset_runs: Engine, filter_string: str, expected: list[str]) -> None:
    assert expected == search(dataset_runs, filter_string)


# ---------------------------------------------------------------------------------------------------------
# Experiments


@pytest.fixture
def experiments(engine: Engine) -> Engine:
    add_experiment(engine, 1, "Default", creation_time=10, last_update_time=10)
    add_experiment(engine, 2, "fraud-v1", creation_time=30, last_update_time=35, tags={"team": "risk"})
    add_experiment(engine, 3, "Fraud-v2", creation_time=30, last_update_time=50, tags={"team": "Risk", "x": ""})
    add_experiment(engine, 4, "churn", creation_time=20, last_update_time=20, tags={"team": "growth"})
    add_experiment(engine, 5, "old", creation_time=5, last_update_time=5, stage="deleted")
    return engine


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        (None, [2, 3, 4, 1]),
        ("name = 'churn'", [4]),
        ("name LIKE 'fraud%'", [2]),
        ("name ILIKE 'fraud%'", [2, 3]),
        ("name != 'churn'", [2, 3, 1]),
        ("experiment_id = '3'", [3]),
        ("experiment_id IN ('1', '4', '99')", [4, 1]),
        ("experiment_id NOT IN ('1', '4')", [2, 3]),
        ("experiment_id = '3000000000'", []),
        ("creation_time >= 20", [2, 3, 4]),
        ("last_update_time < 40 AND creation_time > 10", [2, 4]),
        ("tags.team = 'risk'", [2]),
        ("tags.team ILIKE 'risk'", [2, 3]),
        ("tags.team != 'risk'", [3, 4]),
        ("tags.team IS NULL", [1]),
        ("tags.x IS NOT NULL", [3]),
        ("tags.team LIKE '%r%' AND name LIKE '%-v%'", [2]),
    ],
)
def test_experiment_filter(experiments: Engine, filter_string: str | None, expected: list[int]) -> None:
    assert expected == search_experiments(experiments, filter_string)


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ([], [2, 3, 4, 1]),  # creation_time DESC, experiment_id ASC
        (["creation_time DESC"], [3, 2, 4, 1]),  # explicit keys tie-break on experiment_id DESC (MLflow)
        (["creation_time"], [1, 4, 3, 2]),
        (["name"], [1, 3, 4, 2]),  # by code point: upper case first
        (["name DESC"], [2, 4, 3, 1]),
        (["last_update_time DESC"], [3, 2, 4, 1]),
        (["experiment_id DESC"], [4, 3, 2, 1]),
        (["creation_time DESC", "experiment_id"], [2, 3, 4, 1]),
    ],
)
def test_experiment_order(experiments: Engine, order_by: list[str], expected: list[int]) -> None:
    assert expected == search_experiments(experiments, order_by=order_by)


def test_experiment_stages_and_paging(experiments: Engine) -> None:
    assert [5] == search_experiments(experiments, stages=["deleted"])
    assert [3, 4] == search_experiments(experiments, offset=1, limit=2)


# ---------------------------------------------------------------------------------------------------------
# Robustness


def test_many_keyed_filters_and_order_keys_stay_within_join_limits(engine: Engine) -> None:
    metrics = {f"m{i}": float(i) for i in range(40)}
    add_runs(engine, RunRow("a", metrics=metrics), RunRow("b", metrics={**metrics, "m39": -1.0}))
    filter_string = " AND ".join(f"metrics.m{i} >= {i}" for i in range(40))
    order_by = [f"params.p{i}" for i in range(40)] + ["metrics.m39 DESC", "metrics.nan"]
    assert ["a"] == search(engine, filter_string, order_by)
    assert ["a", "b"] == search(engine, order_by=order_by)
    assert ["b", "a"] == search(engine, order_by=[*order_by[:-2], "metrics.m39"])


def test_sort_keys_past_the_join_budget_keep_nan_and_missing_last(engine: Engine) -> None:
    add_runs(
        engine,
        RunRow("a", start_time=1, metrics={"m": NAN}),
        RunRow("b", start_time=2),
        RunRow("c", start_time=3, metrics={"m": 1.0}),
        RunRow("d", start_time=4, metrics={"m": 2.0}),
    )
    padding = [f"tags.t{i}" for i in range(40)]
    assert ["c", "d", "a", "b"] == search(engine, order_by=[*padding, "metrics.m"])
    assert ["d", "c", "a", "b"] == search(engine, order_by=[*padding, "metrics.m DESC"])
    assert ["d", "c", "a", "b"] == search(engine, order_by=["metrics.m DESC"])


@pytest.mark.parametrize(
    "filter_string",
    [
        "params.x = ''';DROP TABLE runs;--'",
        "tags.\"'); DELETE FROM runs; --\" = 'x'",
        "params.x LIKE '%''%'",
        "dataset.context = '\"'",
    ],
)
def test_hostile_strings_are_just_values(engine: Engine, filter_string: str) -> None:
    add_runs(engine, RunRow("a"))
    assert [] == search(engine, filter_string)
    assert ["a"] == search(engine)
