"""search_runs filter strings: metrics, params, tags and attributes, through the mlflow client.

The four runs come from the ``search_runs_ids`` fixture in conftest.py (alpha, beta, gamma, delta).
"""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Run


def _names(runs: list[Run]) -> list[str]:
    return sorted(run.info.run_name for run in runs)


def _search(client: MlflowClient, experiment_id: str, filter_string: str) -> list[str]:
    return _names(client.search_runs([experiment_id], filter_string=filter_string))


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("metrics.acc < 0.8", ["alpha"]),
        ("metrics.acc > 0.8", ["gamma"]),
        ("metrics.acc = 0.8", ["beta", "delta"]),
        ("metrics.acc != 0.8", ["alpha", "gamma"]),
        ("metrics.acc <= 0.8", ["alpha", "beta", "delta"]),
        ("metrics.acc >= 0.8", ["beta", "delta", "gamma"]),
    ],
    ids=["lt", "gt", "eq", "ne", "le", "ge"],
)
def test_search_runs_filters_on_metric_comparison(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str], filter_string: str, expected: list[str]
) -> None:
    assert expected == _search(client, experiment_id, filter_string)


def test_search_runs_filters_on_param_equal(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    assert ["gamma"] == _search(client, experiment_id, "params.model = 'tree'")


def test_search_runs_filters_on_param_not_equal(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    assert ["alpha", "beta", "delta"] == _search(client, experiment_id, "params.model != 'tree'")


def test_search_runs_param_like_is_case_sensitive(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    assert ["gamma"] == _search(client, experiment_id, "params.model LIKE 't%'")


def test_search_runs_param_ilike_is_case_insensitive(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    assert ["beta", "gamma"] == _search(client, experiment_id, "params.model ILIKE 't%'")


def test_search_runs_param_in_list_raises_invalid_parameter_value(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    # MLflow 3.17 accepts IN / NOT IN only for attributes.run_id (and dataset fields), not for params.
    with pytest.raises(mlflow.MlflowException) as excinfo:
        client.search_runs([experiment_id], filter_string="params.model IN ('linear', 'forest')")

    assert "INVALID_PARAMETER_VALUE" == excinfo.value.error_code


def test_search_runs_filters_on_tag_equal(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    assert ["alpha", "gamma"] == _search(client, experiment_id, "tags.team = 'red'")


def test_search_runs_filters_on_tag_like(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    assert ["alpha", "delta", "gamma"] == _search(client, experiment_id, "tags.team LIKE '%r%'")


def test_search_runs_filters_on_status_attribute(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    assert ["gamma"] == _search(client, experiment_id, "attributes.status = 'FAILED'")


def test_search_runs_filters_on_run_name_attribute(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    assert ["beta"] == _search(client, experiment_id, "attributes.run_name = 'beta'")


def test_search_runs_filters_on_start_time_attribute(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    assert ["delta", "gamma"] == _search(client, experiment_id, "attributes.start_time > 2500")


def test_search_runs_filters_on_run_id_in_list(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    wanted = f"('{search_runs_ids['alpha']}', '{search_runs_ids['gamma']}')"

    assert ["alpha", "gamma"] == _search(client, experiment_id, f"attributes.run_id IN {wanted}")


def test_search_runs_filters_on_run_id_not_in_list(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    unwanted = f"('{search_runs_ids['alpha']}', '{search_runs_ids['gamma']}')"

    assert ["beta", "delta"] == _search(client, experiment_id, f"attributes.run_id NOT IN {unwanted}")


def test_search_runs_combines_clauses_with_and(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    filter_string = (
        "metrics.acc >= 0.8 AND params.depth = '4' AND tags.team = 'blue' AND attributes.status = 'FINISHED'"
    )

    assert ["beta"] == _search(client, experiment_id, filter_string)


def test_search_runs_filter_on_missing_metric_returns_empty(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    assert [] == _search(client, experiment_id, "metrics.never_logged > 0")


def test_search_runs_filter_skips_runs_without_the_metric(client: MlflowClient, experiment_id: str) -> None:
    with_metric = client.create_run(experiment_id, run_name="with").info.run_id
    client.log_metric(with_metric, "rare", 5.0)
    client.create_run(experiment_id, run_name="without")

    assert ["with"] == _search(client, experiment_id, "metrics.rare >= 0")


def test_search_runs_with_no_match_returns_empty_paged_list(
    client: MlflowClient, experiment_id: str, search_runs_ids: dict[str, str]
) -> None:
    found = client.search_runs([experiment_id], filter_string="params.model = 'no-such-model'")

    assert ([], None) == (list(found), found.token)
