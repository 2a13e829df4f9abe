"""The deployments port: status, apply and rollback of a running inference server (``shipyard serve``).

A deployment lives in its inference server, so there is one implementation, over REST (``/v1/deployment``), on the
shared transport. The two ways a deployment runs are the inference server's own: with its models and sign-in from
the embedded store, or from a tracking server; the commands behave the same against both.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from shipyard.client._transport import Transport

__all__ = ["DeploymentsPort", "RestDeployments"]

_PATH = "/v1/deployment"


class DeploymentsPort(Protocol):
    """What a client may do with a running deployment; each answer is the server's status document."""

    def status(self) -> dict[str, Any]:
        """What the deployment serves now, per route, the A/B analysis and the recent revisions."""
        ...

    def apply(self, spec: bytes, *, content_type: str = ...) -> dict[str, Any]:
        """Serve a new spec (YAML or JSON): new versions load beside the old, then traffic switches."""
        ...

    def rollback(self, revision: int | None = ...) -> dict[str, Any]:
        """Return to the previous revision (or ``revision``), pinned to the versions it served."""
        ...


class RestDeployments:
    """The deployments port over an inference server's ``/v1/deployment`` routes.

    Args:
        transport: the inference server (no retries: an apply sent twice would make two revisions).
    """

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def status(self) -> dict[str, Any]:
        """The deployment's status."""
        answer: dict[str, Any] = self.transport.request("GET", _PATH)
        return answer

    def apply(self, spec: bytes, *, content_type: str = "application/yaml") -> dict[str, Any]:
        """Apply a spec."""
        answer: dict[str, Any] = self.transport.request("PUT", _PATH, content=spec, content_type=content_type)
        return answer

    def rollback(self, revision: int | None = None) -> dict[str, Any]:
        """Roll back."""
        body = json.dumps({"revision": revision} if revision is not None else {}).encode()
        answer: dict[str, Any] = self.transport.request(
            "POST", f"{_PATH}/rollback", content=body, content_type="application/json"
        )
        return answer
