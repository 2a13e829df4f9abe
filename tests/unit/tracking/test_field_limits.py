"""Tracking's length and count limits: MLflow's where MLflow has one, each refused with a message naming it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from shipyard.db import open_database
from shipyard.errors import InvalidParameter
from shipyard.tracking.entities import DatasetInput
from shipyard.tracking.service import TrackingService
from shipyard.tracking.store import TrackingStore
from shipyard.tracking.validation import (
    MAX_DATASETS_PER_REQUEST,
    check_dataset_inputs,
    check_length,
    check_run_name,
)

DATASET = DatasetInput("iris", "d1g3st", "local", "/data/iris.csv", "{}", "{}", {"mlflow.data.context": "train"})
DATASET_LIMITS = [
    ("name", 500),
    ("digest", 36),
    ("source_type", 36),
    ("source", 65_535),
    ("schema", 1_048_575),
    ("profile", 16_777_215),
]


def _with(**fields: Any) -> DatasetInput:
    """``DATASET`` with some fields replaced."""
    return replace(DATASET, **fields)


@pytest.fixture
def tracking(tmp_path: Path) -> Iterator[TrackingService]:
    database = open_database(f"sqlite:///{tmp_path / 'store.db'}")
    yield TrackingService(TrackingStore(database))
    database.dispose()


# --- check_length --------------------------------------------------------------------------------------


def test_value_at_the_limit_passes() -> None:
    assert "x" * 10 == check_length("'field'", "x" * 10, 10)


def test_absent_value_passes() -> None:
    assert None is check_length("'field'", None, 10)


def test_value_over_the_limit_is_refused_naming_field_limit_and_length() -> None:
    with pytest.raises(InvalidParameter) as caught:
        check_length("'field'", "x" * 11, 10)

    assert "'field' exceeds the maximum length of 10 characters (got 11)." == caught.value.message


# --- run names ------------------------------------------------------------------------------------------


def test_run_name_of_250_characters_passes() -> None:
    assert "r" * 250 == check_run_name("r" * 250)


def test_run_name_of_251_characters_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="Run name exceeds the maximum length of 250 characters"):
        check_run_name("r" * 251)


# --- dataset inputs -------------------------------------------------------------------------------------


def test_a_thousand_datasets_pass() -> None:
    check_dataset_inputs([DATASET] * MAX_DATASETS_PER_REQUEST)


def test_more_than_a_thousand_datasets_are_refused() -> None:
    with pytest.raises(InvalidParameter, match=re.escape("at most 1000 datasets. Got 1001 datasets")):
        check_dataset_inputs([DATASET] * 1001)


@pytest.mark.parametrize(("field", "limit"), DATASET_LIMITS, ids=[f for f, _ in DATASET_LIMITS])
def test_dataset_field_at_mlflow_limit_passes(field: str, limit: int) -> None:
    check_dataset_inputs([_with(**{field: "x" * limit})])


@pytest.mark.parametrize(("field", "limit"), DATASET_LIMITS, ids=[f for f, _ in DATASET_LIMITS])
def test_dataset_field_over_mlflow_limit_is_refused_by_its_path(field: str, limit: int) -> None:
    expected = f"'datasets[1].dataset.{field}' exceeds the maximum length of {limit} characters"
    with pytest.raises(InvalidParameter, match=re.escape(expected)):
        check_dataset_inputs([DATASET, _with(**{field: "x" * (limit + 1)})])


def test_input_tags_at_mlflow_limits_pass() -> None:
    check_dataset_inputs([_with(tags={"k" * 255: "v" * 500})])


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"k" * 256: "v"}, "'datasets[0].tags.key' exceeds the maximum length of 255 characters"),
        ({"k": "v" * 501}, "'datasets[0].tags.value' of tag 'k' exceeds the maximum length of 500 characters"),
    ],
    ids=["key", "value"],
)
def test_input_tag_over_mlflow_limits_is_refused(tags: dict[str, str], expected: str) -> None:
    with pytest.raises(InvalidParameter, match=re.escape(expected)):
        check_dataset_inputs([_with(tags=tags)])


@pytest.mark.parametrize("field", ["name", "digest"])
def test_dataset_without_name_or_digest_is_refused(field: str) -> None:
    with pytest.raises(InvalidParameter, match=r"datasets\[0\].dataset needs a non-empty 'name' and 'digest'"):
        check_dataset_inputs([_with(**{field: ""})])


# --- where the values enter the service -----------------------------------------------------------------


def test_run_user_id_of_256_characters_is_stored(tracking: TrackingService) -> None:
    run = tracking.create_run(tracking.create_experiment("users"), user_id="u" * 256)

    assert "u" * 256 == tracking.get_run(run.run_id).user_id


def test_run_with_a_user_id_over_256_characters_is_not_created(tracking: TrackingService) -> None:
    experiment_id = tracking.create_experiment("users")
    with pytest.raises(InvalidParameter, match="'user_id' exceeds the maximum length of 256 characters"):
        tracking.create_run(experiment_id, user_id="u" * 257)

    assert [] == tracking.search_runs([experiment_id])[0]


def test_inputs_with_one_oversized_dataset_store_nothing(tracking: TrackingService) -> None:
    run = tracking.create_run(tracking.create_experiment("inputs"))
    with pytest.raises(InvalidParameter):
        tracking.log_inputs(run.run_id, [DATASET, _with(digest="d" * 37)])

    assert () == tuple(tracking.get_run(run.run_id).inputs)


def test_experiment_with_an_artifact_location_over_2048_characters_is_not_created(tracking: TrackingService) -> None:
    location = "mlflow-artifacts:/" + "/".join(["a" * 99] * 21)
    with pytest.raises(InvalidParameter, match="'artifact_location' exceeds the maximum length of 2048 characters"):
        tracking.create_experiment("located", artifact_location=location)

    assert [] == [e.name for e in tracking.search_experiments()[0] if e.name == "located"]
