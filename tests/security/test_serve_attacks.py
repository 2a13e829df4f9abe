"""Attacks on `shipyard serve` (issue 12, items 2, 6 and 7): code run through an applied spec, models read from
runs the caller is denied, cross-site writes and DNS rebinding, an open network bind, and unthrottled passwords.

Each test starts real processes: a tracking server with sign-in (`auth_server`) and `shipyard serve` on it, or
`shipyard serve` on a local store.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.auth import AuthServer, auth_server
from tests.support.models import save_linear_model
from tests.support.servers import RunningServer, serving_server

pytestmark = pytest.mark.slow

YAML = {"Content-Type": "application/yaml"}
ROW = {"a": 1.0, "b": 2.0, "c": 3.0}
EVIL = "http://evil.example"
# A python-flavor model whose unpickling writes the serve process's tracking token to a file: the gadget.
GADGET = """
import os, pathlib, sys
import shipyard as sy

class Gadget:
    def __init__(self, marker):
        self.marker = marker
    def predict(self, data):
        return [0.0] * len(data)
    def __getstate__(self):
        return {"marker": self.marker}
    def __setstate__(self, state):
        pathlib.Path(state["marker"]).write_text(os.environ.get("SHIPYARD_TRACKING_TOKEN", "") or "ran")
        self.marker = state["marker"]

with sy.start_run(experiment=sys.argv[2]) as run:
    sy.log_model(Gadget(sys.argv[1]), "model")
print(run.run_id)
"""
SAFE = """
import sys
import numpy as np, pandas as pd
from sklearn.linear_model import LinearRegression
import shipyard as sy

frame = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 3)), columns=["a", "b", "c"])
model = LinearRegression().fit(frame, frame["a"])
with sy.start_run(experiment=sys.argv[1]) as run:
    sy.log_model(model, "model", input_example=frame.head(2), registered_model_name=sys.argv[2] or None)
print(run.run_id)
"""


@dataclass(frozen=True)
class Tracking:
    """A tracking server with sign-in, an admin, a read-only account for `serve`, and mallory."""

    server: AuthServer
    serve_token: str
    mallory: str
    marker: Path
    gadget_run: str
    secret_run: str

    def env(self, token: str) -> dict[str, str]:
        return {"SHIPYARD_TRACKING_URI": self.server.url, "SHIPYARD_TRACKING_TOKEN": token}

    def grant(self, resource_type: str, resource_id: str, username: str, permission: str) -> None:
        with self.server.admin() as admin:
            granted = admin.put(
                "/api/v1/auth/permissions",
                json={
                    "resource_type": resource_type,
                    "resource_id": resource_id,
                    "username": username,
                    "permission": permission,
                },
            )
        assert 200 == granted.status_code, granted.text


def _python(code: str, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert 0 == done.returncode, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tracking]:
    """Mallory (EDIT on deployment `churn` only) logs a gadget to her own experiment; the admin logs `churn` (read
    by all) and a model in experiment `secret`, which mallory is explicitly denied."""
    root = tmp_path_factory.mktemp("serve-attacks")
    with auth_server(root / "tracking") as server:
        admin_env = {"SHIPYARD_TRACKING_URI": server.url, "SHIPYARD_TRACKING_TOKEN": server.admin_token}
        _python(SAFE, "public", "churn", env=admin_env)
        _python(SAFE, "public", "churn", env=admin_env)
        secret_run = _python(SAFE, "secret", "", env=admin_env)
        mallory = server.user("mallory")
        marker = root / "gadget-ran.txt"
        gadget_run = _python(GADGET, str(marker), "mallory", env={**admin_env, "SHIPYARD_TRACKING_TOKEN": mallory})
        marker.unlink(missing_ok=True)  # only the serve process's load counts
        found = Tracking(server, server.user("serving"), mallory, marker, gadget_run, secret_run)
        with server.admin() as admin:
            secret = admin.get("/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": "secret"})
        found.grant("experiment", secret.json()["experiment"]["experiment_id"], "mallory", "NO_PERMISSIONS")
        found.grant("deployment", "churn", "mallory", "EDIT")
        yield found


@pytest.fixture
def served(tracking: Tracking, tmp_path: Path) -> Iterator[RunningServer]:
    """`shipyard serve --auth models:/churn/1` with a read-only token of its own (as the docs tell operators)."""
    args = ("--auth", "--no-prediction-log")
    with serving_server(
        "models:/churn/1", tmp_path / "serve", extra_args=args, env=tracking.env(tracking.serve_token)
    ) as s:
        yield s


def _apply(server: RunningServer, token: str, spec: str) -> httpx.Response:
    headers = {**YAML, "Authorization": f"Bearer {token}"}
    return httpx.put(f"{server.url}/v1/deployment", content=spec, headers=headers, timeout=120)


def _revision(server: RunningServer, token: str) -> int:
    status = httpx.get(f"{server.url}/v1/deployment", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return int(status.json()["revision"]["number"])


def test_an_applied_python_model_never_runs_its_code_in_serve(tracking: Tracking, served: RunningServer) -> None:
    """Regression (issue 12, item 2): on commit 665ca51 mallory, with EDIT on the deployment only, applied her own
    run's python model over `PUT /v1/deployment`; its `__setstate__` ran in `serve` and read its tracking token."""
    spec = f"name: churn\nroutes: [{{name: main, model: 'runs:/{tracking.gadget_run}/model'}}]\n"

    refused = _apply(served, tracking.mallory, spec)

    assert (400, True) == (refused.status_code, "execute code" in refused.json()["error"])
    assert not tracking.marker.exists()
    assert 1 == _revision(served, tracking.mallory)


def test_the_operator_can_opt_in_to_code_models_over_the_api(tracking: Tracking, tmp_path: Path) -> None:
    """The same apply goes through when `serve` was started with --allow-code-models-over-api (and so the gadget
    of the test above is real: it runs as soon as it is allowed to)."""
    spec = f"name: churn\nroutes: [{{name: main, model: 'runs:/{tracking.gadget_run}/model'}}]\n"
    args = ("--auth", "--no-prediction-log", "--allow-code-models-over-api")
    env = tracking.env(tracking.serve_token)
    try:
        with serving_server("models:/churn/1", tmp_path / "serve", extra_args=args, env=env) as server:
            applied = _apply(server, tracking.mallory, spec)
        ran = tracking.marker.exists()
    finally:
        tracking.marker.unlink(missing_ok=True)

    assert (200, True) == (applied.status_code, ran)


def test_an_applied_model_from_a_denied_run_is_refused(tracking: Tracking, served: RunningServer) -> None:
    """Regression (issue 12, item 2): on commit 665ca51 `serve` resolved `runs:/…` with its own credentials, so
    mallory served (and predicted with) a model from an experiment she is explicitly denied."""
    spec = f"name: churn\nroutes: [{{name: main, model: 'runs:/{tracking.secret_run}/model'}}]\n"

    refused = _apply(served, tracking.mallory, spec)

    assert 403 == refused.status_code, refused.text
    assert 1 == _revision(served, tracking.mallory)


def test_serve_with_a_read_only_token_applies_a_model_the_caller_may_read(
    tracking: Tracking, served: RunningServer
) -> None:
    """`serve` needs nothing but READ: with a plain user's token it resolves, loads and switches to version 2."""
    applied = _apply(served, tracking.mallory, "name: churn\nroutes: [{name: main, model: 'models:/churn/2'}]\n")

    assert 200 == applied.status_code, applied.text
    assert ("2", 2) == (applied.json()["routes"][0]["version"], _revision(served, tracking.mallory))


# ---- item 6: request guards and the bind rule ------------------------------------------------------------------


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """`shipyard serve` without sign-in, on 127.0.0.1, of a local model with a prediction log; one revision applied."""
    root = tmp_path_factory.mktemp("serve-guards")
    save_linear_model(root / "model")
    args = ("--prediction-log", str(root / "log"))
    with serving_server(root / "model", root / "serve", extra_args=args) as server:
        spec = (
            f"name: model\nroutes: [{{name: main, model: '{root / 'model'}', weight: 1}}]\nsticky: {{header: X-User}}\n"
        )
        applied = httpx.put(f"{server.url}/v1/deployment", content=spec, headers=YAML, timeout=120)
        assert 200 == applied.status_code, applied.text
        yield server


def _status(server: RunningServer) -> dict[str, object]:
    answer = httpx.get(f"{server.url}/v1/deployment", timeout=30).json()
    assert isinstance(answer, dict)
    return answer


def test_a_cross_site_text_plain_post_cannot_roll_a_deployment_back(local: RunningServer) -> None:
    """Regression (issue 12, item 6): on commit 665ca51 a page of another site rolled the deployment back with a
    `text/plain` POST (a form or a no-cors fetch needs no preflight for it)."""
    before = _status(local)["revision"]

    answer = httpx.post(
        f"{local.url}/v1/deployment/rollback",
        content="{}",
        headers={"Origin": EVIL, "Content-Type": "text/plain"},
        timeout=30,
    )

    assert (403, before) == (answer.status_code, _status(local)["revision"])


def test_a_text_plain_write_without_origin_is_refused(local: RunningServer) -> None:
    """A browser that sends no Origin still cannot send a simple body type to a write route."""
    before = _status(local)["revision"]

    answer = httpx.post(
        f"{local.url}/v1/deployment/rollback", content="{}", headers={"Content-Type": "text/plain"}, timeout=30
    )

    assert (415, before) == (answer.status_code, _status(local)["revision"])


def test_a_cross_site_post_cannot_poison_feedback(local: RunningServer) -> None:
    """Regression (issue 12, item 6): on commit 665ca51 a cross-site `text/plain` POST to `/v1/feedback` was
    accepted, feeding the A/B verdicts and the bandit's weights."""
    predicted = httpx.post(f"{local.url}/invocations", json={"dataframe_records": [ROW]}, timeout=30)
    label = f'{{"request_id": "{predicted.headers["x-request-id"]}", "label": 1e9}}'

    answers = [
        httpx.post(f"{local.url}/v1/feedback", content=label, headers=headers, timeout=30).status_code
        for headers in ({"Origin": EVIL, "Content-Type": "text/plain"}, {"Content-Type": "text/plain"})
    ]

    assert [403, 415] == answers


def test_a_rebound_host_name_is_refused(local: RunningServer) -> None:
    """Regression (issue 12, item 6): on commit 665ca51 `serve` answered any Host, so a page whose name was
    re-bound to 127.0.0.1 (DNS rebinding) read the deployment's status and could change it as same-origin."""
    rebound = {"Host": "evil.example"}

    answers = (
        httpx.get(f"{local.url}/v1/deployment", headers=rebound, timeout=30).status_code,
        httpx.post(
            f"{local.url}/invocations", json={"dataframe_records": [ROW]}, headers=rebound, timeout=30
        ).status_code,
        httpx.get(f"{local.url}/v2/health/ready", headers=rebound, timeout=30).status_code,  # probes: any host
    )

    assert (400, 400, 200) == answers


def test_legitimate_clients_still_write(local: RunningServer) -> None:
    """Same-origin and non-browser clients keep working: JSON and CSV scoring, untyped v2 infer (tritonclient)."""
    csv = httpx.post(f"{local.url}/invocations", content="a,b,c\n1,2,3\n", headers={"Content-Type": "text/csv"})
    body = (
        b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1.0]}, '
        b'{"name": "b", "shape": [1], "datatype": "FP64", "data": [2.0]}, '
        b'{"name": "c", "shape": [1], "datatype": "FP64", "data": [3.0]}]}'
    )
    infer = httpx.post(f"{local.url}/v2/models/model/infer", content=body, timeout=30)
    same_origin = httpx.get(f"{local.url}/v1/deployment", headers={"Origin": local.url}, timeout=30)

    assert (200, 200, 200) == (csv.status_code, infer.status_code, same_origin.status_code)


def test_serve_refuses_a_public_address_without_sign_in(tmp_path: Path) -> None:
    """Regression (issue 12, item 6): on commit 665ca51 `shipyard serve --host 0.0.0.0` served without `--auth`,
    which `shipyard server` refuses."""
    save_linear_model(tmp_path / "model")

    done = subprocess.run(
        [sys.executable, "-m", "shipyard", "serve", str(tmp_path / "model"), "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "SHIPYARD_HOME": str(tmp_path / "home"), "SHIPYARD_AUTH": "0"},
    )

    assert (2, True, True) == (
        done.returncode,
        "without authentication" in done.stderr,
        "--insecure-no-auth" in done.stderr,
    )


# ---- item 7: the sign-in throttle of serve ------------------------------------------------------------------------


def test_concurrent_wrong_passwords_to_serve_are_throttled(tmp_path: Path) -> None:
    """Regression (issue 12, item 7): on commit 665ca51 `shipyard serve --auth` checked Basic passwords with no
    throttle at all; now of 30 sent at once, at most 10 reach the password check and the rest get 429."""
    from shipyard.auth import AuthService
    from shipyard.config import Settings
    from shipyard.db import open_database

    home = tmp_path / "home"
    database = open_database(Settings(home=home).resolved_store_uri)
    try:
        AuthService(database).create_user("ada", "right-password-1")
    finally:
        database.dispose()
    save_linear_model(tmp_path / "model")
    env = {"SHIPYARD_HOME": str(home), "SHIPYARD_TRACKING_URI": "", "MLFLOW_TRACKING_URI": ""}
    args = ("--auth", "--no-prediction-log")
    with serving_server(tmp_path / "model", tmp_path / "serve", extra_args=args, env=env) as server:

        def guess(attempt: int) -> int:
            return httpx.get(f"{server.url}/v1/deployment", auth=("ada", f"wrong-{attempt}"), timeout=60).status_code

        with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
            statuses = list(pool.map(guess, range(30)))
        right = httpx.get(f"{server.url}/v1/deployment", auth=("ada", "right-password-1"), timeout=60).status_code

    assert {401, 429} == set(statuses)
    assert 10 >= statuses.count(401)
    assert 429 == right  # a locked key refuses even the right password, so it cannot be probed
