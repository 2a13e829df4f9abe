"""Parity with MLflow itself: its parser and its in-memory filter and sort are the oracle for ours."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from shipyard.tracking.search import RUN_SEARCH, Kind, parse_filter
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
