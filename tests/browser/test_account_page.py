"""The Account page: API tokens made and revoked in the UI work against the API; changing the password."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.browser.conftest import Seeded
from tests.support.auth import AuthServer, auth_server

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

PASSWORD = "user-password-1"
NEW_PASSWORD = "a-new-password-2"
_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    with auth_server(tmp_path_factory.mktemp("ui-account")) as server:
        yield server


@pytest.fixture
def page(fresh_page: Page) -> Page:
    """Each test starts signed out, in its own profile."""
    return fresh_page


def _signed_in(page: Page, secured: AuthServer, username: str, password: str = PASSWORD) -> None:
    """Sign in through the form and land on the Account page."""
    page.goto(f"{secured.url}/login?next=/account")
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-submit")


def _create_token(page: Page, name: str, days: str = "") -> str:
    page.fill("#token-name", name)
    page.fill("#token-days", days)
    page.click("#token-create")
    return page.locator("#new-token-secret").inner_text()


def _whoami(secured: AuthServer, secret: str) -> httpx.Response:
    return httpx.get(f"{secured.url}/api/v1/auth/whoami", headers={"Authorization": f"Bearer {secret}"})


@contextlib.contextmanager
def _session(secured: AuthServer, username: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
    """An httpx client signed in through the sign-in form, holding the session cookie like a browser."""
    with httpx.Client(base_url=secured.url, timeout=30.0) as client:
        csrf = _CSRF_INPUT.search(client.get("/login").text)
        assert csrf is not None
        answer = client.post("/login", data={"csrf_token": csrf[1], "username": username, "password": password})
        assert (303, True) == (answer.status_code, "shipyard_session" in client.cookies)
        yield client


def _form_token(client: httpx.Client) -> str:
    found = _CSRF_INPUT.search(client.get("/account").text)
    assert found is not None
    return found[1]


def _api_password_works(secured: AuthServer, username: str, password: str) -> bool:
    return httpx.get(f"{secured.url}/api/v1/auth/whoami", auth=(username, password)).status_code == 200


def test_the_page_shows_who_you_are_and_is_linked_from_the_top_bar(
    page: Page, secured: AuthServer, shot: Callable[[str], Path]
) -> None:
    secured.user("ada", PASSWORD, admin=True)
    page.goto(f"{secured.url}/login")
    page.fill("#login-username", "ada")
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.click("#account-link")
    shot("account")

    assert (f"{secured.url}/account", "ada", "Admin", True) == (
        page.url,
        page.locator("#account-username").inner_text(),
        page.locator("#account-role").inner_text(),
        page.locator("#signout").is_visible(),
    )


def test_a_token_created_in_the_ui_signs_in_to_the_api(
    page: Page, secured: AuthServer, shot: Callable[[str], Path]
) -> None:
    secured.user("bea", PASSWORD)
    _signed_in(page, secured, "bea")
    secret = _create_token(page, "laptop", "30")
    usage = page.locator("#new-token-usage").inner_text()
    shot("account-new-token")

    assert ("bea", True, f"export MLFLOW_TRACKING_TOKEN={secret}") == (
        _whoami(secured, secret).json()["username"],
        secret.startswith("sy_"),
        usage,
    )


def test_a_reload_shows_no_secret_and_makes_no_second_token(page: Page, secured: AuthServer) -> None:
    secured.user("cal", PASSWORD)
    _signed_in(page, secured, "cal")
    secret = _create_token(page, "reloaded")
    with page.expect_response(f"{secured.url}/account/tokens") as answer:
        page.reload()  # the browser sends the form again
    with secured.admin() as admin:
        names = [t["name"] for t in admin.get("/api/v1/auth/tokens", params={"username": "cal"}).json()["tokens"]]

    assert (409, False, 0, True, ["reloaded", "tests"]) == (
        answer.value.status,
        secret in page.content(),
        page.locator("#new-token").count(),
        page.locator("#token-error").is_visible(),
        names,
    )


def test_the_secret_is_not_shown_when_the_page_is_opened_again(page: Page, secured: AuthServer) -> None:
    secured.user("cai", PASSWORD)
    _signed_in(page, secured, "cai")
    secret = _create_token(page, "once")
    page.goto(f"{secured.url}/account")
    row = page.locator("#tokens-table tbody tr", has_text="once")

    assert (False, 0, True) == (
        secret in page.content(),
        page.locator("#new-token").count(),
        secret[:10] in row.inner_text(),
    )


def test_the_page_with_the_secret_is_not_cached(secured: AuthServer) -> None:
    secured.user("cyd", PASSWORD)
    with _session(secured, "cyd") as client:
        answer = client.post("/account/tokens", data={"csrf_token": _form_token(client), "name": "ci"})
        secret = re.search(r'id="new-token-secret">([^<]+)<', answer.text)

    assert (200, "no-store", True) == (
        answer.status_code,
        answer.headers.get("cache-control"),
        secret is not None and _whoami(secured, secret[1]).status_code == 200,
    )


def test_a_token_revoked_in_the_ui_is_refused_by_the_api(page: Page, secured: AuthServer) -> None:
    secured.user("dan", PASSWORD)
    _signed_in(page, secured, "dan")
    secret = _create_token(page, "short-lived")
    before = _whoami(secured, secret).status_code
    page.goto(f"{secured.url}/account")
    page.locator("#tokens-table tbody tr", has_text="short-lived").locator("button").click()

    assert (200, 401, f"{secured.url}/account?done=revoked#tokens", 0) == (
        before,
        _whoami(secured, secret).status_code,
        page.url,
        page.locator("#tokens-table tbody tr", has_text="short-lived").count(),
    )


def test_someone_elses_token_cannot_be_revoked(secured: AuthServer) -> None:
    other_secret = secured.user("eve-target", PASSWORD)
    secured.user("eve", PASSWORD)
    with secured.admin() as admin:
        tokens = admin.get("/api/v1/auth/tokens", params={"username": "eve-target"}).json()["tokens"]
    with _session(secured, "eve") as client:
        answer = client.post(
            "/account/tokens/revoke", data={"csrf_token": _form_token(client), "token_id": tokens[0]["token_id"]}
        )

    assert (404, 200) == (answer.status_code, _whoami(secured, other_secret).status_code)


def test_a_changed_password_signs_in_and_the_old_one_does_not(page: Page, secured: AuthServer) -> None:
    secured.user("fay", PASSWORD)
    _signed_in(page, secured, "fay")
    page.fill("#password-current", PASSWORD)
    page.fill("#password-new", NEW_PASSWORD)
    page.fill("#password-repeat", NEW_PASSWORD)
    page.click("#password-change")
    at_login = page.url
    page.fill("#login-username", "fay")
    page.fill("#login-password", NEW_PASSWORD)
    page.click("#login-submit")

    assert (f"{secured.url}/login?next=%2Faccount", f"{secured.url}/account", "fay", False) == (
        at_login,
        page.url,
        page.locator("#account-username").inner_text(),
        _api_password_works(secured, "fay", PASSWORD),
    )


def test_the_old_password_no_longer_signs_in_to_the_ui(page: Page, secured: AuthServer) -> None:
    secured.user("gus", PASSWORD)
    with _session(secured, "gus") as client:
        token = _form_token(client)
        form = {"csrf_token": token, "current_password": PASSWORD, "new_password": NEW_PASSWORD}
        changed = client.post("/account/password", data={**form, "repeat_password": NEW_PASSWORD})
    _signed_in(page, secured, "gus", PASSWORD)

    assert (303, "Wrong username or password.") == (changed.status_code, page.locator("#login-error").inner_text())


def test_a_wrong_current_password_shows_an_error_and_changes_nothing(
    page: Page, secured: AuthServer, shot: Callable[[str], Path]
) -> None:
    secured.user("hal", PASSWORD)
    _signed_in(page, secured, "hal")
    page.fill("#password-current", "not-my-password")
    page.fill("#password-new", NEW_PASSWORD)
    page.fill("#password-repeat", NEW_PASSWORD)
    with page.expect_response(f"{secured.url}/account/password") as answer:
        page.click("#password-change")
    shot("account-wrong-password")

    assert (400, "The current password is wrong; the password was not changed.", True, False) == (
        answer.value.status,
        page.locator("#password-error").inner_text(),
        _api_password_works(secured, "hal", PASSWORD),
        _api_password_works(secured, "hal", NEW_PASSWORD),
    )


@pytest.mark.parametrize(
    ("new", "repeat", "message"),
    [
        (NEW_PASSWORD, NEW_PASSWORD + "x", "The new passwords differ"),
        ("short", "short", "The new password is too short"),
    ],
)
def test_new_passwords_that_differ_or_are_short_are_refused(
    secured: AuthServer, new: str, repeat: str, message: str
) -> None:
    username = f"ivy-{len(repeat)}"
    secured.user(username, PASSWORD)
    with _session(secured, username) as client:
        form = {"current_password": PASSWORD, "new_password": new, "repeat_password": repeat}
        answer = client.post("/account/password", data={"csrf_token": _form_token(client), **form})

    assert (400, True, True) == (
        answer.status_code,
        message in answer.text,
        _api_password_works(secured, username, PASSWORD),
    )


@pytest.mark.parametrize("days", ["0", "3651", "-1", "1.5", "²", "9" * 5000])
def test_an_expiry_out_of_range_is_refused_and_makes_no_token(secured: AuthServer, days: str) -> None:
    username = f"jon-{uuid.uuid4().hex[:8]}"
    secured.user(username, PASSWORD)
    with _session(secured, username) as client:
        form = {"csrf_token": _form_token(client), "name": "bad-expiry", "expires_in_days": days}
        answer = client.post("/account/tokens", data=form)
    with secured.admin() as admin:
        tokens = admin.get("/api/v1/auth/tokens", params={"username": username}).json()["tokens"]

    assert (400, True, ["tests"]) == (
        answer.status_code,
        'id="token-error"' in answer.text,
        [t["name"] for t in tokens],
    )


def test_many_wrong_current_passwords_are_answered_429(secured: AuthServer) -> None:
    secured.user("lou", PASSWORD)
    with _session(secured, "lou") as client:
        token = _form_token(client)
        form = {"csrf_token": token, "new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD}
        statuses = [
            client.post("/account/password", data={**form, "current_password": f"wrong-{i}"}).status_code
            for i in range(10)
        ]
        last = client.post("/account/password", data={**form, "current_password": PASSWORD})

    assert ([400] * 10, 429, True, True) == (
        statuses,
        last.status_code,
        int(last.headers["retry-after"]) > 0,
        _api_password_works(secured, "lou", PASSWORD),
    )


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/account/tokens", {"name": "forged"}),
        ("/account/tokens/revoke", {"token_id": "0"}),
        ("/account/password", {"current_password": PASSWORD, "new_password": "x" * 12, "repeat_password": "x" * 12}),
    ],
)
def test_a_form_without_the_csrf_token_is_refused(secured: AuthServer, path: str, form: dict[str, str]) -> None:
    username = f"kit-{path.rsplit('/', 1)[1]}"
    secured.user(username, PASSWORD)
    with _session(secured, username) as client:
        answer = client.post(path, data=form)
    with secured.admin() as admin:
        names = [t["name"] for t in admin.get("/api/v1/auth/tokens", params={"username": username}).json()["tokens"]]

    assert (403, ["tests"], True) == (
        answer.status_code,
        names,
        _api_password_works(secured, username, PASSWORD),
    )


def test_without_sign_in_the_page_says_how_to_turn_it_on(page: Page, seeded: Seeded) -> None:
    page.goto(seeded.url("/account"))

    assert (True, 0, 0) == (
        "shipyard server --auth" in page.locator("#sign-in-off").inner_text(),
        page.locator("main form").count(),
        page.locator("#account-link").count(),
    )
