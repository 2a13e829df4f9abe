"""Start real servers (Shipyard's, MLflow's, moto's S3) on free ports for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

_VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """Ask the kernel for a free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RunningServer:
    """A server process we started, with its base URL and data folder."""

    url: str
    process: subprocess.Popen[bytes]
    root: Path
    log_path: Path


def _wait_healthy(
    url: str, process: subprocess.Popen[bytes], log_path: Path, timeout_s: float, health_path: str = "/health"
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}{health_path}", timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server at {url} not healthy after {timeout_s}s:\n{log_path.read_text()[-4000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


@contextlib.contextmanager
def _launch(
    cmd: list[str],
    url: str,
    root: Path,
    timeout_s: float,
    env: dict[str, str] | None,
    health_path: str = "/health",
) -> Iterator[RunningServer]:
    log_path = root / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **(env or {})}
        )
    try:
        _wait_healthy(url, process, log_path, timeout_s, health_path)
        yield RunningServer(url=url, process=process, root=root, log_path=log_path)
    finally:
        _stop(process)


@contextlib.contextmanager
def shipyard_server(
    root: Path,
    *,
    workers: int = 1,
    timeout_s: float = 60.0,
    extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    port: int | None = None,
    artifacts: str | None = None,
    store: str | None = None,
    console_script: bool = False,
) -> Iterator[RunningServer]:
    """Run `shipyard server` on a free port (or `port`) with a SQLite store and an artifact folder under `root`.

    `artifacts` replaces the artifact folder with another artifact URI (such as ``s3://bucket/prefix``);
    `store` replaces the SQLite store with another store URL (such as ``postgresql://…``); `console_script` runs
    the installed ``shipyard`` command, as users do, instead of ``python -m shipyard``.
    """
    root.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    cmd = [
        *([str(_VENV_BIN / "shipyard")] if console_script else [sys.executable, "-m", "shipyard"]),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--store",
        store or f"sqlite:///{root / 'shipyard.db'}",
        "--artifacts",
        artifacts or str(root / "artifacts"),
        "--workers",
        str(workers),
        *extra_args,
    ]
    with _launch(cmd, f"http://127.0.0.1:{port}", root, timeout_s, env) as server:
        yield server


@contextlib.contextmanager
def serving_server(
    model: str | Path,
    root: Path,
    *,
    extra_args: tuple[str, ...] = (),
    timeout_s: float = 60.0,
    env: dict[str, str] | None = None,
) -> Iterator[RunningServer]:
    """Run `shipyard serve MODEL` on a free port; ready once ``/v2/health/ready`` answers 200 (model warmed)."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [sys.executable, "-m", "shipyard", "serve", str(model), "--port", str(port), *extra_args]
    env = {"SHIPYARD_HOME": str(root / "home"), **(env or {})}  # state and prediction log stay under root
    with _launch(cmd, f"http://127.0.0.1:{port}", root, timeout_s, env, "/v2/health/ready") as server:
        yield server


@contextlib.contextmanager
def mlflow_server(
    root: Path,
    *,
    workers: int = 1,
    timeout_s: float = 120.0,
    artifacts_destination: str | None = None,
    env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
) -> Iterator[RunningServer]:
    """Run MLflow's own `mlflow server` with the same SQLite set-up, serving artifacts.

    `artifacts_destination` replaces the artifact folder under `root` (e.g. ``s3://bucket/prefix``);
    `extra_args` are added to the command (``("--app-name", "basic-auth")``).
    """
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [
        str(_VENV_BIN / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        artifacts_destination or str(root / "artifacts"),
        "--serve-artifacts",
        "--workers",
        str(workers),
        *extra_args,
    ]
    with _launch(cmd, f"http://127.0.0.1:{port}", root, timeout_s, env) as server:
        yield server


@dataclass(frozen=True)
class MotoS3:
    """A moto S3 server we started, with the endpoint URL and the (dummy) credentials it accepts."""

    endpoint_url: str
    env: dict[str, str]

    def client(self) -> Any:
        """A boto3 S3 client for this server (boto3 ships no type hints)."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            region_name=self.env["AWS_DEFAULT_REGION"],
            # moto answers 500 now and then when two PUTs replace one key at once (it reads the replaced key's
            # closed buffer); real S3 retries such 500s too, so give the emulator the retries S3 clients use.
            config=Config(retries={"mode": "standard", "max_attempts": 10}),
        )


_MOTO_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@contextlib.contextmanager
def moto_s3_server() -> Iterator[MotoS3]:
    """Run moto's S3-compatible server in a thread of this process, on 127.0.0.1 and a free port.

    Callers skip when moto is missing (``pytest.importorskip("moto.server")``) before calling this.
    """
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield MotoS3(endpoint_url=f"http://127.0.0.1:{port}", env=dict(_MOTO_ENV))
    finally:
        server.stop()


@contextlib.contextmanager
def moto_s3_process(root: Path, *, timeout_s: float = 60.0) -> Iterator[tuple[MotoS3, subprocess.Popen[bytes]]]:
    """Run moto's S3 server as a child process (its spooled temporary files go under `root`)."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(_VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    log_path = root / "moto.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "TMPDIR": str(root)},
        )
    try:
        _wait_healthy(url, process, log_path, timeout_s, health_path="/moto-api/")
        yield MotoS3(endpoint_url=url, env=dict(_MOTO_ENV)), process
    finally:
        _stop(process)
