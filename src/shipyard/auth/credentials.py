"""Credentials in an ``Authorization`` header, written and read in one place: Bearer API tokens and HTTP Basic.

Clients build the header with `authorization_header`; the tracking server (``server/_auth.py``) and ``shipyard
serve --auth`` read it with `parse_authorization` and turn it into a principal with `authenticate`, so both accept
and refuse exactly the same headers, with the same messages.

Example:
    >>> parse_authorization(authorization_header(username="ada", password="s3cret:x")).password
    's3cret:x'
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shipyard.errors import Unauthenticated

if TYPE_CHECKING:
    from shipyard.auth.entities import Principal
    from shipyard.auth.service import AuthService
    from shipyard.auth.throttle import SignInThrottle

__all__ = [
    "BasicCredentials",
    "BearerToken",
    "Credentials",
    "authenticate",
    "authorization_header",
    "parse_authorization",
]

_MALFORMED_BASIC = "Malformed Basic credentials: expected base64 of 'username:password'."


@dataclass(frozen=True, slots=True)
class BearerToken:
    """``Authorization: Bearer <token>``: an API token (``MLFLOW_TRACKING_TOKEN``)."""

    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    """``Authorization: Basic <base64 of username:password>`` (``MLFLOW_TRACKING_USERNAME``/``_PASSWORD``)."""

    username: str
    password: str = field(repr=False)


Credentials = BearerToken | BasicCredentials


def authorization_header(*, token: str = "", username: str = "", password: str = "") -> str | None:
    """The ``Authorization`` value for a token (preferred) or a username and password; None for neither."""
    if token:
        return f"Bearer {token}"
    if username:
        return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return None


def parse_authorization(header: str) -> Credentials:
    """The credentials an ``Authorization`` header carries.

    Raises:
        Unauthenticated: the scheme is neither Bearer nor Basic, or the Basic value is not base64 of
            ``username:password``.
    """
    scheme, _, value = header.partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer":
        return BearerToken(value)
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated(_MALFORMED_BASIC) from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise Unauthenticated(_MALFORMED_BASIC)
        return BasicCredentials(username, password)
    raise Unauthenticated(f"Unsupported authorization scheme {scheme[:20]!r}: use Bearer or Basic.")


def authenticate(accounts: AuthService, throttle: SignInThrottle, header: str, *, address: str) -> Principal:
    """The principal an ``Authorization`` header signs in (blocking: it reads the store and checks a password).

    Args:
        accounts: the accounts to check against.
        throttle: every password check goes through it (an attempt is reserved first).
        header: the ``Authorization`` header's value.
        address: the client's address, with the username the throttle's key.

    Raises:
        Unauthenticated: the header is malformed, or the token or password is wrong (or the token expired or was
            revoked).
        TooManyAttempts: too many wrong passwords for this account from this address lately.
    """
    credentials = parse_authorization(header)
    if isinstance(credentials, BearerToken):
        principal = accounts.principal_for_token(credentials.token)
        if principal is None:
            raise Unauthenticated("Invalid, expired or revoked API token.")
        return principal
    user = throttle.check_password(accounts, address, credentials.username, credentials.password)
    if user is None:
        raise Unauthenticated("Invalid username or password.")
    return accounts.principal(user, "basic")
