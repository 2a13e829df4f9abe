"""JSON shapes of the account routes (``/api/v1/auth``): tokens, users and grants (server and CLI share them)."""

from __future__ import annotations

from typing import Any

from shipyard.auth import ApiToken, Grant, Level, User

__all__ = [
    "grant_from_json",
    "grant_to_json",
    "token_from_json",
    "token_to_json",
    "user_from_json",
    "user_to_json",
]


def token_to_json(token: ApiToken) -> dict[str, Any]:
    """An API token's public facts (never its secret)."""
    return {
        "token_id": token.token_id,
        "username": token.username,
        "name": token.name,
        "prefix": token.prefix,
        "created_at_ms": token.created_at_ms,
        "expires_at_ms": token.expires_at_ms,
        "last_used_at_ms": token.last_used_at_ms,
    }


def token_from_json(data: dict[str, Any]) -> ApiToken:
    """The inverse of ``token_to_json``."""
    return ApiToken(
        token_id=str(data["token_id"]),
        username=str(data["username"]),
        name=str(data.get("name") or ""),
        prefix=str(data.get("prefix") or ""),
        created_at_ms=int(data["created_at_ms"]),
        expires_at_ms=data.get("expires_at_ms"),
        last_used_at_ms=data.get("last_used_at_ms"),
    )


def user_to_json(user: User) -> dict[str, Any]:
    """An account's public facts."""
    return {"username": user.username, "is_admin": user.is_admin, "created_at_ms": user.created_at_ms}


def user_from_json(data: dict[str, Any]) -> User:
    """The inverse of ``user_to_json``."""
    return User(str(data["username"]), bool(data.get("is_admin")), int(data["created_at_ms"]))


def grant_to_json(grant: Grant) -> dict[str, Any]:
    """One permission grant."""
    return {
        "resource_type": grant.resource_type,
        "resource_id": grant.resource_id,
        "username": grant.username,
        "permission": grant.level.name,
    }


def grant_from_json(data: dict[str, Any]) -> Grant:
    """The inverse of ``grant_to_json``."""
    level = Level.parse(str(data["permission"]))
    return Grant(str(data["resource_type"]), str(data["resource_id"]), str(data["username"]), level)
