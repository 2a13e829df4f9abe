"""Rollouts on a running `shipyard serve`: blue-green on alias moves, canary split, shadow, sticky keys, apply and
rollback through `shipyard deployments`, feedback and the A/B analysis, all against a real registry store."""

from __future__ import annotations

import concurrent.futures
import contextlib
import html
import os
import pickle
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.support.models import COLUMNS
from tests.support.servers import RunningServer, serving_server

pytestmark = pytest.mark.slow

MODEL = "churn"
# version -> how its prediction depends on a, b, c (each version answers differently, so answers tell them apart)
TARGETS = {1: (1.0, 1.0, 1.0), 2: (2.0, 0.0, 0.0), 3: (0.0, 0.0, -1.0)}
ROW = {"a": 1.0, "b": 2.0, "c": 3.0}
YAML = {"Content-Type": "application/yaml"}  # a spec's body type (untyped and text/plain bodies are refused)


@dataclass(frozen=True)
class Registry:
    home: Path

    @property
    def env(self) -> dict[str, str]:
        return {"SHIPYARD_HOME": str(self.home), "SHIPYARD_TRACKING_URI": "", "MLFLOW_TRACKING_URI": ""}

    def set_alias(self, alias: str, version: int) -> None:
        from shipyard.client import open_backend
        from shipyard.config import Settings

        backend = open_backend(Settings(home=self.home))
        try:
            backend.set_alias(MODEL, alias, str(version), "test")
        finally:
            backend.close()


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """Three registered versions of `churn`, logged by another process as a training job would."""
    from sklearn.linear_model import LinearRegression

    root = tmp_path_factory.mktemp("deployments")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(100, 3)), columns=COLUMNS)
    models = [LinearRegression().fit(frame, frame.to_numpy() @ np.array(TARGETS[v])) for v in sorted(TARGETS)]
    code = (
        "import pickle, sys, shipyard as sy\n"
        "models, frame = pickle.loads(sys.stdin.buffer.read())\n"
        "for model in models:\n"
        "    with sy.start_run(experiment='deployments'):\n"
        f"        sy.log_model(model, 'model', input_example=frame.head(2), registered_model_name={MODEL!r})\n"
    )
    found = Registry(root / "home")
    subprocess.run(
        [sys.executable, "-c", code],
        input=pickle.dumps((models, frame)),
        env={**os.environ, **found.env},
        check=True,
        cwd=root,
    )
    return found


@pytest.fixture
def registry(logged: Registry, tmp_path: Path) -> Registry:
    """A copy of the logged registry for one test: the deployment's revisions, its outbox cursor and the aliases
    live in the metadata store, so each test starts from the three versions alone."""
    home = tmp_path / "registry"
    shutil.copytree(logged.home, home)
    return Registry(home)


def expected(version: int, row: dict[str, float] = ROW) -> float:
    return float(np.dot([row[c] for c in COLUMNS], TARGETS[version]))


@contextlib.contextmanager
def deployment(registry: Registry, target: str, root: Path, *extra: str) -> Iterator[RunningServer]:
    """`shipyard serve TARGET` on the registry, with its own prediction log under `root`."""
    args = ("--prediction-log", str(root / "log"), "--poll-interval", "0.2")
    with serving_server(target, root, extra_args=(*args, *extra), env=registry.env) as server:
        yield server


def predict(client: httpx.Client, row: dict[str, float] = ROW, **headers: str) -> httpx.Response:
    body = {"dataframe_records": [row]}
    return client.post("/invocations", json=body, headers=headers)


def version_of(answer: httpx.Response) -> int:
    return int(answer.headers["x-shipyard-model-version"])


def shipyard(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shipyard", *args],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=120,
    )


class Load:
    """Steady traffic from a few threads, recording every answer's status and model version."""

    def __init__(self, url: str, threads: int = 4) -> None:
        self.url = url
        self.stop = threading.Event()
        self.answers: list[tuple[float, int, int | None, float | None]] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                try:
                    answer = predict(client)
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.errors.append(repr(exc))
                    continue
                ok = answer.status_code == 200
                version = version_of(answer) if ok else None
                value = answer.json()["predictions"][0] if ok else None
                with self._lock:
                    self.answers.append((time.monotonic(), answer.status_code, version, value))

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def wait_for(condition: object, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_an_alias_move_switches_blue_green_under_load_with_no_failed_request(
    registry: Registry, tmp_path: Path
) -> None:
    registry.set_alias("champion", 1)
    with deployment(registry, f"models:/{MODEL}@champion", tmp_path) as server, Load(server.url) as load:
        wait_for(lambda: len(load.answers) > 50)
        registry.set_alias("champion", 2)
        wait_for(lambda: any(answer[2] == 2 for answer in load.answers[-20:]))
        time.sleep(0.5)  # keep the load on after the switch
    versions = [answer[2] for answer in load.answers]
    switched_at = versions.index(2)
    assert [] == load.errors
    assert {200} == {answer[1] for answer in load.answers}
    assert {1, 2} == set(versions)
    assert all(answer[3] == pytest.approx(expected(answer[2])) for answer in load.answers)
    # once the new version answered, the old one answers at most the requests already in flight (4 threads)
    assert versions[switched_at:].count(1) <= 4


def test_rollback_returns_to_the_previous_version_at_once_and_stays(registry: Registry, tmp_path: Path) -> None:
    registry.set_alias("champion", 1)
    with (
        deployment(registry, f"models:/{MODEL}@champion", tmp_path) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        registry.set_alias("champion", 3)
        wait_for(lambda: version_of(predict(client)) == 3)
        done = shipyard("deployments", "rollback", "--server", server.url)
        right_after = version_of(predict(client))
        time.sleep(1.0)  # several alias polls: the rollback pins version 1 although the alias still says 3
        later = {version_of(predict(client)) for _ in range(20)}
        status = client.get("/v1/deployment").json()

    assert 0 == done.returncode, done.stderr
    assert "Rolled back" in done.stdout
    assert (1, {1}) == (right_after, later)
    assert "rollback to revision 1" == status["revision"]["reason"]
    assert [3, 2, 1] == [item["number"] for item in status["history"]]


def _spec(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_apply_splits_traffic_into_a_5_percent_canary_and_copies_it_to_a_shadow(
    registry: Registry, tmp_path: Path
) -> None:
    spec = _spec(
        tmp_path / "canary.yaml",
        f"""
name: {MODEL}
routes:
  - {{name: champion, model: "models:/{MODEL}/1", weight: 95}}
  - {{name: canary, model: "models:/{MODEL}/2", weight: 5}}
shadow: {{model: "models:/{MODEL}/3"}}
""",
    )
    with deployment(registry, f"models:/{MODEL}/1", tmp_path) as server:
        applied = shipyard("deployments", "apply", str(spec), "--server", server.url)
        assert 0 == applied.returncode, applied.stderr

        def send(count: int) -> Counter[tuple[str, int]]:
            seen: Counter[tuple[str, int]] = Counter()
            with httpx.Client(base_url=server.url, timeout=30) as client:
                for _ in range(count):
                    answer = predict(client)
                    assert 200 == answer.status_code
                    assert answer.json()["predictions"][0] == pytest.approx(expected(version_of(answer)))
                    seen[(answer.headers["x-shipyard-variant"], version_of(answer))] += 1
            return seen

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            seen = sum(pool.map(send, [1250] * 8), Counter())
        status = httpx.get(f"{server.url}/v1/deployment", timeout=30).json()

    assert {("champion", 1), ("canary", 2)} == set(seen)  # the shadow (version 3) never answers
    share = seen[("canary", 2)] / 10_000
    assert 0.04 <= share <= 0.06, share
    assert status["shadow"]["version"] == "3"
    assert status["shadow"]["requests"] + status["shadow"]["skipped"] >= 10_000 - 64

    from shipyard.predlog._writer import read_predictions

    logged = read_predictions(str(tmp_path / "log"), MODEL).to_pandas()
    shadow = logged[logged["shadow"]]
    assert {"3"} == set(shadow["model_version"])
    assert len(shadow) == status["shadow"]["requests"]
    assert np.allclose(shadow["prediction"].to_numpy(dtype=float), expected(3))


def test_sticky_keys_always_see_the_same_variant(registry: Registry, tmp_path: Path) -> None:
    spec = _spec(
        tmp_path / "sticky.yaml",
        f"""
name: {MODEL}
routes:
  - {{name: a, model: "models:/{MODEL}/1", weight: 50}}
  - {{name: b, model: "models:/{MODEL}/2", weight: 50}}
sticky: {{header: X-User-Id}}
""",
    )
    with (
        deployment(registry, str(spec), tmp_path, "--no-prediction-log") as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        per_user = {
            user: {predict(client, **{"X-User-Id": user}).headers["x-shipyard-variant"] for _ in range(5)}
            for user in (f"user-{i}" for i in range(60))
        }

    assert all(len(variants) == 1 for variants in per_user.values())
    assert {"a", "b"} == {variant for variants in per_user.values() for variant in variants}


def test_a_bad_spec_is_refused_with_the_field_named_and_the_deployment_kept(registry: Registry, tmp_path: Path) -> None:
    bad = "name: churn\nroutes:\n  - {name: x, model: 'models:/churn/1', weight: -5}\n"
    missing = f"name: churn\nroutes:\n  - {{name: x, model: 'models:/{MODEL}/99'}}\n"
    with (
        deployment(registry, f"models:/{MODEL}/1", tmp_path) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        invalid = client.put("/v1/deployment", content=bad, headers=YAML)
        unknown = client.put("/v1/deployment", content=missing, headers=YAML)
        other = client.put(
            "/v1/deployment", content="name: other\nroutes: [{name: x, model: 'models:/churn/1'}]", headers=YAML
        )
        garbage = client.put("/v1/deployment", content="{{{", headers=YAML)
        status = client.get("/v1/deployment").json()
        still = predict(client)

    assert (400, "routes[0].weight") == (invalid.status_code, invalid.json()["error"].split(": ")[1])
    assert 404 == unknown.status_code
    assert "99" in unknown.json()["error"]
    assert 400 == other.status_code
    assert "other" in other.json()["error"]
    assert 400 == garbage.status_code
    assert "YAML" in garbage.json()["error"]
    assert (1, 200, 1) == (status["revision"]["number"], still.status_code, version_of(still))


def test_feedback_joins_the_log_and_the_status_and_page_give_a_verdict(registry: Registry, tmp_path: Path) -> None:
    spec = _spec(
        tmp_path / "ab.yaml",
        f"""
name: {MODEL}
routes:
  - {{name: good, model: "models:/{MODEL}/1", weight: 50}}
  - {{name: poor, model: "models:/{MODEL}/3", weight: 50}}
analysis: {{metric: absolute_error, control: good, min_samples: 20}}
""",
    )
    rng = np.random.default_rng(5)
    with (
        deployment(registry, str(spec), tmp_path) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        for i in range(200):
            row = dict(zip(COLUMNS, rng.normal(size=3).tolist(), strict=True))
            answer = predict(client, row, **{"X-Request-ID": f"req-{i}"})
            truth = expected(1, row) + rng.normal(scale=0.1)  # version 1 is the true relation
            posted = client.post("/v1/feedback", json={"request_id": answer.headers["x-request-id"], "label": truth})
            assert 200 == posted.status_code
        bad = client.post("/v1/feedback", json={"label": 1})
        status = client.get("/v1/deployment").json()
        page = client.get("/deployment")
        cli = shipyard("deployments", "status", "--server", server.url)

    analysis = status["analysis"]
    assert (400, "request_id") == (bad.status_code, "request_id" if "request_id" in bad.json()["error"] else "")
    assert ("loser", "good") == (analysis["verdict"], analysis["winner"])  # the challenger lost to the control
    assert 200 == sum(variant["n"] for variant in analysis["variants"])
    assert 200 == page.status_code
    assert analysis["message"] in html.unescape(page.text)
    assert 0 == cli.returncode, cli.stderr
    assert "Verdict:" in cli.stdout
    assert "good" in cli.stdout


def test_workers_adopt_a_change_made_through_any_of_them(registry: Registry, tmp_path: Path) -> None:
    spec = _spec(tmp_path / "v2.yaml", f"name: {MODEL}\nroutes: [{{name: main, model: 'models:/{MODEL}/2'}}]\n")
    with deployment(registry, f"models:/{MODEL}/1", tmp_path, "--workers", "2") as server:
        applied = shipyard("deployments", "apply", str(spec), "--server", server.url)

        def fresh_versions() -> set[int]:
            versions = set()
            for _ in range(16):  # new connections reach both workers
                with httpx.Client(base_url=server.url, timeout=30) as client:
                    versions.add(version_of(predict(client)))
            return versions

        wait_for(lambda: fresh_versions() == {2}, timeout_s=20)
        pids = set()
        for _ in range(16):
            with httpx.Client(base_url=server.url, timeout=30) as client:
                pids.add(client.get("/v1/deployment").json()["revision"]["number"])

    assert 0 == applied.returncode, applied.stderr
    assert {2} == pids


def test_with_auth_the_deployment_grants_of_the_tracking_server_decide(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    from tests.support.auth import auth_server

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(50, 3)), columns=COLUMNS)
    model = LinearRegression().fit(frame, frame["a"])
    with auth_server(tmp_path / "tracking") as tracking:
        env = {"SHIPYARD_TRACKING_URI": tracking.url, "SHIPYARD_TRACKING_TOKEN": tracking.admin_token}
        code = (
            "import pickle, sys, shipyard as sy\n"
            "model, frame = pickle.loads(sys.stdin.buffer.read())\n"
            "with sy.start_run(experiment='auth'):\n"
            "    sy.log_model(model, 'model', input_example=frame.head(2), registered_model_name='guarded')\n"
        )
        subprocess.run(
            [sys.executable, "-c", code], input=pickle.dumps((model, frame)), env={**os.environ, **env}, check=True
        )
        reader = tracking.user("reader")
        editor = tracking.user("editor")
        with tracking.admin() as admin:
            granted = admin.put(
                "/api/v1/auth/permissions",
                json={
                    "resource_type": "deployment",
                    "resource_id": "guarded",
                    "username": "editor",
                    "permission": "EDIT",
                },
            )
        assert 200 == granted.status_code, granted.text
        spec = _spec(tmp_path / "v1.yaml", "name: guarded\nroutes: [{name: main, model: 'models:/guarded/1'}]\n")
        with serving_server(
            "models:/guarded/1",
            tmp_path / "serve",
            extra_args=("--auth", "--no-prediction-log"),
            env=env,
        ) as server:

            def call(token: str | None, method: str, path: str, **kwargs: object) -> int:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                headers.update(YAML if "content" in kwargs else {})
                return httpx.request(method, server.url + path, headers=headers, timeout=30, **kwargs).status_code  # type: ignore[arg-type]

            body = {"json": {"dataframe_records": [ROW]}}
            anonymous = call(None, "POST", "/invocations", **body)
            forged = call("sy_not-a-token", "POST", "/invocations", **body)
            read = (call(reader, "POST", "/invocations", **body), call(reader, "GET", "/v1/deployment"))
            reader_apply = call(reader, "PUT", "/v1/deployment", content=spec.read_bytes())
            editor_apply = call(editor, "PUT", "/v1/deployment", content=spec.read_bytes())
            health = call(None, "GET", "/v2/health/ready")

    assert (401, 401, (200, 200), 403, 200, 200) == (anonymous, forged, read, reader_apply, editor_apply, health)


def test_the_bandit_moves_traffic_toward_the_better_variant_within_its_bounds(
    registry: Registry, tmp_path: Path
) -> None:
    spec = _spec(
        tmp_path / "bandit.yaml",
        f"""
name: {MODEL}
routes:
  - {{name: good, model: "models:/{MODEL}/1", weight: 50}}
  - {{name: poor, model: "models:/{MODEL}/3", weight: 50}}
analysis: {{metric: absolute_error, min_samples: 20}}
bandit: {{enabled: true, min_weight: 0.1, max_weight: 0.9, interval_s: 1}}
""",
    )
    rng = np.random.default_rng(8)
    with (
        deployment(registry, str(spec), tmp_path) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        before = {route["name"]: route["share"] for route in client.get("/v1/deployment").json()["routes"]}
        for _ in range(150):
            row = dict(zip(COLUMNS, rng.normal(size=3).tolist(), strict=True))
            answer = predict(client, row)
            client.post("/v1/feedback", json={"request_id": answer.headers["x-request-id"], "label": expected(1, row)})

        def shares() -> dict[str, float]:
            return {route["name"]: route["share"] for route in client.get("/v1/deployment").json()["routes"]}

        wait_for(lambda: shares()["good"] > 0.85, timeout_s=30)
        after = shares()

    assert {"good": 0.5, "poor": 0.5} == before
    assert after["good"] == pytest.approx(0.9)  # the bound holds: the worse route keeps its minimum share
    assert after["poor"] == pytest.approx(0.1)


def test_apply_over_the_api_refuses_a_local_folder_the_server_was_not_started_with(
    registry: Registry, tmp_path: Path
) -> None:
    from tests.support.models import save_linear_model

    save_linear_model(tmp_path / "planted")
    planted = f"name: {MODEL}\nroutes: [{{name: main, model: '{tmp_path / 'planted'}'}}]\n"
    with (
        deployment(registry, f"models:/{MODEL}/1", tmp_path / "serve") as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        refused = client.put("/v1/deployment", content=planted, headers=YAML)
        status = client.get("/v1/deployment").json()

    assert 400 == refused.status_code
    assert "local folder" in refused.json()["error"]
    assert 1 == status["revision"]["number"]
