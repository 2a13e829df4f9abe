"""Error answers become the typed error the server raised, whichever server answered (tracking or inference)."""

from __future__ import annotations

import httpx
import pytest

from shipyard.client._transport import Transport, error_from_response
from shipyard.errors import (
    InternalError,
    InvalidParameter,
    ParamConflict,
    PermissionDenied,
    ResourceNotFound,
    ShipyardError,
    StoreUnavailable,
    TooManyAttempts,
    Unauthenticated,
)

SERVER = "http://127.0.0.1:5000"


def _answer(status: int, **kwargs: object) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("GET", SERVER), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (_answer(404, json={"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no"}), ResourceNotFound),
        (_answer(403, json={"error_code": "PERMISSION_DENIED", "message": "no"}), PermissionDenied),
        (_answer(401, json={"error": "sign in"}), Unauthenticated),  # an inference server's shape
        (_answer(400, json={"error": "bad spec"}), InvalidParameter),
        (_answer(404, text="<html>not here</html>"), ResourceNotFound),
        (_answer(418, text="teapot"), InternalError),
        (_answer(503, text="busy"), StoreUnavailable),
        (_answer(429, json={"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"}), StoreUnavailable),
    ],
)
def test_an_error_answer_becomes_its_typed_error(answer: httpx.Response, expected: type[ShipyardError]) -> None:
    assert expected is type(error_from_response(answer, SERVER))


def test_a_changed_param_is_told_apart_by_mlflows_message() -> None:
    body = {"error_code": "INVALID_PARAMETER_VALUE", "message": "Changing param values is not allowed. Param x"}

    assert ParamConflict is type(error_from_response(_answer(400, json=body), SERVER))


def test_a_caller_may_pass_a_throttled_sign_in_on_as_it_is() -> None:
    body = {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "Too many failed sign-ins"}
    error = error_from_response(_answer(429, json=body), SERVER, outage_statuses=frozenset({503}))

    assert (TooManyAttempts, "Too many failed sign-ins") == (type(error), error.message)


def test_the_message_of_a_non_json_answer_names_the_status() -> None:
    error = error_from_response(_answer(418, text="teapot"), SERVER)

    assert "HTTP 418: teapot" == error.message


def test_a_transport_refuses_a_url_that_is_not_a_server() -> None:
    with pytest.raises(InvalidParameter, match="Expected a server URL"):
        Transport("127.0.0.1:5000")


def test_credentials_and_the_actor_go_in_every_request() -> None:
    transport = Transport(SERVER, username="ada", password="pw")
    try:
        headers = transport.headers
        assert (True, True) == (headers["Authorization"].startswith("Basic "), bool(headers["X-Shipyard-User"]))
    finally:
        transport.close()
