"""Sign-in: the API refuses requests without valid credentials; the mlflow client signs in unchanged."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.auth import ADMIN, ADMIN_PASSWORD, AuthServer, auth_server

pytestmark = pytest.mark.compat


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    with auth_server(tmp_path_factory.mktemp("authn")) as server:
        yield server


@pytest.fixture
def no_mlflow_credentials(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/2.0/mlflow/experiments/search?max_results=10"),
        ("POST", "/api/2.0/mlflow/experiments/create"),
        ("GET", "/ajax-api/2.0/mlflow/registered-models/search"),
        ("GET", "/api/2.0/mlflow-artifacts/artifacts?path=0"),
        ("GET", "/api/2.0/mlflow-artifacts/artifacts/0/x/artifacts/a.txt"),
        ("PUT", "/api/2.0/mlflow-artifacts/artifacts/0/x/artifacts/a.txt"),
        ("GET", "/api/v1/models/m/history"),
        ("GET", "/api/v1/auth/users"),
        ("GET", "/api/3.0/mlflow/server-info"),
    ],
)
def test_api_without_credentials_is_refused_with_401(secured: AuthServer, method: str, path: str) -> None:
    with secured.client() as client:
        answer = client.request(method, path, json={"name": "x"} if method == "POST" else None)

    assert (401, "UNAUTHENTICATED", True) == (
        answer.status_code,
        answer.json()["error_code"],
        answer.headers.get("www-authenticate", "").startswith("Basic"),
    )


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer sy_not-a-real-token",
        "Bearer sy_",
        "Basic !!!notbase64",
        "Basic " + "YWRtaW46d3Jvbmc=",  # admin:wrong
        "Digest username=admin",
        "Bearer " + "sy_" + "x" * 5000,
    ],
)
def test_bad_credentials_are_refused_with_401(secured: AuthServer, authorization: str) -> None:
    with secured.client() as client:
        answer = client.get("/api/2.0/mlflow/experiments/search", headers={"Authorization": authorization})

    assert 401 == answer.status_code


def test_health_and_version_need_no_sign_in(secured: AuthServer) -> None:
    with secured.client() as client:
        assert (200, 200) == (client.get("/health").status_code, client.get("/version").status_code)


def test_mlflow_client_works_with_a_token(secured: AuthServer, no_mlflow_credentials: pytest.MonkeyPatch) -> None:
    import mlflow

    no_mlflow_credentials.setenv("MLFLOW_TRACKING_TOKEN", secured.user("tina"))
    client = mlflow.MlflowClient(tracking_uri=secured.url)
    experiment_id = client.create_experiment("token-experiment")
    run = client.create_run(experiment_id)
    client.log_metric(run.info.run_id, "loss", 0.5)

    assert ([0.5], "tina") == (
        [m.value for m in client.get_metric_history(run.info.run_id, "loss")],
        client.get_run(run.info.run_id).info.user_id,
    )


def test_mlflow_client_works_with_username_and_password(
    secured: AuthServer, no_mlflow_credentials: pytest.MonkeyPatch
) -> None:
    import mlflow

    secured.user("bert", "bert-password-1")
    no_mlflow_credentials.setenv("MLFLOW_TRACKING_USERNAME", "bert")
    no_mlflow_credentials.setenv("MLFLOW_TRACKING_PASSWORD", "bert-password-1")
    client = mlflow.MlflowClient(tracking_uri=secured.url)
    experiment_id = client.create_experiment("basic-experiment")

    assert "basic-experiment" == client.get_experiment(experiment_id).name


def test_mlflow_client_with_a_wrong_password_gets_an_authentication_error(
    secured: AuthServer, no_mlflow_credentials: pytest.MonkeyPatch
) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException

    no_mlflow_credentials.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
    no_mlflow_credentials.setenv("MLFLOW_TRACKING_PASSWORD", "not-the-password")
    with pytest.raises(MlflowException, match="Invalid username or password"):
        mlflow.MlflowClient(tracking_uri=secured.url).search_experiments()


def test_mlflow_client_registers_and_loads_a_model_with_a_token(
    secured: AuthServer, no_mlflow_credentials: pytest.MonkeyPatch
) -> None:
    import mlflow
    import numpy as np
    from sklearn.linear_model import LinearRegression

    no_mlflow_credentials.setenv("MLFLOW_TRACKING_TOKEN", secured.user("rita"))
    mlflow.set_tracking_uri(secured.url)
    try:
        mlflow.set_experiment("token-models")
        features = np.arange(20, dtype=float).reshape(10, 2)
        model = LinearRegression().fit(features, features.sum(axis=1))
        with mlflow.start_run():
            mlflow.sklearn.log_model(model, name="model", registered_model_name="token-model")
        loaded = mlflow.pyfunc.load_model("models:/token-model/1")
        assert [3.0] == pytest.approx(list(loaded.predict(np.array([[1.0, 2.0]]))))
    finally:
        mlflow.set_tracking_uri("")


def test_revoked_token_stops_working_at_once(secured: AuthServer) -> None:
    token = secured.user("ruth")
    with secured.client(token) as client:
        mine = client.get("/api/v1/auth/tokens").json()["tokens"]
        before = client.get("/api/2.0/mlflow/experiments/search").status_code
        revoked = client.delete(f"/api/v1/auth/tokens/{mine[0]['token_id']}").status_code
        after = client.get("/api/2.0/mlflow/experiments/search").status_code

    assert (200, 200, 401) == (before, revoked, after)


def test_expired_token_is_refused(secured: AuthServer) -> None:
    from shipyard.auth import AuthService
    from shipyard.db import open_database

    secured.user("eve")
    database = open_database(f"sqlite:///{secured.server.root / 'shipyard.db'}")
    try:
        _token, secret = AuthService(database).create_token("eve", "short", expires_in_s=1)
    finally:
        database.dispose()
    with secured.client(secret) as client:
        fresh = client.get("/api/2.0/mlflow/experiments/search").status_code
        time.sleep(1.2)
        stale = client.get("/api/2.0/mlflow/experiments/search").status_code

    assert (200, 401) == (fresh, stale)


def test_tokens_are_stored_only_as_hashes(secured: AuthServer) -> None:
    import sqlite3

    secret = secured.user("hana")
    with sqlite3.connect(secured.server.root / "shipyard.db") as db:
        stored = [row for row in db.execute("SELECT * FROM api_tokens") if secret in map(str, row)]
        hashes = [row[0] for row in db.execute("SELECT password_hash FROM users WHERE username = 'hana'")]

    assert ([], True) == (stored, hashes[0].startswith("$argon2id$"))


def test_a_changed_password_invalidates_the_old_one(secured: AuthServer) -> None:
    secured.user("pia", "first-password-1")
    with httpx.Client(base_url=secured.url, timeout=30) as anon:
        before = anon.get("/api/v1/auth/whoami", auth=("pia", "first-password-1")).status_code
        changed = anon.patch(
            "/api/v1/auth/users/pia",
            json={"password": "second-password-2", "current_password": "first-password-1"},
            auth=("pia", "first-password-1"),
        ).status_code
        old = anon.get("/api/v1/auth/whoami", auth=("pia", "first-password-1")).status_code
        new = anon.get("/api/v1/auth/whoami", auth=("pia", "second-password-2")).json()["username"]

    assert (200, 200, 401, "pia") == (before, changed, old, new)


def test_the_actor_is_the_signed_in_user_not_the_header(secured: AuthServer) -> None:
    token = secured.user("ivan")
    claimed = {"X-Shipyard-User": "someone-else"}
    with secured.client(token) as client:
        client.post("/api/2.0/mlflow/registered-models/create", json={"name": "actor-model"}, headers=claimed)
        client.post("/api/2.0/mlflow/model-versions/create", json={"name": "actor-model", "source": "runs:/x/m"})
        history = client.get("/api/v1/models/actor-model/history").json()["events"]

    assert {"ivan"} == {event["actor"] for event in history}


def test_non_admins_cannot_manage_users(secured: AuthServer) -> None:
    token = secured.user("nora")
    with secured.client(token) as client:
        listed = client.get("/api/v1/auth/users").status_code
        created = client.post("/api/v1/auth/users", json={"username": "mallory", "password": "xxxxxxxx1"}).status_code
        promoted = client.patch("/api/v1/auth/users/nora", json={"is_admin": True}).status_code
        others = client.post("/api/v1/auth/tokens", json={"username": ADMIN}).status_code

    assert (403, 403, 403, 403) == (listed, created, promoted, others)


def test_server_refuses_to_start_with_sign_in_on_and_no_account(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "shipyard", "server", "--auth", "--port", "1", "--store", f"sqlite:///{tmp_path}/s.db"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in __import__("os").environ.items() if not k.startswith("SHIPYARD_ADMIN")},
    )

    assert (2, True) == (done.returncode, "shipyard users create" in done.stderr)


def test_server_refuses_a_public_address_without_sign_in(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "shipyard", "server", "--host", "0.0.0.0", "--store", f"sqlite:///{tmp_path}/s.db"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert (2, True, True) == (
        done.returncode,
        "without authentication" in done.stderr,
        "--insecure-no-auth" in done.stderr,
    )


def test_admin_password_from_the_environment_signs_in(secured: AuthServer) -> None:
    with httpx.Client(base_url=secured.url, timeout=30) as anon:
        me = anon.get("/api/v1/auth/whoami", auth=(ADMIN, ADMIN_PASSWORD)).json()

    assert {"username": ADMIN, "is_admin": True, "authenticated_via": "basic"} == me


def _ui_sign_in(client: httpx.Client, username: str, password: str) -> httpx.Response:
    import re

    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token.group(1), "next": "/models"}
    )


def test_ui_sign_in_sets_a_hardened_session_cookie(secured: AuthServer) -> None:
    with httpx.Client(base_url=secured.url, timeout=30) as browser:
        answer = _ui_sign_in(browser, ADMIN, ADMIN_PASSWORD)
        cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and "shipyard_session" in v)

    assert (303, "/models", True, True) == (
        answer.status_code,
        answer.headers["location"],
        "httponly" in cookie.lower(),
        "samesite=lax" in cookie.lower(),
    )


def test_ui_sign_in_without_the_form_token_is_refused(secured: AuthServer) -> None:
    with httpx.Client(base_url=secured.url, timeout=30) as browser:
        browser.get("/login")
        answer = browser.post("/login", data={"username": ADMIN, "password": ADMIN_PASSWORD})

    assert (403, False) == (answer.status_code, "shipyard_session" in answer.headers.get("set-cookie", ""))


def test_api_docs_open_with_the_ui_session_and_redirect_without(secured: AuthServer) -> None:
    with httpx.Client(base_url=secured.url, timeout=30) as browser:
        before = browser.get("/api/docs")
        _ui_sign_in(browser, ADMIN, ADMIN_PASSWORD)
        after = browser.get("/api/docs")

    assert (303, 200) == (before.status_code, after.status_code)


def test_behind_a_tls_proxy_the_session_cookie_is_secure(secured: AuthServer) -> None:
    import re

    # A reverse proxy on the same machine terminates TLS and says so; uvicorn trusts it from 127.0.0.1. The
    # cookies come back Secure, which a client on plain http would not send back, so they are passed by hand.
    proxied = {"X-Forwarded-Proto": "https"}
    with httpx.Client(base_url=secured.url, timeout=30, headers=proxied) as browser:
        page = browser.get("/login")
        csrf_cookie = page.cookies["shipyard_csrf"]
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        answer = browser.post(
            "/login",
            data={"username": ADMIN, "password": ADMIN_PASSWORD, "csrf_token": token.group(1)},
            headers={"Cookie": f"shipyard_csrf={csrf_cookie}"},
        )
    cookies = [v for k, v in answer.headers.multi_items() if k == "set-cookie"]
    session = next(c for c in cookies if c.startswith("shipyard_session="))

    assert (True, True) == (
        "secure" in [part.strip().lower() for part in session.split(";")],
        "secure" in [part.strip().lower() for part in page.headers["set-cookie"].split(";")],
    )


def test_password_guessing_is_throttled_per_account(secured: AuthServer) -> None:
    secured.user("gail", "gail-password-1")
    with httpx.Client(base_url=secured.url, timeout=60) as anon:
        wrong = [anon.get("/api/v1/auth/whoami", auth=("gail", f"guess-{i}")).status_code for i in range(10)]
        blocked = anon.get("/api/v1/auth/whoami", auth=("gail", "gail-password-1"))
        other_user = anon.get("/api/v1/auth/whoami", auth=(ADMIN, ADMIN_PASSWORD)).status_code

    assert ([401] * 10, 429, True, 200) == (
        wrong,
        blocked.status_code,
        int(blocked.headers["retry-after"]) > 0,
        other_user,
    )


def test_ui_sign_in_guessing_is_throttled(secured: AuthServer) -> None:
    secured.user("hugo", "hugo-password-1")
    with httpx.Client(base_url=secured.url, timeout=60) as browser:
        statuses = [_ui_sign_in(browser, "hugo", f"guess-{i}").status_code for i in range(10)]
        blocked = _ui_sign_in(browser, "hugo", "hugo-password-1")

    assert ([401] * 10, 429, "Too many failed sign-ins" in blocked.text) == (
        statuses,
        blocked.status_code,
        True,
    )
