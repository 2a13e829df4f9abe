"""``shipyard users`` and ``shipyard tokens``: accounts, permission grants and API tokens.

These commands work on the server's metadata store directly (``--store``, else ``SHIPYARD_STORE_URI``, else the
embedded store under ``SHIPYARD_HOME``), so they run on the server's machine, before the first sign-in as well.
``shipyard tokens … --server URL`` asks a running server instead, signed in as you; over the network the other
operations are the ``/api/v1/auth`` routes.
"""

from __future__ import annotations

import contextlib
import getpass
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Protocol
from urllib.parse import quote

import typer
from rich.table import Table

from shipyard.auth import ApiToken, AuthService, Level, Permissions
from shipyard.cli._common import console, err_console, format_ms, handle_errors
from shipyard.config import Settings
from shipyard.errors import InvalidParameter
from shipyard.wire.auth import token_from_json

if TYPE_CHECKING:
    from shipyard.client.http import RestBackend

__all__ = ["tokens_app", "users_app"]

_AUTH = "/api/v1/auth"

users_app = typer.Typer(help="Manage accounts and their permissions (on the server's store).", no_args_is_help=True)
tokens_app = typer.Typer(help="Create, list and revoke API tokens (on the server's store).", no_args_is_help=True)

Store = Annotated[
    str | None,
    typer.Option("--store", envvar="SHIPYARD_STORE_URI", help="The server's metadata store URL."),
]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input instead of prompting.")
]


@contextlib.contextmanager
def _services(store: str | None) -> Iterator[tuple[AuthService, Permissions]]:
    from shipyard.db import open_database

    settings = Settings.from_env().with_overrides(store_uri=store)
    with handle_errors():
        database = open_database(settings.resolved_store_uri)
        try:
            yield AuthService(database), Permissions(database, Level.parse(settings.auth_default_permission))
        finally:
            database.dispose()


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = typer.prompt("Password", hide_input=True)
    if typer.prompt("Repeat it", hide_input=True) != first:
        err_console.print("[red]error:[/red] the passwords differ; nothing was changed.", highlight=False)
        raise typer.Exit(1)
    return str(first)


@users_app.command("create")
def create_user(
    username: Annotated[str, typer.Argument(help="Letters, digits and '._@+-', up to 64 characters.")],
    admin: Annotated[bool, typer.Option("--admin", help="Give the account the admin role.")] = False,
    password_stdin: PasswordStdin = False,
    store: Store = None,
) -> None:
    """Create an account (the first one is usually an admin: ``shipyard users create alice --admin``)."""
    password = _password(password_stdin)
    with _services(store) as (accounts, _):
        user = accounts.create_user(username, password, is_admin=admin, actor=_actor())
    console.print(f"Created {'admin ' if user.is_admin else ''}user [bold]{user.username}[/bold].", highlight=False)


@users_app.command("list")
def list_users(store: Store = None) -> None:
    """List every account."""
    with _services(store) as (accounts, _):
        users = accounts.list_users()
    table = Table("username", "role", "created")
    for user in users:
        table.add_row(user.username, "admin" if user.is_admin else "user", format_ms(user.created_at_ms))
    console.print(table)


@users_app.command("delete")
def delete_user(username: str, store: Store = None) -> None:
    """Delete an account with its tokens, sessions and grants (what it created stays)."""
    with _services(store) as (accounts, _):
        accounts.delete_user(username, actor=_actor())
    console.print(f"Deleted user {username}.", highlight=False)


@users_app.command("set-password")
def set_password(username: str, password_stdin: PasswordStdin = False, store: Store = None) -> None:
    """Replace a user's password (their web sessions end; their API tokens keep working)."""
    password = _password(password_stdin)
    with _services(store) as (accounts, _):
        accounts.set_password(username, password, actor=_actor())
    console.print(f"Changed the password of {username}.", highlight=False)


@users_app.command("set-admin")
def set_admin(
    username: str,
    admin: Annotated[bool, typer.Option("--admin/--no-admin", help="Give or take the admin role.")] = True,
    store: Store = None,
) -> None:
    """Give (``--admin``) or take (``--no-admin``) the admin role."""
    with _services(store) as (accounts, _):
        accounts.set_admin(username, admin, actor=_actor())
    console.print(f"{username} is {'now' if admin else 'no longer'} an admin.", highlight=False)


@users_app.command("grant")
def grant(
    username: str,
    resource_type: Annotated[str, typer.Argument(help="experiment, registered_model or deployment.")],
    resource_id: Annotated[str, typer.Argument(help="The experiment id, model name or deployment name.")],
    permission: Annotated[str, typer.Argument(help="NO_PERMISSIONS, READ, EDIT or MANAGE.")],
    store: Store = None,
) -> None:
    """Set a user's permission on one resource (recorded in the audit trail)."""
    with _services(store) as (_, permissions):
        permissions.grant(resource_type, resource_id, username, Level.parse(permission), actor=_actor())
    console.print(f"{username} now has {permission.upper()} on {resource_type} {resource_id!r}.", highlight=False)


@users_app.command("revoke")
def revoke(username: str, resource_type: str, resource_id: str, store: Store = None) -> None:
    """Remove a user's grant on one resource (they fall back to the default permission)."""
    with _services(store) as (_, permissions):
        permissions.revoke(resource_type, resource_id, username, actor=_actor())
    console.print(f"Revoked {username}'s grant on {resource_type} {resource_id!r}.", highlight=False)


@users_app.command("permissions")
def show_permissions(username: str, store: Store = None) -> None:
    """List a user's grants."""
    with _services(store) as (accounts, permissions):
        user = accounts.get_user(username)
        grants = permissions.user_grants(username)
        default = permissions.default_level.name
    table = Table("resource type", "resource", "permission")
    for item in grants:
        table.add_row(item.resource_type, item.resource_id, item.level.name)
    console.print(table)
    role = "an admin: MANAGE on everything" if user.is_admin else f"default elsewhere: {default}"
    console.print(f"{username} is {role}.", highlight=False)


Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        help="Ask this server (http://…) instead of opening its store; signs in with SHIPYARD_/MLFLOW_TRACKING_TOKEN "
        "or _USERNAME/_PASSWORD.",
    ),
]


class _Tokens(Protocol):
    """What the token commands need: the server's store (embedded) or its REST routes."""

    def create(self, username: str | None, name: str, expires_days: int | None) -> tuple[ApiToken, str]: ...
    def list(self, username: str | None) -> list[ApiToken]: ...
    def revoke(self, token_id: str) -> None: ...


class _LocalTokens:
    def __init__(self, accounts: AuthService) -> None:
        self.accounts = accounts

    def create(self, username: str | None, name: str, expires_days: int | None) -> tuple[ApiToken, str]:
        if not username:
            raise InvalidParameter("Name the user whose token it is (on a server, --server signs you in instead).")
        expires_s = None if expires_days is None else expires_days * 86_400
        return self.accounts.create_token(username, name, expires_in_s=expires_s, actor=_actor())

    def list(self, username: str | None) -> list[ApiToken]:
        return self.accounts.list_tokens(username)

    def revoke(self, token_id: str) -> None:
        self.accounts.revoke_token(token_id, actor=_actor())


class _RemoteTokens:
    def __init__(self, rest: RestBackend) -> None:
        self.rest = rest

    def create(self, username: str | None, name: str, expires_days: int | None) -> tuple[ApiToken, str]:
        body = {"name": name, "username": username, "expires_in_days": expires_days}
        answer = self.rest.request("POST", f"{_AUTH}/tokens", {k: v for k, v in body.items() if v is not None})
        return token_from_json(answer["token"]), str(answer["secret"])

    def list(self, username: str | None) -> list[ApiToken]:
        answer = self.rest.request("GET", f"{_AUTH}/tokens", {"username": username} if username else None)
        return [token_from_json(item) for item in answer.get("tokens", [])]

    def revoke(self, token_id: str) -> None:
        self.rest.request("DELETE", f"{_AUTH}/tokens/{quote(token_id, safe='')}")


@contextlib.contextmanager
def _tokens(store: str | None, server: str | None) -> Iterator[_Tokens]:
    if not server:
        with _services(store) as (accounts, _):
            yield _LocalTokens(accounts)
        return
    from shipyard.client.http import RestBackend

    if not server.startswith(("http://", "https://")):
        err_console.print(f"[red]error:[/red] --server must be an http(s):// URL, not {server!r}.", highlight=False)
        raise typer.Exit(1)
    settings = Settings.from_env()
    with handle_errors():
        rest = RestBackend(
            server,
            retries=1,
            token=settings.tracking_token,
            username=settings.tracking_username,
            password=settings.tracking_password,
        )
        try:
            yield _RemoteTokens(rest)
        finally:
            rest.close()


@tokens_app.command("create")
def create_token(
    username: Annotated[
        str | None, typer.Argument(help="Whose token it is (with --server: yourself unless you are an admin).")
    ] = None,
    name: Annotated[str, typer.Option(help="What the token is for (shown in listings).")] = "",
    expires_days: Annotated[
        int | None, typer.Option("--expires-days", min=1, help="Stop working after this many days (default: never).")
    ] = None,
    store: Store = None,
    server: Server = None,
) -> None:
    """Create an API token and print its secret, once: give it to the client as ``MLFLOW_TRACKING_TOKEN``."""
    with _tokens(store, server) as tokens, handle_errors():
        token, secret = tokens.create(username, name, expires_days)
    err_console.print(
        f"Created token {token.token_id} for {token.username}"
        + (f", expiring {format_ms(token.expires_at_ms)} UTC" if token.expires_at_ms else "")
        + ". The secret below is shown only now:",
        highlight=False,
    )
    typer.echo(secret)


@tokens_app.command("list")
def list_tokens(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens.")] = None,
    store: Store = None,
    server: Server = None,
) -> None:
    """List tokens (never their secrets)."""
    with _tokens(store, server) as tokens, handle_errors():
        found = tokens.list(user)
    table = Table("token id", "user", "name", "starts with", "created", "expires", "last used")
    for token in found:
        table.add_row(
            token.token_id,
            token.username,
            token.name,
            token.prefix + "…",
            format_ms(token.created_at_ms),
            format_ms(token.expires_at_ms) or "never",
            format_ms(token.last_used_at_ms),
        )
    console.print(table)


@tokens_app.command("revoke")
def revoke_token(token_id: str, store: Store = None, server: Server = None) -> None:
    """Revoke a token: the next request that carries it is refused."""
    with _tokens(store, server) as tokens, handle_errors():
        tokens.revoke(token_id)
    console.print(f"Revoked token {token_id}.", highlight=False)
