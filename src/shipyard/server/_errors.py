"""The tracking server's error answers: every exception in MLflow's JSON error shape, with the status and code
`shipyard._http_errors.http_error` (shared with the web UI and the inference server) gives it."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from shipyard._http_errors import ErrorKind, http_error
from shipyard.db import cancelled_error
from shipyard.errors import QueryCancelled, ShipyardError, StatementTimeout
from shipyard.server._json import json_response

__all__ = ["INVALID_PARAMETER", "install_error_handlers", "validation_message"]

_log = logging.getLogger("shipyard.server")

_HTTP_CODES = {404: "ENDPOINT_NOT_FOUND", 405: "BAD_REQUEST", 413: "INVALID_PARAMETER_VALUE", 415: "BAD_REQUEST"}
# Messages quote the offending value; a 60 MB value must not come back as a 60 MB error.
MAX_MESSAGE_CHARS = 10_000
# The pydantic error type of a field refused by Shipyard's own rule; its context holds the message and error code.
INVALID_PARAMETER = "invalid_parameter"
_SHOWN_CHARS = 200


def error_response(code: str, message: str, status: int) -> Response:
    """MLflow's error body: ``{"error_code": …, "message": …}``, always served as JSON that is never sniffed.

    The 500 answer is sent from outside every middleware, so the ``nosniff`` header is set here too.
    """
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + f"… ({len(message) - MAX_MESSAGE_CHARS} more characters)"
    response = json_response({"error_code": code, "message": message}, status_code=status)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"No endpoint {request.method} {request.url.path} on this server."
    else:
        message = str(exc.detail)
    return error_response(_HTTP_CODES.get(exc.status_code, "BAD_REQUEST"), message, exc.status_code)


def validation_message(errors: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """The error code and message for a request whose fields failed validation: the first problem, worded as
    every Shipyard route words it (``Missing value for required parameter 'name'.``)."""
    first = errors[0] if errors else {}
    context = first.get("ctx") or {}
    if first.get("type") == INVALID_PARAMETER:
        return str(context.get("error_code", "INVALID_PARAMETER_VALUE")), str(context.get("message"))
    name = ".".join(str(part) for part in tuple(first.get("loc", ()))[1:])
    problem = str(first.get("msg", "invalid value")).rstrip(".")
    if first.get("type") == "missing":
        return "INVALID_PARAMETER_VALUE", f"Missing value for required parameter '{name}'."
    if not name:
        return "INVALID_PARAMETER_VALUE", f"Invalid request: {problem}."
    shown = repr(first.get("input"))
    if len(shown) > _SHOWN_CHARS:
        shown = shown[:_SHOWN_CHARS] + "..."
    return "INVALID_PARAMETER_VALUE", f"Invalid value {shown} for parameter '{name}': {problem}."


async def _invalid_request(_request: Request, exc: Exception) -> Response:
    """A request FastAPI could not validate: 400 with MLflow's error body (never FastAPI's 422 and its shape)."""
    assert isinstance(exc, RequestValidationError)
    code, message = validation_message(exc.errors())
    return error_response(code, message, 400)


async def _failure(request: Request, exc: Exception) -> Response:
    """Any other exception, answered as `shipyard._http_errors.http_error` maps it, in MLflow's error body."""
    if isinstance(exc, OperationalError):
        timeout_s = (
            request.app.state.context.settings.statement_timeout_s if hasattr(request.app.state, "context") else 0
        )
        exc = cancelled_error(exc, timeout_s=timeout_s) or exc  # a statement cancelled outside a store's read or write
    failure = http_error(exc)
    if isinstance(exc, QueryCancelled):
        _log.info("%s", exc.message)  # nobody is left to read the answer
    elif isinstance(exc, StatementTimeout):
        _log.warning("statement timeout: %s %s", request.method, request.url.path)
    elif failure.kind is ErrorKind.UNAVAILABLE:
        _log.warning("database unavailable: %s", exc)
    elif failure.kind is ErrorKind.REJECTED:
        _log.warning("database rejected a request: %s", getattr(exc, "orig", exc))
    elif failure.kind is ErrorKind.UNEXPECTED:
        _log.error("unexpected error", exc_info=exc)
    response = error_response(failure.error_code, failure.message, failure.status)
    response.headers.update(failure.headers)
    return response


def install_error_handlers(app: object) -> None:
    """Register the handlers on a Starlette/FastAPI app."""
    add = app.add_exception_handler  # type: ignore[attr-defined]
    add(ShipyardError, _failure)
    add(HTTPException, _http_error)
    add(RequestValidationError, _invalid_request)
    add(OperationalError, _failure)
    add(Exception, _failure)
