"""Who may use a served deployment: the same accounts, tokens and grants as the tracking server.

``shipyard serve --auth`` checks each caller's ``Authorization`` (Bearer token or Basic) and their level on the
deployment (``READ`` to predict and read status, ``EDIT`` to apply, roll back and post feedback):

* against the tracking server's ``/api/v1/auth/permissions/mine`` when the tracking URI is a server (the caller's
  own credentials are forwarded, so the server decides exactly as for its own routes);
* against the accounts in the store itself otherwise.

Every model a spec applied over the API names is checked with the caller's identity too, never the serve
process's: remotely, the caller's credentials resolve the URI on the tracking server and fetch its ``MLmodel``
through the artifact proxy (so the server checks READ on the registered model, run or logged model, and on the
experiment that owns the files); locally, `Permissions` decides the same for the caller's principal.

Basic passwords are throttled per (client address, username) with the server's `SignInThrottle`: an attempt is
reserved before the password is checked. Answers are cached for ``_CACHE_S`` per credential, keyed by an HMAC
with a per-process key, so a prediction pays the check once per half minute, not per request. A revoked token
stops working within that time.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
import tempfile
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.auth import AuthService, Level, Permissions, Principal
from shipyard.auth.throttle import SignInThrottle
from shipyard.config import Settings
from shipyard.errors import (
    PermissionDenied,
    StoreUnavailable,
    TooManyAttempts,
    Unauthenticated,
    error_from_code,
)

__all__ = ["ServeAuth", "make_authorizer"]

_CACHE_S = 30.0
_CACHE_SIZE = 4096
_MISSING = "Authentication required: send an API token (Authorization: Bearer sy_…) or Basic credentials."


@dataclass(frozen=True)
class ServeAuth:
    """The two checks ``ServingConfig`` takes: callers of the deployment, and the models a spec names."""

    authorize: Any
    authorize_models: Any


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


def _header(headers: Mapping[str, str]) -> str:
    header = headers.get("authorization")
    if not header:
        raise Unauthenticated(_MISSING)
    return header


def _basic(value: str) -> tuple[str, str]:
    try:
        username, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("Malformed Basic credentials: expected base64 of 'username:password'.") from None
    return username, password


def _reserve(throttle: SignInThrottle, address: str, username: str) -> None:
    wait_s = throttle.reserve(address, username)
    if wait_s:
        raise TooManyAttempts(
            f"Too many failed sign-ins for '{username[:64]}' from this address; try again in {wait_s} s.", wait_s
        )


def make_authorizer(settings: Settings) -> ServeAuth:
    """The checks for ``ServingConfig``: remote when the tracking URI is a server, else against the local store."""
    if settings.tracking_uri.startswith(("http://", "https://")):
        return _remote(settings.tracking_uri.rstrip("/"))
    return _local(settings)


def _remote(server: str) -> ServeAuth:
    import httpx

    cache = _Cache()
    throttle = SignInThrottle()
    http = httpx.AsyncClient(base_url=server, timeout=10.0)

    async def authorize(
        headers: Mapping[str, str], deployment: str, needed: str, *, client: str = "", **_: Any
    ) -> str | None:
        header = _header(headers)
        key = cache.key(header, deployment)
        found = cache.get(key)
        if found is None:
            found = await _ask(header, deployment, client)
            cache.put(key, *found)
        return _check(found[0], found[1], needed, deployment)

    async def _ask(header: str, deployment: str, address: str) -> tuple[str | None, Level]:
        scheme, _, value = header.partition(" ")
        username = _basic(value)[0] if scheme.lower() == "basic" else None
        if username is not None:
            # The tracking server throttles too, but it sees this process's address for every caller.
            _reserve(throttle, address, username)
        try:
            answer = await http.get(
                "/api/v1/auth/permissions/mine",
                params={"resource_type": "deployment", "resource_id": deployment},
                headers={"Authorization": header},
            )
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"The tracking server {server} cannot check permissions: {exc}") from None
        if answer.status_code >= 400:
            try:
                body = answer.json()
                error = error_from_code(str(body["error_code"]), str(body["message"]))
            except (ValueError, KeyError, TypeError):
                raise StoreUnavailable(
                    f"The tracking server {server} answered {answer.status_code} to a permission check."
                ) from None
            raise error
        if username is not None:
            throttle.succeeded(address, username)
        body = answer.json()
        return body.get("username"), Level[str(body["permission"])]

    async def authorize_models(headers: Mapping[str, str], uris: list[str], *, client: str = "", **_: Any) -> None:
        header = _header(headers)
        await asyncio.to_thread(_check_remote_models, server, header, uris)

    return ServeAuth(authorize, authorize_models)


def _check_remote_models(server: str, header: str, uris: list[str]) -> None:
    """Resolve each URI on the tracking server as the caller, and fetch its MLmodel through the artifact proxy.

    Each step is the server's own permission check with the caller's credentials: READ on the registered model
    (or the run's or logged model's experiment) to resolve, and READ on the experiment that owns the files to read
    them, so a version whose files lie in an experiment the caller is denied is refused too.
    """
    from shipyard.client.http import RestBackend

    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        backend = RestBackend(server, retries=1, timeout_s=30.0, token=value.strip())
    elif scheme.lower() == "basic":
        username, password = _basic(value)
        backend = RestBackend(server, retries=1, timeout_s=30.0, username=username, password=password)
    else:
        raise Unauthenticated(f"Unsupported authorization scheme {scheme[:20]!r}: use Bearer or Basic.")
    try:
        with tempfile.TemporaryDirectory(prefix="shipyard-serve-check-") as tmp:
            for uri in uris:
                location = backend.resolve_model_uri(uri)
                backend.download_file(location, "MLmodel", Path(tmp) / "MLmodel")
    finally:
        backend.close()


def _local(settings: Settings) -> ServeAuth:
    from shipyard.db import open_database
    from shipyard.registry.service import RegistryService
    from shipyard.tracking.service import TrackingService
    from shipyard.tracking.store import TrackingStore

    database = open_database(settings.embedded_store_uri)  # the store models come from, not SHIPYARD_STORE_URI
    accounts = AuthService(database)
    permissions = Permissions(database, default_level=Level.parse(settings.auth_default_permission))
    tracking = TrackingService(TrackingStore(database))
    registry = RegistryService(database, tracking)
    throttle = SignInThrottle()
    cache = _Cache()

    def principal_for(header: str, address: str) -> Principal:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            principal = accounts.principal_for_token(value.strip())
            if principal is None:
                raise Unauthenticated("Invalid credentials: the token is wrong, expired or revoked.")
            return principal
        if scheme.lower() == "basic":
            username, password = _basic(value)
            user = throttle.check_password(accounts, address, username, password)  # reserves an attempt first
            if user is None:
                raise Unauthenticated("Invalid credentials: the username or password is wrong.")
            return accounts.principal(user, "basic")
        raise Unauthenticated(f"Unsupported authorization scheme {scheme[:20]!r}: use Bearer or Basic.")

    async def authorize(
        headers: Mapping[str, str], deployment: str, needed: str, *, client: str = "", **_: Any
    ) -> str | None:
        header = _header(headers)
        key = cache.key(header, deployment)
        found = cache.get(key)
        if found is None:

            def check() -> tuple[str | None, Level]:
                principal = principal_for(header, client)
                return principal.username, permissions.level(principal, "deployment", deployment)

            found = await asyncio.to_thread(check)
            cache.put(key, *found)
        return _check(found[0], found[1], needed, deployment)

    def check_models(principal: Principal, uris: list[str]) -> None:
        for uri in uris:
            _check_local_model(principal, uri, permissions, tracking, registry)

    async def authorize_models(headers: Mapping[str, str], uris: list[str], *, client: str = "", **_: Any) -> None:
        header = _header(headers)
        principal = await asyncio.to_thread(principal_for, header, client)
        await asyncio.to_thread(check_models, principal, uris)

    return ServeAuth(authorize, authorize_models)


def _check_local_model(principal: Principal, uri: str, permissions: Permissions, tracking: Any, registry: Any) -> None:
    """READ on what the URI names (registered model, or the run's or logged model's experiment) and on the
    experiment whose artifact folder holds the files, as the tracking server checks them."""
    from shipyard.registry.uris import UriKind, parse_model_uri
    from shipyard.tracking.service import artifact_key

    if principal.is_admin:
        return
    parsed = parse_model_uri(uri)
    if parsed.kind is UriKind.RUN:
        experiment = tracking.get_run(parsed.name).experiment_id
        permissions.require(principal, "experiment", experiment, Level.READ, f"experiment '{experiment}'")
    elif parsed.kind is UriKind.LOGGED_MODEL:
        experiment = registry.get_logged_model(parsed.name).experiment_id
        permissions.require(principal, "experiment", experiment, Level.READ, f"experiment '{experiment}'")
    else:
        name = registry.version_for(parsed).name
        permissions.require(principal, "registered_model", name, Level.READ, f"registered model '{name}'")
    key = artifact_key(registry.resolve_model_uri(uri).artifact_uri)
    owner = tracking.experiment_owning(key)
    if owner is None:
        raise PermissionDenied(
            f"Only an admin may serve the model at '{key[:200]}': its files belong to no experiment."
        )
    permissions.require(principal, "experiment", owner, Level.READ, f"experiment '{owner}'")
