"""The one mapping from an exception to an HTTP answer: status, error code, message and ``Retry-After``.

The tracking server (MLflow's JSON error body), its web UI (an HTML error page) and the inference server (the v2
protocol's ``{"error"}`` and MLflow's scoring body) each write their own body, from the same `HttpError`:

* a `ShipyardError` answers its own status (clamped to 4xx/5xx), error code and message, with ``Retry-After`` when
  it says when to retry (``retry_after_s``: statement time-outs, overload, throttled sign-ins);
* a database that is busy or unreachable (SQLAlchemy's ``OperationalError``) answers 503 ``TEMPORARILY_UNAVAILABLE``
  with ``Retry-After: 1``, which MLflow's client retries;
* a value the database refused past validation (any other ``DBAPIError``) answers 400 ``INVALID_PARAMETER_VALUE``;
* anything else is unexpected: 500 ``INTERNAL_ERROR`` naming only the exception's type.

SQLAlchemy is never imported here: an exception can only be one of its errors if it is already loaded, so the
inference server (which has no database) pays nothing for the check.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import StrEnum

from shipyard.errors import ShipyardError

__all__ = ["REJECTED_MESSAGE", "UNAVAILABLE_MESSAGE", "ErrorKind", "HttpError", "http_error"]

UNAVAILABLE_MESSAGE = "The metadata store is busy or unreachable; retry."
REJECTED_MESSAGE = "The request was rejected by the store: invalid value."


class ErrorKind(StrEnum):
    """Why a request failed, for the caller's logging and wording."""

    REFUSED = "refused"  # a ShipyardError: raised on purpose, its message is for the caller
    UNAVAILABLE = "unavailable"  # the metadata store is busy or unreachable: retry
    REJECTED = "rejected"  # the database refused a value that slipped past validation
    UNEXPECTED = "unexpected"  # a bug (or, in the inference server, the model failing)


@dataclass(frozen=True, slots=True)
class HttpError:
    """The HTTP answer for an exception.

    Attributes:
        kind: why the request failed.
        status: the HTTP status (400 to 599).
        error_code: MLflow's error code (``RESOURCE_DOES_NOT_EXIST``, ``TEMPORARILY_UNAVAILABLE``, ...).
        message: what went wrong, safe to show the caller (no SQL, no secrets).
        retry_after_s: seconds for a ``Retry-After`` header, or None for none.
    """

    kind: ErrorKind
    status: int
    error_code: str
    message: str
    retry_after_s: int | None = None

    @property
    def headers(self) -> dict[str, str]:
        """The headers the answer carries (``Retry-After`` when the caller may retry later)."""
        return {} if self.retry_after_s is None else {"Retry-After": str(self.retry_after_s)}


def http_error(exc: BaseException) -> HttpError:
    """The HTTP answer for ``exc``; see the module's docstring for the rules.

    Example:
        >>> from shipyard.errors import RunNotFound
        >>> http_error(RunNotFound("Run 'abc' not found.")).status
        404
    """
    if isinstance(exc, ShipyardError):
        status = exc.http_status if 400 <= exc.http_status < 600 else 500
        seconds = getattr(exc, "retry_after_s", 0)
        return HttpError(ErrorKind.REFUSED, status, exc.error_code, exc.message, seconds or None)
    database = sys.modules.get("sqlalchemy.exc")
    if database is not None and isinstance(exc, database.OperationalError):
        # Lock time-outs and lost connections are transient: 503 lets MLflow's client retry them.
        return HttpError(ErrorKind.UNAVAILABLE, 503, "TEMPORARILY_UNAVAILABLE", UNAVAILABLE_MESSAGE, 1)
    if database is not None and isinstance(exc, database.DBAPIError):
        # Integrity or data errors that slipped past validation are the caller's bad input, not ours to retry.
        return HttpError(ErrorKind.REJECTED, 400, "INVALID_PARAMETER_VALUE", REJECTED_MESSAGE)
    return HttpError(ErrorKind.UNEXPECTED, 500, "INTERNAL_ERROR", f"Internal error: {type(exc).__name__}.")
