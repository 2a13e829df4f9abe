"""Who may use a served deployment: the same accounts, tokens and ``deployment`` grants as the tracking server.

``shipyard serve --auth`` checks each caller's ``Authorization`` (Bearer token or Basic) and their level on the
deployment (``READ`` to predict and read status, ``EDIT`` to apply, roll back and post feedback):

* against the tracking server's ``/api/v1/auth/permissions/mine`` when the tracking URI is a server (the caller's
  own credentials are forwarded, so the server decides exactly as for its own routes);
* against the accounts in the store itself otherwise.

Answers are cached for ``_CACHE_S`` per credential, keyed by an HMAC with a per-process key, so a prediction
pays the check once per half minute, not per request. A revoked token stops working within that time.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from shipyard.auth import AuthService, Level, Permissions, Principal
from shipyard.config import Settings
from shipyard.errors import PermissionDenied, StoreUnavailable, Unauthenticated, error_from_code

__all__ = ["make_authorizer"]

_CACHE_S = 30.0
_CACHE_SIZE = 4096
_MISSING = "Authentication required: send an API token (Authorization: Bearer sy_…) or Basic credentials."


class _Cache:
    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, tuple[float, str | None, Level]] = OrderedDict()

    def key(self, header: str, deployment: str) -> bytes:
        return hmac.new(self._key, f"{deployment}\0{header}".encode(), hashlib.sha256).digest()

    def get(self, key: bytes) -> tuple[str | None, Level] | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1], entry[2]

    def put(self, key: bytes, username: str | None, level: Level) -> None:
        self._entries[key] = (time.monotonic() + _CACHE_S, username, level)
        while len(self._entries) > _CACHE_SIZE:
            self._entries.popitem(last=False)


def _check(username: str | None, level: Level, needed: str, deployment: str) -> str | None:
    if level < Level[needed]:
        raise PermissionDenied(
            f"User '{username}' lacks {needed} permission on deployment '{deployment}'; ask its owner or an admin."
        )
    return username


def make_authorizer(settings: Settings) -> Any:
    """The ``authorize`` callable for ``ServingConfig``: remote when the tracking URI is a server, else local."""
    if settings.tracking_uri.startswith(("http://", "https://")):
        return _remote(settings.tracking_uri.rstrip("/"))
    return _local(settings)


def _remote(server: str) -> Any:
    import httpx

    cache = _Cache()
    client = httpx.AsyncClient(base_url=server, timeout=10.0)

    async def authorize(headers: Mapping[str, str], deployment: str, needed: str) -> str | None:
        header = headers.get("authorization")
        if not header:
            raise Unauthenticated(_MISSING)
        key = cache.key(header, deployment)
        found = cache.get(key)
        if found is None:
            try:
                answer = await client.get(
                    "/api/v1/auth/permissions/mine",
                    params={"resource_type": "deployment", "resource_id": deployment},
                    headers={"Authorization": header},
                )
            except httpx.HTTPError as exc:
                raise StoreUnavailable(f"The tracking server {server} cannot check permissions: {exc}") from None
            if answer.status_code >= 400:
                try:
                    body = answer.json()
                    raise error_from_code(str(body["error_code"]), str(body["message"]))
                except (ValueError, KeyError, TypeError):
                    raise StoreUnavailable(
                        f"The tracking server {server} answered {answer.status_code} to a permission check."
                    ) from None
            body = answer.json()
            found = (body.get("username"), Level[str(body["permission"])])
            cache.put(key, *found)
        return _check(found[0], found[1], needed, deployment)

    return authorize


def _local(settings: Settings) -> Any:
    from shipyard.db import open_database

    database = open_database(settings.resolved_store_uri)
    accounts = AuthService(database)
    permissions = Permissions(database, default_level=Level.parse(settings.auth_default_permission))
    cache = _Cache()

    def principal_for(header: str) -> Principal:
        scheme, _, value = header.partition(" ")
        user = None
        if scheme.lower() == "bearer":
            user = accounts.user_for_token(value.strip())
        elif scheme.lower() == "basic":
            try:
                username, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise Unauthenticated("Malformed Basic credentials: expected base64 of 'username:password'.") from None
            user = accounts.check_password(username, password)
        else:
            raise Unauthenticated(f"Unsupported authorization scheme {scheme[:20]!r}: use Bearer or Basic.")
        if user is None:
            raise Unauthenticated("Invalid credentials: the token or password is wrong, expired or revoked.")
        return accounts.principal(user, scheme.lower())

    async def authorize(headers: Mapping[str, str], deployment: str, needed: str) -> str | None:
        header = headers.get("authorization")
        if not header:
            raise Unauthenticated(_MISSING)
        key = cache.key(header, deployment)
        found = cache.get(key)
        if found is None:

            def check() -> tuple[str | None, Level]:
                principal = principal_for(header)
                return principal.username, permissions.level(principal, "deployment", deployment)

            found = await asyncio.to_thread(check)
            cache.put(key, *found)
        return _check(found[0], found[1], needed, deployment)

    return authorize
