"""Credentials are written and read in one place: what a client sends, the server and `serve` read back."""

from __future__ import annotations

import base64

import pytest

from shipyard.auth.credentials import BasicCredentials, BearerToken, authorization_header, parse_authorization
from shipyard.errors import Unauthenticated


def test_a_token_is_preferred_and_sent_as_bearer() -> None:
    header = authorization_header(token="sy_abc", username="ada", password="pw")

    assert BearerToken("sy_abc") == parse_authorization(str(header))


def test_basic_round_trips_a_password_with_a_colon_and_unicode() -> None:
    header = authorization_header(username="ada", password="pä:ss")

    assert BasicCredentials("ada", "pä:ss") == parse_authorization(str(header))


def test_no_credentials_make_no_header() -> None:
    assert authorization_header() is None


def test_the_scheme_is_case_insensitive_and_spaces_are_trimmed() -> None:
    assert BearerToken("sy_abc") == parse_authorization("bearer   sy_abc ")


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!not-base64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
    ],
)
def test_malformed_basic_credentials_are_refused(header: str) -> None:
    with pytest.raises(Unauthenticated, match="Malformed Basic credentials"):
        parse_authorization(header)


def test_an_unsupported_scheme_is_refused_by_name() -> None:
    with pytest.raises(Unauthenticated, match="Unsupported authorization scheme 'digest'"):
        parse_authorization("Digest realm=x")


def test_the_password_never_shows_in_the_repr() -> None:
    assert "secret-pw" not in repr(BasicCredentials("ada", "secret-pw"))
