"""Auth entities: accounts, API tokens, permission levels and grants, and who is asking (the principal)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from shipyard.errors import InvalidParameter

__all__ = ["ANONYMOUS", "NOBODY", "ApiToken", "Grant", "Level", "Principal", "User"]


class Level(IntEnum):
    """What a user may do with one resource; each level includes the ones below it.

    ``READ`` sees it (and its runs, versions and artifacts), ``EDIT`` changes it (logs to its runs, moves
    aliases), ``MANAGE`` also deletes it and grants permissions on it.
    """

    NO_PERMISSIONS = 0
    READ = 1
    EDIT = 2
    MANAGE = 3

    @classmethod
    def parse(cls, text: str) -> Level:
        """A level from its name, case-insensitively (``"read"``, ``"MANAGE"``).

        Raises:
            InvalidParameter: not one of the four names.
        """
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(level.name for level in cls)
            raise InvalidParameter(f"Invalid permission {text!r}: expected one of {names}.") from None


@dataclass(frozen=True, slots=True)
class User:
    """An account on the server."""

    username: str
    is_admin: bool
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An API token's public facts; the secret itself is shown once, at creation, and only its hash is kept.

    Attributes:
        token_id: the id to list and revoke it by.
        username: whose it is.
        name: what it is for, as its owner called it.
        prefix: the secret's first characters, to recognise it.
        created_at_ms: when it was made.
        expires_at_ms: when it stops working, or None for never.
        last_used_at_ms: when it last authenticated a request (to the minute), or None.
    """

    token_id: str
    username: str
    name: str
    prefix: str
    created_at_ms: int
    expires_at_ms: int | None = None
    last_used_at_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Grant:
    """One user's permission on one resource."""

    resource_type: str
    resource_id: str
    username: str
    level: Level


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request comes from.

    Attributes:
        username: the signed-in user, or None when authentication is off.
        is_admin: admins may do everything (and so may everyone when authentication is off).
        via: how they proved it: ``"token"``, ``"basic"``, ``"session"``, or ``"none"`` with auth off.
        expires_at_ms: when the API token they sent stops working, or None (no token, or one that never expires).
            Nothing the request makes may outlive it: a token cannot mint a longer-lived one.
    """

    username: str | None
    is_admin: bool
    via: str
    expires_at_ms: int | None = None

    @property
    def authenticated(self) -> bool:
        """Whether a user signed in (False only when the server runs without authentication)."""
        return self.username is not None


# Every request's principal when the server runs without authentication: no checks apply.
ANONYMOUS = Principal(username=None, is_admin=True, via="none")
# Who nobody has vouched for (a public page seen signed out, or a request before authentication ran): may do
# nothing, so code that forgets to set the principal fails closed.
NOBODY = Principal(username=None, is_admin=False, via="none")
