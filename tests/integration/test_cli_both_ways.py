"""Every capability's CLI both ways: embedded (in-process on the store) and against a real ``shipyard server``.

Each test runs once per way with the same expectations: ``models`` (through the SDK's backend), ``webhooks``,
``users``/``tokens``, ``monitors`` (through the client ports) and ``deployments`` (an inference server whose models
and store are embedded, or a tracking server's). Each capability also gets one bad input, which must be one clear
``error:`` line and exit status 1 both ways.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.client import Backend, open_backend
from shipyard.config import Settings
from shipyard.tracking.entities import Metric, Param
from tests.support.servers import serving_server, shipyard_server

WAYS = ["embedded", "server"]
_CLEARED = (
    "SHIPYARD_TRACKING_URI",
    "MLFLOW_TRACKING_URI",
    "SHIPYARD_STORE_URI",
    "SHIPYARD_ARTIFACTS_URI",
    "SHIPYARD_TRACKING_TOKEN",
    "MLFLOW_TRACKING_TOKEN",
    "SHIPYARD_TRACKING_USERNAME",
    "MLFLOW_TRACKING_USERNAME",
    "SHIPYARD_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_PASSWORD",
    "SHIPYARD_DEPLOYMENT_URL",
)
MLMODEL = "flavors:\n  python_function:\n    loader_module: shipyard.models\n  sklearn:\n    sklearn_version: 1.5.0\n"
# Nested past Python's recursion limit: parsing it raises, and a card must still be shown.
HOSTILE_MLMODEL = "flavors: {sklearn: {}}\nsignature: {inputs: '" + "[" * 3000 + "]" * 3000 + "'}\n"
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Outcome:
    """What one command did."""

    code: int
    out: str
    err: str


@dataclass(frozen=True)
class Way:
    """One way to run the CLI: its environment, and the server's URL when there is one."""

    name: str
    root: Path
    variables: dict[str, str]
    server: str | None

    def cli(self, *args: str, stdin: str | None = None) -> Outcome:
        """Run ``shipyard ARGS`` in this process, in this way's environment."""
        env: dict[str, str | None] = dict.fromkeys(_CLEARED)
        env.update(self.variables)
        result = CliRunner().invoke(app, list(args), input=stdin, env=env)
        return Outcome(result.exit_code, result.stdout, result.stderr)

    @property
    def accounts(self) -> tuple[str, ...]:
        """How ``users`` and ``tokens`` are told to ask the server (they work on the store by default)."""
        return ("--server", self.server) if self.server else ()

    def backend(self) -> Backend:
        """The SDK's backend for this way (to set up what a test needs)."""
        return open_backend(Settings.from_env(self.variables))


@pytest.fixture(scope="module", params=WAYS)
def way(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Way]:
    root = tmp_path_factory.mktemp(request.param)
    # Empty, not absent: a subprocess (`shipyard serve`, a training script) must not inherit the caller's.
    variables = {"SHIPYARD_HOME": str(root / "home"), "SHIPYARD_TRACKING_URI": "", "MLFLOW_TRACKING_URI": ""}
    variables["COLUMNS"] = "250"
    if request.param == "embedded":
        yield Way("embedded", root, variables, None)
        return
    with shipyard_server(root / "server", env={"SHIPYARD_DELIVER_WEBHOOKS": "0"}) as server:
        yield Way("server", root, {**variables, "SHIPYARD_TRACKING_URI": server.url}, server.url)


def _one_error_line(outcome: Outcome) -> tuple[int, bool, bool]:
    """Exit status, whether stderr starts with ``error:``, and whether a traceback leaked."""
    text = outcome.err or outcome.out
    return outcome.code, text.startswith("error: "), "Traceback" in text


# ------------------------------------------------------------------------------------------------ registry
@pytest.fixture(scope="module")
def model(way: Way, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Registered model ``both-ways`` with versions 1 and 2 from one run, and version 3 with a hostile MLmodel."""
    folder = tmp_path_factory.mktemp("files")
    (folder / "MLmodel").write_text(MLMODEL)
    (folder / "model.bin").write_bytes(b"weights")
    (folder / "hostile").write_text(HOSTILE_MLMODEL)
    backend = way.backend()
    try:
        experiment = backend.create_experiment("both-ways")
        run = backend.create_run(experiment, "train", {}, int(time.time() * 1000), "ann")
        backend.log_batch(run.run_id, [Metric("auc", 0.91, 1000, 3)], [Param("max_depth", "6")], [])
        backend.upload_artifact(run, folder / "MLmodel", "model/MLmodel")
        backend.upload_artifact(run, folder / "model.bin", "model/data/model.bin")
        backend.upload_artifact(run, folder / "hostile", "hostile/MLmodel")
        backend.create_registered_model("both-ways", {"team": "growth"}, "Predicts churn.")
        for _ in range(2):
            backend.create_model_version("both-ways", f"runs:/{run.run_id}/model", run.run_id, None, {}, None, None)
        backend.create_model_version("both-ways", f"runs:/{run.run_id}/hostile", run.run_id, None, {}, None, None)
    finally:
        backend.close()
    return "both-ways"


def test_models_list_show_and_versions(way: Way, model: str) -> None:
    listed = way.cli("models", "list")
    shown = way.cli("models", "show", model)
    versions = way.cli("models", "versions", model)

    assert (0, 0, 0) == (listed.code, shown.code, versions.code), listed.err + shown.err + versions.err
    assert (True, True, True) == (model in listed.out, "Predicts churn." in shown.out, "growth" in shown.out)
    rows = [line.split() for line in versions.out.splitlines() if line.startswith("│ ")]
    assert ["3", "2", "1"] == [row[1] for row in rows if row[1].isdigit()]


def test_models_alias_and_stage_move_and_the_history_says_so(way: Way, model: str) -> None:
    aliased = way.cli("models", "alias", model, "champion", "2", "--reason", "better auc")
    staged = way.cli("models", "stage", f"{model}@champion", "Staging")
    history = way.cli("models", "history", model)
    created = next(line for line in history.out.splitlines() if "model_version_alias.created" in line)

    assert (0, 0, 0) == (aliased.code, staged.code, history.code), aliased.err + staged.err + history.err
    assert f"{model}@champion → version 2." == aliased.out.strip()
    assert f"{model} version 2: None → Staging." == staged.out.strip()
    assert ("champion" in created, "better auc" in created) == (True, True)


def test_models_lineage_card_and_download(way: Way, model: str, tmp_path: Path) -> None:
    lineage = way.cli("models", "lineage", f"{model}/1")
    card = way.cli("models", "card", f"{model}/1")
    downloaded = way.cli("models", "download", f"{model}/1", "--dst", str(tmp_path / "out"))

    assert (0, 0, 0) == (lineage.code, card.code, downloaded.code), lineage.err + card.err + downloaded.err
    assert (True, True) == ("max_depth" in lineage.out, "auc" in lineage.out)
    assert (True, True) == (card.out.startswith(f"# Model card: {model} version 1"), "sklearn" in card.out)
    assert ["MLmodel", "model.bin"] == sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file())


def test_models_card_of_a_hostile_mlmodel_is_still_shown(way: Way, model: str) -> None:
    card = way.cli("models", "card", f"{model}/3")

    assert (0, True, True) == (card.code, "No signature recorded" in card.out, "Flavor" not in card.out), card.err


def test_models_bad_reference_is_one_clear_error(way: Way, model: str) -> None:
    assert (1, True, False) == _one_error_line(way.cli("models", "lineage", f"{model}/abc"))
    assert (1, True, False) == _one_error_line(way.cli("models", "show", "no-such-model"))


# ------------------------------------------------------------------------------------------------ webhooks
def test_webhooks_create_list_disable_enable_and_delete(way: Way) -> None:
    created = way.cli("webhooks", "create", "ci", "https://hooks.example.com/x", "--event", "model_version.*")
    webhook_id = created.out.strip()
    listed = way.cli("webhooks", "list")
    disabled = way.cli("webhooks", "disable", webhook_id)
    shown = way.cli("webhooks", "show", webhook_id)
    enabled = way.cli("webhooks", "enable", webhook_id)
    deleted = way.cli("webhooks", "delete", webhook_id)
    gone = way.cli("webhooks", "show", webhook_id)

    assert [0, 0, 0, 0, 0, 0] == [o.code for o in (created, listed, disabled, shown, enabled, deleted)], created.err
    assert (True, True, True) == (webhook_id in listed.out, "DISABLED" in shown.out, "model_version.*" in shown.out)
    assert (1, True, False) == _one_error_line(gone)


def test_webhooks_bad_url_is_one_clear_error(way: Way) -> None:
    refused = way.cli("webhooks", "create", "ci", "ftp://hooks.example.com/x", "--event", "*")

    assert (1, True, False) == _one_error_line(refused)


# ------------------------------------------------------------------------------------------ users and tokens
def test_users_create_grant_list_and_delete(way: Way) -> None:
    backend = way.backend()
    try:
        experiment = backend.create_experiment("granted")
    finally:
        backend.close()
    accounts = way.accounts
    created = way.cli("users", "create", "ada", "--password-stdin", *accounts, stdin="long-enough-1\n")
    granted = way.cli("users", "grant", "ada", "experiment", experiment, "edit", *accounts)
    shown = way.cli("users", "permissions", "ada", *accounts)
    admin = way.cli("users", "set-admin", "ada", *accounts)
    listed = way.cli("users", "list", *accounts)
    revoked = way.cli("users", "revoke", "ada", "experiment", experiment, *accounts)
    after = way.cli("users", "permissions", "ada", *accounts)
    deleted = way.cli("users", "delete", "ada", *accounts)
    remaining = way.cli("users", "list", *accounts)

    outcomes = (created, granted, shown, admin, listed, revoked, after, deleted, remaining)
    assert [0] * 9 == [o.code for o in outcomes], [o.err for o in outcomes]
    grant_row = next(line for line in shown.out.splitlines() if " experiment " in line)
    assert (experiment, "EDIT") == (grant_row.split()[3], grant_row.split()[5])
    assert ("admin" in next(line for line in listed.out.splitlines() if " ada " in line)) is True
    assert (False, False) == (" experiment " in after.out, " ada " in remaining.out)


def test_tokens_create_list_and_revoke(way: Way) -> None:
    accounts = way.accounts
    way.cli("users", "create", "bob", "--password-stdin", *accounts, stdin="long-enough-2\n")
    created = way.cli("tokens", "create", "bob", "--name", "laptop", *accounts)
    listed = way.cli("tokens", "list", "--user", "bob", *accounts)
    token_id = next(line.split()[1] for line in listed.out.splitlines() if "laptop" in line)
    revoked = way.cli("tokens", "revoke", token_id, *accounts)
    after = way.cli("tokens", "list", "--user", "bob", *accounts)

    assert [0, 0, 0, 0] == [o.code for o in (created, listed, revoked, after)], created.err + listed.err
    assert (True, True, False) == (created.out.strip().startswith("sy_"), "bob" in listed.out, token_id in after.out)


def test_users_bad_permission_is_one_clear_error(way: Way) -> None:
    way.cli("users", "create", "cy", "--password-stdin", *way.accounts, stdin="long-enough-3\n")
    refused = way.cli("users", "grant", "cy", "experiment", "0", "owner", *way.accounts)

    assert ((1, True, False), True) == (_one_error_line(refused), "Invalid permission" in refused.err)


def test_users_unknown_user_is_one_clear_error(way: Way) -> None:
    assert (1, True, False) == _one_error_line(way.cli("users", "delete", "nobody", *way.accounts))


# ------------------------------------------------------------------------------------------------ monitors
@pytest.fixture(scope="module")
def monitor_spec(way: Way) -> Path:
    """A Parquet data set of four days, the last shifted, and a monitor spec that compares days to the first."""
    import numpy as np
    import pandas as pd
    import yaml

    rng = np.random.default_rng(3)
    hours = np.arange(4 * 24)
    frame = pd.DataFrame(
        {
            "ts": T0_MS + hours * 3_600_000,
            "x": [rng.normal(4.0 if hour // 24 == 3 else 0.0, 1.0) for hour in hours],
            "tenure": rng.normal(12.0, 3.0, len(hours)),
        }
    )
    data = way.root / "data.parquet"
    frame.to_parquet(data)
    spec = {
        "name": "both-ways-drift",
        "dataset": {"path": str(data), "time_column": "ts"},
        "reference": {"window": {"start_ms": T0_MS, "end_ms": T0_MS + DAY_MS}},
        "window": "1d",
        "start_ms": T0_MS + DAY_MS,
        "drift": {"preset": "robust"},
        "alerts": [{"name": "x-drift", "rule": "column_drift", "column": "x"}],
    }
    path = way.root / "monitor.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_monitors_create_run_show_list_and_delete(way: Way, monitor_spec: Path) -> None:
    created = way.cli("monitors", "create", str(monitor_spec))
    ran = way.cli("monitors", "run", "both-ways-drift", "--now-ms", str(T0_MS + 4 * DAY_MS))
    shown = way.cli("monitors", "show", "both-ways-drift")
    listed = way.cli("monitors", "list")
    as_json = way.cli("monitors", "list", "--json")
    deleted = way.cli("monitors", "delete", "both-ways-drift")
    after = way.cli("monitors", "list")

    outcomes = (created, ran, shown, listed, as_json, deleted, after)
    assert [0] * 7 == [o.code for o in outcomes], [o.err for o in outcomes]
    assert ("3 window(s)" in ran.out, "FIRING" in ran.out, "FIRING" in shown.out) == (True, True, True)
    assert ("both-ways-drift" in listed.out, '"both-ways-drift"' in as_json.out) == (True, True)
    assert "both-ways-drift" not in after.out


def test_monitors_bad_spec_and_unknown_monitor_are_one_clear_error(way: Way, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: bad\nwindow: 1d\n")
    refused = way.cli("monitors", "create", str(spec))
    unknown = way.cli("monitors", "show", "no-such-monitor")

    assert ((1, True, False), (1, True, False)) == (_one_error_line(refused), _one_error_line(unknown))


# --------------------------------------------------------------------------------------------- deployments
@pytest.fixture(scope="module")
def served(way: Way) -> Iterator[str]:
    """``shipyard serve models:/served/1``, its models (and sign-in store) from this way's registry."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(50, 2)), columns=["a", "b"])
    models = [LinearRegression().fit(frame, frame["a"] * k) for k in (1, 2)]
    code = (
        "import pickle, sys, shipyard as sy\n"
        "models, frame = pickle.loads(sys.stdin.buffer.read())\n"
        "for model in models:\n"
        "    with sy.start_run(experiment='served'):\n"
        "        sy.log_model(model, 'model', input_example=frame.head(2), registered_model_name='served')\n"
    )
    env = {**{k: v for k, v in os.environ.items() if k not in _CLEARED}, **way.variables}
    subprocess.run([sys.executable, "-c", code], input=pickle.dumps((models, frame)), env=env, check=True)
    args = ("--no-prediction-log", "--poll-interval", "0")
    with serving_server("models:/served/1", way.root / "serve", extra_args=args, env=way.variables) as server:
        yield server.url


def test_deployments_status_apply_and_rollback(way: Way, served: str, tmp_path: Path) -> None:
    spec = tmp_path / "v2.yaml"
    spec.write_text("name: served\nroutes: [{name: main, model: 'models:/served/2'}]\n")
    before = way.cli("deployments", "status", "--server", served)
    applied = way.cli("deployments", "apply", str(spec), "--server", served)
    rolled = way.cli("deployments", "rollback", "--server", served)
    after = way.cli("deployments", "status", "--server", served, "--json")

    assert [0, 0, 0, 0] == [o.code for o in (before, applied, rolled, after)], [before.err, applied.err, rolled.err]
    assert ("Applied: revision 2 is serving." in applied.out, "Rolled back: revision 3" in rolled.out) == (True, True)
    assert '"version": "1"' in after.out


def test_deployments_refused_spec_is_one_clear_error(way: Way, served: str, tmp_path: Path) -> None:
    spec = tmp_path / "folder.yaml"
    spec.write_text(f"name: served\nroutes: [{{name: main, model: '{tmp_path}'}}]\n")
    refused = way.cli("deployments", "apply", str(spec), "--server", served)
    not_a_url = way.cli("deployments", "status", "--server", "127.0.0.1:1")

    assert (1, True, False) == _one_error_line(refused)
    assert ("local folder" in " ".join(refused.err.split()), _one_error_line(not_a_url)) == (True, (1, True, False))
