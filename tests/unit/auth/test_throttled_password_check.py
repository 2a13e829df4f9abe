"""`SignInThrottle.check_password`: the one throttled password check every sign-in path uses, on a real store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.auth import AuthService, SignInThrottle
from shipyard.db import open_database
from shipyard.errors import TooManyAttempts

PASSWORD = "ada-password-1"


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[AuthService]:
    database = open_database(f"sqlite:///{tmp_path / 'auth.db'}")
    service = AuthService(database)
    service.create_user("ada", PASSWORD)
    yield service
    database.dispose()


def test_a_wrong_password_keeps_its_reserved_attempt(accounts: AuthService) -> None:
    throttle = SignInThrottle(max_failures=1, window_s=60)
    wrong = throttle.check_password(accounts, "10.0.0.1", "ada", "wrong-password")

    with pytest.raises(TooManyAttempts):
        throttle.check_password(accounts, "10.0.0.1", "ada", "another-guess")
    assert wrong is None


def test_a_right_password_gives_its_attempt_back(accounts: AuthService) -> None:
    throttle = SignInThrottle(max_failures=1, window_s=60)
    user = throttle.check_password(accounts, "10.0.0.1", "ada", PASSWORD)

    assert ("ada", 0) == (user.username if user else None, throttle.retry_after_s("10.0.0.1", "ada"))


def test_recently_verified_credentials_pass_without_an_attempt(accounts: AuthService) -> None:
    throttle = SignInThrottle(max_failures=2, window_s=60)
    accounts.check_password("ada", PASSWORD)  # verified (and remembered) on an earlier request
    throttle.reserve("10.0.0.1", "ada")  # one guess in flight elsewhere
    user = throttle.check_password(accounts, "10.0.0.1", "ada", PASSWORD)

    assert ("ada", 1) == (user.username if user else None, len(throttle._failures[("10.0.0.1", "ada")]))


def test_a_locked_account_refuses_even_remembered_credentials(accounts: AuthService) -> None:
    """Otherwise a locked-out guesser could still tell the right password (200) from the rest (429)."""
    throttle = SignInThrottle(max_failures=1, window_s=60)
    accounts.check_password("ada", PASSWORD)
    throttle.reserve("10.0.0.1", "ada")

    with pytest.raises(TooManyAttempts) as refused:
        throttle.check_password(accounts, "10.0.0.1", "ada", PASSWORD)
    assert refused.value.retry_after_s > 0


def test_remembered_credentials_stop_passing_once_the_password_changes(accounts: AuthService) -> None:
    accounts.check_password("ada", PASSWORD)
    accounts.set_password("ada", "ada-password-2")

    assert None is accounts.cached_user("ada", PASSWORD)
