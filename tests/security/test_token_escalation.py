"""A short-lived API token cannot outlive itself: no password change without the current one, no longer tokens."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import httpx
import pytest

from tests.support.auth import ADMIN, ADMIN_PASSWORD, AuthServer, auth_server

pytestmark = pytest.mark.compat

PASSWORD = "first-password-1"
NEW_PASSWORD = "second-password-2"
_DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    with auth_server(tmp_path_factory.mktemp("token-escalation")) as server:
        yield server


def _short_lived(secured: AuthServer, username: str, *, days: int = 1, admin: bool = False) -> str:
    """A new account and a token of it that expires in ``days`` days (made by the admin)."""
    secured.user(username, PASSWORD, admin=admin)
    with secured.admin() as client:
        made = client.post("/api/v1/auth/tokens", json={"username": username, "name": "ci", "expires_in_days": days})
    assert made.status_code == 200, made.text
    return str(made.json()["secret"])


def _signs_in(secured: AuthServer, username: str, password: str) -> bool:
    with httpx.Client(base_url=secured.url, timeout=30) as anon:
        return anon.get("/api/v1/auth/whoami", auth=(username, password)).status_code == 200


def _tokens_of(secured: AuthServer, username: str) -> int:
    with secured.admin() as client:
        return len(client.get("/api/v1/auth/tokens", params={"username": username}).json()["tokens"])


def test_a_token_cannot_change_its_users_password_without_the_current_one(secured: AuthServer) -> None:
    """Regression (issue 12, item 8): on commit 665ca51 a token expiring in one day changed its user's password
    with ``PATCH /api/v1/auth/users/{name}`` and no current password (200), taking the account for good."""
    token = _short_lived(secured, "tara")
    with secured.client(token) as client:
        answer = client.patch("/api/v1/auth/users/tara", json={"password": NEW_PASSWORD})

    assert (400, True, True, False) == (
        answer.status_code,
        "current_password" in answer.json()["message"],
        _signs_in(secured, "tara", PASSWORD),
        _signs_in(secured, "tara", NEW_PASSWORD),
    )


def test_a_token_cannot_mint_a_token_that_never_expires(secured: AuthServer) -> None:
    """Regression (issue 12, item 8): on commit 665ca51 a token expiring in one day minted a token that never
    expires (``POST /api/v1/auth/tokens`` without ``expires_in_days``: 200)."""
    token = _short_lived(secured, "theo")
    before = _tokens_of(secured, "theo")
    with secured.client(token) as client:
        answer = client.post("/api/v1/auth/tokens", json={"name": "forever"})

    assert (400, True, before) == (
        answer.status_code,
        "cannot make a token that outlives it" in answer.json()["message"],
        _tokens_of(secured, "theo"),
    )


def test_a_token_cannot_mint_a_longer_lived_token(secured: AuthServer) -> None:
    token = _short_lived(secured, "tess", days=2)
    before = _tokens_of(secured, "tess")
    with secured.client(token) as client:
        answer = client.post("/api/v1/auth/tokens", json={"name": "longer", "expires_in_days": 3})

    assert (400, before) == (answer.status_code, _tokens_of(secured, "tess"))


def test_a_token_mints_a_token_that_expires_no_later(secured: AuthServer) -> None:
    token = _short_lived(secured, "toni", days=3)
    with secured.client(token) as client:
        mine = client.get("/api/v1/auth/tokens").json()["tokens"][0]
        answer = client.post("/api/v1/auth/tokens", json={"name": "narrower", "expires_in_days": 2})

    assert (200, True) == (answer.status_code, answer.json()["token"]["expires_at_ms"] < mine["expires_at_ms"])


def test_an_admins_short_lived_token_cannot_mint_an_endless_token_for_anyone(secured: AuthServer) -> None:
    token = _short_lived(secured, "ada-ci", admin=True)
    secured.user("victor")
    before = _tokens_of(secured, "victor")
    with secured.client(token) as client:
        for_self = client.post("/api/v1/auth/tokens", json={"name": "forever"}).status_code
        for_other = client.post("/api/v1/auth/tokens", json={"username": "victor", "name": "forever"}).status_code

    assert (400, 400, before) == (for_self, for_other, _tokens_of(secured, "victor"))


def test_the_account_page_form_cannot_mint_an_endless_token_with_a_short_lived_one(secured: AuthServer) -> None:
    """The UI accepts an ``Authorization`` header too, so its token form holds to the same rule."""
    token = _short_lived(secured, "uli")
    before = _tokens_of(secured, "uli")
    form_token = secrets.token_urlsafe(32)
    with httpx.Client(
        base_url=secured.url,
        timeout=30,
        headers={"Authorization": f"Bearer {token}"},
        cookies={"shipyard_csrf": form_token},
    ) as client:
        answer = client.post("/account/tokens", data={"name": "forever", "csrf_token": form_token})

    assert (400, True, before) == (
        answer.status_code,
        "outlives it" in answer.text,
        _tokens_of(secured, "uli"),
    )


def test_the_password_changes_with_the_current_one(secured: AuthServer) -> None:
    token = _short_lived(secured, "cora")
    with secured.client(token) as client:
        answer = client.patch(
            "/api/v1/auth/users/cora", json={"password": NEW_PASSWORD, "current_password": PASSWORD}
        ).status_code

    assert (200, False, True) == (
        answer,
        _signs_in(secured, "cora", PASSWORD),
        _signs_in(secured, "cora", NEW_PASSWORD),
    )


def test_a_wrong_current_password_is_refused_and_changes_nothing(secured: AuthServer) -> None:
    token = _short_lived(secured, "wendy")
    with secured.client(token) as client:
        answer = client.patch(
            "/api/v1/auth/users/wendy", json={"password": NEW_PASSWORD, "current_password": "not-my-password"}
        )

    assert (403, "The current password is wrong; the password was not changed.", True) == (
        answer.status_code,
        answer.json()["message"],
        _signs_in(secured, "wendy", PASSWORD),
    )


def test_guessing_the_current_password_is_throttled(secured: AuthServer) -> None:
    token = _short_lived(secured, "gus")
    with secured.client(token) as client:
        wrong = [
            client.patch(
                "/api/v1/auth/users/gus", json={"password": NEW_PASSWORD, "current_password": f"guess-{i}"}
            ).status_code
            for i in range(10)
        ]
        blocked = client.patch("/api/v1/auth/users/gus", json={"password": NEW_PASSWORD, "current_password": PASSWORD})

    assert ([403] * 10, 429, True, True) == (
        wrong,
        blocked.status_code,
        int(blocked.headers["retry-after"]) > 0,
        _signs_in(secured, "gus", PASSWORD),
    )


def test_an_admin_resets_another_users_password_without_theirs(secured: AuthServer) -> None:
    secured.user("otto", PASSWORD)
    with secured.admin() as client:
        answer = client.patch("/api/v1/auth/users/otto", json={"password": NEW_PASSWORD}).status_code

    assert (200, True) == (answer, _signs_in(secured, "otto", NEW_PASSWORD))


def test_an_admin_changing_their_own_password_needs_the_current_one(secured: AuthServer) -> None:
    with secured.admin() as client:
        answer = client.patch(f"/api/v1/auth/users/{ADMIN}", json={"password": NEW_PASSWORD}).status_code

    assert (400, True) == (answer, _signs_in(secured, ADMIN, ADMIN_PASSWORD))


def test_a_refused_role_change_leaves_the_password_alone(secured: AuthServer) -> None:
    """On commit 665ca51 the password was written before the admin check refused the role in the same request."""
    token = _short_lived(secured, "max")
    with secured.client(token) as client:
        answer = client.patch(
            "/api/v1/auth/users/max",
            json={"password": NEW_PASSWORD, "current_password": PASSWORD, "is_admin": True},
        ).status_code

    assert (403, True) == (answer, _signs_in(secured, "max", PASSWORD))


def test_the_whoami_answer_is_unchanged_for_tokens(secured: AuthServer) -> None:
    token = _short_lived(secured, "wim")
    with secured.client(token) as client:
        me = client.get("/api/v1/auth/whoami").json()

    assert {"username": "wim", "is_admin": False, "authenticated_via": "token"} == me


def test_the_cli_mints_a_token_no_longer_lived_than_its_own(
    secured: AuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from shipyard.cli.main import app

    token = _short_lived(secured, "cleo", days=5)
    for name in ("SHIPYARD_TRACKING_USERNAME", "SHIPYARD_TRACKING_PASSWORD", "MLFLOW_TRACKING_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    monkeypatch.setenv("SHIPYARD_TRACKING_TOKEN", token)
    runner = CliRunner()
    endless = runner.invoke(app, ["tokens", "create", "--name", "forever", "--server", secured.url])
    shorter = runner.invoke(app, ["tokens", "create", "--name", "ok", "--expires-days", "4", "--server", secured.url])

    assert (1, True, 0, True) == (
        endless.exit_code,
        "outlives it" in endless.output,
        shorter.exit_code,
        bool(re.search(r"sy_\S+", shorter.output)),
    )
