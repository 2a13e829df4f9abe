"""Client ports per capability: one module per capability, each a small `Protocol` with two implementations.

=========== ================= ============================== ==================
capability  port              in-process                     REST
=========== ================= ============================== ==================
tracking,   ``Backend``       ``LocalBackend``               ``RestBackend``
registry    (client/_backend)
webhooks    `WebhooksPort`    ``WebhookService`` itself      `RestWebhooks`
accounts    `AccountsPort`    `LocalAccounts`                `RestAccounts`
monitors    `MonitorsPort`    `LocalMonitors`                `RestMonitors`
deployments `DeploymentsPort` (lives in ``shipyard serve``)  `RestDeployments`
=========== ================= ============================== ==================

Every REST implementation runs over the one `Transport` (retries, credentials, typed errors); every in-process one
over the services `shipyard._composition.build_services` builds. `open_clients` picks the side as the SDK's
``open_backend`` does: an ``http(s)://`` tracking URI (or an explicit server) means REST, anything else the store.

Example:
    >>> with open_clients(Settings.from_env()) as clients:  # doctest: +SKIP
    ...     clients.monitors.list_monitors()
"""

from __future__ import annotations

import functools
from types import TracebackType
from typing import TYPE_CHECKING

from shipyard.client._transport import DEFAULT_RETRY, Transport, local_user
from shipyard.client.ports.accounts import AccountsPort, LocalAccounts, RestAccounts, UserPermissions
from shipyard.client.ports.deployments import DeploymentsPort, RestDeployments
from shipyard.client.ports.monitors import LocalMonitors, MonitorsPort, RestMonitors
from shipyard.client.ports.webhooks import RestWebhooks, WebhooksPort

if TYPE_CHECKING:
    from shipyard._composition import Services
    from shipyard.config import Settings

__all__ = [
    "AccountsPort",
    "Clients",
    "DeploymentsPort",
    "LocalAccounts",
    "LocalMonitors",
    "MonitorsPort",
    "RestAccounts",
    "RestDeployments",
    "RestMonitors",
    "RestWebhooks",
    "UserPermissions",
    "WebhooksPort",
    "is_server_uri",
    "open_clients",
    "open_deployments",
]

# A command-line call retries a transient failure once: a person is waiting, and will run it again.
_CLI_RETRY = DEFAULT_RETRY.with_retries(1)


def is_server_uri(uri: str) -> bool:
    """Whether a tracking URI names a server (``http(s)://``) rather than a store."""
    return uri.startswith(("http://", "https://"))


class Clients:
    """The capability clients of one server or one store, each opened on first use and closed together.

    Args:
        settings: credentials (for a server) and the store's options (in-process).
        server: the server's URL for REST; None to run the services in this process.
        store_uri: the store to open in-process (default: the one the tracking URI names, else the embedded one).
        actor: who makes changes in-process, for the audit trail and events (a server records its signed-in user).
    """

    def __init__(
        self, settings: Settings, *, server: str | None, store_uri: str | None = None, actor: str | None = None
    ) -> None:
        self.settings = settings
        self.server = server
        self.store_uri = store_uri or settings.embedded_store_uri
        self.actor = actor or local_user()
        self._transport: Transport | None = None
        self._services: Services | None = None

    @property
    def remote(self) -> bool:
        """Whether the clients speak REST to a server."""
        return self.server is not None

    @property
    def transport(self) -> Transport:
        """The server's transport (REST only)."""
        if self._transport is None:
            assert self.server is not None, "in-process clients have no transport"
            self._transport = Transport.for_settings(self.server, self.settings, retry=_CLI_RETRY)
        return self._transport

    @property
    def services(self) -> Services:
        """The services on the store (in-process only)."""
        if self._services is None:
            from shipyard._composition import build_services

            self._services = build_services(self.settings, store_uri=self.store_uri)
        return self._services

    @functools.cached_property
    def webhooks(self) -> WebhooksPort:
        """Webhooks and their delivery log."""
        return RestWebhooks(self.transport) if self.remote else self.services.webhooks

    @functools.cached_property
    def accounts(self) -> AccountsPort:
        """Users, grants and API tokens."""
        if self.remote:
            basic = self.settings.tracking_username and not self.settings.tracking_token
            return RestAccounts(self.transport, current_password=self.settings.tracking_password if basic else "")
        return LocalAccounts(self.services.accounts, self.services.permissions, actor=self.actor)

    @functools.cached_property
    def monitors(self) -> MonitorsPort:
        """Monitors, their windows and alerts."""
        if self.remote:
            return RestMonitors(self.transport)
        return LocalMonitors(self.services.monitors, actor=self.actor)

    def close(self) -> None:
        """Close the connection pool or the store."""
        if self._transport is not None:
            self._transport.close()
        if self._services is not None:
            self._services.database.dispose()

    def __enter__(self) -> Clients:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def open_clients(
    settings: Settings, *, server: str | None = None, store_uri: str | None = None, actor: str | None = None
) -> Clients:
    """The clients a command line names: ``server`` if given, else the store if one is named, else the tracking URI.

    Args:
        settings: the tracking URI, credentials and store options.
        server: a server's URL (REST), overriding everything else.
        store_uri: a store to open in-process (``--store``), overriding an ``http(s)://`` tracking URI.
        actor: who makes changes in-process.

    Raises:
        InvalidParameter: ``server`` is not an ``http(s)://`` URL.
    """
    if server is not None and not is_server_uri(server):
        from shipyard.errors import InvalidParameter

        raise InvalidParameter(f"Expected a server URL (http:// or https://), not {server[:200]!r}.")
    if server is None and store_uri is None and is_server_uri(settings.tracking_uri):
        server = settings.tracking_uri
    return Clients(settings, server=server, store_uri=store_uri, actor=actor)


def open_deployments(server: str, settings: Settings, *, timeout_s: float = 300.0) -> RestDeployments:
    """The deployments port of the inference server at ``server``, signed in with ``settings``' credentials."""
    retry = DEFAULT_RETRY.with_retries(0)
    return RestDeployments(Transport.for_settings(server, settings, retry=retry, timeout_s=timeout_s))
