"""The sign-in throttle: failures counted per address and account in a sliding window."""

from __future__ import annotations

import pytest

from shipyard.auth.throttle import SignInThrottle


def test_attempts_are_allowed_until_the_limit() -> None:
    throttle = SignInThrottle(max_failures=3, window_s=60)
    waits = []
    for _ in range(3):
        waits.append(throttle.retry_after_s("10.0.0.1", "ada"))
        throttle.reserve("10.0.0.1", "ada")

    assert ([0, 0, 0], True) == (waits, 0 < throttle.retry_after_s("10.0.0.1", "ada") <= 60)


def test_other_addresses_and_accounts_are_not_affected() -> None:
    throttle = SignInThrottle(max_failures=1, window_s=60)
    throttle.reserve("10.0.0.1", "ada")

    assert (0, 0) == (throttle.retry_after_s("10.0.0.2", "ada"), throttle.retry_after_s("10.0.0.1", "bob"))


def test_a_success_forgets_the_failures() -> None:
    throttle = SignInThrottle(max_failures=2, window_s=60)
    throttle.reserve("10.0.0.1", "ada")
    throttle.succeeded("10.0.0.1", "ada")
    throttle.reserve("10.0.0.1", "ada")

    assert 0 == throttle.retry_after_s("10.0.0.1", "ada")


def test_failures_expire_with_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("shipyard.auth.throttle.time.monotonic", lambda: clock[0])
    throttle = SignInThrottle(max_failures=1, window_s=60)
    throttle.reserve("10.0.0.1", "ada")
    during = throttle.retry_after_s("10.0.0.1", "ada")
    clock[0] += 61

    assert (60, 0) == (during, throttle.retry_after_s("10.0.0.1", "ada"))


def test_the_number_of_remembered_keys_is_bounded() -> None:
    throttle = SignInThrottle(max_failures=1, window_s=60, max_keys=10)
    for i in range(50):
        throttle.reserve(f"10.0.0.{i}", "ada")

    assert (0, True) == (throttle.retry_after_s("10.0.0.0", "ada"), throttle.retry_after_s("10.0.0.49", "ada") > 0)


def test_concurrent_attempts_cannot_pass_the_limit() -> None:
    """Regression (issue 12, item 7): on commit 665ca51 the check ran before any failure was recorded, so 60
    concurrent wrong passwords all reached the password check; reserving first lets exactly the limit through."""
    import threading

    throttle = SignInThrottle(max_failures=10, window_s=60)
    start = threading.Barrier(60)
    allowed: list[int] = []

    def guess() -> None:
        start.wait()
        if throttle.reserve("10.0.0.1", "ada") == 0:
            allowed.append(1)

    threads = [threading.Thread(target=guess) for _ in range(60)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert 10 == len(allowed)


def test_looking_up_an_address_remembers_nothing() -> None:
    throttle = SignInThrottle(max_failures=1, window_s=60, max_keys=10)
    for i in range(50):
        throttle.retry_after_s(f"10.0.0.{i}", "ada")

    assert 0 == len(throttle._failures)


def test_long_usernames_are_counted_under_a_bounded_key() -> None:
    throttle = SignInThrottle(max_failures=1, window_s=60)
    throttle.reserve("10.0.0.1", "a" * 128 + "x" * 10_000)

    assert ([128], True) == (
        [len(user) for _address, user in throttle._failures],
        throttle.retry_after_s("10.0.0.1", "a" * 128 + "y") > 0,
    )
