"""The one retry policy: back-off that doubles up to its cap, with jitter, and `call` that stops when told."""

from __future__ import annotations

import pytest

from shipyard._retry import RetryPolicy
from shipyard.errors import InvalidParameter, StoreUnavailable


def test_the_wait_doubles_from_the_first_up_to_the_cap() -> None:
    policy = RetryPolicy(first_s=1.0, max_s=5.0)

    assert [1.0, 2.0, 4.0, 5.0, 5.0] == [policy.delay_s(n) for n in range(1, 6)]


def test_a_very_long_outage_waits_the_cap_without_overflowing() -> None:
    assert 10.0 == RetryPolicy(first_s=0.2, max_s=10.0).delay_s(100_000)


def test_jitter_only_shortens_the_wait_by_up_to_its_share() -> None:
    policy = RetryPolicy(first_s=10.0, max_s=60.0, jitter=0.5)

    assert all(5.0 <= policy.delay_s(1) <= 10.0 for _ in range(200))


def test_call_retries_transient_errors_then_returns() -> None:
    attempts: list[int] = []
    waits: list[float] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise StoreUnavailable("busy")
        return "ok"

    result = RetryPolicy(first_s=0.1, retries=5).call(
        flaky, retry_on=lambda exc: isinstance(exc, StoreUnavailable), sleep=waits.append
    )

    assert ("ok", 3, [0.1, 0.2]) == (result, len(attempts), waits)


def test_call_gives_up_after_its_retries_with_the_last_error() -> None:
    attempts: list[int] = []

    def down() -> None:
        attempts.append(1)
        raise StoreUnavailable(f"down {len(attempts)}")

    with pytest.raises(StoreUnavailable, match="down 3"):
        RetryPolicy(retries=2).call(down, retry_on=lambda exc: True, sleep=lambda _s: None)


def test_call_raises_an_error_not_worth_retrying_at_once() -> None:
    attempts: list[int] = []

    def wrong() -> None:
        attempts.append(1)
        raise InvalidParameter("bad")

    with pytest.raises(InvalidParameter):
        RetryPolicy(retries=5).call(
            wrong, retry_on=lambda exc: isinstance(exc, StoreUnavailable), sleep=lambda _s: None
        )
    assert 1 == len(attempts)
