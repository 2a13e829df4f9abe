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

from shipyard._retry import TRANSIENT_HTTP_STATUSES
from shipyard.auth import Level, Permissions, Principal
from shipyard.auth.credentials import BasicCredentials, authenticate, parse_authorization
from shipyard.auth.throttle import SignInThrottle
from shipyard.client._transport import DEFAULT_RETRY, Transport
from shipyard.config import Settings
from shipyard.errors import PermissionDenied, TooManyAttempts, Unauthenticated

__all__ = ["ServeAuth", "make_authorizer"]

_CACHE_S = 30.0
_CACHE_SIZE = 4096
_MISSING = "Authentication required: send an API token (Authorization: Bearer sy_…) or Basic credentials."
# The tracking server's 429 (its sign-in throttle) is its verdict on the caller, passed on as it is.
_OUTAGES = TRANSIENT_HTTP_STATUSES - {429}


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
    cache = _Cache()
    throttle = SignInThrottle()
    # No credentials of its own: each check forwards the caller's, so the server decides as for its own routes.
    transport = Transport(server, retry=DEFAULT_RETRY.with_retries(0), timeout_s=10.0, outage_statuses=_OUTAGES)

    async def authorize(
        headers: Mapping[str, str], deployment: str, needed: str, *, client: str = "", **_: Any
    ) -> str | None:
        header = _header(headers)
        key = cache.key(header, deployment)
        found = cache.get(key)
        if found is None:
            found = await asyncio.to_thread(_ask, header, deployment, client)
            cache.put(key, *found)
        return _check(found[0], found[1], needed, deployment)

    def _ask(header: str, deployment: str, address: str) -> tuple[str | None, Level]:
        credentials = parse_authorization(header)
        username = credentials.username if isinstance(credentials, BasicCredentials) else None
        if username is not None:
            # The tracking server throttles too, but it sees this process's address for every caller.
            _reserve(throttle, address, username)
        body = transport.request(
            "GET",
            "/api/v1/auth/permissions/mine",
            {"resource_type": "deployment", "resource_id": deployment},
            headers={"Authorization": header},
        )
        if username is not None:
            throttle.succeeded(address, username)
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

    parse_authorization(header)  # a malformed or unsupported header is refused here, not sent on
    backend = RestBackend(server, retries=1, timeout_s=30.0, headers={"Authorization": header})
    try:
        with tempfile.TemporaryDirectory(prefix="shipyard-serve-check-") as tmp:
            for uri in uris:
                location = backend.resolve_model_uri(uri)
                backend.download_file(location, "MLmodel", Path(tmp) / "MLmodel")
    finally:
        backend.close()


def _local(settings: Settings) -> ServeAuth:
    from shipyard._composition import build_services

    # The store models come from (the tracking URI's, else the embedded one), not SHIPYARD_STORE_URI.
    services = build_services(settings, store_uri=settings.embedded_store_uri)
    throttle = SignInThrottle()
    cache = _Cache()

    async def authorize(
        headers: Mapping[str, str], deployment: str, needed: str, *, client: str = "", **_: Any
    ) -> str | None:
        header = _header(headers)
        key = cache.key(header, deployment)
        found = cache.get(key)
        if found is None:

            def check() -> tuple[str | None, Level]:
                principal = authenticate(services.accounts, throttle, header, address=client)
                return principal.username, services.permissions.level(principal, "deployment", deployment)

            found = await asyncio.to_thread(check)
            cache.put(key, *found)
        return _check(found[0], found[1], needed, deployment)

    def check_models(principal: Principal, uris: list[str]) -> None:
        for uri in uris:
            _check_local_model(principal, uri, services.permissions, services.tracking, services.registry)

    async def authorize_models(headers: Mapping[str, str], uris: list[str], *, client: str = "", **_: Any) -> None:
        header = _header(headers)
        principal = await asyncio.to_thread(authenticate, services.accounts, throttle, header, address=client)
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
