"""Many writers at once, a server that goes away and comes back, and uploads cut off half-way."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import shipyard as sy
from shipyard.client import fluent
from tests.support.servers import free_port, shipyard_server

pytestmark = pytest.mark.slow

# Each writer speaks MLflow's REST API directly (httpx imports in a fraction of the mlflow client's time).
WRITER = r"""
import sys, time, httpx
api = httpx.Client(base_url=sys.argv[1] + "/api/2.0/mlflow", timeout=60)
def post(path, body):
    response = api.post(path, json=body)
    response.raise_for_status()
    return response.json()
run_id = post("/runs/create", {"experiment_id": sys.argv[2]})["run"]["info"]["run_id"]
now = int(time.time() * 1000)
for batch in range(20):
    points = [{"key": "batched", "value": batch * 100 + i, "timestamp": now + i, "step": batch * 100 + i}
              for i in range(100)]
    post("/runs/log-batch", {"run_id": run_id, "metrics": points})
for step in range(50):
    post("/runs/log-metric", {"run_id": run_id, "key": "single", "value": step, "timestamp": now, "step": step})
post("/runs/update", {"run_id": run_id, "status": "FINISHED"})
print(run_id)
"""


def test_sixteen_processes_log_concurrently_without_loss(tmp_path: Path) -> None:
    with shipyard_server(tmp_path / "server") as server, httpx.Client(base_url=server.url, timeout=60) as client:
        exp = client.post("/api/2.0/mlflow/experiments/create", json={"name": "load"}).json()["experiment_id"]
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, server.url, exp],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(16)
        ]
        outputs = [p.communicate(timeout=240) for p in procs]
        errors = [err for (out, err), p in zip(outputs, procs, strict=True) if p.returncode != 0]
        counts = []
        for out, _err in outputs:
            run_id = out.strip().splitlines()[-1]
            for key in ("batched", "single"):
                body = client.get("/api/2.0/mlflow/metrics/get-history", params={"run_id": run_id, "metric_key": key})
                counts.append(len({m["step"] for m in body.json()["metrics"]}) == len(body.json()["metrics"]))
                counts.append(len(body.json()["metrics"]))
    assert (errors, counts) == ([], [True, 2000, True, 50] * 16)


def test_sdk_keeps_points_while_the_server_is_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_FLUSH_INTERVAL_S", "0.1")
    root = tmp_path / "server"
    port = free_port()
    with shipyard_server(root, port=port) as server:
        sy.set_tracking_uri(server.url)
        run = sy.start_run(experiment="outage", capture=False)
        for step in range(100):
            sy.log_metric("m", float(step), step=step)
        sy.flush()
    for step in range(100, 200):  # the server is gone: these wait in the queue
        sy.log_metric("m", float(step), step=step)
    time.sleep(1.0)
    with shipyard_server(root, port=port):
        sy.end_run()
        history = sy.get_metric_history(run.run_id, "m")
        status = sy.get_run(run.run_id).status
        fluent._state.reset(None)
    assert ([h.step for h in history], status) == (list(range(200)), "FINISHED")


def test_interrupted_upload_leaves_no_file(tmp_path: Path) -> None:
    with shipyard_server(tmp_path / "server") as server:
        port = int(server.url.rsplit(":", 1)[1])
        target = "/api/2.0/mlflow-artifacts/artifacts/1/run/artifacts/big.bin"
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(
                f"PUT {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {10 * 1024 * 1024}\r\n\r\n".encode()
            )
            sock.sendall(b"x" * (1024 * 1024))
        artifacts = tmp_path / "server" / "artifacts"
        deadline = time.monotonic() + 15  # the server notices the cut connection on its next read
        while time.monotonic() < deadline and [p for p in artifacts.rglob("*") if p.is_file()]:
            time.sleep(0.1)
        status = httpx.get(server.url + target).status_code
        listing = httpx.get(
            server.url + "/api/2.0/mlflow-artifacts/artifacts", params={"path": "1/run/artifacts"}
        ).json()
        on_disk = [p.name for p in (tmp_path / "server" / "artifacts").rglob("*") if p.is_file()]
    assert (status, listing, on_disk) == (404, {}, [])
