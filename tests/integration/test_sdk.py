"""The native SDK (`import shipyard as sy`), embedded and against a real server: the same tests both ways."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import shipyard as sy
from shipyard.client import fluent
from shipyard.errors import InvalidParameter, ParamConflict
from tests.support.servers import RunningServer, shipyard_server


@pytest.fixture(scope="module")
def remote_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with shipyard_server(tmp_path_factory.mktemp("sdk-server")) as server:
        yield server


@pytest.fixture(params=["embedded", "remote"])
def transport(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    if request.param == "embedded":
        sy.set_tracking_uri("")
    else:
        sy.set_tracking_uri(request.getfixturevalue("remote_server").url)
    sy.set_experiment(f"sdk-{request.node.name}")
    yield request.param
    while sy.active_run() is not None:
        sy.end_run()
    fluent._state.reset(None)


def test_run_context_finishes_with_params_metrics_and_tags(transport: str) -> None:
    with sy.start_run(run_name="basic") as run:
        sy.log_params({"lr": 0.1, "depth": 3})
        sy.log_metrics({"loss": 0.5, "acc": 0.8}, step=1)
        sy.set_tags({"team": "ml"})
    got = sy.get_run(run.run_id)
    assert (got.status, got.run_name, got.params, {m.key: m.value for m in got.metrics}, got.tags["team"]) == (
        "FINISHED",
        "basic",
        {"lr": "0.1", "depth": "3"},
        {"loss": 0.5, "acc": 0.8},
        "ml",
    )


def test_exception_in_run_marks_it_failed_and_propagates(transport: str) -> None:
    def train() -> str:
        with sy.start_run() as run:
            sy.log_metric("before", 1.0)
            _ = 1 / 0
        return run.run_id

    with pytest.raises(ZeroDivisionError):
        train()
    (run,) = sy.search_runs(filter_string="attributes.status = 'FAILED'").itertuples()
    got = sy.get_run(run.run_id)
    assert ("FAILED", [1.0]) == (got.status, [m.value for m in got.metrics])


def test_every_step_of_a_training_loop_is_stored_in_order(transport: str) -> None:
    with sy.start_run() as run:
        for step in range(3000):
            sy.log_metrics({"loss": 1.0 / (step + 1), "lr": 0.01}, step=step)
    history = sy.get_metric_history(run.run_id, "loss")
    assert ([h.step for h in history], history[-1].value) == (list(range(3000)), 1.0 / 3000)


def test_conflicting_param_raises_at_the_call(transport: str) -> None:
    with sy.start_run():
        sy.log_param("seed", 1)
        with pytest.raises(ParamConflict):
            sy.log_param("seed", 2)


def test_invalid_metric_name_raises_at_the_call(transport: str) -> None:
    with sy.start_run(), pytest.raises(InvalidParameter, match="names may only contain"):
        sy.log_metric("bad;name", 1.0)


def test_non_numeric_metric_value_raises_at_the_call(transport: str) -> None:
    with sy.start_run(), pytest.raises(InvalidParameter, match="number"):
        sy.log_metric("m", "high")  # type: ignore[arg-type]


def test_logging_without_a_run_explains_what_to_do(transport: str) -> None:
    with pytest.raises(InvalidParameter, match="start_run"):
        sy.log_metric("m", 1.0)


def test_second_run_needs_nested(transport: str) -> None:
    with sy.start_run(), pytest.raises(InvalidParameter, match="nested=True"):
        sy.start_run()


def test_nested_run_records_its_parent(transport: str) -> None:
    with sy.start_run() as parent, sy.start_run(nested=True) as child:
        pass
    assert parent.run_id == sy.get_run(child.run_id).tags["mlflow.parentRunId"]


def test_resumed_run_keeps_logging(transport: str) -> None:
    with sy.start_run() as run:
        sy.log_metric("m", 1.0, step=0)
    with sy.start_run(run_id=run.run_id):
        sy.log_metric("m", 2.0, step=1)
    assert [1.0, 2.0] == [h.value for h in sy.get_metric_history(run.run_id, "m")]


def test_lineage_is_captured_at_start(transport: str) -> None:
    with sy.start_run() as run:
        pass
    tags = sy.get_run(run.run_id).tags
    backend = fluent._state.get_backend()
    files = [path for path, _is_dir, _size in backend.list_artifacts(sy.get_run(run.run_id), "shipyard")]
    assert (tags["shipyard.lineage.python_version"].count("."), "mlflow.source.name" in tags, files) == (
        2,
        True,
        ["shipyard/requirements.txt"],
    )


def test_artifacts_text_dict_and_figure(transport: str, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (tmp_path / "model.txt").write_text("weights")
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "sub" / "x.csv").write_text("a,b\n1,2\n")
    figure, axis = plt.subplots()
    axis.plot([1, 2, 3])
    with sy.start_run() as run:
        sy.log_artifact(tmp_path / "model.txt", "models")
        sy.log_artifacts(tmp_path / "dir", "data")
        sy.log_text("hello", "notes/readme.md")
        sy.log_dict({"a": 1}, "config.json")
        sy.log_figure(figure, "plots/curve.png")
    plt.close(figure)
    backend = fluent._state.get_backend()
    got = sy.get_run(run.run_id)
    top = sorted(path for path, _d, _s in backend.list_artifacts(got, ""))
    config = backend.download_artifact(got, "config.json", tmp_path / "out")
    png = backend.download_artifact(got, "plots/curve.png", tmp_path / "out")
    assert (top, json.loads(config.read_text()), png.read_bytes()[:4]) == (
        ["config.json", "data", "models", "notes", "plots", "shipyard"],
        {"a": 1},
        b"\x89PNG",
    )


def test_log_input_records_the_dataframe(transport: str) -> None:
    import pandas as pd

    frame = pd.DataFrame({"x": [1, 2, 3], "y": [0.1, 0.2, 0.3]})
    with sy.start_run() as run:
        item = sy.log_input(frame, name="toy", context="training")
    (got,) = sy.get_run(run.run_id).inputs
    assert (got.name, got.digest, got.tags, json.loads(got.profile)["num_rows"]) == (
        "toy",
        item.digest,
        {"mlflow.data.context": "training"},
        3,
    )


def test_search_runs_returns_a_filtered_sorted_dataframe(transport: str) -> None:
    for i, model in enumerate(["rf", "lr", "rf"]):
        with sy.start_run(run_name=f"r{i}"):
            sy.log_params({"model": model})
            sy.log_metrics({"acc": 0.6 + i / 10})
    frame = sy.search_runs(filter_string="params.model = 'rf'", order_by=["metrics.acc DESC"])
    assert (list(frame["run_name"]), list(frame["metrics.acc"])) == (["r2", "r0"], [0.8, 0.6])


def test_search_runs_with_nothing_found_has_the_columns(transport: str) -> None:
    frame = sy.search_runs(filter_string="metrics.nothing > 1")
    assert (0, "run_id" in frame.columns) == (len(frame), True)


def test_points_refused_by_the_store_surface_at_the_next_flush(transport: str) -> None:
    run = sy.start_run()
    fluent._state.get_backend().delete_run(run.run_id)
    sy.log_metric("late", 1.0)
    with pytest.raises(InvalidParameter, match="active"):
        sy.flush()
    fluent._state.runs.clear()


def test_metrics_from_several_threads_are_all_stored(transport: str) -> None:
    import threading

    with sy.start_run() as run:

        def worker(offset: int) -> None:
            for step in range(500):
                sy.log_metrics({f"thread_{offset}": float(step)}, step=step, run_id=run.run_id)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    counts = [len(sy.get_metric_history(run.run_id, f"thread_{i}")) for i in range(4)]
    assert [500, 500, 500, 500] == counts


def test_a_metric_logged_with_model_id_is_shown_on_the_logged_model(
    transport: str, request: pytest.FixtureRequest
) -> None:
    """Issue 13, item 6: `model_id` on metrics is honoured in the SDK too, both transports."""
    import httpx
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from shipyard.config import Settings
    from shipyard.db import open_database
    from shipyard.registry.service import RegistryService
    from shipyard.tracking.service import TrackingService
    from shipyard.tracking.store import TrackingStore

    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    with sy.start_run() as run:
        logged = sy.log_model(model, "clf", input_example=np.array([[0.5]]))
        sy.log_metric("val_acc", 0.75, step=2, model_id=logged.model_id)
        sy.log_metrics({"loss": 0.4}, step=2)
    with pytest.raises(InvalidParameter, match="model_id"):
        sy.log_metric("x", 1.0, model_id="")

    if transport == "remote":
        url = request.getfixturevalue("remote_server").url
        body = httpx.get(f"{url}/api/2.0/mlflow/logged-models/{logged.model_id}", timeout=30).json()
        linked = [(m["key"], m["value"], m["step"], m["run_id"]) for m in body["model"]["data"]["metrics"]]
    else:
        database = open_database(Settings.from_env().resolved_store_uri)
        try:
            registry = RegistryService(database, TrackingService(TrackingStore(database)))
            metrics = registry.get_logged_model(logged.model_id).metrics
            linked = [(m.key, m.value, m.step, m.run_id) for m in metrics]
        finally:
            database.dispose()
    history = {m.key: m.value for m in sy.get_run(run.run_id).metrics}
    assert (linked, history) == ([("val_acc", 0.75, 2, run.run_id)], {"val_acc": 0.75, "loss": 0.4})
