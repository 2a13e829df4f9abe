"""``shipyard users`` and ``shipyard tokens``: accounts, permission grants and API tokens.

These commands work on the server's metadata store directly (``--store``, else ``SHIPYARD_STORE_URI``, else the
embedded store under ``SHIPYARD_HOME``), so they run on the server's machine, before the first sign-in as well.
With ``--server URL`` they ask a running server instead (its ``/api/v1/auth`` routes), signed in as you
(``SHIPYARD_/MLFLOW_TRACKING_TOKEN`` or ``_USERNAME``/``_PASSWORD``): the server decides what you may do. Both ways
go through the accounts port (`shipyard.client.ports.accounts`).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Annotated

import typer
from rich.table import Table

from shipyard.auth import Level
from shipyard.cli._common import clients_for, console, err_console, format_ms
from shipyard.client.ports import AccountsPort
from shipyard.config import Settings

__all__ = ["tokens_app", "users_app"]

users_app = typer.Typer(
    help="Manage accounts and their permissions (on the store, or a server with --server).", no_args_is_help=True
)
tokens_app = typer.Typer(
    help="Create, list and revoke API tokens (on the store, or a server with --server).", no_args_is_help=True
)

Store = Annotated[
    str | None,
    typer.Option("--store", envvar="SHIPYARD_STORE_URI", help="The server's metadata store URL."),
]
Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        help="Ask this server (http://…) instead of opening its store; signs in with SHIPYARD_/MLFLOW_TRACKING_TOKEN "
        "or _USERNAME/_PASSWORD.",
    ),
]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input instead of prompting.")
]


@contextlib.contextmanager
def _accounts(store: str | None, server: str | None) -> Iterator[AccountsPort]:
    """The server's routes with ``--server``, else its store; errors print as one line."""
    if server:
        with clients_for(server=server) as clients:
            yield clients.accounts
        return
    with clients_for(store=Settings.from_env().with_overrides(store_uri=store).resolved_store_uri) as clients:
        yield clients.accounts


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
    server: Server = None,
) -> None:
    """Create an account (the first one is usually an admin: ``shipyard users create alice --admin``)."""
    password = _password(password_stdin)
    with _accounts(store, server) as accounts:
        user = accounts.create_user(username, password, is_admin=admin)
    console.print(f"Created {'admin ' if user.is_admin else ''}user [bold]{user.username}[/bold].", highlight=False)


@users_app.command("list")
def list_users(store: Store = None, server: Server = None) -> None:
    """List every account."""
    with _accounts(store, server) as accounts:
        users = accounts.list_users()
    table = Table("username", "role", "created")
    for user in users:
        table.add_row(user.username, "admin" if user.is_admin else "user", format_ms(user.created_at_ms))
    console.print(table)


@users_app.command("delete")
def delete_user(username: str, store: Store = None, server: Server = None) -> None:
    """Delete an account with its tokens, sessions and grants (what it created stays)."""
    with _accounts(store, server) as accounts:
        accounts.delete_user(username)
    console.print(f"Deleted user {username}.", highlight=False)


@users_app.command("set-password")
def set_password(
    username: str, password_stdin: PasswordStdin = False, store: Store = None, server: Server = None
) -> None:
    """Replace a user's password (their web sessions end; their API tokens keep working)."""
    password = _password(password_stdin)
    with _accounts(store, server) as accounts:
        accounts.set_password(username, password)
    console.print(f"Changed the password of {username}.", highlight=False)


@users_app.command("set-admin")
def set_admin(
    username: str,
    admin: Annotated[bool, typer.Option("--admin/--no-admin", help="Give or take the admin role.")] = True,
    store: Store = None,
    server: Server = None,
) -> None:
    """Give (``--admin``) or take (``--no-admin``) the admin role."""
    with _accounts(store, server) as accounts:
        accounts.set_admin(username, admin)
    console.print(f"{username} is {'now' if admin else 'no longer'} an admin.", highlight=False)


@users_app.command("grant")
def grant(
    username: str,
    resource_type: Annotated[str, typer.Argument(help="experiment, registered_model or deployment.")],
    resource_id: Annotated[str, typer.Argument(help="The experiment id, model name or deployment name.")],
    permission: Annotated[str, typer.Argument(help="NO_PERMISSIONS, READ, EDIT or MANAGE.")],
    store: Store = None,
    server: Server = None,
) -> None:
    """Set a user's permission on one resource (recorded in the audit trail)."""
    with _accounts(store, server) as accounts:
        accounts.grant(resource_type, resource_id, username, Level.parse(permission))
    console.print(f"{username} now has {permission.upper()} on {resource_type} {resource_id!r}.", highlight=False)


@users_app.command("revoke")
def revoke(username: str, resource_type: str, resource_id: str, store: Store = None, server: Server = None) -> None:
    """Remove a user's grant on one resource (they fall back to the default permission)."""
    with _accounts(store, server) as accounts:
        accounts.revoke(resource_type, resource_id, username)
    console.print(f"Revoked {username}'s grant on {resource_type} {resource_id!r}.", highlight=False)


@users_app.command("permissions")
def show_permissions(username: str, store: Store = None, server: Server = None) -> None:
    """List a user's grants."""
    with _accounts(store, server) as accounts:
        found = accounts.user_permissions(username)
    table = Table("resource type", "resource", "permission")
    for item in found.grants:
        table.add_row(item.resource_type, item.resource_id, item.level.name)
    console.print(table)
    default = found.default_level.name if found.default_level is not None else "the server's default"
    role = "an admin: MANAGE on everything" if found.user.is_admin else f"default elsewhere: {default}"
    console.print(f"{username} is {role}.", highlight=False)


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
    with _accounts(store, server) as accounts:
        token, secret = accounts.create_token(username, name, expires_days)
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
    with _accounts(store, server) as accounts:
        found = accounts.list_tokens(user)
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
    with _accounts(store, server) as accounts:
        accounts.revoke_token(token_id)
    console.print(f"Revoked token {token_id}.", highlight=False)
