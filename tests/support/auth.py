"""A server with sign-in on: start it with a first admin, and mint users and tokens through its REST API."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.servers import RunningServer, shipyard_server

ADMIN = "admin"
ADMIN_PASSWORD = "admin-password-1"


def ok_json(answer: httpx.Response) -> dict[str, Any]:
    """The JSON body of a 200 answer; any other status fails the test, naming the request and the answer."""
    assert answer.status_code == 200, f"{answer.request.method} {answer.request.url}: {answer.text}"
    body: dict[str, Any] = answer.json()
    return body


@dataclass(frozen=True)
class AuthServer:
    """A running server with sign-in on, and an admin token to set it up with."""

    server: RunningServer
    admin_token: str

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self.server.url

    def admin(self) -> httpx.Client:
        """A client signed in as the admin."""
        return self.client(self.admin_token)

    def client(self, token: str | None = None) -> httpx.Client:
        """A client with a Bearer token, or with no credentials."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def user(self, username: str, password: str = "user-password-1", *, admin: bool = False) -> str:
        """Create an account and return an API token for it."""
        with self.admin() as client:
            created = client.post(
                "/api/v1/auth/users", json={"username": username, "password": password, "is_admin": admin}
            )
            assert created.status_code == 200, created.text
            token = client.post("/api/v1/auth/tokens", json={"username": username, "name": "tests"})
            assert token.status_code == 200, token.text
            return str(token.json()["secret"])


@contextlib.contextmanager
def auth_server(root: Path, *, env: dict[str, str] | None = None) -> Iterator[AuthServer]:
    """``shipyard server --auth`` on a free port, its first admin created from the environment."""
    settings = {
        "SHIPYARD_ADMIN_USERNAME": ADMIN,
        "SHIPYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "SHIPYARD_DELIVER_WEBHOOKS": "0",
        **(env or {}),
    }
    with shipyard_server(root, extra_args=("--auth",), env=settings) as server:
        answer = httpx.post(
            f"{server.url}/api/v1/auth/tokens", json={"name": "admin"}, auth=(ADMIN, ADMIN_PASSWORD), timeout=30
        )
        assert answer.status_code == 200, answer.text
        yield AuthServer(server, answer.json()["secret"])
