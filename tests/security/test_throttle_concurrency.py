"""Concurrent password guesses against a real `shipyard server --auth`: at most the limit reach the password check."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.auth import AuthServer, auth_server

pytestmark = pytest.mark.compat

LIMIT = 10  # the server's limit (SignInThrottle.max_failures): attempts per account and address in 5 minutes
_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    with auth_server(tmp_path_factory.mktemp("throttle-race")) as server:
        yield server


def _all_at_once(count: int, send: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """Send ``count`` requests from as many threads, released together so they reach the server at once."""
    start = threading.Barrier(count)

    def one(i: int) -> httpx.Response:
        start.wait()
        return send(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def _tally(answers: list[httpx.Response]) -> tuple[int, int, bool]:
    """How many were 401 (reached the password check), 429, and whether every 429 said when to retry."""
    refused = [a for a in answers if a.status_code == 429]
    return (
        sum(a.status_code == 401 for a in answers),
        len(refused),
        all(int(a.headers.get("retry-after", "0")) > 0 for a in refused),
    )


def test_concurrent_wrong_basic_passwords_reach_the_check_at_most_the_limit(secured: AuthServer) -> None:
    """Regression (issue 12, item 7): on commit 665ca51 the throttle was consulted before any failure was
    recorded, so 60 concurrent wrong Basic passwords all got 401 (all reached argon2) before the first 429."""
    secured.user("basil", "basil-password-1")

    def guess(i: int) -> httpx.Response:
        with httpx.Client(base_url=secured.url, timeout=120) as anon:
            return anon.get("/api/v1/auth/whoami", auth=("basil", f"wrong-guess-{i}"))

    answers = _all_at_once(60, guess)

    assert (LIMIT, 60 - LIMIT, True) == _tally(answers)


def test_concurrent_wrong_ui_sign_ins_reach_the_check_at_most_the_limit(secured: AuthServer) -> None:
    """Regression (issue 12, item 7): on commit 665ca51, 30 concurrent wrong sign-ins on the UI's form
    (``POST /login``) all got 401 before the first 429, for the same reason as Basic."""
    secured.user("uma", "uma-password-1")
    with httpx.Client(base_url=secured.url, timeout=30) as browser:
        page = browser.get("/login")
        form_token = _CSRF_INPUT.search(page.text)
        assert form_token is not None
        cookie = page.cookies["shipyard_csrf"]

    def guess(i: int) -> httpx.Response:
        form = {"username": "uma", "password": f"wrong-guess-{i}", "csrf_token": form_token.group(1), "next": "/"}
        with httpx.Client(base_url=secured.url, timeout=120, cookies={"shipyard_csrf": cookie}) as browser:
            return browser.post("/login", data=form)

    answers = _all_at_once(30, guess)

    assert (LIMIT, 30 - LIMIT, True) == _tally(answers)


def test_the_right_password_is_refused_while_the_account_is_locked(secured: AuthServer) -> None:
    """Remembered credentials skip the throttle only while it is open: otherwise a locked-out guesser could still
    tell the right password (200) from wrong ones (429) once its owner had signed in."""
    secured.user("lena", "lena-password-1")
    with httpx.Client(base_url=secured.url, timeout=60) as anon:
        owner = anon.get("/api/v1/auth/whoami", auth=("lena", "lena-password-1")).status_code
        wrong = [anon.get("/api/v1/auth/whoami", auth=("lena", f"guess-{i}")).status_code for i in range(LIMIT)]
        right = anon.get("/api/v1/auth/whoami", auth=("lena", "lena-password-1")).status_code

    assert (200, [401] * LIMIT, 429) == (owner, wrong, right)


def test_many_concurrent_calls_with_the_right_password_all_pass(secured: AuthServer) -> None:
    """A client that sends its (already verified) password on every call is not throttled by its own traffic."""
    secured.user("rita", "rita-password-1")
    with httpx.Client(base_url=secured.url, timeout=60) as anon:
        first = anon.get("/api/v1/auth/whoami", auth=("rita", "rita-password-1")).status_code

    def call(_i: int) -> httpx.Response:
        with httpx.Client(base_url=secured.url, timeout=120) as client:
            return client.get("/api/v1/auth/whoami", auth=("rita", "rita-password-1"))

    answers = _all_at_once(30, call)

    assert (200, [200] * 30) == (first, [a.status_code for a in answers])
