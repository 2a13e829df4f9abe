"""Page tokens: they round-trip, keep MLflow's base64-JSON shape, and reject what we did not make."""

from __future__ import annotations

import base64

import pytest

from shipyard import _paging
from shipyard._paging import decode_page_token, encode_page_token
from shipyard.errors import InvalidParameter
from shipyard.tracking import search


def test_search_re_exports_the_paging_functions() -> None:
    assert (_paging.encode_page_token, _paging.decode_page_token) == (
        search.encode_page_token,
        search.decode_page_token,
    )


@pytest.mark.parametrize("offset", [0, 1, 100, 10**12])
def test_page_token_round_trips(offset: int) -> None:
    assert offset == decode_page_token(encode_page_token(offset))


def test_page_token_is_mlflow_shaped_base64_json() -> None:
    assert b'{"offset": 7}' == base64.b64decode(encode_page_token(7))


@pytest.mark.parametrize("token", [None, ""])
def test_missing_page_token_is_the_first_page(token: str | None) -> None:
    assert 0 == decode_page_token(token)


def test_page_token_tolerates_missing_padding_and_url_safe_alphabet() -> None:
    token = encode_page_token(12345678)
    assert 12345678 == decode_page_token(token.rstrip("=").replace("+", "-").replace("/", "_"))


@pytest.mark.parametrize(
    "token",
    [
        "abc",
        "!!!!",
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b"[1]").decode(),
        base64.b64encode(b"{}").decode(),
        base64.b64encode(b'{"offset": -1}').decode(),
        base64.b64encode(b'{"offset": "x"}').decode(),
        base64.b64encode(b'{"offset": 1.5}').decode(),
        base64.b64encode(b'{"offset": true}').decode(),
        base64.b64encode(b"\xff\xfe").decode(),
    ],
)
def test_bad_page_token_is_invalid_parameter(token: str) -> None:
    with pytest.raises(InvalidParameter, match="Invalid page token"):
        decode_page_token(token)


@pytest.mark.parametrize("offset", [-1, 1.5, True])
def test_encode_page_token_rejects_bad_offsets(offset: object) -> None:
    with pytest.raises(InvalidParameter, match="non-negative integer"):
        encode_page_token(offset)  # type: ignore[arg-type]
