"""The tracking service and store, run against SQLite and the real PostgreSQL server."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from shipyard.db import open_database
from shipyard.errors import (
    ExperimentNotFound,
    InvalidParameter,
    ParamConflict,
    ResourceAlreadyExists,
    ResourceNotFound,
    RunNotFound,
)
from shipyard.tracking.entities import DatasetInput, Metric, Param, RunTag, ViewType
from shipyard.tracking.service import TrackingService
from shipyard.tracking.store import TrackingStore


@pytest.fixture
def svc(store_url: str) -> Iterator[TrackingService]:
    database = open_database(store_url)
    clock = iter(range(1_000_000, 10_000_000, 10))
    yield TrackingService(TrackingStore(database), clock_ms=lambda: next(clock))
    database.dispose()


@pytest.fixture
def run_id(svc: TrackingService) -> str:
    exp = svc.create_experiment("exp")
    return svc.create_run(exp, run_name="r").run_id


# ------------------------------------------------------------------------------------------------- experiments
def test_default_experiment_exists(svc: TrackingService) -> None:
    exp = svc.get_experiment("0")
    assert ("Default", "mlflow-artifacts:/0") == (exp.name, exp.artifact_location)


def test_create_experiment_returns_id_and_location(svc: TrackingService) -> None:
    exp_id = svc.create_experiment("alpha", tags={"team": "ml"})
    exp = svc.get_experiment(exp_id)
    assert ("alpha", f"mlflow-artifacts:/{exp_id}", {"team": "ml"}) == (exp.name, exp.artifact_location, exp.tags)


def test_duplicate_experiment_name_is_refused(svc: TrackingService) -> None:
    svc.create_experiment("dup")
    with pytest.raises(ResourceAlreadyExists, match="already exists"):
        svc.create_experiment("dup")


def test_experiment_name_must_not_be_empty(svc: TrackingService) -> None:
    with pytest.raises(InvalidParameter):
        svc.create_experiment("  ")


def test_get_experiment_by_missing_name_raises_not_found(svc: TrackingService) -> None:
    with pytest.raises(ExperimentNotFound):
        svc.get_experiment_by_name("nope")


def test_non_numeric_experiment_id_is_invalid(svc: TrackingService) -> None:
    with pytest.raises(InvalidParameter, match="experiment ID"):
        svc.get_experiment("abc")


def test_rename_experiment(svc: TrackingService) -> None:
    exp_id = svc.create_experiment("old")
    svc.rename_experiment(exp_id, "new")
    assert "new" == svc.get_experiment(exp_id).name


def test_rename_to_taken_name_is_refused(svc: TrackingService) -> None:
    svc.create_experiment("a")
    b = svc.create_experiment("b")
    with pytest.raises(ResourceAlreadyExists):
        svc.rename_experiment(b, "a")


def test_delete_experiment_deletes_its_runs_and_restore_brings_them_back(svc: TrackingService) -> None:
    exp_id = svc.create_experiment("gone")
    rid = svc.create_run(exp_id).run_id
    svc.delete_experiment(exp_id)
    assert ("deleted", "deleted") == (svc.get_experiment(exp_id).lifecycle_stage, svc.get_run(rid).lifecycle_stage)
    svc.restore_experiment(exp_id)
    assert ("active", "active") == (svc.get_experiment(exp_id).lifecycle_stage, svc.get_run(rid).lifecycle_stage)


def test_experiment_tags_set_overwrite_and_delete(svc: TrackingService) -> None:
    exp_id = svc.create_experiment("tagged")
    svc.set_experiment_tag(exp_id, "k", "1")
    svc.set_experiment_tag(exp_id, "k", "2")
    assert {"k": "2"} == svc.get_experiment(exp_id).tags
    svc.delete_experiment_tag(exp_id, "k")
    assert {} == svc.get_experiment(exp_id).tags


def test_deleting_missing_experiment_tag_is_not_found(svc: TrackingService) -> None:
    exp_id = svc.create_experiment("e")
    with pytest.raises(ResourceNotFound):
        svc.delete_experiment_tag(exp_id, "missing")


def test_search_experiments_pages_through_all(svc: TrackingService) -> None:
    for i in range(5):
        svc.create_experiment(f"page-{i}")
    names: list[str] = []
    token = None
    while True:
        page, token = svc.search_experiments(filter_string="name LIKE 'page-%'", max_results=2, page_token=token)
        names += [e.name for e in page]
        if not token:
            break
    assert sorted(names) == [f"page-{i}" for i in range(5)]


def test_search_experiments_view_types(svc: TrackingService) -> None:
    keep = svc.create_experiment("keep")
    drop = svc.create_experiment("drop")
    svc.delete_experiment(drop)
    active = {e.experiment_id for e in svc.search_experiments(ViewType.ACTIVE_ONLY)[0]}
    deleted = {e.experiment_id for e in svc.search_experiments(ViewType.DELETED_ONLY)[0]}
    assert (keep in active, drop in active, deleted) == (True, False, {drop})


# -------------------------------------------------------------------------------------------------------- runs
def test_create_run_is_running_with_artifact_uri(svc: TrackingService) -> None:
    exp_id = svc.create_experiment("e")
    run = svc.create_run(exp_id, run_name="first", tags={"a": "b"}, user_id="ann")
    assert (run.status, run.run_name, run.user_id, run.artifact_uri) == (
        "RUNNING",
        "first",
        "ann",
        f"mlflow-artifacts:/{exp_id}/{run.run_id}/artifacts",
    )
    assert {"a": "b", "mlflow.runName": "first"} == svc.get_run(run.run_id).tags


def test_run_without_name_gets_a_generated_one(svc: TrackingService) -> None:
    run = svc.create_run("0")
    assert run.run_name.count("-") == 2


def test_get_missing_run_raises_run_not_found(svc: TrackingService) -> None:
    with pytest.raises(RunNotFound):
        svc.get_run("0123456789abcdef0123456789abcdef")


def test_create_run_in_missing_experiment_is_not_found(svc: TrackingService) -> None:
    with pytest.raises(ExperimentNotFound):
        svc.create_run("999")


def test_create_run_in_deleted_experiment_is_refused(svc: TrackingService) -> None:
    exp_id = svc.create_experiment("e")
    svc.delete_experiment(exp_id)
    with pytest.raises(InvalidParameter, match="active"):
        svc.create_run(exp_id)


def test_update_run_sets_status_and_end_time(svc: TrackingService, run_id: str) -> None:
    svc.update_run(run_id, status="FINISHED", end_time_ms=42)
    run = svc.get_run(run_id)
    assert ("FINISHED", 42) == (run.status, run.end_time_ms)


def test_update_run_rejects_unknown_status(svc: TrackingService, run_id: str) -> None:
    with pytest.raises(InvalidParameter, match="status"):
        svc.update_run(run_id, status="DONE")


def test_delete_and_restore_run(svc: TrackingService, run_id: str) -> None:
    svc.delete_run(run_id)
    assert "deleted" == svc.get_run(run_id).lifecycle_stage
    svc.restore_run(run_id)
    assert "active" == svc.get_run(run_id).lifecycle_stage


def test_logging_to_deleted_run_is_refused(svc: TrackingService, run_id: str) -> None:
    svc.delete_run(run_id)
    with pytest.raises(InvalidParameter, match="active"):
        svc.log_metric(run_id, "m", 1.0)


# ------------------------------------------------------------------------------------------------------ params
def test_same_param_value_twice_is_fine(svc: TrackingService, run_id: str) -> None:
    svc.log_param(run_id, "lr", "0.1")
    svc.log_param(run_id, "lr", "0.1")
    assert {"lr": "0.1"} == svc.get_run(run_id).params


def test_conflicting_param_is_refused_and_old_value_kept(svc: TrackingService, run_id: str) -> None:
    svc.log_param(run_id, "lr", "0.1")
    with pytest.raises(ParamConflict, match="lr"):
        svc.log_param(run_id, "lr", "0.2")
    assert {"lr": "0.1"} == svc.get_run(run_id).params


def test_batch_with_conflicting_param_writes_nothing(svc: TrackingService, run_id: str) -> None:
    svc.log_param(run_id, "p", "1")
    with pytest.raises(ParamConflict):
        svc.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)], params=[Param("p", "2")], tags=[RunTag("t", "x")])
    run = svc.get_run(run_id)
    assert ((), "t" in run.tags) == (run.metrics, False)


def test_param_value_over_6000_chars_is_cut_like_mlflow(svc: TrackingService, run_id: str) -> None:
    svc.log_param(run_id, "long", "x" * 6001)
    assert 6000 == len(svc.get_run(run_id).params["long"])


def test_tag_value_over_8000_chars_is_cut_like_mlflow(svc: TrackingService, run_id: str) -> None:
    svc.set_tag(run_id, "long", "y" * 9000)
    assert 8000 == len(svc.get_run(run_id).tags["long"])


def test_experiment_tag_over_20000_chars_is_refused(svc: TrackingService) -> None:
    exp_id = svc.create_experiment("e")
    with pytest.raises(InvalidParameter, match="20000"):
        svc.set_experiment_tag(exp_id, "long", "z" * 20001)


def test_param_value_of_6000_chars_is_kept(svc: TrackingService, run_id: str) -> None:
    svc.log_param(run_id, "long", "x" * 6000)
    assert 6000 == len(svc.get_run(run_id).params["long"])


# ----------------------------------------------------------------------------------------------------- metrics
def test_metric_history_is_complete_and_ordered(svc: TrackingService, run_id: str) -> None:
    svc.log_batch(run_id, metrics=[Metric("loss", 1.0 / (s + 1), 100 + s, s) for s in range(50)])
    history, token = svc.get_metric_history(run_id, "loss")
    assert ([h.step for h in history], token) == (list(range(50)), None)


def test_latest_metric_is_the_one_at_the_highest_step(svc: TrackingService, run_id: str) -> None:
    svc.log_batch(run_id, metrics=[Metric("acc", 0.9, 5, 10), Metric("acc", 0.5, 9, 3)])
    svc.log_batch(run_id, metrics=[Metric("acc", 0.1, 20, 2)])
    assert [Metric("acc", 0.9, 5, 10)] == list(svc.get_run(run_id).metrics)


def test_nan_and_infinities_round_trip(svc: TrackingService, run_id: str) -> None:
    svc.log_batch(
        run_id, metrics=[Metric("n", math.nan, 1, 0), Metric("p", math.inf, 1, 0), Metric("q", -math.inf, 1, 0)]
    )
    latest = {m.key: m.value for m in svc.get_run(run_id).metrics}
    history = svc.get_metric_history(run_id, "n")[0]
    assert (math.isnan(latest["n"]), latest["p"], latest["q"], math.isnan(history[0].value)) == (
        True,
        math.inf,
        -math.inf,
        True,
    )


def test_identical_point_logged_twice_is_stored_once(svc: TrackingService, run_id: str) -> None:
    for _ in range(3):
        svc.log_batch(run_id, metrics=[Metric("m", 1.5, 7, 1), Metric("m", 2.5, 8, 2)])
    assert [1.5, 2.5] == [m.value for m in svc.get_metric_history(run_id, "m")[0]]


def test_history_pages_with_tokens(svc: TrackingService, run_id: str) -> None:
    svc.log_batch(run_id, metrics=[Metric("m", float(s), 1000 + s, s) for s in range(25)], enforce_limits=False)
    steps: list[int] = []
    token = None
    pages = 0
    while True:
        page, token = svc.get_metric_history(run_id, "m", max_results=10, page_token=token)
        steps += [p.step for p in page]
        pages += 1
        if not token:
            break
    assert (steps, pages) == (list(range(25)), 3)


def test_bad_page_token_is_invalid(svc: TrackingService, run_id: str) -> None:
    with pytest.raises(InvalidParameter):
        svc.get_metric_history(run_id, "m", max_results=10, page_token="not-a-token")


def test_history_of_missing_run_is_empty_like_mlflow(svc: TrackingService) -> None:
    assert ([], None) == svc.get_metric_history("0123456789abcdef0123456789abcdef", "m")


def test_integer_metric_values_are_stored_as_floats(svc: TrackingService, run_id: str) -> None:
    svc.log_batch(run_id, metrics=[Metric("i", 3, 1, 0)])  # type: ignore[arg-type]
    assert [3.0] == [m.value for m in svc.get_metric_history(run_id, "i")[0]]


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        (Metric("bad/../key", 1.0, 1, 0), "must not resolve"),
        (Metric("semi;colon", 1.0, 1, 0), "may only contain"),
        (Metric("k" * 251, 1.0, 1, 0), "250"),
        (Metric("s", "high", 1, 0), "number"),  # type: ignore[arg-type]
        (Metric("b", True, 1, 0), "number"),  # type: ignore[arg-type]
        (Metric("t", 1.0, -5, 0), "timestamp"),
        (Metric("st", 1.0, 1, 2**64), "step"),
    ],
)
def test_invalid_metrics_are_refused_with_the_reason(
    svc: TrackingService, run_id: str, metric: Metric, message: str
) -> None:
    with pytest.raises(InvalidParameter, match=message):
        svc.log_batch(run_id, metrics=[metric])


def test_batch_over_1000_metrics_is_refused(svc: TrackingService, run_id: str) -> None:
    with pytest.raises(InvalidParameter, match="at most 1000"):
        svc.log_batch(run_id, metrics=[Metric("m", 1.0, 1, s) for s in range(1001)])


def test_metric_columns_fast_path_stores_every_point(svc: TrackingService, run_id: str) -> None:
    steps = list(range(5000))
    svc.log_metric_columns(run_id, {"x": (steps, [1000 + s for s in steps], [s * 0.5 for s in steps])})
    assert 5000 == svc.store.count_metric_points(run_id)


# -------------------------------------------------------------------------------------------------- tags, inputs
def test_tag_overwrite_and_delete(svc: TrackingService, run_id: str) -> None:
    svc.set_tag(run_id, "k", "1")
    svc.set_tag(run_id, "k", "2")
    assert "2" == svc.get_run(run_id).tags["k"]
    svc.delete_tag(run_id, "k")
    assert "k" not in svc.get_run(run_id).tags


def test_run_name_tag_renames_the_run(svc: TrackingService, run_id: str) -> None:
    svc.set_tag(run_id, "mlflow.runName", "renamed")
    assert "renamed" == svc.get_run(run_id).run_name


def test_deleting_missing_tag_is_not_found(svc: TrackingService, run_id: str) -> None:
    with pytest.raises(ResourceNotFound):
        svc.delete_tag(run_id, "nope")


def test_dataset_inputs_are_recorded_with_their_tags(svc: TrackingService, run_id: str) -> None:
    item = DatasetInput(
        "iris", "abc123", "local", "/data/iris.csv", '{"cols": 4}', '{"rows": 150}', {"mlflow.data.context": "training"}
    )
    svc.log_inputs(run_id, [item])
    svc.log_inputs(run_id, [item])
    assert [item] == list(svc.get_run(run_id).inputs)


def test_search_runs_filters_and_orders(svc: TrackingService) -> None:
    exp_id = svc.create_experiment("s")
    ids = []
    for i, model in enumerate(["rf", "rf", "lr"]):
        rid = svc.create_run(exp_id, run_name=f"r{i}").run_id
        svc.log_batch(rid, metrics=[Metric("acc", 0.5 + i / 10, 1, 0)], params=[Param("model", model)])
        ids.append(rid)
    found, _ = svc.search_runs([exp_id], "params.model = 'rf' and metrics.acc > 0.4", order_by=["metrics.acc DESC"])
    assert [ids[1], ids[0]] == [r.run_id for r in found]
