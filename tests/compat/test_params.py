"""Params: logging, idempotent re-logging, conflicts and long values, through the mlflow client."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient

LONG_PARAM_VALUE_CHARS = 6000


def test_log_param_stores_value_as_string(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        mlflow.log_param("learning_rate", 0.01)

    assert {"learning_rate": "0.01"} == client.get_run(run.info.run_id).data.params


def test_log_params_stores_every_param(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        mlflow.log_params({"epochs": 10, "optimizer": "adam", "dropout": 0.5, "layers": [64, 32]})

    expected = {"epochs": "10", "optimizer": "adam", "dropout": "0.5", "layers": "[64, 32]"}
    assert expected == client.get_run(run.info.run_id).data.params


def test_log_param_with_same_value_twice_is_accepted(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    client.log_param(run.info.run_id, "seed", 42)

    client.log_param(run.info.run_id, "seed", 42)

    assert {"seed": "42"} == client.get_run(run.info.run_id).data.params


def test_log_param_with_conflicting_value_raises_invalid_parameter_value(
    client: MlflowClient, experiment_id: str
) -> None:
    run = client.create_run(experiment_id)
    client.log_param(run.info.run_id, "seed", 42)

    with pytest.raises(mlflow.MlflowException) as excinfo:
        client.log_param(run.info.run_id, "seed", 43)

    assert "INVALID_PARAMETER_VALUE" == excinfo.value.error_code


def test_log_param_with_conflicting_value_keeps_the_original(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    client.log_param(run.info.run_id, "seed", 42)

    with pytest.raises(mlflow.MlflowException):
        client.log_param(run.info.run_id, "seed", 43)

    assert {"seed": "42"} == client.get_run(run.info.run_id).data.params


def test_log_batch_with_conflicting_param_raises_invalid_parameter_value(
    client: MlflowClient, experiment_id: str
) -> None:
    run = client.create_run(experiment_id)
    client.log_param(run.info.run_id, "seed", 42)

    with pytest.raises(mlflow.MlflowException) as excinfo:
        client.log_batch(run.info.run_id, params=[mlflow.entities.Param("seed", "7")])

    assert "INVALID_PARAMETER_VALUE" == excinfo.value.error_code


def test_log_param_keeps_a_6000_char_value(client: MlflowClient, experiment_id: str) -> None:
    value = ("abcdefghij" * (LONG_PARAM_VALUE_CHARS // 10 + 1))[:LONG_PARAM_VALUE_CHARS]
    run = client.create_run(experiment_id)

    client.log_param(run.info.run_id, "prompt", value)

    assert value == client.get_run(run.info.run_id).data.params["prompt"]


def test_log_param_value_over_6000_chars_is_truncated_to_6000(client: MlflowClient, experiment_id: str) -> None:
    # MLflow truncates over-long param values (MLFLOW_TRUNCATE_LONG_VALUES) instead of rejecting them.
    run = client.create_run(experiment_id)

    client.log_param(run.info.run_id, "prompt", "x" * 6500)

    assert "x" * LONG_PARAM_VALUE_CHARS == client.get_run(run.info.run_id).data.params["prompt"]


def test_log_param_keeps_unicode_value(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)

    client.log_param(run.info.run_id, "label", "température ☃ 東京")

    assert "température ☃ 東京" == client.get_run(run.info.run_id).data.params["label"]


def test_log_param_keeps_empty_string_value(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)

    client.log_param(run.info.run_id, "suffix", "")

    assert {"suffix": ""} == client.get_run(run.info.run_id).data.params


def test_log_param_key_with_slashes_dots_and_spaces_round_trips(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)

    client.log_param(run.info.run_id, "model/encoder.layer 1:size", "128")

    assert {"model/encoder.layer 1:size": "128"} == client.get_run(run.info.run_id).data.params
