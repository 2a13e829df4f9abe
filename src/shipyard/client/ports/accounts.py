"""The accounts port: users, their permission grants and API tokens, in-process or over REST.

In-process, `LocalAccounts` works on the server's store (what ``shipyard users`` does on the server's machine,
before anyone can sign in). Over REST, `RestAccounts` speaks ``/api/v1/auth`` signed in as the caller, so the
server decides what they may do: admins manage users and grants (the owner of a resource its grants), everyone
their own tokens and password.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from shipyard.auth import ApiToken, AuthService, Grant, Level, Permissions, User
from shipyard.client._transport import Transport
from shipyard.errors import InvalidParameter
from shipyard.wire.auth import grant_from_json, token_from_json, user_from_json

__all__ = ["AccountsPort", "LocalAccounts", "RestAccounts", "UserPermissions"]

_AUTH = "/api/v1/auth"


@dataclass(frozen=True, slots=True)
class UserPermissions:
    """A user's account and grants.

    Attributes:
        user: the account.
        grants: their grants, one per resource.
        default_level: what they have on resources without a grant (None: the server does not say).
    """

    user: User
    grants: tuple[Grant, ...]
    default_level: Level | None


class AccountsPort(Protocol):
    """What a client may do with accounts; `LocalAccounts` and `RestAccounts` both provide it."""

    def create_user(self, username: str, password: str, *, is_admin: bool) -> User:
        """Create an account."""
        ...

    def list_users(self) -> list[User]:
        """Every account."""
        ...

    def delete_user(self, username: str) -> None:
        """Delete an account with its tokens, sessions and grants."""
        ...

    def set_password(self, username: str, password: str) -> None:
        """Replace a user's password."""
        ...

    def set_admin(self, username: str, is_admin: bool) -> None:
        """Give or take the admin role."""
        ...

    def grant(self, resource_type: str, resource_id: str, username: str, level: Level) -> None:
        """Set a user's permission on one resource."""
        ...

    def revoke(self, resource_type: str, resource_id: str, username: str) -> None:
        """Remove a user's grant on one resource."""
        ...

    def user_permissions(self, username: str) -> UserPermissions:
        """A user's account and grants."""
        ...

    def create_token(self, username: str | None, name: str, expires_days: int | None) -> tuple[ApiToken, str]:
        """A new API token and its secret (shown only now); ``username`` None: the caller's own."""
        ...

    def list_tokens(self, username: str | None) -> list[ApiToken]:
        """Tokens (never their secrets); ``username`` None: every token the caller may see."""
        ...

    def revoke_token(self, token_id: str) -> None:
        """Revoke a token."""
        ...


class LocalAccounts:
    """The accounts port on a store in this process.

    Args:
        accounts: the account service.
        permissions: the grants.
        actor: who makes the changes, for the audit trail (``cli:ada``).
    """

    def __init__(self, accounts: AuthService, permissions: Permissions, *, actor: str) -> None:
        self.accounts = accounts
        self.permissions = permissions
        self.actor = actor

    def create_user(self, username: str, password: str, *, is_admin: bool) -> User:
        """Create an account."""
        return self.accounts.create_user(username, password, is_admin=is_admin, actor=self.actor)

    def list_users(self) -> list[User]:
        """Every account."""
        return self.accounts.list_users()

    def delete_user(self, username: str) -> None:
        """Delete an account."""
        self.accounts.delete_user(username, actor=self.actor)

    def set_password(self, username: str, password: str) -> None:
        """Replace a user's password."""
        self.accounts.set_password(username, password, actor=self.actor)

    def set_admin(self, username: str, is_admin: bool) -> None:
        """Give or take the admin role."""
        self.accounts.set_admin(username, is_admin, actor=self.actor)

    def grant(self, resource_type: str, resource_id: str, username: str, level: Level) -> None:
        """Set a user's permission on one resource."""
        self.permissions.grant(resource_type, resource_id, username, level, actor=self.actor)

    def revoke(self, resource_type: str, resource_id: str, username: str) -> None:
        """Remove a user's grant on one resource."""
        self.permissions.revoke(resource_type, resource_id, username, actor=self.actor)

    def user_permissions(self, username: str) -> UserPermissions:
        """A user's account, grants and the default level."""
        user = self.accounts.get_user(username)
        grants = tuple(self.permissions.user_grants(username))
        return UserPermissions(user, grants, self.permissions.default_level)

    def create_token(self, username: str | None, name: str, expires_days: int | None) -> tuple[ApiToken, str]:
        """A new API token for ``username`` (required: on the store nobody is signed in)."""
        if not username:
            raise InvalidParameter("Name the user whose token it is (on a server, --server signs you in instead).")
        expires_s = None if expires_days is None else expires_days * 86_400
        return self.accounts.create_token(username, name, expires_in_s=expires_s, actor=self.actor)

    def list_tokens(self, username: str | None) -> list[ApiToken]:
        """Tokens of ``username``, or every token."""
        return self.accounts.list_tokens(username)

    def revoke_token(self, token_id: str) -> None:
        """Revoke a token."""
        self.accounts.revoke_token(token_id, actor=self.actor)


class RestAccounts:
    """The accounts port over a server's ``/api/v1/auth`` routes, signed in as the transport's credentials.

    Args:
        transport: the server.
        current_password: the caller's own password (their Basic credentials), which the server asks for when
            they change it.
    """

    def __init__(self, transport: Transport, *, current_password: str = "") -> None:
        self.transport = transport
        self.current_password = current_password

    @staticmethod
    def _user(username: str) -> str:
        return f"{_AUTH}/users/{quote(username, safe='')}"

    def create_user(self, username: str, password: str, *, is_admin: bool) -> User:
        """Create an account (admins only)."""
        body = {"username": username, "password": password, "is_admin": is_admin}
        return user_from_json(self.transport.request("POST", f"{_AUTH}/users", body)["user"])

    def list_users(self) -> list[User]:
        """Every account (admins only)."""
        return [user_from_json(u) for u in self.transport.request("GET", f"{_AUTH}/users").get("users", [])]

    def delete_user(self, username: str) -> None:
        """Delete an account (admins only)."""
        self.transport.request("DELETE", self._user(username))

    def set_password(self, username: str, password: str) -> None:
        """Replace a password: one's own (with the current one), or anyone's as an admin."""
        body = {"password": password}
        if self.current_password:
            body["current_password"] = self.current_password
        self.transport.request("PATCH", self._user(username), body)

    def set_admin(self, username: str, is_admin: bool) -> None:
        """Give or take the admin role (admins only)."""
        self.transport.request("PATCH", self._user(username), {"is_admin": is_admin})

    def grant(self, resource_type: str, resource_id: str, username: str, level: Level) -> None:
        """Set a user's permission on one resource (MANAGE on it needed)."""
        body = _grant(resource_type, resource_id, username) | {"permission": level.name}
        self.transport.request("PUT", f"{_AUTH}/permissions", body)

    def revoke(self, resource_type: str, resource_id: str, username: str) -> None:
        """Remove a user's grant on one resource (MANAGE on it needed)."""
        self.transport.request("DELETE", f"{_AUTH}/permissions", _grant(resource_type, resource_id, username))

    def user_permissions(self, username: str) -> UserPermissions:
        """A user's account and grants (oneself, or anyone as an admin)."""
        answer = self.transport.request("GET", self._user(username))
        grants = tuple(grant_from_json(g) for g in answer.get("grants", []))
        return UserPermissions(user_from_json(answer["user"]), grants, None)

    def create_token(self, username: str | None, name: str, expires_days: int | None) -> tuple[ApiToken, str]:
        """A new API token: the caller's own, or (as an admin) ``username``'s."""
        body = {"name": name, "username": username, "expires_in_days": expires_days}
        answer = self.transport.request("POST", f"{_AUTH}/tokens", {k: v for k, v in body.items() if v is not None})
        return token_from_json(answer["token"]), str(answer["secret"])

    def list_tokens(self, username: str | None) -> list[ApiToken]:
        """The caller's tokens, or (as an admin) anyone's."""
        answer = self.transport.request("GET", f"{_AUTH}/tokens", {"username": username} if username else None)
        return [token_from_json(item) for item in answer.get("tokens", [])]

    def revoke_token(self, token_id: str) -> None:
        """Revoke one of the caller's tokens (an admin: anyone's)."""
        self.transport.request("DELETE", f"{_AUTH}/tokens/{quote(token_id, safe='')}")


def _grant(resource_type: str, resource_id: str, username: str) -> dict[str, Any]:
    return {"resource_type": resource_type, "resource_id": resource_id, "username": username}
