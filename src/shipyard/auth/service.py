"""Accounts: users with argon2 password hashes, API tokens and web sessions, each stored only as a hash."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from shipyard.auth._audit import audit
from shipyard.auth.entities import ApiToken, Principal, User
from shipyard.auth.tables import api_tokens, sessions, users
from shipyard.db import Database
from shipyard.errors import InvalidParameter, ResourceAlreadyExists, ResourceNotFound

__all__ = ["TOKEN_PREFIX", "AuthService", "SignIn"]

TOKEN_PREFIX = "sy_"  # noqa: S105 - the public prefix of every token, not a secret
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
# Verified Basic-auth credentials are remembered briefly, so the mlflow client (which sends them on every
# call) does not pay argon2's deliberate ~100 ms per request. A changed password invalidates the entry.
_BASIC_CACHE_SIZE = 1024
_BASIC_CACHE_S = 300.0
_TOUCH_EVERY_MS = 60_000


def _now_ms() -> int:
    return int(time.time() * 1000)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class SignIn:
    """A new web session: the cookie's secret and the token every form must carry."""

    secret: str
    csrf_token: str
    username: str
    expires_at_ms: int


@dataclass
class AuthService:
    """Users, passwords, API tokens and web sessions on the metadata database.

    Every change is recorded as an event (``user.created``, ``token.revoked``, …) for the audit trail; secrets
    never appear in events.
    """

    database: Database
    _hasher: Any = field(init=False, repr=False)
    _basic_cache: OrderedDict[bytes, tuple[str, str, float]] = field(init=False, repr=False)
    _cache_key: bytes = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from argon2 import PasswordHasher  # argon2id with the library's recommended cost

        self._hasher = PasswordHasher()
        self._basic_cache = OrderedDict()
        self._cache_key = secrets.token_bytes(32)
        self._lock = threading.Lock()

    # ---- users -------------------------------------------------------------------------------------------

    def create_user(self, username: str, password: str, *, is_admin: bool = False, actor: str | None = None) -> User:
        """Create an account.

        Raises:
            InvalidParameter: a username outside ``[A-Za-z0-9._@+-]`` (1-64 characters) or a short password.
            ResourceAlreadyExists: the username is taken.
        """
        _check_username(username)
        password_hash = self._hash(password)
        now = _now_ms()
        try:
            with self.database.write() as conn:
                conn.execute(
                    insert(users).values(
                        username=username,
                        password_hash=password_hash,
                        is_admin=is_admin,
                        created_at=now,
                        updated_at=now,
                    )
                )
                audit(conn, "user.created", "user", username, actor, to_value="admin" if is_admin else "user")
        except IntegrityError:
            raise ResourceAlreadyExists(f"User '{username}' already exists.") from None
        return User(username, is_admin, now)

    def get_user(self, username: str) -> User:
        """The account, or ResourceNotFound."""
        with self.database.read() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).first()
        if row is None:
            raise ResourceNotFound(f"User '{username}' does not exist.")
        return _user(row)

    def list_users(self) -> list[User]:
        """Every account, by name."""
        with self.database.read() as conn:
            return [_user(r) for r in conn.execute(select(users).order_by(users.c.username))]

    def count_users(self) -> int:
        """How many accounts exist (zero on a new server)."""
        with self.database.read() as conn:
            return int(conn.execute(select(func.count()).select_from(users)).scalar_one())

    def set_password(self, username: str, password: str, *, actor: str | None = None) -> None:
        """Replace a user's password; their web sessions end, their API tokens stay."""
        password_hash = self._hash(password)
        with self.database.write() as conn:
            done = conn.execute(
                update(users)
                .where(users.c.username == username)
                .values(password_hash=password_hash, updated_at=_now_ms())
            )
            if done.rowcount == 0:
                raise ResourceNotFound(f"User '{username}' does not exist.")
            conn.execute(delete(sessions).where(sessions.c.username == username))
            audit(conn, "user.password_changed", "user", username, actor)

    def set_admin(self, username: str, is_admin: bool, *, actor: str | None = None) -> None:
        """Give or take the admin role."""
        with self.database.write() as conn:
            done = conn.execute(update(users).where(users.c.username == username).values(is_admin=is_admin))
            if done.rowcount == 0:
                raise ResourceNotFound(f"User '{username}' does not exist.")
            audit(conn, "user.role_changed", "user", username, actor, to_value="admin" if is_admin else "user")

    def delete_user(self, username: str, *, actor: str | None = None) -> None:
        """Delete an account with its tokens, sessions and grants (what it created stays)."""
        from shipyard.auth.tables import permissions

        with self.database.write() as conn:
            for table in (api_tokens, sessions, permissions):
                conn.execute(delete(table).where(table.c.username == username))
            done = conn.execute(delete(users).where(users.c.username == username))
            if done.rowcount == 0:
                raise ResourceNotFound(f"User '{username}' does not exist.")
            audit(conn, "user.deleted", "user", username, actor)

    def check_password(self, username: str, password: str) -> User | None:
        """The user if ``password`` is theirs, else None (the same answer for an unknown user).

        Callers that take passwords from the network check them through `SignInThrottle.check_password`.
        """
        from argon2.exceptions import InvalidHashError, VerificationError

        user = self.cached_user(username, password)
        if user is not None:
            return user
        with self.database.read() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).first()
        if row is None:
            # Spend the same time as a real check, so response times do not reveal which usernames exist.
            self._hasher.hash(password[:MAX_PASSWORD_CHARS])
            return None
        try:
            self._hasher.verify(row.password_hash, password[:MAX_PASSWORD_CHARS])
        except (VerificationError, InvalidHashError):
            return None
        with self._lock:
            self._basic_cache[self._credentials_key(username, password)] = (
                username,
                row.password_hash,
                time.monotonic() + _BASIC_CACHE_S,
            )
            while len(self._basic_cache) > _BASIC_CACHE_SIZE:
                self._basic_cache.popitem(last=False)
        return _user(row)

    def cached_user(self, username: str, password: str) -> User | None:
        """The user when exactly these credentials were verified in the last few minutes, else None.

        No password is hashed, so this answers in microseconds; it can only say yes to the right password, and
        a changed password invalidates it (the cache holds the hash it was checked against).
        """
        key = self._credentials_key(username, password)
        with self._lock:
            cached = self._basic_cache.get(key)
        if cached is None or cached[2] <= time.monotonic():
            return None
        with self.database.read() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).first()
        if row is None or not hmac.compare_digest(cached[1], row.password_hash):
            return None
        return _user(row)

    def _credentials_key(self, username: str, password: str) -> bytes:
        return hmac.new(self._cache_key, f"{username}\0{password}".encode(), hashlib.sha256).digest()

    def _hash(self, password: str) -> str:
        if len(password) < MIN_PASSWORD_CHARS:
            raise InvalidParameter(f"The password is too short: use at least {MIN_PASSWORD_CHARS} characters.")
        if len(password) > MAX_PASSWORD_CHARS:
            raise InvalidParameter(f"The password is too long: use at most {MAX_PASSWORD_CHARS} characters.")
        return str(self._hasher.hash(password))

    # ---- API tokens --------------------------------------------------------------------------------------

    def create_token(
        self,
        username: str,
        name: str = "",
        *,
        expires_in_s: int | None = None,
        actor: str | None = None,
        not_after_ms: int | None = None,
    ) -> tuple[ApiToken, str]:
        """Make an API token for ``username``; returns its facts and the secret, which is never shown again.

        Args:
            username: whose token it is.
            name: what it is for.
            expires_in_s: its lifetime, or None for a token that never expires.
            actor: who asked, for the audit trail.
            not_after_ms: the latest it may expire: the expiry of the token the request came with (a
                `Principal`'s ``expires_at_ms``), so a short-lived token cannot mint a longer-lived one.

        Raises:
            InvalidParameter: a non-positive expiry, one past ``not_after_ms`` (or none while ``not_after_ms`` is
                set), or a name over 256 characters.
            ResourceNotFound: no such user.
        """
        if expires_in_s is not None and expires_in_s <= 0:
            raise InvalidParameter(f"Invalid token expiry {expires_in_s}: expected a positive number of seconds.")
        if len(name) > 256:
            raise InvalidParameter("The token name is longer than 256 characters.")
        now = _now_ms()
        expires_at_ms = None if expires_in_s is None else now + expires_in_s * 1000
        _check_outlives(expires_at_ms, not_after_ms, now)
        self.get_user(username)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(
            token_id=secrets.token_hex(8),
            username=username,
            name=name,
            prefix=secret[:10],
            created_at_ms=now,
            expires_at_ms=expires_at_ms,
        )
        with self.database.write() as conn:
            conn.execute(
                insert(api_tokens).values(
                    token_id=token.token_id,
                    token_hash=_sha256(secret),
                    username=username,
                    name=name,
                    prefix=token.prefix,
                    created_at=now,
                    expires_at=token.expires_at_ms,
                )
            )
            audit(conn, "token.created", "user", username, actor, to_value=token.token_id)
        return token, secret

    def list_tokens(self, username: str | None = None) -> list[ApiToken]:
        """Tokens of one user (or of everyone), newest first."""
        query = select(api_tokens).order_by(api_tokens.c.created_at.desc(), api_tokens.c.token_id)
        if username is not None:
            query = query.where(api_tokens.c.username == username)
        with self.database.read() as conn:
            return [_token(r) for r in conn.execute(query)]

    def get_token(self, token_id: str) -> ApiToken:
        """One token's facts, or ResourceNotFound."""
        with self.database.read() as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.token_id == token_id)).first()
        if row is None:
            raise ResourceNotFound(f"API token '{token_id}' does not exist.")
        return _token(row)

    def revoke_token(self, token_id: str, *, actor: str | None = None) -> None:
        """Revoke a token at once: the next request that carries it is refused."""
        with self.database.write() as conn:
            row = conn.execute(select(api_tokens.c.username).where(api_tokens.c.token_id == token_id)).first()
            if row is None:
                raise ResourceNotFound(f"API token '{token_id}' does not exist.")
            conn.execute(delete(api_tokens).where(api_tokens.c.token_id == token_id))
            audit(conn, "token.revoked", "user", row.username, actor, from_value=token_id)

    def user_for_token(self, secret: str) -> User | None:
        """The owner of a valid, unexpired token, or None."""
        found = self._token_owner(secret)
        return None if found is None else found[0]

    def principal_for_token(self, secret: str) -> Principal | None:
        """The principal of a request that sent a valid, unexpired token (carrying the token's expiry), or None."""
        found = self._token_owner(secret)
        if found is None:
            return None
        user, expires_at_ms = found
        return self.principal(user, "token", expires_at_ms=expires_at_ms)

    def _token_owner(self, secret: str) -> tuple[User, int | None] | None:
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 128:
            return None
        now = _now_ms()
        query = (
            select(users, api_tokens.c.token_id, api_tokens.c.expires_at, api_tokens.c.last_used_at)
            .join(api_tokens, api_tokens.c.username == users.c.username)
            .where(api_tokens.c.token_hash == _sha256(secret))
        )
        with self.database.read() as conn:
            row = conn.execute(query).first()
        if row is None or (row.expires_at is not None and row.expires_at <= now):
            return None
        if row.last_used_at is None or now - row.last_used_at >= _TOUCH_EVERY_MS:
            with self.database.write() as conn:
                conn.execute(update(api_tokens).where(api_tokens.c.token_id == row.token_id).values(last_used_at=now))
        return _user(row), None if row.expires_at is None else int(row.expires_at)

    # ---- web sessions ------------------------------------------------------------------------------------

    def sign_in(self, username: str, password: str, *, ttl_s: int) -> SignIn | None:
        """Check the password and open a web session, or None when the credentials are wrong."""
        user = self.check_password(username, password)
        return None if user is None else self.open_session(user, ttl_s=ttl_s)

    def open_session(self, user: User, *, ttl_s: int) -> SignIn:
        """Open a web session for a user whose password was just checked (see `SignInThrottle.check_password`)."""
        secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = _now_ms()
        expires = now + ttl_s * 1000
        with self.database.write() as conn:
            conn.execute(delete(sessions).where(sessions.c.expires_at <= now))
            conn.execute(
                insert(sessions).values(
                    session_hash=_sha256(secret),
                    username=user.username,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=expires,
                )
            )
        return SignIn(secret, csrf, user.username, expires)

    def session(self, secret: str) -> tuple[User, str] | None:
        """The user and form token of a live session, or None."""
        if not secret or len(secret) > 128:
            return None
        query = (
            select(users, sessions.c.csrf_token, sessions.c.expires_at)
            .join(sessions, sessions.c.username == users.c.username)
            .where(sessions.c.session_hash == _sha256(secret))
        )
        with self.database.read() as conn:
            row = conn.execute(query).first()
        if row is None or row.expires_at <= _now_ms():
            return None
        return _user(row), str(row.csrf_token)

    def sign_out(self, secret: str) -> None:
        """End a web session (nothing happens for an unknown one)."""
        with self.database.write() as conn:
            conn.execute(delete(sessions).where(sessions.c.session_hash == _sha256(secret)))

    def principal(self, user: User, via: str, *, expires_at_ms: int | None = None) -> Principal:
        """The request principal for a signed-in user (``expires_at_ms``: the expiry of the token they sent)."""
        return Principal(username=user.username, is_admin=user.is_admin, via=via, expires_at_ms=expires_at_ms)


def _check_outlives(expires_at_ms: int | None, not_after_ms: int | None, now_ms: int) -> None:
    """Refuse a token that would outlive the token whose request asks for it."""
    if not_after_ms is None or (expires_at_ms is not None and expires_at_ms <= not_after_ms):
        return
    when = datetime.fromtimestamp(not_after_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    days = max(0, (not_after_ms - now_ms) // 86_400_000)
    within = f"at most {days} whole days from now" if days else "less than a day from now, so no whole day fits"
    asked = "never expires" if expires_at_ms is None else "expires later"
    raise InvalidParameter(
        f"A token cannot make a token that outlives it: this request's token expires at {when}, and the new one "
        f"{asked}. Ask for an expiry no later than that ({within}), or sign in with a password to make a longer "
        "one."
    )


def _check_username(username: str) -> None:
    if not _USERNAME.match(username):
        raise InvalidParameter(
            f"Invalid username {username[:80]!r}: use 1 to 64 letters, digits and '._@+-', starting with a letter "
            "or digit."
        )


def _user(row: Row[Any]) -> User:
    return User(username=row.username, is_admin=bool(row.is_admin), created_at_ms=int(row.created_at))


def _token(row: Row[Any]) -> ApiToken:
    return ApiToken(
        token_id=row.token_id,
        username=row.username,
        name=row.name,
        prefix=row.prefix,
        created_at_ms=int(row.created_at),
        expires_at_ms=row.expires_at,
        last_used_at_ms=row.last_used_at,
    )
