"""`shipyard serve --auth` checks callers against the store its tracking URI names (issue 13, item 7)."""

from __future__ import annotations

from pathlib import Path

import httpx

from shipyard.auth import AuthService
from shipyard.db import open_database
from tests.support.models import save_linear_model
from tests.support.servers import serving_server


def test_serve_checks_passwords_against_the_store_its_tracking_uri_names(tmp_path: Path) -> None:
    """On commit 665ca51 `serve --auth --tracking-uri sqlite:///…` checked passwords against `SHIPYARD_STORE_URI`
    or the store under `SHIPYARD_HOME` instead, so a valid user of the named store got 401."""
    store = f"sqlite:///{tmp_path / 'team.db'}"
    database = open_database(store)
    try:
        accounts = AuthService(database)
        accounts.create_user("ada", "right-password-1")
        _, token = accounts.create_token("ada", "serve-test", actor=None)
    finally:
        database.dispose()
    save_linear_model(tmp_path / "model")
    env = {"SHIPYARD_HOME": str(tmp_path / "elsewhere"), "SHIPYARD_TRACKING_URI": "", "MLFLOW_TRACKING_URI": ""}
    args = ("--auth", "--no-prediction-log", "--tracking-uri", store)
    with serving_server(tmp_path / "model", tmp_path / "serve", extra_args=args, env=env) as server:
        basic = httpx.get(f"{server.url}/v1/deployment", auth=("ada", "right-password-1"), timeout=60)
        bearer = httpx.get(f"{server.url}/v1/deployment", headers={"Authorization": f"Bearer {token}"}, timeout=60)
        wrong = httpx.get(f"{server.url}/v1/deployment", auth=("ada", "wrong-password-1"), timeout=60)

    assert (200, 200, 401) == (basic.status_code, bearer.status_code, wrong.status_code), basic.text
