"""Shipyard's account routes (``/api/v1/auth``): who am I, API tokens, users (admins) and permission grants."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Body, Query
from pydantic import BaseModel, Field, field_validator, model_validator

from shipyard._capabilities import resource_types
from shipyard._ids import canonical_experiment_id
from shipyard.auth import Level, Principal
from shipyard.auth.throttle import REAUTH_ADDRESS
from shipyard.errors import InvalidParameter, PermissionDenied, TooManyAttempts
from shipyard.server._context import AppContext
from shipyard.server._routes import Access, Admin, Arg, Call, Resource, SelfOrAdmin, SignedIn, native_router, route
from shipyard.server.api._fields import Flag, Integer, MaybeFlag, Required, Text, refusal
from shipyard.wire.auth import grant_to_json, token_to_json, user_to_json

__all__ = ["GrantTarget", "router"]

MAX_EXPIRY_DAYS = 3650

router = native_router("/api/v1/auth", "accounts")


@dataclass(frozen=True)
class GrantTarget(Resource):
    """The resource a grant is about: an experiment or registered model must exist, then the level is checked."""

    resource_type: Arg
    resource_id: Arg

    def check(self, call: Call, arguments: Mapping[str, Any], level: Level) -> None:
        """See `Resource.check`."""
        ctx, principal = call.ctx, call.principal
        resource_type, resource_id = str(self.resource_type(call, arguments)), str(self.resource_id(call, arguments))
        if resource_type == "experiment":
            ctx.tracking.get_experiment(resource_id)  # ExperimentNotFound before a grant on nothing
            ctx.access.experiment(principal, resource_id, level)
        elif resource_type == "registered_model":
            ctx.registry.get_registered_model(resource_id)
            ctx.access.model(principal, resource_id, level)
        elif not principal.is_admin:
            what = f"{resource_type} '{resource_id}'"
            ctx.permissions.require(principal, resource_type, resource_id, level, what)

    def describe(self) -> str:
        """See `Resource.describe`."""
        return f"resource named by '{self.resource_type.where}' and '{self.resource_id.where}'"


def _token_owner(call: Call, arguments: Mapping[str, Any]) -> str:
    """Whose token the path names (404 for an unknown one)."""
    return call.ctx.accounts.get_token(str(arguments["token_id"])).username


def _account(principal: Principal, username: str | None) -> str:
    """The user an account operation is about (the requirement checked who may name another): the caller's own
    account unless one is named, and with authentication off one must be."""
    if username:
        return username
    if principal.username is None:
        raise InvalidParameter("Authentication is off, so name the user: pass 'username'.")
    return principal.username


# ---------------------------------------------------------------------------------------------------- shapes
class Whoami(BaseModel):
    """Who the caller is."""

    username: str | None = Field(description="None with authentication off.")
    is_admin: bool
    authenticated_via: str = Field(description="bearer, basic, session, or none with authentication off.")


class Token(BaseModel):
    """An API token's public facts (never its secret)."""

    token_id: str
    username: str
    name: str
    prefix: str
    created_at_ms: int
    expires_at_ms: int | None
    last_used_at_ms: int | None


class NewToken(BaseModel):
    """A new token: its secret is shown here once."""

    token: Token
    secret: str


class Tokens(BaseModel):
    """API tokens."""

    tokens: list[Token]


class UserOut(BaseModel):
    """An account's public facts."""

    username: str
    is_admin: bool
    created_at_ms: int


class OneUser(BaseModel):
    """An account."""

    user: UserOut


class Users(BaseModel):
    """Every account."""

    users: list[UserOut]


class GrantOut(BaseModel):
    """One permission grant."""

    resource_type: str
    resource_id: str
    username: str
    permission: str = Field(description="NO_PERMISSIONS, READ, EDIT or MANAGE")


class UserDetail(BaseModel):
    """An account and the grants it holds."""

    user: UserOut
    grants: list[GrantOut]


class Grants(BaseModel):
    """Every explicit grant on one resource, and what everyone else holds."""

    grants: list[GrantOut]
    default_permission: str


class MyPermission(BaseModel):
    """The caller's effective level on one resource."""

    username: str | None
    is_admin: bool
    resource_type: str
    resource_id: str
    permission: str


class Nothing(BaseModel):
    """An empty answer."""


class NewTokenRequest(BaseModel):
    """A token to make: for the caller, or (admins) for ``username``."""

    username: Text = None
    name: Text = Field(default=None, description="What the token is for.")
    expires_in_days: Integer = Field(default=None, description=f"1..{MAX_EXPIRY_DAYS}; never expires if left out.")


class TokensQuery(BaseModel):
    """Whose tokens: the caller's, or (admins) ``username``'s; admins see everyone's without it."""

    username: Text = None


class NewUser(BaseModel):
    """An account to create."""

    username: Required
    password: Required
    is_admin: Flag = False


class UserChange(BaseModel):
    """What to change: the password (one's own needs ``current_password``) or (admins) the admin role."""

    password: Text = None
    current_password: Text = None
    is_admin: MaybeFlag = None


class _OnResource(BaseModel):
    """A resource a grant is about; an experiment's id is read in its one spelling (``"02"`` is ``"2"``)."""

    resource_type: Required = Field(description="A kind of resource grants name: experiment, registered_model, ...")
    resource_id: Required

    @model_validator(mode="before")
    @classmethod
    def _canonical_experiment(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("resource_type") == "experiment":
            value = data.get("resource_id")
            if value is not None and value != "":
                try:
                    return {**data, "resource_id": canonical_experiment_id(value, "'resource_id'")}
                except InvalidParameter as exc:
                    raise refusal(exc) from None
        return data


class GrantQuery(_OnResource):
    """The resource whose grants to list (or whose level to report)."""


class NewGrant(_OnResource):
    """A grant to set (replacing any earlier one)."""

    username: Required
    permission: Required = Field(description="NO_PERMISSIONS, READ, EDIT or MANAGE (any case).")

    @field_validator("permission")
    @classmethod
    def _level(cls, value: str) -> str:
        try:
            Level.parse(value)
        except InvalidParameter as exc:
            raise refusal(exc) from None
        return value


class GrantToRevoke(_OnResource):
    """A grant to remove."""

    username: Required


# ---------------------------------------------------------------------------------------------------- routes
@route(router, "GET", "/whoami", requires=SignedIn(), answers=Whoami, summary="Who am I")
def whoami(call: Call) -> dict[str, Any]:
    """The signed-in caller."""
    principal = call.principal
    return {"username": principal.username, "is_admin": principal.is_admin, "authenticated_via": principal.via}


@route(
    router,
    "POST",
    "/tokens",
    requires=SelfOrAdmin(Arg("body.username"), "create tokens"),
    answers=NewToken,
    summary="Create an API token",
)
def create_token(body: Annotated[NewTokenRequest, Body()], call: Call) -> dict[str, Any]:
    """A new token; a token cannot outlive the credential that made it."""
    username = _account(call.principal, body.username)
    days = body.expires_in_days
    if days is not None and not 0 < days <= MAX_EXPIRY_DAYS:
        raise InvalidParameter(f"Invalid expires_in_days {days}: expected 1..{MAX_EXPIRY_DAYS}, or leave it out.")
    token, secret = call.ctx.accounts.create_token(
        username,
        body.name or "",
        expires_in_s=None if days is None else days * 86_400,
        actor=call.principal.username,
        not_after_ms=call.principal.expires_at_ms,  # a short-lived token cannot mint a longer-lived one
    )
    return {"token": token_to_json(token), "secret": secret}


@route(
    router,
    "GET",
    "/tokens",
    requires=SelfOrAdmin(Arg("query.username"), "list the tokens"),
    answers=Tokens,
    summary="List API tokens",
)
def list_tokens(query: Annotated[TokensQuery, Query()], call: Call) -> dict[str, Any]:
    """The caller's tokens, or ``username``'s (admins; every token without it)."""
    if call.principal.is_admin and not query.username:
        tokens = call.ctx.accounts.list_tokens()
    else:
        tokens = call.ctx.accounts.list_tokens(_account(call.principal, query.username))
    return {"tokens": [token_to_json(t) for t in tokens]}


@route(
    router,
    "DELETE",
    "/tokens/{token_id}",
    requires=SelfOrAdmin(_token_owner, "revoke the tokens"),
    answers=Nothing,
    summary="Revoke an API token",
)
def revoke_token(token_id: str, call: Call) -> dict[str, Any]:
    """Revoke one of the caller's tokens (admins: anyone's)."""
    call.ctx.accounts.revoke_token(token_id, actor=call.principal.username)
    return {}


@route(router, "POST", "/users", requires=Admin("create users"), answers=OneUser, summary="Create a user")
def create_user(body: Annotated[NewUser, Body()], call: Call) -> dict[str, Any]:
    """A new account."""
    user = call.ctx.accounts.create_user(
        body.username, body.password, is_admin=body.is_admin, actor=call.principal.username
    )
    return {"user": user_to_json(user)}


@route(router, "GET", "/users", requires=Admin("list users"), answers=Users, summary="List users")
def list_users(call: Call) -> dict[str, Any]:
    """Every account."""
    return {"users": [user_to_json(u) for u in call.ctx.accounts.list_users()]}


@route(
    router,
    "GET",
    "/users/{username}",
    requires=SelfOrAdmin(Arg("username"), "read the account"),
    answers=UserDetail,
    summary="Read a user",
)
def get_user(username: str, call: Call) -> dict[str, Any]:
    """An account and the grants it holds."""
    grants = [grant_to_json(g) for g in call.ctx.permissions.user_grants(username)]
    return {"user": user_to_json(call.ctx.accounts.get_user(username)), "grants": grants}


@route(
    router,
    "PATCH",
    "/users/{username}",
    requires=SelfOrAdmin(Arg("username"), "change the account"),
    answers=OneUser,
    summary="Change a user",
)
def update_user(username: str, body: Annotated[UserChange, Body()], call: Call) -> dict[str, Any]:
    """Change a password or the admin role; every check runs before anything is written."""
    ctx, principal = call.ctx, call.principal
    if body.is_admin is not None:
        ctx.permissions.require_admin(principal, "change who is an admin")
    if body.password is not None:
        if username == principal.username:
            _check_current_password(ctx, username, body.current_password)
        ctx.accounts.set_password(username, body.password, actor=principal.username)
    if body.is_admin is not None:
        ctx.accounts.set_admin(username, body.is_admin, actor=principal.username)
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


@route(router, "DELETE", "/users/{username}", requires=Admin("delete users"), answers=Nothing, summary="Delete a user")
def delete_user(username: str, call: Call) -> dict[str, Any]:
    """Delete an account (its tokens, sessions and grants go with it)."""
    call.ctx.accounts.delete_user(username, actor=call.principal.username)
    return {}


_MANAGE_QUERIED = Access(Level.MANAGE, GrantTarget(Arg("query.resource_type"), Arg("query.resource_id")))
_MANAGE_BODY = Access(Level.MANAGE, GrantTarget(Arg("body.resource_type"), Arg("body.resource_id")))


@route(router, "GET", "/permissions", requires=_MANAGE_QUERIED, answers=Grants, summary="List grants")
def list_grants(query: Annotated[GrantQuery, Query()], call: Call) -> dict[str, Any]:
    """Every explicit grant on one resource, with the server's default level."""
    grants = call.ctx.permissions.grants(query.resource_type, query.resource_id)
    return {
        "grants": [grant_to_json(g) for g in grants],
        "default_permission": call.ctx.permissions.default_level.name,
    }


@route(
    router,
    "GET",
    "/permissions/mine",
    requires=SignedIn("reports the caller's own level only"),
    answers=MyPermission,
    summary="My level on a resource",
)
def my_permission(query: Annotated[GrantQuery, Query()], call: Call) -> dict[str, Any]:
    """The caller's own effective level on one resource: how an inference server checks deployment callers."""
    resource_type, resource_id = query.resource_type, query.resource_id
    known = resource_types()
    if resource_type not in known:
        raise InvalidParameter(f"Invalid resource_type {resource_type!r}: expected one of {', '.join(known)}.")
    level = call.ctx.permissions.level(call.principal, resource_type, resource_id)
    return {
        "username": call.principal.username,
        "is_admin": call.principal.is_admin,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "permission": level.name,
    }


@route(router, "PUT", "/permissions", requires=_MANAGE_BODY, answers=Nothing, summary="Set a grant")
def set_grant(body: Annotated[NewGrant, Body()], call: Call) -> dict[str, Any]:
    """Give a user a level on a resource (replacing any earlier grant)."""
    level = Level.parse(body.permission)
    call.ctx.permissions.grant(
        body.resource_type, body.resource_id, body.username, level, actor=call.principal.username
    )
    return {}


@route(router, "DELETE", "/permissions", requires=_MANAGE_BODY, answers=Nothing, summary="Remove a grant")
def delete_grant(body: Annotated[GrantToRevoke, Body()], call: Call) -> dict[str, Any]:
    """Remove a user's grant (they fall back to the default level)."""
    call.ctx.permissions.revoke(body.resource_type, body.resource_id, body.username, actor=call.principal.username)
    return {}
