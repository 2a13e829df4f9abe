"""Parity with MLflow itself: its parser and its in-memory filter and sort are the oracle for ours."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shipyard.errors import InvalidParameter
from shipyard.tracking.search import EXPERIMENT_SEARCH, RUN_SEARCH, Kind, parse_filter, parse_order_by
from tests.unit.tracking.test_search_sql import (  # noqa: F401  # the engine fixtures are used by name
    RunRow,
    add_runs,
    clear,
    pg_engine,
    search,
    sqlite_engine,
)

search_utils = pytest.importorskip("mlflow.utils.search_utils")
entities = pytest.importorskip("mlflow.entities")
mlflow_store = pytest.importorskip("mlflow.store.tracking.sqlalchemy_store")
mlflow_exceptions = pytest.importorskip("mlflow.exceptions")
_MLFLOW_VERSION = tuple(int(part) for part in pytest.importorskip("mlflow").__version__.split(".")[:2])

_MLFLOW_KINDS = {
    "metric": Kind.METRIC,
    "parameter": Kind.PARAM,
    "tag": Kind.TAG,
    "attribute": Kind.ATTRIBUTE,
    "dataset": Kind.DATASET,
}
_ALIASES = {
    "created": "start_time",
    "Created": "start_time",
    "run name": "run_name",
    "Run name": "run_name",
    "Run Name": "run_name",
}

FILTERS = [
    "metrics.m > 0.3",
    "metrics.m >= 0.5",
    "metrics.m != 0.5",
    "metrics.m = 0.9",
    "metrics.m < 1 AND metrics.m > 0",
    "metrics.`m 2` <= 0.5",
    'metrics."m 2" != -1',
    "metrics.m <= 0.5 AND params.p = 'a'",
    "params.p = 'B'",
    "params.p != 'a'",
    "params.p LIKE 'a%'",
    "params.p LIKE '%b%'",
    "params.p ILIKE 'b%'",
    "params.p LIKE '_'",
    "params.p IS NULL",
    "params.p IS NOT NULL AND tags.t IS NULL",
    "tags.t = 'x'",
    "tags.t != 'x'",
    "tags.mlflow.runName ILIKE 'RUN-1%'",
    "tags.`mlflow.runName` LIKE 'run-2%'",
    "attributes.status = 'FINISHED'",
    "attribute.status != 'FAILED'",
    "run_name LIKE 'run-1%'",
    "`Run name` ILIKE '%-3%'",
    "attributes.run_id IN ('r01', 'r07', 'r33')",
    "run_id NOT IN ('r01', 'r02')",
    "attr.user_id = 'bob'",
    "start_time >= 3",
    "created < 2",
    "end_time < 5",
    "end_time != 4",
    "dataset.name = 'iris'",
    "datasets.name != 'iris'",
    "dataset.digest LIKE 'a%'",
    "dataset.context IN ('train', 'eval')",
    "dataset.context = 'eval' AND dataset.name = 'wine'",
    "metrics.m > 0.1 AND params.p ILIKE '%B%' AND tags.t != 'y' AND status = 'FINISHED'",
]

ORDERS = [
    [],
    ["metrics.m DESC"],
    ["metrics.m"],
    ["metrics.`m 2` DESC", "metrics.m"],
    ["params.p"],
    ["params.p DESC", "metrics.m"],
    ["tags.t DESC"],
    ["tags.`mlflow.runName`"],
    ["end_time"],
    ["end_time DESC", "params.p"],
    ["start_time"],
    ["attributes.start_time DESC"],
    ["run_name DESC"],
    ["status", "metrics.m DESC"],
    ["user_id DESC", "run_id DESC"],
]


def _random_runs(seed: int) -> list[RunRow]:
    rnd = random.Random(seed)
    rows = []
    for i in range(48):
        metrics = {}
        for key in ("m", "m 2"):
            choice = rnd.choice([0.1, 0.5, 0.9, -2.0, math.nan, None])
            if choice is not None:
                metrics[key] = choice
        params = {}
        if (p := rnd.choice(["a", "B", "b_c", "a%b", "ab", "b", None])) is not None:
            params["p"] = p
        tags = {"mlflow.runName": f"run-{i}"}
        if (tag := rnd.choice(["x", "y", "X", None])) is not None:
            tags["t"] = tag
        inputs = rnd.sample(
            [("iris", "abc", "train"), ("wine", "aff", "eval"), ("mnist", "bcd", None), ("iris2", "a00", "Eval")],
            rnd.randrange(3),
        )
        rows.append(
            RunRow(
                f"r{i:02d}",
                start_time=rnd.randrange(6),
                end_time=rnd.choice([None, 3, 4, 5, 6]),
                name=f"run-{i}",
                status=rnd.choice(["FINISHED", "FAILED", "RUNNING"]),
                user_id=rnd.choice(["alice", "bob", "Bob"]),
                metrics=metrics,
                params=params,
                tags=tags,
                inputs=inputs,
            )
        )
    return rows


def _mlflow_run(row: RunRow) -> Any:
    info = entities.RunInfo(
        run_id=row.run_id,
        experiment_id="1",
        user_id=row.user_id,
        status=row.status,
        start_time=row.start_time,
        end_time=row.end_time,
        lifecycle_stage=row.lifecycle_stage,
        artifact_uri=row.artifact_uri,
        run_name=row.name,
    )
    data = entities.RunData(
        metrics=[entities.Metric(k, v, 0, 0) for k, v in row.metrics.items()],
        params=[entities.Param(k, v) for k, v in row.params.items()],
        tags=[entities.RunTag(k, v) for k, v in row.tags.items()],
    )
    dataset_inputs = [
        entities.DatasetInput(
            entities.Dataset(name=name, digest=digest, source_type="local", source="/data"),
            tags=[] if context is None else [entities.InputTag("mlflow.data.context", context)],
        )
        for name, digest, context in row.inputs
    ]
    return entities.Run(info, data, entities.RunInputs(dataset_inputs=dataset_inputs))


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def seeded(request: pytest.FixtureRequest) -> Iterator[tuple[Engine, list[Any]]]:
    """The same random runs in the database and as MLflow entities, once per backend."""
    db: Engine = request.getfixturevalue(f"{'pg' if request.param == 'postgresql' else 'sqlite'}_engine")
    rows = _random_runs(7)
    add_runs(db, *rows)
    yield db, [_mlflow_run(row) for row in rows]
    clear(db)


@pytest.mark.parametrize("filter_string", FILTERS)
def test_filter_and_every_order_match_mlflow(seeded: tuple[Engine, list[Any]], filter_string: str) -> None:
    db, mlflow_runs = seeded
    utils = search_utils.SearchUtils
    matched = utils.filter(mlflow_runs, filter_string)
    for order_by in ORDERS:
        expected = [run.info.run_id for run in utils.sort(matched, order_by)]
        assert expected == search(db, filter_string, order_by), order_by


@pytest.mark.parametrize("filter_string", [*FILTERS, "metrics.a = 1e5", 'tags.a = "q"', "created > 5"])
def test_parse_matches_mlflow(filter_string: str) -> None:
    theirs = [
        (
            _MLFLOW_KINDS[c["type"]],
            _ALIASES.get(c["key"], c["key"]),
            c["comparator"].upper(),
            float(c["value"]) if c["type"] == "metric" else c["value"],
        )
        for c in search_utils.SearchUtils.parse_search_filter(filter_string)
    ]
    ours = [(c.kind, c.key, c.op, c.value) for c in parse_filter(filter_string, RUN_SEARCH)]
    assert theirs == ours


# ---------------------------------------------------------------------------------------------------------
# Acceptance: we reject what MLflow's SQL store rejects and accept what it accepts, with the documented
# exceptions below. The oracle is MLflow's parser plus the validation its SQL store runs before querying.

RUN_FILTERS_TO_JUDGE = [
    "metrics.a > 1",
    "metrics.a > 1 AND",
    "AND metrics.a > 1",
    "metrics.a > 1 metrics.b > 2",
    "and and",
    "metrics.a > 1 OR metrics.b > 2",
    "(metrics.a > 1)",
    "metrics.a == 1",
    "metrics.a <> 1",
    "metrics.a LIKE 1",
    "metrics.a IN (1)",
    "metrics.a IS NULL",
    "metrics.a > 'x'",
    "metrics.a > 1E5",
    "metrics.a > 1e+5",
    "metrics.a > +1",
    "metrics.a > -.5",
    "metrics.a > 1.",
    "metrics.a > .5",
    "metrics.a > 1.5.5",
    "metrics.a > 0x10",
    "metrics.a-b > 1",
    "metrics.a/b > 1",
    "metrics.a:b > 1",
    "metrics.`a-b` > 1",
    'metrics."a b" > 1',
    "`metrics`.a > 1",
    "Metrics.a > 1",
    "metrics. a > 1",
    "metrics.`a`.b > 1",
    "params.a = 'x'",
    'params.a = "x"',
    "params.a = x",
    "params.a = 1",
    "params.a != 'x'",
    "params.a LIKE 'x'",
    "params.a like 'x'",
    "params.a ILIKE 'x'",
    "params.a IN ('x')",
    "params.a NOT IN ('x')",
    "params.a IS NULL",
    "params.a is not null",
    "params.a > 'x'",
    "params.a NOT LIKE 'x'",
    "tags.a = 'x'",
    "tags.mlflow.runName = 'x'",
    "tags.a IN ('x')",
    "tags.a IS NULL",
    "tags.a IS NOT NULL",
    "tags.a = ''",
    "tags.a = 'it''s'",
    "run_id = 'x'",
    "run_id IN ('x', 'y')",
    "run_id IN ('x',)",
    "run_id IN ()",
    "run_id IN ('x', 1)",
    "run_id NOT IN ('x')",
    "run_id > 'x'",
    "run_id LIKE 'x%'",
    "run_name = 'x'",
    "run_name IN ('x')",
    "`Run name` = 'x'",
    "`run name` = 'x'",
    "\"Run Name\" = 'x'",
    "status = 'x'",
    "status IN ('x')",
    "status IS NULL",
    "status > 'x'",
    "user_id ILIKE 'x'",
    "artifact_uri LIKE 'x%'",
    "lifecycle_stage = 'active'",
    "experiment_id = '1'",
    "start_time > 1",
    "start_time > 1.5",
    "start_time > '1'",
    "start_time LIKE '1'",
    "start_time IN (1)",
    "start_time IS NULL",
    "end_time != 1",
    "created > 1",
    "Created > 1",
    "attributes.start_time > 1",
    "attribute.status = 'x'",
    "attr.status = 'x'",
    "run.status = 'x'",
    "foo.a = 'x'",
    "bogus = 'x'",
    "datasets.name = 'x'",
    "dataset.name IN ('x')",
    "dataset.name NOT IN ('x')",
    "dataset.digest LIKE 'x'",
    "dataset.context ILIKE 'x'",
    "dataset.context != 'x'",
    "dataset.foo = 'x'",
    "dataset.name > 'x'",
    "dataset.name IS NULL",
    "dataset.name = 1",
    "metrics.a > 1 AND params.b = 'x' AND tags.c != 'y'",
]

EXPERIMENT_FILTERS_TO_JUDGE = [
    "name = 'x'",
    "name LIKE 'x'",
    "name ILIKE 'x'",
    "name != 'x'",
    "name IN ('x')",
    "name > 'x'",
    "attribute.name = 'x'",
    "attributes.name = 'x'",
    "attr.name = 'x'",
    "experiment_id = '1'",
    "experiment_id = 1",
    "experiment_id = 'abc'",
    "experiment_id IN ('1', '2')",
    "experiment_id NOT IN ('1')",
    "experiment_id > '1'",
    "experiment_id LIKE '1'",
    "creation_time > 5",
    "creation_time > 5.5",
    "creation_time = '5'",
    "last_update_time <= 5",
    "tags.a = 'x'",
    "tag.a = 'x'",
    "tags.a IS NULL",
    "tags.a IS NOT NULL",
    "tags.a IN ('x')",
    "tags.a LIKE 'x'",
    "metrics.a > 1",
    "params.a = 'x'",
    "start_time > 1",
    "lifecycle_stage = 'active'",
]

RUN_ORDERS_TO_JUDGE = [
    "metrics.a",
    "metrics.a DESC",
    "metrics.a desc",
    "metrics.a ASC",
    "params.a",
    "tags.a",
    "tags.mlflow.runName",
    "start_time",
    "attributes.start_time DESC",
    "created",
    "Created DESC",
    "run_name",
    "`Run name`",
    "run_id",
    "status",
    "user_id",
    "artifact_uri",
    "end_time",
    "lifecycle_stage",
    "dataset.name",
    "foo",
    "metrics.a DOWN",
    "metrics.a DESC extra",
    "metrics.`a b` DESC",
    'metrics."a b"',
    "metrics.a | metrics.a DESC",
    "start_time | created",
]

EXPERIMENT_ORDERS_TO_JUDGE = [
    "name",
    "name DESC",
    "experiment_id",
    "creation_time DESC",
    "last_update_time",
    "attribute.name",
    "attributes.name",
    "tags.a",
    "foo",
    "name | name DESC",
]

# Deliberate differences: True means only Shipyard accepts it, False only MLflow.
RUN_FILTER_DIFFERENCES = {
    "metrics.a-b > 1": True,  # bare keys may hold - / : (MLflow wants them quoted)
    "metrics.a/b > 1": True,
    "metrics.a:b > 1": True,
    "lifecycle_stage = 'active'": True,  # Shipyard extension: runs' lifecycle_stage attribute
    "metrics. a > 1": False,  # MLflow's tokenizer reads the key ' a'; Shipyard asks for quotes
    "metrics.`a`.b > 1": False,  # MLflow reads the key '`a`.b'
}
RUN_ORDER_DIFFERENCES = {"lifecycle_stage": True}
EXPERIMENT_ORDER_DIFFERENCES = {"name | name DESC": False}  # a column named twice: MLflow ignores the second
EXPERIMENT_FILTER_DIFFERENCES: dict[str, bool] = {}
# MLflow 3.18 added the ``attributes.`` prefix to experiment search; Shipyard takes it whichever client is installed.
if _MLFLOW_VERSION < (3, 18):
    EXPERIMENT_FILTER_DIFFERENCES["attributes.name = 'x'"] = True
    EXPERIMENT_ORDER_DIFFERENCES["attributes.name"] = True


def _accepts(call: Any, *args: Any) -> bool:
    try:
        call(*args)
    except (InvalidParameter, mlflow_exceptions.MlflowException):
        return False
    return True


def _mlflow_accepts_run_filter(text: str) -> None:
    parsed = search_utils.SearchUtils.parse_search_filter(text)
    mlflow_store._get_sqlalchemy_filter_clauses(parsed, Session(), "sqlite")


def _mlflow_accepts_experiment_filter(text: str) -> None:
    parsed = search_utils.SearchExperimentsUtils.parse_search_filter(text)
    mlflow_store._get_search_experiments_filter_clauses(parsed, "sqlite")


def _judge(mlflow_accepts: bool, ours_accepts: bool, case: str, differences: dict[str, bool]) -> None:
    if case in differences:
        assert (differences[case], not differences[case]) == (ours_accepts, mlflow_accepts)
    else:
        assert mlflow_accepts == ours_accepts


@pytest.mark.parametrize("text", RUN_FILTERS_TO_JUDGE)
def test_run_filter_is_accepted_exactly_when_mlflow_accepts_it(text: str) -> None:
    ours = _accepts(parse_filter, text, RUN_SEARCH)
    _judge(_accepts(_mlflow_accepts_run_filter, text), ours, text, RUN_FILTER_DIFFERENCES)


@pytest.mark.parametrize("text", EXPERIMENT_FILTERS_TO_JUDGE)
def test_experiment_filter_is_accepted_exactly_when_mlflow_accepts_it(text: str) -> None:
    ours = _accepts(parse_filter, text, EXPERIMENT_SEARCH)
    _judge(_accepts(_mlflow_accepts_experiment_filter, text), ours, text, EXPERIMENT_FILTER_DIFFERENCES)


@pytest.mark.parametrize("items", RUN_ORDERS_TO_JUDGE)
def test_run_order_by_is_accepted_exactly_when_mlflow_accepts_it(items: str) -> None:
    order_by = items.split(" | ")
    mlflow_accepts = _accepts(mlflow_store._get_orderby_clauses, order_by, Session())
    _judge(mlflow_accepts, _accepts(parse_order_by, order_by, RUN_SEARCH), items, RUN_ORDER_DIFFERENCES)


@pytest.mark.parametrize("items", EXPERIMENT_ORDERS_TO_JUDGE)
def test_experiment_order_by_is_accepted_exactly_when_mlflow_accepts_it(items: str) -> None:
    order_by = items.split(" | ")
    mlflow_accepts = _accepts(mlflow_store._get_search_experiments_order_by_clauses, order_by)
    ours = _accepts(parse_order_by, order_by, EXPERIMENT_SEARCH)
    _judge(mlflow_accepts, ours, items, EXPERIMENT_ORDER_DIFFERENCES)
