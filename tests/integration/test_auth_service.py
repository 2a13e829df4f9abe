"""Accounts, tokens, sessions and grants on the real stores (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from shipyard.auth import ANONYMOUS, AuthService, Level, Permissions, Principal
from shipyard.db import Database, open_database
from shipyard.errors import InvalidParameter, PermissionDenied, ResourceAlreadyExists, ResourceNotFound
from shipyard.events.tables import events


@pytest.fixture
def database(store_url: str) -> Iterator[Database]:
    db = open_database(store_url)
    yield db
    db.dispose()


@pytest.fixture
def accounts(database: Database) -> AuthService:
    return AuthService(database)


@pytest.fixture
def permissions(database: Database) -> Permissions:
    return Permissions(database, Level.READ)


def _kinds(database: Database) -> list[tuple[str, str, str | None]]:
    with database.read() as conn:
        rows = conn.execute(select(events.c.kind, events.c.actor, events.c.to_value).order_by(events.c.event_id))
        return [(r.kind, r.actor, r.to_value) for r in rows]


def test_password_checks_accept_only_the_right_password(accounts: AuthService) -> None:
    accounts.create_user("ada", "correct-horse-1")

    assert ("ada", None, None) == (
        getattr(accounts.check_password("ada", "correct-horse-1"), "username", None),
        accounts.check_password("ada", "wrong-horse-1"),
        accounts.check_password("nobody", "correct-horse-1"),
    )


def test_passwords_are_stored_as_argon2id(accounts: AuthService, database: Database) -> None:
    from shipyard.auth.tables import users

    accounts.create_user("ada", "correct-horse-1")
    with database.read() as conn:
        stored = conn.execute(select(users.c.password_hash)).scalar_one()

    assert (True, False) == (stored.startswith("$argon2id$"), "correct-horse-1" in stored)


@pytest.mark.parametrize("username", ["", "-lead", "has space", "x" * 65, "semi;colon", "a/b"])
def test_bad_usernames_are_refused(accounts: AuthService, username: str) -> None:
    with pytest.raises(InvalidParameter, match="Invalid username"):
        accounts.create_user(username, "long-enough-1")


def test_short_passwords_are_refused(accounts: AuthService) -> None:
    with pytest.raises(InvalidParameter, match="too short"):
        accounts.create_user("ada", "short")


def test_a_taken_username_is_refused(accounts: AuthService) -> None:
    accounts.create_user("ada", "long-enough-1")
    with pytest.raises(ResourceAlreadyExists):
        accounts.create_user("ada", "long-enough-2")


def test_a_token_authenticates_until_revoked(accounts: AuthService) -> None:
    accounts.create_user("ada", "long-enough-1")
    token, secret = accounts.create_token("ada", "ci")
    before = accounts.user_for_token(secret)
    accounts.revoke_token(token.token_id)

    assert ("ada", None) == (getattr(before, "username", None), accounts.user_for_token(secret))


def test_tokens_are_listed_without_secrets(accounts: AuthService) -> None:
    accounts.create_user("ada", "long-enough-1")
    token, secret = accounts.create_token("ada", "ci", expires_in_s=3600)
    listed = accounts.list_tokens("ada")

    assert ([token.token_id], True, False) == (
        [t.token_id for t in listed],
        listed[0].expires_at_ms is not None,
        secret in repr(listed),
    )


def test_a_token_for_an_unknown_user_is_refused(accounts: AuthService) -> None:
    with pytest.raises(ResourceNotFound):
        accounts.create_token("ghost")


def test_deleting_a_user_ends_their_tokens_sessions_and_grants(accounts: AuthService, permissions: Permissions) -> None:
    accounts.create_user("ada", "long-enough-1")
    _token, secret = accounts.create_token("ada")
    session = accounts.sign_in("ada", "long-enough-1", ttl_s=60)
    assert session is not None
    permissions.grant("experiment", "1", "ada", Level.EDIT, actor="admin")
    accounts.delete_user("ada")

    assert (None, None, []) == (
        accounts.user_for_token(secret),
        accounts.session(session.secret),
        permissions.user_grants("ada"),
    )


def test_a_session_ends_at_sign_out_and_on_a_password_change(accounts: AuthService) -> None:
    accounts.create_user("ada", "long-enough-1")
    first = accounts.sign_in("ada", "long-enough-1", ttl_s=60)
    second = accounts.sign_in("ada", "long-enough-1", ttl_s=60)
    assert first is not None
    assert second is not None
    accounts.sign_out(first.secret)
    still = accounts.session(second.secret)
    accounts.set_password("ada", "long-enough-2")

    assert (None, True, None) == (accounts.session(first.secret), still is not None, accounts.session(second.secret))


def test_wrong_password_opens_no_session(accounts: AuthService) -> None:
    accounts.create_user("ada", "long-enough-1")

    assert accounts.sign_in("ada", "wrong-password", ttl_s=60) is None


def test_levels_follow_grant_then_default(accounts: AuthService, permissions: Permissions) -> None:
    accounts.create_user("ada", "long-enough-1")
    ada = Principal("ada", is_admin=False, via="token")
    permissions.grant("experiment", "7", "ada", Level.NO_PERMISSIONS, actor="admin")
    readable = permissions.readable(ada, "experiment")

    assert (Level.NO_PERMISSIONS, Level.READ, False, True) == (
        permissions.level(ada, "experiment", "7"),
        permissions.level(ada, "experiment", "8"),
        readable("7"),
        readable("8"),
    )


def test_admins_and_anonymous_with_auth_off_may_do_anything(permissions: Permissions) -> None:
    admin = Principal("root", is_admin=True, via="token")
    permissions.require(admin, "experiment", "1", Level.MANAGE, "experiment '1'")
    permissions.require(ANONYMOUS, "experiment", "1", Level.MANAGE, "experiment '1'")

    assert Level.MANAGE == permissions.level(ANONYMOUS, "registered_model", "m")


def test_missing_permission_says_who_lacks_what(accounts: AuthService, permissions: Permissions) -> None:
    accounts.create_user("ada", "long-enough-1")
    with pytest.raises(PermissionDenied, match="User 'ada' lacks EDIT permission on experiment '3'"):
        permissions.require(Principal("ada", False, "token"), "experiment", "3", Level.EDIT, "experiment '3'")


def test_grants_and_revocations_are_audit_events(
    accounts: AuthService, permissions: Permissions, database: Database
) -> None:
    accounts.create_user("ada", "long-enough-1", actor="root")
    permissions.grant("registered_model", "churn", "ada", Level.EDIT, actor="root")
    permissions.grant("registered_model", "churn", "ada", Level.MANAGE, actor="root")
    permissions.revoke("registered_model", "churn", "ada", actor="root")
    with database.read() as conn:
        payloads = [
            json.loads(p) for p in conn.scalars(select(events.c.payload).where(events.c.kind.like("permission.%")))
        ]

    assert (
        [
            ("user.created", "root", "user"),
            ("permission.granted", "root", "EDIT"),
            ("permission.granted", "root", "MANAGE"),
            ("permission.revoked", "root", None),
        ],
        {"resource_type": "registered_model", "resource_id": "churn", "username": "ada"},
    ) == (_kinds(database), payloads[0])


def test_a_grant_on_an_unknown_resource_type_is_refused(accounts: AuthService, permissions: Permissions) -> None:
    accounts.create_user("ada", "long-enough-1")
    with pytest.raises(InvalidParameter, match="Invalid resource type"):
        permissions.grant("run", "1", "ada", Level.READ, actor="root")


def test_renaming_a_model_carries_its_grants(accounts: AuthService, permissions: Permissions) -> None:
    accounts.create_user("ada", "long-enough-1")
    permissions.grant("registered_model", "old", "ada", Level.EDIT, actor="root")
    permissions.rename_resource("registered_model", "old", "new", actor="root")

    assert ([], [("new", Level.EDIT)]) == (
        permissions.grants("registered_model", "old"),
        [(g.resource_id, g.level) for g in permissions.grants("registered_model", "new")],
    )


def test_unknown_level_names_are_refused() -> None:
    with pytest.raises(InvalidParameter, match="expected one of NO_PERMISSIONS, READ, EDIT, MANAGE"):
        Level.parse("OWNER")
