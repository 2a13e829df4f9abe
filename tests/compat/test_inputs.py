"""Dataset inputs: mlflow.log_input of a pandas dataset and what get_run reports back."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.data.pandas_dataset import PandasDataset
from mlflow.entities import DatasetInput

# mlflow's digest code calls a pandas API that pandas 3 deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Starting with pandas version 4.0")


@pytest.fixture
def dataset() -> PandasDataset:
    # Float columns only: integer columns make mlflow warn about missing-value handling.
    frame = pd.DataFrame({"petal_length": [1.4, 4.7, 5.9], "petal_width": [0.2, 1.4, 2.1], "label": [0.0, 1.0, 2.0]})
    return mlflow.data.from_pandas(frame, name="iris-sample", targets="label")


def _logged_input(client: MlflowClient, dataset: PandasDataset, context: str = "training") -> DatasetInput:
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context=context)
    [dataset_input] = client.get_run(run.info.run_id).inputs.dataset_inputs
    return dataset_input


def test_log_input_records_dataset_name(client: MlflowClient, experiment_id: str, dataset: PandasDataset) -> None:
    assert "iris-sample" == _logged_input(client, dataset).dataset.name


def test_log_input_records_dataset_digest(client: MlflowClient, experiment_id: str, dataset: PandasDataset) -> None:
    assert dataset.digest == _logged_input(client, dataset).dataset.digest


def test_log_input_records_column_schema(client: MlflowClient, experiment_id: str, dataset: PandasDataset) -> None:
    schema = json.loads(_logged_input(client, dataset).dataset.schema)

    assert [("petal_length", "double"), ("petal_width", "double"), ("label", "double")] == [
        (column["name"], column["type"]) for column in schema["mlflow_colspec"]
    ]


def test_log_input_records_source_and_source_type(
    client: MlflowClient, experiment_id: str, dataset: PandasDataset
) -> None:
    logged = _logged_input(client, dataset).dataset

    assert (dataset.source._get_source_type(), json.loads(dataset.source.to_json())) == (
        logged.source_type,
        json.loads(logged.source),
    )


def test_log_input_records_profile(client: MlflowClient, experiment_id: str, dataset: PandasDataset) -> None:
    assert {"num_rows": 3, "num_elements": 9} == json.loads(_logged_input(client, dataset).dataset.profile)


def test_log_input_records_context_tag(client: MlflowClient, experiment_id: str, dataset: PandasDataset) -> None:
    tags = _logged_input(client, dataset, context="validation").tags

    assert [("mlflow.data.context", "validation")] == [(tag.key, tag.value) for tag in tags]


def test_log_input_twice_keeps_one_dataset_input(
    client: MlflowClient, experiment_id: str, dataset: PandasDataset
) -> None:
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")
        mlflow.log_input(dataset, context="training")

    assert 1 == len(client.get_run(run.info.run_id).inputs.dataset_inputs)


def test_run_without_inputs_has_empty_dataset_inputs(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)

    assert [] == client.get_run(run.info.run_id).inputs.dataset_inputs


def test_search_runs_filters_by_dataset_name(client: MlflowClient, experiment_id: str, dataset: PandasDataset) -> None:
    with mlflow.start_run() as with_input:
        mlflow.log_input(dataset, context="training")
    with mlflow.start_run():
        pass

    found = client.search_runs([experiment_id], filter_string="dataset.name = 'iris-sample'")

    assert [with_input.info.run_id] == [run.info.run_id for run in found]
