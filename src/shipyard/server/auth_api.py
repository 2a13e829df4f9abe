"""Shipyard's account routes (``/api/v1/auth``): who am I, API tokens, users (admins) and permission grants."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from shipyard.auth import Level, Principal
from shipyard.auth.entities import RESOURCE_TYPES
from shipyard.auth.throttle import REAUTH_ADDRESS
from shipyard.errors import InvalidParameter, PermissionDenied, TooManyAttempts
from shipyard.server._auth import principal_of
from shipyard.server._context import AppContext, context_of
from shipyard.server._errors import error_response
from shipyard.server._json import json_response
from shipyard.server.mlflow_api._request import Fields, read_fields
from shipyard.wire.auth import grant_to_json, token_to_json, user_to_json

__all__ = ["auth_routes"]

_PREFIX = "/api/v1/auth"
_MAX_EXPIRY_DAYS = 3650

Handler = Callable[[AppContext, Principal, Fields], dict[str, Any]]


def _self_or_admin(principal: Principal, username: str | None, what: str) -> str:
    """The user an account operation is about: the caller, or anyone for an admin."""
    if username and username != principal.username:
        if not principal.is_admin:
            raise PermissionDenied(f"Only an admin may {what} of another user.")
        return username
    if principal.username is None:
        if not username:
            raise InvalidParameter("Authentication is off, so name the user: pass 'username'.")
        return username
    return principal.username


def whoami(_ctx: AppContext, principal: Principal, _f: Fields) -> dict[str, Any]:
    return {"username": principal.username, "is_admin": principal.is_admin, "authenticated_via": principal.via}


def create_token(ctx: AppContext, principal: Principal, f: Fields) -> dict[str, Any]:
    username = _self_or_admin(principal, f.text("username"), "create tokens")
    days = f.integer("expires_in_days")
    if days is not None and not 0 < days <= _MAX_EXPIRY_DAYS:
        raise InvalidParameter(f"Invalid expires_in_days {days}: expected 1..{_MAX_EXPIRY_DAYS}, or leave it out.")
    token, secret = ctx.accounts.create_token(
        username,
        f.text("name") or "",
        expires_in_s=None if days is None else days * 86_400,
        actor=principal.username,
        not_after_ms=principal.expires_at_ms,  # a short-lived token cannot mint a longer-lived one, admins' neither
    )
    return {"token": token_to_json(token), "secret": secret}


def list_tokens(ctx: AppContext, principal: Principal, f: Fields) -> dict[str, Any]:
    wanted = f.text("username")
    if principal.is_admin and not wanted:
        tokens = ctx.accounts.list_tokens()
    else:
        tokens = ctx.accounts.list_tokens(_self_or_admin(principal, wanted, "list the tokens"))
    return {"tokens": [token_to_json(t) for t in tokens]}


def revoke_token(ctx: AppContext, principal: Principal, f: Fields) -> dict[str, Any]:
    token = ctx.accounts.get_token(f.req_str("token_id"))
    _self_or_admin(principal, token.username, "revoke the tokens")
    ctx.accounts.revoke_token(token.token_id, actor=principal.username)
    return {}


def create_user(ctx: AppContext, principal: Principal, f: Fields) -> dict[str, Any]:
    ctx.permissions.require_admin(principal, "create users")
    user = ctx.accounts.create_user(
        f.req_str("username"), f.req_str("password"), is_admin=f.boolean("is_admin"), actor=principal.username
    )
    return {"user": user_to_json(user)}


def list_users(ctx: AppContext, principal: Principal, _f: Fields) -> dict[str, Any]:
    ctx.permissions.require_admin(principal, "list users")
    return {"users": [user_to_json(u) for u in ctx.accounts.list_users()]}


def get_user(ctx: AppContext, principal: Principal, f: Fields) -> dict[str, Any]:
    username = _self_or_admin(principal, f.req_str("username"), "read the account")
    return {"user": user_to_json(ctx.accounts.get_user(username)), "grants": _grants_of(ctx, username)}


def _grants_of(ctx: AppContext, username: str) -> list[dict[str, Any]]:
    return [grant_to_json(g) for g in ctx.permissions.user_grants(username)]


def update_user(ctx: AppContext, principal: Principal, f: Fields) -> dict[str, Any]:
    """Change a password or the admin role; every check runs before anything is written."""
    username = _self_or_admin(principal, f.req_str("username"), "change the account")
    password = f.text("password")
    make_admin = None if f.raw("is_admin") is None else f.boolean("is_admin")
    if make_admin is not None:
        ctx.permissions.require_admin(principal, "change who is an admin")
    if password is not None:
        if username == principal.username:
            _check_current_password(ctx, username, f.text("current_password"))
        ctx.accounts.set_password(username, password, actor=principal.username)
    if make_admin is not None:
        ctx.accounts.set_admin(username, make_admin, actor=principal.username)
    return {"user": user_to_json(ctx.accounts.get_user(username))}


def _check_current_password(ctx: AppContext, username: str, current: str | None) -> None:
    """A new password for one's own account needs the current one, so a stolen token cannot take the account.

    Throttled like a sign-in, and shared with the account page's form: ten wrong guesses per account at most.
    """
    if not current:
        raise InvalidParameter(
            "Changing your own password needs your current password: send it as 'current_password'. "
            "Nothing was changed."
        )
    try:
        user = ctx.sign_in_throttle.check_password(ctx.accounts, REAUTH_ADDRESS, username, current)
    except TooManyAttempts as exc:
        raise TooManyAttempts(
            f"Too many wrong current passwords; try again in {exc.retry_after_s} s. Nothing was changed.",
            exc.retry_after_s,
        ) from None
    if user is None:
        raise PermissionDenied("The current password is wrong; the password was not changed.")


def delete_user(ctx: AppContext, principal: Principal, f: Fields) -> dict[str, Any]:
    ctx.permissions.require_admin(principal, "delete users")
    ctx.accounts.delete_user(f.req_str("username"), actor=principal.username)
    return {}


def _require_manage(ctx: AppContext, principal: Principal, resource_type: str, resource_id: str) -> None:
    if resource_type == "experiment":
        ctx.tracking.get_experiment(resource_id)  # ExperimentNotFound before a grant on nothing
        ctx.access.experiment(principal, resource_id, Level.MANAGE)
    elif resource_type == "registered_model":
        ctx.registry.get_registered_model(resource_id)
        ctx.access.model(principal, resource_id, Level.MANAGE)
    elif not principal.is_admin:
        what = f"{resource_type} '{resource_id}'"
        ctx.permissions.require(principal, resource_type, resource_id, Level.MANAGE, what)


def list_grants(ctx: AppContext, principal: Principal, f: Fields) -> dict[str, Any]:
    resource_type, resource_id = f.req_str("resource_type"), f.req_str("resource_id")
    _require_manage(ctx, principal, resource_type, resource_id)
    grants = ctx.permissions.grants(resource_type, resource_id)
    return {"grants": [grant_to_json(g) for g in grants], "default_permission": ctx.permissions.default_level.name}


def my_permission(ctx: AppContext, principal: Principal, f: Fields) -> dict[str, Any]:
    """The caller's own effective level on one resource: how an inference server checks deployment callers."""
    resource_type, resource_id = f.req_str("resource_type"), f.req_str("resource_id")
    if resource_type not in RESOURCE_TYPES:
        raise InvalidParameter(f"Invalid resource_type {resource_type!r}: expected one of {', '.join(RESOURCE_TYPES)}.")
    level = ctx.permissions.level(principal, resource_type, resource_id)
    return {
        "username": principal.username,
        "is_admin": principal.is_admin,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "permission": level.name,
    }


def set_grant(ctx: AppContext, principal: Principal, f: Fields) -> dict[str, Any]:
    resource_type, resource_id = f.req_str("resource_type"), f.req_str("resource_id")
    level = Level.parse(f.req_str("permission"))
    _require_manage(ctx, principal, resource_type, resource_id)
    ctx.permissions.grant(resource_type, resource_id, f.req_str("username"), level, actor=principal.username)
    return {}


def delete_grant(ctx: AppContext, principal: Principal, f: Fields) -> dict[str, Any]:
    resource_type, resource_id = f.req_str("resource_type"), f.req_str("resource_id")
    _require_manage(ctx, principal, resource_type, resource_id)
    ctx.permissions.revoke(resource_type, resource_id, f.req_str("username"), actor=principal.username)
    return {}


def _endpoint(handler: Handler) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        fields = await read_fields(request)
        fields.data.update(request.path_params)
        principal = principal_of(request)
        try:
            answer = await run_in_threadpool(handler, context_of(request), principal, fields)
        except TooManyAttempts as exc:
            refused = error_response(exc.error_code, exc.message, exc.http_status)
            refused.headers["Retry-After"] = str(exc.retry_after_s)
            return refused
        return json_response(answer)

    endpoint.__name__ = handler.__name__
    return endpoint


def auth_routes() -> list[BaseRoute]:
    """The account routes, for `create_app`."""
    table: list[tuple[str, str, Handler]] = [
        ("GET", "/whoami", whoami),
        ("POST", "/tokens", create_token),
        ("GET", "/tokens", list_tokens),
        ("DELETE", "/tokens/{token_id}", revoke_token),
        ("POST", "/users", create_user),
        ("GET", "/users", list_users),
        ("GET", "/users/{username}", get_user),
        ("PATCH", "/users/{username}", update_user),
        ("DELETE", "/users/{username}", delete_user),
        ("GET", "/permissions", list_grants),
        ("GET", "/permissions/mine", my_permission),
        ("PUT", "/permissions", set_grant),
        ("DELETE", "/permissions", delete_grant),
    ]
    return [Route(_PREFIX + path, _endpoint(handler), methods=[method]) for method, path, handler in table]
