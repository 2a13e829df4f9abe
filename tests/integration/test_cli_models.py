"""`shipyard models` and `shipyard runs reproduce` on the embedded store, and `models history` over REST."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

import shipyard as sy
import shipyard.models
from shipyard.artifacts import ArtifactStore, open_artifact_store
from shipyard.cli.main import app
from shipyard.client import fluent
from shipyard.client.http import RestBackend
from shipyard.client.model_functions import download_tree
from shipyard.db import open_database
from shipyard.registry.service import RegistryService
from shipyard.tracking.entities import DatasetInput, Metric, Param
from shipyard.tracking.lineage import PACKAGES_ARTIFACT, TAG_COMMAND, TAG_GIT_COMMIT, TAG_GIT_DIRTY, TAG_SOURCE_NAME
from shipyard.tracking.service import TrackingService, artifact_key
from shipyard.tracking.store import TrackingStore
from tests.support.servers import shipyard_server

MLMODEL = "flavors:\n  python_function:\n    loader_module: shipyard.models\n  sklearn:\n    sklearn_version: 1.5.0\n"


@dataclass
class Registry:
    """The embedded registry of a temporary SHIPYARD_HOME, with the run that produced the model."""

    service: RegistryService
    artifacts: ArtifactStore
    run_id: str

    def close(self) -> None:
        self.service.database.dispose()


def _populate(root: Path) -> Registry:
    """Model ``churn`` with two versions from one run (params, metrics, a dataset, a commit), files uploaded."""
    database = open_database(f"sqlite:///{root / 'shipyard.db'}")
    tracking = TrackingService(TrackingStore(database))
    artifacts = open_artifact_store(str(root / "artifacts"))
    registry = RegistryService(database, tracking)
    exp = tracking.create_experiment("churn-exp")
    run = tracking.create_run(exp, user_id="ann", start_time_ms=1000, run_name="train-churn")
    tracking.log_batch(
        run.run_id,
        [Metric("auc", 0.91, 1000, 3)],
        [Param("max_depth", "6")],
        [],
    )
    tracking.set_tag(run.run_id, TAG_GIT_COMMIT, "0123456789abcdef0123456789abcdef01234567")
    tracking.log_inputs(
        run.run_id, [DatasetInput("customers", "d1g3st", "local", "s3://data/customers.parquet", tags={})]
    )
    registry.create_registered_model("churn", description="Predicts churn.", tags={"team": "growth"})
    for number in (1, 2):
        folder = f"models/churn-v{number}"
        artifacts.write_bytes(f"{folder}/MLmodel", MLMODEL.encode())
        artifacts.write_bytes(f"{folder}/data/model.bin", f"weights {number}".encode())
        registry.create_model_version("churn", f"mlflow-artifacts:/{folder}", run_id=run.run_id, actor="ann")
    return Registry(registry, artifacts, run.run_id)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path))
    monkeypatch.delenv("SHIPYARD_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("SHIPYARD_STORE_URI", raising=False)
    monkeypatch.delenv("SHIPYARD_ARTIFACTS_URI", raising=False)
    monkeypatch.setenv("COLUMNS", "250")
    return tmp_path


@pytest.fixture
def registry(home: Path) -> Iterator[Registry]:
    found = _populate(home)
    yield found
    found.close()


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


# ------------------------------------------------------------------------------------------------- browsing
def test_models_list_shows_the_model_and_its_latest_version(registry: Registry) -> None:
    code, out = invoke("models", "list")
    assert (code, "churn" in out, "Predicts churn." in out) == (0, True, True)


def test_models_list_filter_leaves_out_other_models(registry: Registry) -> None:
    registry.service.create_registered_model("fraud")
    code, out = invoke("models", "list", "--filter", "name LIKE 'fr%'")
    assert (code, "fraud" in out, "churn" in out) == (0, True, False)


def test_models_show_has_description_tags_aliases_and_versions(registry: Registry) -> None:
    registry.service.set_alias("churn", "champion", 1)
    code, out = invoke("models", "show", "churn")
    assert (code, "Predicts churn." in out, "growth" in out, "champion" in out, registry.run_id in out) == (
        0,
        True,
        True,
        True,
        True,
    )


def test_models_versions_lists_newest_first(registry: Registry) -> None:
    code, out = invoke("models", "versions", "churn")
    assert (code, out.index("models/churn-v2") < out.index("models/churn-v1")) == (0, True)


# ---------------------------------------------------------------------------------------- aliases and stages
def test_models_alias_points_the_alias_at_the_version(registry: Registry) -> None:
    code, _ = invoke("models", "alias", "churn", "champion", "2")
    assert (0, 2) == (code, registry.service.get_version_by_alias("churn", "champion").version)


def test_models_alias_delete_removes_it(registry: Registry) -> None:
    registry.service.set_alias("churn", "champion", 1)
    code, _ = invoke("models", "alias", "churn", "champion", "--delete")
    assert (0, {}) == (code, registry.service.get_registered_model("churn").aliases)


def test_models_alias_without_version_is_a_one_line_error(registry: Registry) -> None:
    code, out = invoke("models", "alias", "churn", "champion")
    assert (code, out.startswith("error: Missing VERSION"), "Traceback" in out) == (1, True, False)


def test_models_stage_moves_the_version(registry: Registry) -> None:
    code, out = invoke("models", "stage", "churn/1", "production", "--reason", "passed review")
    assert (code, "None → Production" in out, registry.service.get_model_version("churn", 1).current_stage) == (
        0,
        True,
        "Production",
    )


def test_models_stage_accepts_an_alias_reference(registry: Registry) -> None:
    registry.service.set_alias("churn", "challenger", 2)
    invoke("models", "stage", "churn@challenger", "Staging")
    assert "Staging" == registry.service.get_model_version("churn", 2).current_stage


def test_models_stage_archive_existing_archives_the_previous_production(registry: Registry) -> None:
    invoke("models", "stage", "churn/1", "Production")
    invoke("models", "stage", "models:/churn/2", "Production", "--archive-existing")
    assert "Archived" == registry.service.get_model_version("churn", 1).current_stage


def test_models_stage_unknown_stage_is_a_clear_error(registry: Registry) -> None:
    code, out = invoke("models", "stage", "churn/1", "Live")
    assert (code, "Invalid Model Version stage" in out) == (1, True)


# ------------------------------------------------------------------------------------------------ history
def test_models_history_shows_the_alias_move_with_from_to_and_reason(registry: Registry) -> None:
    invoke("models", "alias", "churn", "champion", "1")
    invoke("models", "alias", "churn", "champion", "2", "--reason", "better auc on holdout")
    code, out = invoke("models", "history", "churn")
    moved = next(line for line in out.splitlines() if "model_version_alias.moved" in line)
    assert (code, "champion" in moved, "1 → 2" in moved, "better auc on holdout" in moved) == (0, True, True, True)


def test_models_history_records_who_made_the_change(registry: Registry) -> None:
    import getpass

    invoke("models", "alias", "churn", "champion", "1")
    out = invoke("models", "history", "churn")[1]
    created = next(line for line in out.splitlines() if "model_version_alias.created" in line)
    assert getpass.getuser() in created


# ------------------------------------------------------------------------------------------ lineage and card
def test_models_lineage_prints_chain_params_metrics_code_and_data(registry: Registry) -> None:
    code, out = invoke("models", "lineage", "churn/2")
    assert (
        code,
        "dataset customers@d1g3st" in out,
        f"run {registry.run_id}" in out,
        "max_depth" in out,
        "auc" in out,
        "0123456789abcdef0123456789abcdef01234567" in out,
        "s3://data/customers.parquet" in out,
    ) == (0, True, True, True, True, True, True)


def test_models_card_prints_markdown_with_flavor_and_data(registry: Registry) -> None:
    code, out = invoke("models", "card", "churn/1")
    assert (code, out.startswith("# Model card: churn version 1"), "sklearn" in out, "d1g3st" in out) == (
        0,
        True,
        True,
        True,
    )


def test_models_card_sets_owner_fields_then_writes_the_file(registry: Registry, tmp_path: Path) -> None:
    target = tmp_path / "cards" / "churn-1.md"
    code, _ = invoke(
        "models",
        "card",
        "churn/1",
        "--intended-use",
        "Weekly retention campaigns.",
        "--limitations",
        "Not for B2B accounts.",
        "--markdown-out",
        str(target),
    )
    text = target.read_text()
    assert (code, "Weekly retention campaigns." in text, "Not for B2B accounts." in text) == (0, True, True)


# ------------------------------------------------------------------------------------------------ download
def test_models_download_copies_the_version_folder(registry: Registry, tmp_path: Path) -> None:
    dst = tmp_path / "out"
    code, _ = invoke("models", "download", "churn/2", "--dst", str(dst))
    assert (code, (dst / "MLmodel").read_text(), (dst / "data" / "model.bin").read_text()) == (0, MLMODEL, "weights 2")


def test_models_download_accepts_a_models_uri_with_an_alias(registry: Registry, tmp_path: Path) -> None:
    registry.service.set_alias("churn", "champion", 1)
    invoke("models", "download", "models:/churn@champion", "--dst", str(tmp_path / "out"))
    assert "weights 1" == (tmp_path / "out" / "data" / "model.bin").read_text()


def test_models_download_accepts_a_runs_uri(registry: Registry, tmp_path: Path) -> None:
    run = registry.service.tracking.get_run(registry.run_id)
    registry.artifacts.write_bytes(f"{artifact_key(run.artifact_uri)}/model/MLmodel", MLMODEL.encode())
    code, _ = invoke("models", "download", f"runs:/{registry.run_id}/model", "--dst", str(tmp_path / "out"))
    assert (0, MLMODEL) == (code, (tmp_path / "out" / "MLmodel").read_text())


# ---------------------------------------------------------------------------------------------------- export
def _log_real_model(name: str) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True, as_frame=True)
    sy.set_tracking_uri("")
    try:
        with sy.start_run():
            sy.log_model(
                LogisticRegression(max_iter=500).fit(x, y), "model", input_example=x.head(5), registered_model_name=name
            )
    finally:
        fluent._state.reset(None)


def test_models_export_onnx_writes_a_checked_model_that_runs_with_onnxruntime(home: Path, tmp_path: Path) -> None:
    _log_real_model("iris-onnx")
    code, out = invoke("models", "export", "iris-onnx/1", "--format", "onnx", "--out", str(tmp_path / "onnx"))
    assert (0, True, True) == (
        code,
        (tmp_path / "onnx" / "model.onnx").is_file(),
        (tmp_path / "onnx" / "predict.py").is_file(),
    ), out


def test_models_export_into_a_non_empty_folder_is_a_clear_error(home: Path, tmp_path: Path) -> None:
    _log_real_model("iris-bundle")
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    code, out = invoke("models", "export", "iris-bundle/1", "--format", "bundle", "--out", str(target))
    assert (1, "Traceback" in out, "mine") == (code, False, (target / "keep.txt").read_text())


# ---------------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "args",
    [
        ("models", "show", "nope"),
        ("models", "versions", "nope"),
        ("models", "history", "nope"),
        ("models", "lineage", "nope/1"),
        ("models", "card", "churn/9"),
        ("models", "download", "churn@no-such-alias", "--dst", "unused"),
        ("models", "alias", "churn", "champion", "9"),
    ],
)
def test_unknown_models_versions_and_aliases_are_one_line_errors(registry: Registry, args: tuple[str, ...]) -> None:
    code, out = invoke(*args)
    assert (code, out.startswith("error: "), "not found" in out.lower(), "Traceback" in out) == (1, True, True, False)


@pytest.mark.parametrize("ref", ["churn", "churn/abc", "models:/", "/1", "churn@"])
def test_malformed_version_references_are_one_line_errors(registry: Registry, ref: str) -> None:
    code, out = invoke("models", "lineage", ref)
    assert (code, out.startswith("error: Invalid model version")) == (1, True)


def test_bad_filter_is_a_one_line_error(registry: Registry) -> None:
    code, out = invoke("models", "list", "--filter", "name >>> 1")
    assert (code, out.startswith("error: "), "Traceback" in out) == (1, True, False)


# ------------------------------------------------------------------------------------------------------ REST
def test_rest_backend_reads_history_lineage_card_and_files_through_native_routes(tmp_path: Path, home: Path) -> None:
    with shipyard_server(tmp_path / "server") as server:
        populated = _populate(server.root)
        client = RestBackend(server.url)
        try:
            client.set_alias("churn", "champion", "2", "promoted")
            events = client.model_history("churn")
            lineage = client.model_lineage("churn", "2")
            card = client.model_card("churn", "2")
            files = download_tree(client, client.resolve_model_uri("models:/churn/2"), tmp_path / "out")
        finally:
            client.close()
            populated.close()
    assert (
        events[0].kind,
        events[0].reason,
        lineage.chain[0],
        lineage.params,
        "sklearn" in card,
        sorted(p.name for p in files),
    ) == (
        "model_version_alias.created",
        "promoted",
        ("dataset", "customers@d1g3st"),
        {"max_depth": "6"},
        True,
        ["MLmodel", "model.bin"],
    )


def test_models_history_over_rest_shows_the_alias_move(tmp_path: Path, home: Path) -> None:
    with shipyard_server(tmp_path / "server") as server:
        populated = _populate(server.root)
        try:
            invoke("models", "alias", "churn", "champion", "1", "-u", server.url)
            invoke("models", "alias", "churn", "champion", "2", "--reason", "fresher data", "-u", server.url)
            code, out = invoke("models", "history", "churn", "-u", server.url)
        finally:
            populated.close()
    moved = next(line for line in out.splitlines() if "model_version_alias.moved" in line)
    assert (code, "1 → 2" in moved, "fresher data" in moved) == (0, True, True)


def test_models_over_rest_unknown_model_is_a_one_line_error(tmp_path: Path, home: Path) -> None:
    with shipyard_server(tmp_path / "server") as server:
        code, out = invoke("models", "show", "nope", "-u", server.url)
    assert (code, out.startswith("error: "), "not found" in out) == (1, True, True)


# ------------------------------------------------------------------------------------------------- reproduce
@pytest.fixture
def embedded_sdk(home: Path) -> Iterator[None]:
    sy.set_tracking_uri("")
    yield
    while sy.active_run() is not None:
        sy.end_run()
    fluent._state.reset(None)


def test_runs_reproduce_prints_command_code_python_and_pinned_packages(embedded_sdk: None) -> None:
    import platform

    with sy.start_run() as run:
        pass
    code, out = invoke("runs", "reproduce", run.run_id)
    tags = sy.get_run(run.run_id).tags
    assert (
        code,
        tags[TAG_COMMAND].split()[0] in out,
        platform.python_version() in out,
        "Pinned environment (" in out,
        "typer==" in out,
    ) == (0, True, True, True, True)


def test_runs_reproduce_writes_the_requirements_to_dst(embedded_sdk: None, tmp_path: Path) -> None:
    with sy.start_run() as run:
        pass
    invoke("runs", "reproduce", run.run_id, "--dst", str(tmp_path / "env"))
    assert "typer==" in (tmp_path / "env" / "requirements.txt").read_text()


def test_runs_reproduce_unknown_run_is_a_one_line_error(home: Path) -> None:
    code, out = invoke("runs", "reproduce", "0123456789abcdef0123456789abcdef")
    assert (code, out.startswith("error: "), "Traceback" in out) == (1, True, False)


def _recorded_run(home: Path, tags: dict[str, str]) -> str:
    """A run with the given lineage tags and an empty pinned environment."""
    database = open_database(f"sqlite:///{home / 'shipyard.db'}")
    tracking = TrackingService(TrackingStore(database))
    run = tracking.create_run("0", user_id="ann", start_time_ms=1000, tags=tags)
    artifacts = open_artifact_store(str(home / "artifacts"))
    artifacts.write_bytes(f"{artifact_key(run.artifact_uri)}/{PACKAGES_ARTIFACT}", b"")
    database.dispose()
    return run.run_id


def _git_repo(folder: Path, script: str) -> str:
    folder.mkdir()
    (folder / "train.py").write_text(script)

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
            cwd=folder,
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip()

    git("init", "--quiet")
    git("add", "train.py")
    git("commit", "--quiet", "-m", "train")
    return git("rev-parse", "HEAD")


def test_runs_reproduce_exec_refuses_a_dirty_tree(home: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commit = _git_repo(repo, "print('hi')\n")
    run_id = _recorded_run(
        home,
        {
            TAG_COMMAND: f"{sys.executable} {repo / 'train.py'}",
            TAG_SOURCE_NAME: str(repo / "train.py"),
            TAG_GIT_COMMIT: commit,
            TAG_GIT_DIRTY: "true",
        },
    )
    code, out = invoke("runs", "reproduce", run_id, "--exec", "--dst", str(tmp_path / "work"))
    assert (code, "--allow-dirty" in out, (tmp_path / "work").exists()) == (1, True, False)


@pytest.mark.slow
def test_runs_reproduce_exec_runs_the_command_in_a_fresh_virtualenv(home: Path, tmp_path: Path) -> None:
    run_id = _recorded_run(home, {TAG_COMMAND: f"{sys.executable} -c print(__import__('sys').prefix)"})
    code, out = invoke("runs", "reproduce", run_id, "--exec", "--dst", str(tmp_path / "work"))
    assert (code, str(tmp_path / "work" / "venv") in out, "[4/4]" in out) == (0, True, True)


@pytest.mark.slow
def test_runs_reproduce_exec_runs_the_recorded_commit_not_the_working_tree(home: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commit = _git_repo(repo, "import pathlib\nprint('committed code in', pathlib.Path(__file__).parent.name)\n")
    (repo / "train.py").write_text("print('uncommitted edit')\n")
    run_id = _recorded_run(
        home,
        {
            TAG_COMMAND: f"{sys.executable} {repo / 'train.py'}",
            TAG_SOURCE_NAME: str(repo / "train.py"),
            TAG_GIT_COMMIT: commit,
            TAG_GIT_DIRTY: "false",
        },
    )
    code, out = invoke("runs", "reproduce", run_id, "--exec", "--dst", str(tmp_path / "work"))
    assert (code, "committed code in src" in out, "uncommitted edit" in out) == (0, True, False)
