"""The one place that turns exceptions into MLflow's JSON error shape and HTTP status."""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from shipyard.db import cancelled_error
from shipyard.errors import QueryCancelled, ShipyardError, StatementTimeout
from shipyard.server._json import json_response

__all__ = ["install_error_handlers"]

_log = logging.getLogger("shipyard.server")

_HTTP_CODES = {404: "ENDPOINT_NOT_FOUND", 405: "BAD_REQUEST", 413: "INVALID_PARAMETER_VALUE", 415: "BAD_REQUEST"}
# Messages quote the offending value; a 60 MB value must not come back as a 60 MB error.
MAX_MESSAGE_CHARS = 10_000


def error_response(code: str, message: str, status: int) -> Response:
    """MLflow's error body: ``{"error_code": …, "message": …}``, always served as JSON that is never sniffed.

    The 500 answer is sent from outside every middleware, so the ``nosniff`` header is set here too.
    """
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + f"… ({len(message) - MAX_MESSAGE_CHARS} more characters)"
    response = json_response({"error_code": code, "message": message}, status_code=status)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


async def _shipyard_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ShipyardError)
    if isinstance(exc, QueryCancelled):
        _log.info("%s", exc.message)  # nobody is left to read the answer
    elif isinstance(exc, StatementTimeout):
        _log.warning("statement timeout: %s %s", _request.method, _request.url.path)
    response = error_response(exc.error_code, exc.message, exc.http_status)
    retry_after_s = getattr(exc, "retry_after_s", 0)
    if retry_after_s:
        response.headers["Retry-After"] = str(retry_after_s)
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"No endpoint {request.method} {request.url.path} on this server."
    else:
        message = str(exc.detail)
    return error_response(_HTTP_CODES.get(exc.status_code, "BAD_REQUEST"), message, exc.status_code)


async def _database_error(request: Request, exc: Exception) -> Response:
    timeout_s = request.app.state.context.settings.statement_timeout_s if hasattr(request.app.state, "context") else 0
    cancelled = cancelled_error(exc, timeout_s=timeout_s)  # a statement cancelled outside a store's read or write
    if cancelled is not None:
        return await _shipyard_error(request, cancelled)
    # Lock time-outs and lost connections are transient: 503 lets MLflow's client retry them.
    _log.warning("database unavailable: %s", exc)
    response = error_response("TEMPORARILY_UNAVAILABLE", "The metadata store is busy or unreachable; retry.", 503)
    response.headers["Retry-After"] = "1"
    return response


async def _unexpected(_request: Request, exc: Exception) -> Response:
    if isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError):
        # Integrity or data errors that slipped past validation are the caller's bad input, not ours to retry.
        _log.warning("database rejected a request: %s", exc.orig)
        return error_response("INVALID_PARAMETER_VALUE", "The request was rejected by the store: invalid value.", 400)
    _log.exception("unexpected error")
    return error_response("INTERNAL_ERROR", f"Internal error: {type(exc).__name__}.", 500)


def install_error_handlers(app: object) -> None:
    """Register the handlers on a Starlette/FastAPI app."""
    add = app.add_exception_handler  # type: ignore[attr-defined]
    add(ShipyardError, _shipyard_error)
    add(HTTPException, _http_error)
    add(OperationalError, _database_error)
    add(Exception, _unexpected)
