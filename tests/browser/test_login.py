"""Signing in to the web UI: redirect to the sign-in page, session cookie, forms with CSRF tokens, signing out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.support.auth import ADMIN, ADMIN_PASSWORD, AuthServer, auth_server

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    with auth_server(tmp_path_factory.mktemp("ui-login")) as server:
        with server.admin() as client:
            client.post("/api/2.0/mlflow/experiments/create", json={"name": "signed-in-only"}).raise_for_status()
            client.post("/api/2.0/mlflow/registered-models/create", json={"name": "ui-model"}).raise_for_status()
            run = client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "1"}).json()["run"]["info"]
            client.post(
                "/api/2.0/mlflow/model-versions/create",
                json={"name": "ui-model", "source": f"runs:/{run['run_id']}/m", "run_id": run["run_id"]},
            ).raise_for_status()
        yield server


@pytest.fixture
def page(fresh_page: Page) -> Page:
    """Each test starts signed out, in its own profile."""
    return fresh_page


def _sign_in(page: Page, secured: AuthServer, username: str, password: str) -> None:
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-submit")


def test_a_page_redirects_to_sign_in_and_back(page: Page, secured: AuthServer, shot: Callable[[str], Path]) -> None:
    page.goto(f"{secured.url}/models/ui-model")
    at_login = page.url
    shot("login")
    _sign_in(page, secured, ADMIN, ADMIN_PASSWORD)

    assert (True, f"{secured.url}/models/ui-model", ADMIN) == (
        at_login.startswith(f"{secured.url}/login?next="),
        page.url,
        page.locator("#signed-in-as").inner_text(),
    )


def test_a_wrong_password_shows_an_error_and_no_session(page: Page, secured: AuthServer) -> None:
    page.goto(f"{secured.url}/login")
    _sign_in(page, secured, ADMIN, "wrong-password")
    cookies = {c["name"] for c in page.context.cookies()}

    assert ("Wrong username or password.", False) == (
        page.locator("#login-error").inner_text(),
        "shipyard_session" in cookies,
    )


def test_the_session_cookie_is_http_only_and_same_site(page: Page, secured: AuthServer) -> None:
    page.goto(f"{secured.url}/login")
    _sign_in(page, secured, ADMIN, ADMIN_PASSWORD)
    session = next(c for c in page.context.cookies() if c["name"] == "shipyard_session")

    assert (True, "Lax", False) == (session["httpOnly"], session["sameSite"], session["secure"])


def test_a_signed_in_user_moves_an_alias_and_the_history_names_them(page: Page, secured: AuthServer) -> None:
    page.goto(f"{secured.url}/login?next=/models/ui-model")
    _sign_in(page, secured, ADMIN, ADMIN_PASSWORD)
    page.fill("#alias-name", "champion")
    page.select_option("#alias-version", "1")
    page.locator("#alias-form button[type=submit]").click()
    history = httpx.get(
        f"{secured.url}/api/v1/models/ui-model/history", headers={"Authorization": f"Bearer {secured.admin_token}"}
    ).json()["events"]

    assert ("model_version_alias.created", ADMIN) in [(e["kind"], e["actor"]) for e in history]


def test_signing_out_ends_the_session(page: Page, secured: AuthServer) -> None:
    page.goto(f"{secured.url}/login")
    _sign_in(page, secured, ADMIN, ADMIN_PASSWORD)
    secret = next(c["value"] for c in page.context.cookies() if c["name"] == "shipyard_session")
    page.click("#signout")
    after = httpx.get(f"{secured.url}/", cookies={"shipyard_session": secret}, follow_redirects=False)

    assert (True, 303, True) == (
        page.url.startswith(f"{secured.url}/login"),
        after.status_code,
        after.headers["location"].startswith("/login"),
    )


def test_the_session_cookie_does_not_open_the_api(page: Page, secured: AuthServer) -> None:
    page.goto(f"{secured.url}/login")
    _sign_in(page, secured, ADMIN, ADMIN_PASSWORD)
    secret = next(c["value"] for c in page.context.cookies() if c["name"] == "shipyard_session")
    api = httpx.get(f"{secured.url}/api/2.0/mlflow/experiments/search", cookies={"shipyard_session": secret})

    assert 401 == api.status_code


def test_after_sign_in_goes_only_to_this_server(page: Page, secured: AuthServer) -> None:
    page.goto(f"{secured.url}/login?next=//evil.example/steal")
    _sign_in(page, secured, ADMIN, ADMIN_PASSWORD)

    assert f"{secured.url}/" == page.url
