"""The `shipyard` command line, on the embedded store."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.client._local import LocalBackend
from shipyard.tracking.entities import Metric, Param


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path))
    monkeypatch.delenv("SHIPYARD_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


@pytest.fixture
def runs(home: Path) -> list[str]:
    backend = LocalBackend(f"sqlite:///{home / 'shipyard.db'}", str(home / "artifacts"))
    exp = backend.create_experiment("cli-exp")
    ids = []
    for name, depth, acc in [("shallow", "2", 0.7), ("deep", "8", 0.9)]:
        run = backend.create_run(exp, name, {}, 1000, "ann")
        backend.log_batch(run.run_id, [Metric("acc", acc, 1, 0)], [Param("depth", depth), Param("seed", "1")], [])
        ids.append(run.run_id)
    backend.close()
    return ids


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_experiments_create_then_list(home: Path) -> None:
    code, out = invoke("experiments", "create", "new-exp")
    listed = invoke("experiments", "list")[1]
    assert (code, out.strip(), "new-exp" in listed, "Default" in listed) == (0, "1", True, True)


def test_experiments_delete_and_restore(home: Path) -> None:
    invoke("experiments", "create", "temp")
    deleted = invoke("experiments", "delete", "1")
    hidden = "temp" not in invoke("experiments", "list")[1]
    restored = invoke("experiments", "restore", "1")
    assert (deleted[0], hidden, restored[0], "temp" in invoke("experiments", "list")[1]) == (0, True, 0, True)


def test_experiments_rename(home: Path) -> None:
    invoke("experiments", "create", "before")
    assert (0, True) == (invoke("experiments", "rename", "1", "after")[0], "after" in invoke("experiments", "list")[1])


def test_duplicate_experiment_is_a_one_line_error(home: Path) -> None:
    invoke("experiments", "create", "dup")
    code, out = invoke("experiments", "create", "dup")
    assert (code, "error: Experiment 'dup' already exists." in out, "Traceback" in out) == (1, True, False)


def test_runs_list_shows_params_and_metrics_sorted(runs: list[str]) -> None:
    code, out = invoke("runs", "list", "-e", "cli-exp", "--order-by", "metrics.acc DESC")
    assert (code, out.index("deep") < out.index("shallow"), "depth" in out, "acc" in out) == (0, True, True, True)


def test_runs_list_filters(runs: list[str]) -> None:
    code, out = invoke("runs", "list", "-e", "cli-exp", "--filter", "params.depth = '2'")
    assert (code, "shallow" in out, "deep" in out) == (0, True, False)


def test_runs_list_bad_filter_is_a_clear_error(runs: list[str]) -> None:
    code, out = invoke("runs", "list", "-e", "cli-exp", "--filter", "metrics.acc >>> 1")
    assert (code, out.startswith("error: Invalid filter")) == (1, True)


def test_runs_show_prints_params_metrics_and_tags(runs: list[str]) -> None:
    code, out = invoke("runs", "show", runs[1])
    assert (code, "deep" in out, "depth" in out, "0.9 @ step 0" in out, "mlflow.runName" in out) == (
        0,
        True,
        True,
        True,
        True,
    )


def test_runs_show_missing_run(home: Path) -> None:
    code, out = invoke("runs", "show", "0123456789abcdef0123456789abcdef")
    assert (code, "not found" in out) == (1, True)


def test_runs_compare_lists_both_runs(runs: list[str]) -> None:
    code, out = invoke("runs", "compare", *runs)
    assert (code, "param depth" in out, "metric acc" in out, "shallow" in out, "deep" in out) == (
        0,
        True,
        True,
        True,
        True,
    )


def test_runs_compare_needs_two_runs(runs: list[str]) -> None:
    assert 2 == invoke("runs", "compare", runs[0])[0]


def test_version_command(home: Path) -> None:
    from shipyard import __version__

    assert (0, __version__) == (invoke("version")[0], invoke("version")[1].strip())
