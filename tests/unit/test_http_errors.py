"""The one exception-to-HTTP mapping the tracking server, its web UI and the inference server share."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from shipyard._http_errors import ErrorKind, HttpError, http_error
from shipyard.errors import (
    InvalidParameter,
    MissingExtra,
    Overloaded,
    RunNotFound,
    ShipyardError,
    StatementTimeout,
    TooManyAttempts,
)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (RunNotFound("Run 'a' not found."), (404, "RESOURCE_DOES_NOT_EXIST", "Run 'a' not found.", {})),
        (InvalidParameter("bad"), (400, "INVALID_PARAMETER_VALUE", "bad", {})),
        (MissingExtra("numpy", "monitoring"), (501, "INTERNAL_ERROR", MissingExtra("numpy", "monitoring").message, {})),
        (Overloaded("busy", retry_after_s=3), (503, "TEMPORARILY_UNAVAILABLE", "busy", {"Retry-After": "3"})),
        (StatementTimeout("slow", retry_after_s=30), (503, "TEMPORARILY_UNAVAILABLE", "slow", {"Retry-After": "30"})),
        (TooManyAttempts("wait", retry_after_s=0), (429, "REQUEST_LIMIT_EXCEEDED", "wait", {})),
    ],
)
def test_a_shipyard_error_answers_its_own_status_code_and_message(exc: ShipyardError, expected: tuple[object]) -> None:
    found = http_error(exc)

    assert (ErrorKind.REFUSED, *expected) == (found.kind, found.status, found.error_code, found.message, found.headers)


def test_a_status_outside_4xx_and_5xx_answers_500() -> None:
    class Odd(ShipyardError):
        http_status = 302

    assert 500 == http_error(Odd("odd")).status


def test_a_busy_database_answers_503_to_retry() -> None:
    found = http_error(OperationalError("SELECT 1", {}, Exception("database is locked")))

    assert (ErrorKind.UNAVAILABLE, 503, "TEMPORARILY_UNAVAILABLE", {"Retry-After": "1"}) == (
        found.kind,
        found.status,
        found.error_code,
        found.headers,
    )


def test_a_value_the_database_refused_answers_400_without_its_sql() -> None:
    found = http_error(IntegrityError("INSERT INTO secret_table", {}, Exception("UNIQUE constraint failed")))

    assert (
        HttpError(
            ErrorKind.REJECTED, 400, "INVALID_PARAMETER_VALUE", "The request was rejected by the store: invalid value."
        )
        == found
    )


def test_anything_else_answers_500_naming_only_the_type() -> None:
    found = http_error(KeyError("password=hunter2"))

    assert HttpError(ErrorKind.UNEXPECTED, 500, "INTERNAL_ERROR", "Internal error: KeyError.") == found
