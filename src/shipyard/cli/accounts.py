"""``shipyard users`` and ``shipyard tokens``: accounts, permission grants and API tokens.

These commands work on the server's metadata store directly (``--store``, else ``SHIPYARD_STORE_URI``, else the
embedded store under ``SHIPYARD_HOME``), so they run on the server's machine, before the first sign-in as well.
Over the network, the same operations are the ``/api/v1/auth`` routes.
"""

from __future__ import annotations

import contextlib
import getpass
import sys
from collections.abc import Iterator
from typing import Annotated

import typer
from rich.table import Table

from shipyard.auth import AuthService, Level, Permissions
from shipyard.cli._common import console, err_console, format_ms, handle_errors
from shipyard.config import Settings

__all__ = ["tokens_app", "users_app"]

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


@tokens_app.command("create")
def create_token(
    username: Annotated[str, typer.Argument(help="Whose token it is.")],
    name: Annotated[str, typer.Option(help="What the token is for (shown in listings).")] = "",
    expires_days: Annotated[
        int | None, typer.Option("--expires-days", min=1, help="Stop working after this many days (default: never).")
    ] = None,
    store: Store = None,
) -> None:
    """Create an API token and print its secret, once: give it to the client as ``MLFLOW_TRACKING_TOKEN``."""
    with _services(store) as (accounts, _):
        token, secret = accounts.create_token(
            username, name, expires_in_s=None if expires_days is None else expires_days * 86_400, actor=_actor()
        )
    err_console.print(
        f"Created token {token.token_id} for {username}"
        + (f", expiring {format_ms(token.expires_at_ms)} UTC" if token.expires_at_ms else "")
        + ". The secret below is shown only now:",
        highlight=False,
    )
    typer.echo(secret)


@tokens_app.command("list")
def list_tokens(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens.")] = None,
    store: Store = None,
) -> None:
    """List tokens (never their secrets)."""
    with _services(store) as (accounts, _):
        tokens = accounts.list_tokens(user)
    table = Table("token id", "user", "name", "starts with", "created", "expires", "last used")
    for token in tokens:
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
def revoke_token(token_id: str, store: Store = None) -> None:
    """Revoke a token: the next request that carries it is refused."""
    with _services(store) as (accounts, _):
        accounts.revoke_token(token_id, actor=_actor())
    console.print(f"Revoked token {token_id}.", highlight=False)
