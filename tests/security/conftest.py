"""A running Shipyard server to attack, with canary files outside its data folder checked after every test."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.auth import auth_server
from tests.support.servers import RunningServer

CANARY_TEXT = "canary: a request read, wrote or deleted this file outside the data folder\n"


@dataclass
class RawResponse:
    """What a raw HTTP exchange returned: the status, lower-cased headers and the body."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Target:
    """The server under attack.

    Attributes:
        url: its base URL.
        root: the folder that holds its data (``root/data``: the store and ``artifacts``).
        artifacts: its artifact root.
        canary_dir: a folder outside the data folder whose files no request may read, write or delete.
        headers: what every request of the trusted client sends (credentials once auth is on).
    """

    url: str
    root: Path
    artifacts: Path
    canary_dir: Path
    server: RunningServer
    headers: dict[str, str] = field(default_factory=dict)

    def client(self, **kwargs: object) -> httpx.Client:
        """An httpx client on the server, sending ``headers``."""
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=30.0, **kwargs)  # type: ignore[arg-type]

    def raw(
        self, method: str, target: str | bytes, *, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> RawResponse:
        """Send ``target`` exactly as given (no client-side normalisation of ``..`` or percent-encoding)."""
        host, port = self.url.removeprefix("http://").split(":")
        raw_target = target if isinstance(target, bytes) else target.encode("latin-1")
        all_headers = {"Host": f"{host}:{port}", **self.headers, **(headers or {})}
        all_headers.setdefault("Content-Length", str(len(body)))
        all_headers["Connection"] = "close"
        head = method.encode() + b" " + raw_target + b" HTTP/1.1\r\n"
        head += b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in all_headers.items()) + b"\r\n"
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(head + body)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        data = b"".join(chunks)
        header_blob, _, payload = data.partition(b"\r\n\r\n")
        lines = header_blob.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        parsed = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            parsed[name.strip().lower()] = value.strip()
        if parsed.get("transfer-encoding") == "chunked":
            payload = _dechunk(payload)
        return RawResponse(status, parsed, payload)


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return bytes(out)


def _snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` with a digest of its content (or its link target)."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(folder))
            if path.is_symlink():
                found[rel] = "link:" + str(path.readlink())
            elif path.is_file():
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                found[rel] = "dir"
    return found


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A real ``shipyard server --auth`` on a free port; canaries live in ``root/outside``, beside its data folder."""
    root = tmp_path_factory.mktemp("security")
    data = root / "data"
    canary_dir = root / "outside"
    canary_dir.mkdir()
    (canary_dir / "secret.txt").write_text(CANARY_TEXT)
    (canary_dir / "nested").mkdir()
    (canary_dir / "nested" / "keys.txt").write_text(CANARY_TEXT)
    # Sign-in is on and the attacks carry an admin's token: not even an admin may leave the artifact root.
    with auth_server(data) as secured:
        server = secured.server
        headers = {"Authorization": f"Bearer {secured.admin_token}"}
        previous = os.environ.get("MLFLOW_TRACKING_TOKEN")
        os.environ["MLFLOW_TRACKING_TOKEN"] = secured.admin_token  # for the mlflow client the tests drive
        try:
            yield Target(
                url=server.url,
                root=root,
                artifacts=data / "artifacts",
                canary_dir=canary_dir,
                server=server,
                headers=headers,
            )
        finally:
            if previous is None:
                os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
            else:
                os.environ["MLFLOW_TRACKING_TOKEN"] = previous


@pytest.fixture(autouse=True)
def canaries_untouched(target: Target) -> Iterator[None]:
    """After each test: nothing outside the data folder was created, changed or removed."""
    before_outside = _snapshot(target.canary_dir)
    before_root = sorted(p.name for p in target.root.iterdir())
    yield
    assert _snapshot(target.canary_dir) == before_outside, "a request touched files outside the data folder"
    assert sorted(p.name for p in target.root.iterdir()) == before_root, "a request created files beside the data"
    assert target.server.process.poll() is None, "the server died during the attack"
