"""Runs: lifecycle, names, nesting, resuming, delete/restore and tags, through the mlflow client."""

from __future__ import annotations

import time

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import RunStatus


class _Boom(RuntimeError):
    pass


def test_start_run_context_ends_with_status_finished(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        pass

    assert "FINISHED" == client.get_run(run.info.run_id).info.status


def test_start_run_creates_the_run_in_the_active_experiment(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        pass

    assert experiment_id == client.get_run(run.info.run_id).info.experiment_id


def test_active_run_is_running_until_it_ends(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        status = client.get_run(run.info.run_id).info.status

    assert "RUNNING" == status


def test_end_run_sets_end_time_not_before_start_time(client: MlflowClient, experiment_id: str) -> None:
    before_ms = int(time.time() * 1000)
    mlflow.start_run()
    run_id = mlflow.active_run().info.run_id

    mlflow.end_run()

    info = client.get_run(run_id).info
    assert before_ms - 5_000 <= info.start_time <= info.end_time <= int(time.time() * 1000) + 5_000


def test_run_end_time_is_none_while_running(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)

    assert client.get_run(run.info.run_id).info.end_time is None


def test_create_run_keeps_explicit_start_time(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id, start_time=1_700_000_000_123)

    assert 1_700_000_000_123 == client.get_run(run.info.run_id).info.start_time


def test_start_run_records_run_name(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run(run_name="baseline-lr-0.1") as run:
        pass

    fetched = client.get_run(run.info.run_id)
    assert ("baseline-lr-0.1", "baseline-lr-0.1") == (fetched.info.run_name, fetched.data.tags["mlflow.runName"])


def test_update_run_renames_the_run(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id, run_name="before")

    client.update_run(run.info.run_id, name="after")

    assert "after" == client.get_run(run.info.run_id).info.run_name


def test_exception_inside_start_run_marks_run_failed(client: MlflowClient, experiment_id: str) -> None:
    with pytest.raises(_Boom), mlflow.start_run() as run:
        raise _Boom("training crashed")

    assert "FAILED" == client.get_run(run.info.run_id).info.status


def test_nested_run_carries_parent_run_id_tag(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as parent, mlflow.start_run(nested=True) as child:
        pass

    assert parent.info.run_id == client.get_run(child.info.run_id).data.tags["mlflow.parentRunId"]


def test_nested_runs_both_finish(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as parent, mlflow.start_run(nested=True) as child:
        pass

    statuses = [client.get_run(r.info.run_id).info.status for r in (parent, child)]
    assert ["FINISHED", "FINISHED"] == statuses


def test_resume_run_by_id_keeps_earlier_and_new_data(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as first:
        mlflow.log_param("epochs", 3)

    with mlflow.start_run(run_id=first.info.run_id) as resumed:
        mlflow.log_param("batch_size", 32)

    fetched = client.get_run(first.info.run_id)
    assert (resumed.info.run_id, {"epochs": "3", "batch_size": "32"}) == (first.info.run_id, fetched.data.params)


def test_resumed_run_is_running_again(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as first:
        pass

    with mlflow.start_run(run_id=first.info.run_id):
        status = client.get_run(first.info.run_id).info.status

    assert "RUNNING" == status


def test_delete_run_marks_it_deleted(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)

    client.delete_run(run.info.run_id)

    assert "deleted" == client.get_run(run.info.run_id).info.lifecycle_stage


def test_restore_run_marks_it_active(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    client.delete_run(run.info.run_id)

    client.restore_run(run.info.run_id)

    assert "active" == client.get_run(run.info.run_id).info.lifecycle_stage


def test_set_tag_stores_value_as_string(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        mlflow.set_tag("attempt", 2)

    assert "2" == client.get_run(run.info.run_id).data.tags["attempt"]


def test_set_tag_overwrites_previous_value(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    client.set_tag(run.info.run_id, "phase", "train")

    client.set_tag(run.info.run_id, "phase", "eval")

    assert "eval" == client.get_run(run.info.run_id).data.tags["phase"]


def test_set_tags_stores_every_tag(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        mlflow.set_tags({"a": "1", "b": "two", "c/d": "three"})

    tags = client.get_run(run.info.run_id).data.tags
    assert {"a": "1", "b": "two", "c/d": "three"} == {k: tags[k] for k in ("a", "b", "c/d")}


def test_set_tag_value_over_8000_chars_is_truncated_to_8000(client: MlflowClient, experiment_id: str) -> None:
    # MLflow truncates over-long tag values instead of rejecting them.
    run = client.create_run(experiment_id)

    client.set_tag(run.info.run_id, "notes", "y" * 9000)

    assert "y" * 8000 == client.get_run(run.info.run_id).data.tags["notes"]


def test_delete_tag_removes_it(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    client.set_tag(run.info.run_id, "keep", "1")
    client.set_tag(run.info.run_id, "drop", "2")

    client.delete_tag(run.info.run_id, "drop")

    tags = client.get_run(run.info.run_id).data.tags
    assert (True, False) == ("keep" in tags, "drop" in tags)


def test_set_terminated_killed_sets_status_and_end_time(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)

    client.set_terminated(run.info.run_id, status="KILLED", end_time=1_800_000_000_000)

    info = client.get_run(run.info.run_id).info
    assert ("KILLED", 1_800_000_000_000) == (info.status, info.end_time)


def test_end_run_with_status_failed_is_kept(client: MlflowClient, experiment_id: str) -> None:
    mlflow.start_run()
    run_id = mlflow.active_run().info.run_id

    mlflow.end_run(status=RunStatus.to_string(RunStatus.FAILED))

    assert "FAILED" == client.get_run(run_id).info.status


def test_new_run_has_empty_data(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)

    data = client.get_run(run.info.run_id).data
    assert ({}, {}) == (data.metrics, data.params)
