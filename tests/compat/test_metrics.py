"""Metrics: values, steps, timestamps, special floats, latest value, history paging and batches."""

from __future__ import annotations

import math

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from tests.compat.conftest import compat_target

# The client asks for metric history 25,000 points at a time, so this needs a second page.
LONG_HISTORY_POINTS = 30_000
# The client splits log_batch into requests of at most 1,000 metrics.
WIDE_BATCH_METRICS = 3_000
# MLflow's SQL store cannot hold infinities and clamps them to the largest finite double,
# so that is what the client reads back for +inf / -inf; NaN survives as NaN.
# MLflow's SQL store clamps infinities to the largest double; Shipyard stores real infinities (a deliberate
# difference: the value read back is the value logged).
STORED_POS_INF = math.inf if compat_target() == "shipyard" else 1.7976931348623157e308
STORED_NEG_INF = -STORED_POS_INF


def _history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


def test_log_metric_value_is_readable_from_run(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        mlflow.log_metric("accuracy", 0.93)

    assert {"accuracy": 0.93} == client.get_run(run.info.run_id).data.metrics


def test_log_metric_int_value_reads_back_as_float(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        mlflow.log_metric("count", 7)

    value = client.get_run(run.info.run_id).data.metrics["count"]
    assert (7.0, float) == (value, type(value))


def test_log_metric_without_step_records_step_zero(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 1.5)

    assert [(0, 1.5)] == _history(client, run.info.run_id, "loss")


def test_log_metrics_with_step_records_each_step(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        for step in range(3):
            mlflow.log_metrics({"loss": 1.0 / (step + 1), "acc": step / 10}, step=step)

    run_id = run.info.run_id
    assert ([(0, 1.0), (1, 0.5), (2, 1 / 3)], [(0, 0.0), (1, 0.1), (2, 0.2)]) == (
        _history(client, run_id, "loss"),
        _history(client, run_id, "acc"),
    )


def test_log_metric_keeps_explicit_timestamp(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)

    client.log_metric(run.info.run_id, "loss", 0.25, timestamp=1_700_000_000_456, step=4)

    [metric] = client.get_metric_history(run.info.run_id, "loss")
    assert ("loss", 0.25, 1_700_000_000_456, 4) == (metric.key, metric.value, metric.timestamp, metric.step)


def test_log_metric_nan_reads_back_as_nan(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)

    client.log_metric(run.info.run_id, "loss", math.nan)

    assert math.isnan(client.get_run(run.info.run_id).data.metrics["loss"])


def test_log_metric_positive_infinity_is_stored(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)

    client.log_metric(run.info.run_id, "ratio", math.inf)

    assert STORED_POS_INF == client.get_run(run.info.run_id).data.metrics["ratio"]


def test_log_metric_negative_infinity_is_stored(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)

    client.log_metric(run.info.run_id, "log_prob", -math.inf)

    assert STORED_NEG_INF == client.get_run(run.info.run_id).data.metrics["log_prob"]


def test_metric_history_keeps_nan_and_clamped_infinities(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    for step, value in enumerate([math.nan, math.inf, -math.inf, 1.0]):
        client.log_metric(run.info.run_id, "odd", value, step=step)

    values = [m.value for m in client.get_metric_history(run.info.run_id, "odd")]

    assert (True, [STORED_POS_INF, STORED_NEG_INF, 1.0]) == (math.isnan(values[0]), values[1:])


def test_latest_metric_is_the_value_at_max_step(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    client.log_metric(run.info.run_id, "loss", 0.1, step=10, timestamp=1_000)
    client.log_metric(run.info.run_id, "loss", 0.9, step=2, timestamp=2_000)

    assert 0.1 == client.get_run(run.info.run_id).data.metrics["loss"]


def test_metric_history_is_returned_in_step_order(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    for step in (3, 0, 2, 1):
        client.log_metric(run.info.run_id, "loss", float(step * 10), step=step, timestamp=1_000 + step)

    assert [(0, 0.0), (1, 10.0), (2, 20.0), (3, 30.0)] == _history(client, run.info.run_id, "loss")


def test_metric_history_of_unlogged_metric_is_empty(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    client.log_metric(run.info.run_id, "loss", 1.0)

    assert [] == client.get_metric_history(run.info.run_id, "never_logged")


def test_metric_history_of_30000_points_is_complete(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    points = [Metric("wave", float(step % 97), 1_000_000 + step, step) for step in range(LONG_HISTORY_POINTS)]
    client.log_batch(run.info.run_id, metrics=points)

    history = _history(client, run.info.run_id, "wave")

    assert [(step, float(step % 97)) for step in range(LONG_HISTORY_POINTS)] == history


def test_log_batch_stores_metrics_params_and_tags(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)

    client.log_batch(
        run.info.run_id,
        metrics=[Metric("loss", 0.5, 1_000, 0), Metric("loss", 0.25, 2_000, 1), Metric("f1", 0.8, 1_000, 0)],
        params=[Param("model", "gbm"), Param("depth", "6")],
        tags=[RunTag("owner", "ada")],
    )

    data = client.get_run(run.info.run_id).data
    assert ({"loss": 0.25, "f1": 0.8}, {"model": "gbm", "depth": "6"}, "ada") == (
        data.metrics,
        data.params,
        data.tags["owner"],
    )


def test_log_batch_of_3000_metrics_stores_every_key(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    metrics = [Metric(f"m{index:04d}", float(index), 1_000, 0) for index in range(WIDE_BATCH_METRICS)]

    client.log_batch(run.info.run_id, metrics=metrics)

    assert {f"m{index:04d}": float(index) for index in range(WIDE_BATCH_METRICS)} == (
        client.get_run(run.info.run_id).data.metrics
    )


def test_log_batch_metric_history_keeps_timestamps(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    client.log_batch(run.info.run_id, metrics=[Metric("lr", 0.1, 5_000, 0), Metric("lr", 0.01, 6_000, 1)])

    history = client.get_metric_history(run.info.run_id, "lr")

    assert [(0, 5_000, 0.1), (1, 6_000, 0.01)] == [(m.step, m.timestamp, m.value) for m in history]
