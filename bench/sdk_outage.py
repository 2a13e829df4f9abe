"""A training loop while its tracking server is killed for a minute: Shipyard's SDK against MLflow's fluent API.

    .venv/bin/python bench/sdk_outage.py              # the issue's scenario: a 60 s outage
    .venv/bin/python bench/sdk_outage.py --outage-s 10

Each tool logs to its own server (Shipyard's, MLflow's; SQLite, artifacts served) from a training process that
logs metrics every step (~10 ms apart) and params and tags at the start. The server is killed with SIGKILL;
during the outage the loop logs params, a tag, metrics and an artifact; the server is restarted on the same port
and store; the loop logs a little more and ends the run. Every logging call is timed, and one that raises is
counted and survived (in a real job an uncaught one ends it). Afterwards the stored run is read back over the
REST API both servers speak: status, params, tags, every metric point (each step once), the artifact.

Shipyard's calls queue and return; MLflow's synchronous calls retry for up to its HTTP retry budget, blocking
the loop, and raise if the outage outlasts it. This is the CI test `tests/integration/test_sdk_outage.py` at the
issue's length (``SHIPYARD_OUTAGE_TEST_S=60`` runs that test at this length too), with MLflow beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.servers import RunningServer, _launch, free_port, shipyard_server

TRAIN = r"""
import json, sys, time
from pathlib import Path
tool, url, markers = sys.argv[1], sys.argv[2], Path(sys.argv[3])
if tool == "shipyard":
    import shipyard as api
    api.set_tracking_uri(url)
    log_metrics = lambda values, step: api.log_metrics(values, step=step)
else:
    import mlflow as api
    api.set_tracking_uri(url)
    log_metrics = lambda values, step: api.log_metrics(values, step=step, synchronous=False)
calls = {"before": [], "outage": [], "after": []}
raised = []
phase = "before"

def call(fn, *args):
    start = time.monotonic()
    try:
        fn(*args)
    except Exception as exc:  # counted: in a real job this ends the training
        raised.append(f"{phase}: {type(exc).__name__}")
    calls[phase].append(time.monotonic() - start)

step = 0
def metrics():
    global step
    call(log_metrics, {"loss": 1.0 / (step + 1), "acc": step / 10_000}, step)
    step += 1
    time.sleep(0.01)

api.set_experiment("outage")
run = api.start_run()
run_id = run.run_id if tool == "shipyard" else run.info.run_id
print(run_id, flush=True)
call(api.log_params, {"lr": 0.01, "layers": 3})
call(api.set_tag, "phase", "warmup")
while not (markers / "killed").exists():
    metrics()
phase = "outage"
call(api.log_params, {"batch_size": 32})
call(api.set_tag, "phase", "train")
checkpoint = markers / "checkpoint.bin"
checkpoint.write_bytes(bytes(range(256)) * 64)
call(api.log_artifact, str(checkpoint), "checkpoints")
while not (markers / "restarted").exists():
    metrics()
phase = "after"
call(api.set_tag, "phase", "done")
for _ in range(50):
    metrics()
start = time.monotonic()
call(api.end_run)
end_s = time.monotonic() - start
print(json.dumps({"steps": step, "calls": {k: [len(v), max(v, default=0.0)] for k, v in calls.items()},
                  "raised": raised, "end_run_s": end_s}), flush=True)
"""


def _start(tool: str, root: Path, port: int) -> AbstractContextManager[RunningServer]:
    """The tool's server on ``port`` with its store and artifacts under ``root`` (again after a kill)."""
    if tool == "shipyard":
        return shipyard_server(root, port=port)
    root.mkdir(parents=True, exist_ok=True)
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
        "--serve-artifacts",
    ]
    return _launch(command, f"http://127.0.0.1:{port}", root, 120.0, {"MLFLOW_DISABLE_TELEMETRY": "true"})


def _stored(url: str, run_id: str) -> dict[str, Any]:
    api = "/api/2.0/mlflow"
    with httpx.Client(base_url=url, timeout=60) as http:
        run = http.get(f"{api}/runs/get", params={"run_id": run_id}).json()["run"]
        history = http.get(
            f"{api}/metrics/get-history", params={"run_id": run_id, "metric_key": "loss", "max_results": 1_000_000}
        ).json()
        key = run["info"]["artifact_uri"].removeprefix("mlflow-artifacts:").strip("/")  # both serve artifacts
        files = http.get("/api/2.0/mlflow-artifacts/artifacts", params={"path": f"{key}/checkpoints"}).json()
    steps = [m["step"] for m in history.get("metrics", [])]
    tags = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
    return {
        "status": run["info"]["status"],
        "params": sorted(p["key"] for p in run["data"].get("params", [])),
        "phase": tags.get("phase"),
        "points": len(steps),
        "distinct steps": len(set(steps)),
        "artifact": [f["path"] for f in files.get("files", [])] == ["checkpoint.bin"],
    }


def run_tool(tool: str, outage_s: float, workdir: Path) -> dict[str, Any]:
    """One tool through the scenario: the training process's report and what its server stored."""
    root, markers = workdir / tool / "server", workdir / tool / "markers"
    markers.mkdir(parents=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "MLFLOW_"))}
    env.update({"SHIPYARD_HOME": str(workdir / tool / "home"), "MLFLOW_DISABLE_TELEMETRY": "true"})
    with _start(tool, root, port) as server:
        url = server.url
        train = subprocess.Popen(
            [sys.executable, "-c", TRAIN, tool, url, str(markers)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert train.stdout is not None
        run_id = train.stdout.readline().strip()
        time.sleep(2.0)
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
    (markers / "killed").write_text("")
    print(f"  {tool}: server killed, outage of {outage_s:.0f} s", flush=True)
    time.sleep(outage_s)
    with _start(tool, root, port) as server:
        (markers / "restarted").write_text("")
        out, err = train.communicate(timeout=1800)
        if train.returncode != 0:
            raise RuntimeError(f"{tool} training process failed:\n{err[-3000:]}")
        report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        report["stored"] = _stored(server.url, run_id)
    return report


def main() -> int:
    """Run the scenario for both tools and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outage-s", type=float, default=60.0, help="how long the server stays down")
    parser.add_argument("--json", type=Path, default=Path(__file__).with_name("sdk_outage_results.json"))
    args = parser.parse_args()
    print(f"SDK through a {args.outage_s:.0f} s server outage (SIGKILL, restart on the same port and store)")
    with tempfile.TemporaryDirectory(prefix="shipyard-outage-bench-") as folder:
        results = {tool: run_tool(tool, args.outage_s, Path(folder)) for tool in ("shipyard", "mlflow")}
    sy, ml = results["shipyard"], results["mlflow"]
    rows = [
        ("steps logged", sy["steps"], ml["steps"]),
        ("logging calls during outage", sy["calls"]["outage"][0], ml["calls"]["outage"][0]),
        ("longest call in outage (s)", f"{sy['calls']['outage'][1]:.3f}", f"{ml['calls']['outage'][1]:.3f}"),
        ("calls that raised", len(sy["raised"]), len(ml["raised"])),
        ("end_run after restart (s)", f"{sy['end_run_s']:.3f}", f"{ml['end_run_s']:.3f}"),
        *[(f"stored: {k}", sy["stored"][k], ml["stored"][k]) for k in sy["stored"]],
    ]
    print(f"{'':<32}{'Shipyard':>24}{'MLflow':>24}")
    for label, a, b in rows:
        shown = [", ".join(map(str, v)) if isinstance(v, list) else str(v) for v in (a, b)]
        print(f"{label:<32}{shown[0]:>24}{shown[1]:>24}")
    longest_sy, longest_ml = sy["calls"]["outage"][1], ml["calls"]["outage"][1]
    print(f"longest blocking call during the outage: MLflow / Shipyard = {longest_ml / max(longest_sy, 1e-6):,.0f}x")
    args.json.write_text(json.dumps({"outage_s": args.outage_s, **results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
