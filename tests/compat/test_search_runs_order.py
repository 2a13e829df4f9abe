"""search_runs ordering, paging, view types, DataFrame results and multi-experiment search.

The four runs come from the ``search_runs_ids`` fixture in conftest.py (alpha, beta, gamma, delta).
"""

from __future__ import annotations

from collections.abc import Callable

import mlflow
from mlflow import MlflowClient
from mlflow.entities import ViewType


def _ordered(client: MlflowClient, experiment_id: str, order_by: list[str]) -> list[str]:
    return [run.info.run_name for run in client.search_runs([experiment_id], order_by=order_by)]


def test_search_runs_default_order_is_start_time_descending(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    found = client.search_runs([experiment_id])

    assert ["delta", "gamma", "beta", "alpha"] == [run.info.run_name for run in found]


def test_search_runs_orders_by_metric_descending(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    assert ["gamma", "alpha", "delta", "beta"] == _ordered(client, experiment_id, ["metrics.score DESC"])


def test_search_runs_orders_by_metric_ascending(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    assert ["beta", "delta", "alpha", "gamma"] == _ordered(client, experiment_id, ["metrics.score ASC"])


def test_search_runs_orders_by_param(client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]) -> None:
    assert ["beta", "delta", "alpha", "gamma"] == _ordered(client, experiment_id, ["params.seed ASC"])


def test_search_runs_orders_by_start_time_attribute(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    assert ["alpha", "beta", "gamma", "delta"] == _ordered(client, experiment_id, ["attributes.start_time ASC"])


def test_search_runs_orders_by_several_keys(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    # beta and delta tie on acc; the second key (loss DESC) puts beta (0.5) before delta (0.3).
    assert ["gamma", "beta", "delta", "alpha"] == _ordered(
        client, experiment_id, ["metrics.acc DESC", "metrics.loss DESC"]
    )


def test_search_runs_paginates_with_page_token(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    query = {"experiment_ids": [experiment_id], "order_by": ["attributes.start_time ASC"], "max_results": 3}

    first = client.search_runs(**query)
    second = client.search_runs(**query, page_token=first.token)

    assert (["alpha", "beta", "gamma"], ["delta"], None) == (
        [run.info.run_name for run in first],
        [run.info.run_name for run in second],
        second.token,
    )


def test_search_runs_hides_deleted_runs_by_default(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    client.delete_run(search_runs_ids["alpha"])

    assert ["delta", "gamma", "beta"] == [run.info.run_name for run in client.search_runs([experiment_id])]


def test_search_runs_deleted_only_returns_deleted_runs(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    client.delete_run(search_runs_ids["alpha"])

    found = client.search_runs([experiment_id], run_view_type=ViewType.DELETED_ONLY)

    assert [("alpha", "deleted")] == [(run.info.run_name, run.info.lifecycle_stage) for run in found]


def test_search_runs_all_returns_active_and_deleted_runs(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    client.delete_run(search_runs_ids["alpha"])

    found = client.search_runs([experiment_id], run_view_type=ViewType.ALL)

    assert ["delta", "gamma", "beta", "alpha"] == [run.info.run_name for run in found]


def test_search_runs_returns_run_data(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    [run] = client.search_runs([experiment_id], filter_string="attributes.run_name = 'gamma'")

    assert (
        {"acc": 0.9, "loss": 0.5, "score": 4.0},
        {"model": "tree", "depth": "8", "seed": "s4"},
        "red",
        ("FAILED", 3_000, 3_500),
    ) == (
        run.data.metrics,
        run.data.params,
        run.data.tags["team"],
        (run.info.status, run.info.start_time, run.info.end_time),
    )


def test_fluent_search_runs_returns_dataframe_with_prefixed_columns(
    experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    frame = mlflow.search_runs([experiment_id], order_by=["attributes.start_time ASC"])

    assert (
        ["alpha", "beta", "gamma", "delta"],
        [0.70, 0.80, 0.90, 0.80],
        ["linear", "Tree", "tree", "forest"],
        ["red", "blue", "red", "green"],
    ) == (
        list(frame["tags.mlflow.runName"]),
        list(frame["metrics.acc"]),
        list(frame["params.model"]),
        list(frame["tags.team"]),
    )


def test_fluent_search_runs_dataframe_has_run_id_and_status_columns(
    experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    frame = mlflow.search_runs([experiment_id], order_by=["attributes.start_time ASC"])

    assert (
        [search_runs_ids[name] for name in ("alpha", "beta", "gamma", "delta")],
        ["FINISHED", "FINISHED", "FAILED", "RUNNING"],
    ) == (list(frame["run_id"]), list(frame["status"]))


def test_fluent_search_runs_on_empty_experiment_returns_empty_dataframe(experiment_id: str) -> None:
    frame = mlflow.search_runs([experiment_id])

    assert (0, ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]) == (
        len(frame),
        list(frame.columns),
    )


def test_search_runs_across_two_experiments_returns_runs_of_both(
    client: MlflowClient, unique_name: Callable[[str], str]
) -> None:
    first, second = client.create_experiment(unique_name("a")), client.create_experiment(unique_name("b"))
    in_first = client.create_run(first, start_time=1_000).info.run_id
    in_second = client.create_run(second, start_time=2_000).info.run_id

    found = client.search_runs([first, second])

    assert [(in_second, second), (in_first, first)] == [(run.info.run_id, run.info.experiment_id) for run in found]


def test_search_runs_on_one_experiment_excludes_the_other(
    client: MlflowClient, unique_name: Callable[[str], str]
) -> None:
    first, second = client.create_experiment(unique_name("a")), client.create_experiment(unique_name("b"))
    in_first = client.create_run(first).info.run_id
    client.create_run(second)

    assert [in_first] == [run.info.run_id for run in client.search_runs([first])]
