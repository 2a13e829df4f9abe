"""Errors: the error_code the mlflow client sees for missing entities, bad input and broken limits.

With ``MLFLOW_HTTP_REQUEST_MAX_RETRIES=0`` a 5xx answer surfaces as INTERNAL_ERROR, so every
assertion on a 4xx code below also checks that the server did not answer a user error with a 5xx.
"""

from __future__ import annotations

from collections.abc import Callable

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

MISSING_RUN_ID = "0" * 32
MISSING_EXPERIMENT_ID = "987654321"
OVER_LONG_KEY = "k" * 300  # MLflow's key limit is 250 characters


def _error_code(action: Callable[[], object]) -> str:
    with pytest.raises(mlflow.MlflowException) as excinfo:
        action()
    return str(excinfo.value.error_code)


# --- missing entities ---------------------------------------------------------------------------


def test_get_run_of_missing_id_raises_resource_does_not_exist(client: MlflowClient) -> None:
    assert "RESOURCE_DOES_NOT_EXIST" == _error_code(lambda: client.get_run(MISSING_RUN_ID))


def test_get_experiment_of_missing_id_raises_resource_does_not_exist(client: MlflowClient) -> None:
    assert "RESOURCE_DOES_NOT_EXIST" == _error_code(lambda: client.get_experiment(MISSING_EXPERIMENT_ID))


def test_get_experiment_of_non_numeric_id_raises_invalid_parameter_value(client: MlflowClient) -> None:
    assert "INVALID_PARAMETER_VALUE" == _error_code(lambda: client.get_experiment("not-a-number"))


def test_delete_missing_run_raises_resource_does_not_exist(client: MlflowClient) -> None:
    assert "RESOURCE_DOES_NOT_EXIST" == _error_code(lambda: client.delete_run(MISSING_RUN_ID))


def test_log_param_to_missing_run_raises_resource_does_not_exist(client: MlflowClient) -> None:
    assert "RESOURCE_DOES_NOT_EXIST" == _error_code(lambda: client.log_param(MISSING_RUN_ID, "a", "b"))


def test_log_metric_to_missing_run_raises_resource_does_not_exist(client: MlflowClient) -> None:
    assert "RESOURCE_DOES_NOT_EXIST" == _error_code(lambda: client.log_metric(MISSING_RUN_ID, "a", 1.0))


def test_set_terminated_of_missing_run_raises_resource_does_not_exist(client: MlflowClient) -> None:
    assert "RESOURCE_DOES_NOT_EXIST" == _error_code(lambda: client.set_terminated(MISSING_RUN_ID))


def test_delete_missing_run_tag_raises_resource_does_not_exist(client: MlflowClient, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id

    assert "RESOURCE_DOES_NOT_EXIST" == _error_code(lambda: client.delete_tag(run_id, "never-set"))


def test_delete_missing_experiment_tag_raises_resource_does_not_exist(client: MlflowClient, experiment_id: str) -> None:
    assert "RESOURCE_DOES_NOT_EXIST" == _error_code(lambda: client.delete_experiment_tag(experiment_id, "never-set"))


def test_metric_history_of_missing_run_is_empty(client: MlflowClient) -> None:
    # MLflow answers an empty history here rather than an error.
    assert [] == client.get_metric_history(MISSING_RUN_ID, "loss")


def test_search_runs_of_missing_experiment_is_empty(client: MlflowClient) -> None:
    # MLflow answers an empty result here rather than an error.
    assert [] == list(client.search_runs([MISSING_EXPERIMENT_ID]))


# --- bad search input ---------------------------------------------------------------------------


def test_search_runs_with_bad_comparator_raises_invalid_parameter_value(
    client: MlflowClient, experiment_id: str
) -> None:
    assert "INVALID_PARAMETER_VALUE" == _error_code(lambda: client.search_runs([experiment_id], "metrics.acc >> 1"))


def test_search_runs_with_unknown_attribute_raises_invalid_parameter_value(
    client: MlflowClient, experiment_id: str
) -> None:
    assert "INVALID_PARAMETER_VALUE" == _error_code(
        lambda: client.search_runs([experiment_id], "attributes.colour = 'red'")
    )


def test_search_runs_with_incomplete_clause_raises_invalid_parameter_value(
    client: MlflowClient, experiment_id: str
) -> None:
    assert "INVALID_PARAMETER_VALUE" == _error_code(lambda: client.search_runs([experiment_id], "params.model LIKE"))


def test_fluent_search_runs_with_bad_filter_raises_invalid_parameter_value(experiment_id: str) -> None:
    assert "INVALID_PARAMETER_VALUE" == _error_code(lambda: mlflow.search_runs([experiment_id], "metrics.acc >> 1"))


def test_search_runs_with_bad_order_by_raises_invalid_parameter_value(client: MlflowClient, experiment_id: str) -> None:
    assert "INVALID_PARAMETER_VALUE" == _error_code(
        lambda: client.search_runs([experiment_id], order_by=["metrics.acc SIDEWAYS"])
    )


def test_search_runs_with_too_large_max_results_raises_invalid_parameter_value(
    client: MlflowClient, experiment_id: str
) -> None:
    assert "INVALID_PARAMETER_VALUE" == _error_code(lambda: client.search_runs([experiment_id], max_results=100_000))


def test_search_experiments_with_bad_filter_raises_invalid_parameter_value(client: MlflowClient) -> None:
    assert "INVALID_PARAMETER_VALUE" == _error_code(lambda: client.search_experiments(filter_string="colour >> 1"))


# --- bad names, keys and limits -----------------------------------------------------------------


def test_log_param_with_300_char_key_raises_invalid_parameter_value(client: MlflowClient, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id

    assert "INVALID_PARAMETER_VALUE" == _error_code(lambda: client.log_param(run_id, OVER_LONG_KEY, "v"))


def test_log_param_with_250_char_key_is_accepted(client: MlflowClient, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id

    client.log_param(run_id, "k" * 250, "v")

    assert {"k" * 250: "v"} == client.get_run(run_id).data.params


def test_log_metric_with_300_char_key_raises_invalid_parameter_value(client: MlflowClient, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id

    assert "INVALID_PARAMETER_VALUE" == _error_code(lambda: client.log_metric(run_id, OVER_LONG_KEY, 1.0))


def test_set_tag_with_300_char_key_raises_invalid_parameter_value(client: MlflowClient, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id

    assert "INVALID_PARAMETER_VALUE" == _error_code(lambda: client.set_tag(run_id, OVER_LONG_KEY, "v"))


def test_log_metric_with_invalid_character_raises_invalid_parameter_value(
    client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id

    assert "INVALID_PARAMETER_VALUE" == _error_code(lambda: client.log_metric(run_id, "bad!name", 1.0))


def test_log_metric_with_path_escaping_name_raises_invalid_parameter_value(
    client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id

    assert "INVALID_PARAMETER_VALUE" == _error_code(lambda: client.log_metric(run_id, "../escape", 1.0))


def test_log_param_with_invalid_character_raises_invalid_parameter_value(
    client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id

    assert "INVALID_PARAMETER_VALUE" == _error_code(lambda: client.log_param(run_id, "bad!name", "v"))


def test_log_batch_with_invalid_metric_name_raises_invalid_parameter_value(
    client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id

    assert "INVALID_PARAMETER_VALUE" == _error_code(
        lambda: client.log_batch(run_id, metrics=[Metric("bad!name", 1.0, 1, 0)])
    )


def test_log_batch_with_duplicate_param_keys_raises_invalid_parameter_value(
    client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    params = [Param("seed", "1"), Param("seed", "2")]

    assert "INVALID_PARAMETER_VALUE" == _error_code(lambda: client.log_batch(run_id, params=params))


def test_create_experiment_with_501_char_name_raises_invalid_parameter_value(client: MlflowClient) -> None:
    assert "INVALID_PARAMETER_VALUE" == _error_code(lambda: client.create_experiment("x" * 501))


def test_create_experiment_with_empty_name_raises_invalid_parameter_value(client: MlflowClient) -> None:
    assert "INVALID_PARAMETER_VALUE" == _error_code(lambda: client.create_experiment(""))


# --- wrong lifecycle state ----------------------------------------------------------------------


def test_log_metric_to_deleted_run_raises_invalid_parameter_value(client: MlflowClient, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    client.delete_run(run_id)

    assert "INVALID_PARAMETER_VALUE" == _error_code(lambda: client.log_metric(run_id, "loss", 1.0))


def test_create_run_in_deleted_experiment_raises_invalid_parameter_value(
    client: MlflowClient, experiment_id: str
) -> None:
    client.delete_experiment(experiment_id)

    assert "INVALID_PARAMETER_VALUE" == _error_code(lambda: client.create_run(experiment_id))


def test_set_experiment_to_deleted_experiment_raises_invalid_parameter_value(
    client: MlflowClient, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("exp")
    client.delete_experiment(client.create_experiment(name))

    assert "INVALID_PARAMETER_VALUE" == _error_code(lambda: mlflow.set_experiment(name))
