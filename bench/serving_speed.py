"""Online serving speed: ``shipyard serve`` vs ``mlflow models serve``, BentoML and MLServer, on the same model.

    .venv/bin/python bench/serving_speed.py              # 10 s per measurement, all four servers (~4 minutes)
    .venv/bin/python bench/serving_speed.py --quick      # 3 s per measurement
    .venv/bin/python bench/serving_speed.py --only shipyard,mlflow --duration 5
    .venv/bin/python bench/serving_speed.py --parity only        # scenario P alone (~1.5 minutes)

One scikit-learn LogisticRegression, fitted on 2,000 generated rows of 10 float columns, is saved with
``shipyard.models.save_model`` (MLflow's folder layout: Shipyard and MLflow serve that folder) and joblib-dumped
for BentoML and MLServer, which run from their own virtualenvs (``serving_peers.py``). Each server runs alone, on
127.0.0.1 and a free port, one worker process, no per-request access log, and is stopped (its process group)
before the next starts. Load comes from ``wrk`` (one thread, a separate process) after a warm-up:

* **A** one row per request, 1 connection: wrk's median latency, minus the model's own median ``predict`` time
  for one row (measured in this process); the difference is the server's **overhead**.
* **B** server CPU per request during A: utime+stime of the server's whole process tree (``/proc``), after
  minus before, over the requests served.
* **C** one row per request, 64 connections, every server batching: requests/s and failed requests.
* **D** 100 rows per request, 1 connection: requests/s.
* **P** (Shipyard only, on the same server after A-D) the v2 ``infer`` route against ``/invocations``: one row per
  request, 64 connections, as ``dataframe_split`` JSON, v2 JSON with a tensor per column or one ``[n, k]`` tensor,
  and the same two with the binary tensor data extension; ``--rounds`` rotated rounds so every case sees the same
  conditions; requests/s and server CPU per request, each v2 case within 1.2x of ``/invocations`` (``serving_v2.py``).

Shipyard is measured on both of its routes (MLflow's ``/invocations`` and the v2 ``infer``) with its defaults
(adaptive batching on in every scenario). MLflow gets the same ``/invocations`` body; MLServer the same v2 body
(one FP64 tensor per column, ``content_type: pd``); BentoML ``{"input": [[...]]}``. Before any timing, every
route's answer to a 100-row request must equal the model's own predictions (else ``CHECK FAILED``, exit 1).
A peer that cannot be installed or started is shown as ``unavailable: reason``.
"""

from __future__ import annotations

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import argparse
import contextlib
import json
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench import serving_peers as peers  # noqa: E402
from bench import serving_v2  # noqa: E402
from bench.common import percentile, progress  # noqa: E402

VENV_BIN = Path(sys.executable).parent
COLUMNS = [f"f{i}" for i in range(10)]
CLIENTS = 64
MAX_BATCH = 64  # BentoML and MLServer batch requests; 64 one-row requests = Shipyard's default 256 rows covers it
MAX_WAIT_MS = 2.0  # Shipyard's default --max-wait-ms, given to MLServer's max_batch_time too
START_TIMEOUT_S = 180.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVERS = ("shipyard", "mlflow", "bentoml", "mlserver")
PROFILED = ("shipyard/serving/", "shipyard/models/", "shipyard/_body")  # the request path's modules

# targets (see bench/README.md): overhead < 1 ms; CPU <= 1/2 BentoML's; C >= 5x MLflow, >= 1.5x best peer; D >= 2x
OVERHEAD_MS_BOUND = 1.0
CPU_VS_BENTO = 0.5
C_VS_MLFLOW, C_VS_BEST_PEER, D_VS_MLFLOW = 5.0, 1.5, 2.0

_WRK_LUA = """
wrk.method = "POST"
%(headers)s
local f = assert(io.open(%(body)s, "rb"))
wrk.body = f:read("*a")
f:close()

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, "mean_us": %%f, ' ..
    '"connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def say(msg: str = "") -> None:
    print(msg, flush=True)


# --- the model and the request bodies ------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    model: Any
    one: pd.DataFrame  # the single row of scenarios A-C
    hundred: pd.DataFrame  # the 100 rows of D, and of the answer check
    predict_one_ms: float  # the model's own median predict time for `one`, in this process
    predict_hundred_ms: float


def make_workload(folder: Path) -> Workload:
    """Fit the model, save it for Shipyard/MLflow (``folder/model``) and joblib-dump it for the peers."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    from shipyard.models import save_model

    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.normal(size=(2_000, len(COLUMNS))), columns=COLUMNS)
    labels = (train.to_numpy() @ rng.normal(size=len(COLUMNS)) > 0).astype(np.int64)
    model = LogisticRegression().fit(train, labels)
    save_model(model, folder / "model", input_example=train.head(3))
    joblib.dump(model, folder / "model.joblib")
    one, hundred = train.iloc[[7]].reset_index(drop=True), train.iloc[100:200].reset_index(drop=True)
    return Workload(model, one, hundred, _median_predict_ms(model, one), _median_predict_ms(model, hundred, 300))


def _median_predict_ms(model: Any, frame: pd.DataFrame, times: int = 1_000) -> float:
    model.predict(frame)
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        model.predict(frame)
        samples.append(time.perf_counter() - started)
    return percentile(samples, 50) * 1e3


def invocations_body(frame: pd.DataFrame) -> bytes:
    return json.dumps({"dataframe_split": {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}}).encode()


def v2_body(frame: pd.DataFrame) -> bytes:
    inputs = [{"name": c, "shape": [len(frame)], "datatype": "FP64", "data": frame[c].tolist()} for c in frame.columns]
    return json.dumps({"parameters": {"content_type": "pd"}, "inputs": inputs}).encode()


def bento_body(frame: pd.DataFrame) -> bytes:
    return json.dumps({"input": frame.to_numpy().tolist()}).encode()


def invocations_answer(document: Any) -> list[Any]:
    return list(document["predictions"])


def v2_answer(document: Any) -> list[Any]:
    return list(document["outputs"][0]["data"])


def bento_answer(document: Any) -> list[Any]:
    return list(document)


@dataclass(frozen=True)
class Protocol:
    body: Callable[[pd.DataFrame], bytes]
    answer: Callable[[Any], list[Any]]


INVOCATIONS = Protocol(invocations_body, invocations_answer)
V2 = Protocol(v2_body, v2_answer)
BENTO = Protocol(bento_body, bento_answer)


# --- servers -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    label: str  # the table's row name
    server: str  # one of SERVERS
    path: str
    protocol: Protocol


ROUTES = (
    Route("shipyard /invocations", "shipyard", "/invocations", INVOCATIONS),
    Route("shipyard v2 infer", "shipyard", "/v2/models/model/infer", V2),
    Route("mlflow models serve", "mlflow", "/invocations", INVOCATIONS),
    Route("bentoml", "bentoml", "/predict", BENTO),
    Route("mlserver (v2)", "mlserver", "/v2/models/model/infer", V2),
)


@dataclass(frozen=True)
class Launch:
    """One server process to start: its command for a port, where its readiness shows, and its scenarios."""

    server: str
    scenarios: tuple[str, ...]
    command: Callable[[int], list[str]]  # port -> argv (it may write the server's config files first)
    health_path: str
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    batching: bool = True

    @property
    def tag(self) -> str:
        if self.server in ("shipyard", "mlflow"):
            return self.server
        return f"{self.server}-{'batching' if self.batching else 'plain'}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Running:
    """A server started in its own process group; ``stop()`` ends that group only (TERM, then KILL)."""

    def __init__(self, launch: Launch, port: int, log: Path) -> None:
        self.launch, self.port, self.log = launch, port, log
        env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", **launch.env}
        command = launch.command(port)
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=launch.cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.url = f"http://127.0.0.1:{port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> float:
        started = time.perf_counter()
        deadline = started + timeout_s
        with httpx.Client(timeout=2.0) as client:
            while time.perf_counter() < deadline:
                if self.process.poll() is not None:
                    raise peers.PeerUnavailable(f"exited with {self.process.returncode}: {self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.url + self.launch.health_path).status_code == 200:
                        return time.perf_counter() - started
                time.sleep(0.2)
        raise peers.PeerUnavailable(f"not ready after {timeout_s:.0f} s: {self.log_tail()}")

    def log_tail(self) -> str:
        """The log's last error line (else its last line), shortened: what an `unavailable` row shows."""
        lines = [x.strip() for x in self.log.read_text(errors="replace").splitlines() if x.strip()]
        errors = [x for x in lines if "Error" in x or "error" in x]
        line = (errors or lines or [f"no output (log {self.log})"])[-1]
        return line[:240]

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # workers that outlive their parent in the group
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


@contextlib.contextmanager
def running(launch: Launch, port: int, log: Path) -> Iterator[Running]:
    server = Running(launch, port, log)
    try:
        yield server
    finally:
        server.stop()


def tree_cpu_s(root: int) -> float:
    """utime+stime (and that of reaped children) of ``root`` and all its live descendants, from /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    ticks: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        pid = int(entry.name)
        children[int(fields[1])].append(pid)
        ticks[pid] = sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += ticks.get(pid, 0)
        todo.extend(children.get(pid, ()))
    return total / CLK_TCK


# --- wrk -----------------------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        progress("wrk not found: apt-get install -y wrk")
        install = ["apt-get", "install", "-y", "-qq", "wrk"]
        if subprocess.run(install, check=False, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)  # a stale package list
            subprocess.run(install, check=False, capture_output=True)
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit("wrk is needed: install it with `sudo apt-get install -y wrk` (Debian/Ubuntu) and run again.")


@dataclass(frozen=True)
class Measured:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int  # non-2xx/3xx answers + socket errors (connect, read, write, timeout)
    cpu_ms_per_request: float

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class Wrk:
    def __init__(self, executable: str, folder: Path) -> None:
        self.executable, self.folder = executable, folder
        self._scripts: dict[tuple[bytes, tuple[tuple[str, str], ...]], Path] = {}

    def script(self, body: bytes, headers: Mapping[str, str] | None = None) -> Path:
        headers = headers or {"Content-Type": "application/json"}
        key = (body, tuple(sorted(headers.items())))
        if key not in self._scripts:
            n = len(self._scripts)
            body_path, lua = self.folder / f"body-{n}.bin", self.folder / f"post-{n}.lua"
            body_path.write_bytes(body)
            lines = "\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
            lua.write_text(_WRK_LUA % {"body": json.dumps(str(body_path)), "headers": lines})
            self._scripts[key] = lua
        return self._scripts[key]

    def run(
        self,
        url: str,
        body: bytes,
        *,
        connections: int,
        seconds: float,
        server_pid: int,
        headers: Mapping[str, str] | None = None,
    ) -> Measured:
        command = [
            self.executable,
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(self.script(body, headers)),
            url,
        ]
        cpu_before = tree_cpu_s(server_pid)
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=seconds + 60)
        cpu_s = tree_cpu_s(server_pid) - cpu_before
        line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
        if done.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
        out = json.loads(line.removeprefix("BENCH_JSON "))
        requests = int(out["requests"])
        failed = sum(int(out[k]) for k in ("connect", "read", "write", "status", "timeout"))
        return Measured(
            requests=requests,
            seconds=out["duration_us"] / 1e6,
            p50_ms=out["p50_us"] / 1e3,
            p99_ms=out["p99_us"] / 1e3,
            failed=failed,
            cpu_ms_per_request=cpu_s * 1e3 / requests if requests else float("nan"),
        )


# --- scenarios -----------------------------------------------------------------------------------------------

SCENARIOS: dict[str, tuple[str, int]] = {  # name -> (rows per request: "one" or "hundred", connections)
    "A": ("one", 1),
    "C": ("one", CLIENTS),
    "D": ("hundred", 1),
}


def launches(
    root: Path, only: set[str], shipyard_args: list[str], shipyard_scenarios: tuple[str, ...] = ("A", "D", "C")
) -> Iterator[Launch | tuple[str, str]]:
    """Each server launch in turn, or ``(server, reason)`` for a peer that could not be set up."""
    model, joblib_file = root / "model", root / "model.joblib"
    if "shipyard" in only:
        shipyard = [str(VENV_BIN / "shipyard"), "serve", str(model), "--host", "127.0.0.1", "--name", "model"]
        shipyard += shipyard_args
        env = {"SHIPYARD_HOME": str(root / "shipyard-home")}  # its deployment state and prediction log go there
        yield Launch(
            "shipyard",
            shipyard_scenarios,
            lambda port: [*shipyard, "--port", str(port)],
            "/v2/health/ready",
            env,
            root,
        )
    if "mlflow" in only:
        mlflow = [str(VENV_BIN / "mlflow"), "models", "serve", "-m", str(model), "--env-manager", "local"]
        env = {"UVICORN_ACCESS_LOG": "false"}  # mlflow runs `uvicorn` with its defaults; uvicorn reads UVICORN_*
        yield Launch(
            "mlflow", ("A", "D", "C"), lambda port: [*mlflow, "-h", "127.0.0.1", "-p", str(port)], "/ping", env
        )
    for name, setup in (("bentoml", _bento_launches), ("mlserver", _mlserver_launches)):
        if name in only:
            try:
                venv = peers.ensure_venv(name)
            except peers.PeerUnavailable as exc:
                yield (name, str(exc))
            else:
                yield from setup(venv, root, joblib_file)


def _bento_launches(venv: peers.PeerVenv, root: Path, joblib_file: Path) -> Iterator[Launch]:
    service = root / "bento"
    peers.write_bento_service(service)
    for batching, scenarios in ((False, ("A", "D")), (True, ("C",))):
        env = peers.bento_env(joblib_file, root / "bentoml-home", batching=batching, max_batch=MAX_BATCH)
        yield Launch(
            "bentoml", scenarios, partial(peers.bento_command, venv), "/readyz", env, cwd=service, batching=batching
        )


def _mlserver_launches(venv: peers.PeerVenv, root: Path, joblib_file: Path) -> Iterator[Launch]:
    for batching, scenarios in ((False, ("A", "D")), (True, ("C",))):
        repo = root / f"mlserver-{'batching' if batching else 'plain'}"

        def command(port: int, repo: Path = repo, batching: bool = batching) -> list[str]:
            ports = (port, free_port(), free_port())  # MLServer also opens gRPC and metrics ports
            peers.write_mlserver_repo(
                repo, joblib_file, ports, batching=batching, max_batch=MAX_BATCH, max_wait_ms=MAX_WAIT_MS
            )
            return peers.mlserver_command(venv, repo)

        yield Launch("mlserver", scenarios, command, "/v2/models/model/ready", batching=batching)


def check_answers(url: str, route: Route, work: Workload) -> str | None:
    """None if the route answers 100 rows with exactly the model's predictions, else what went wrong."""
    expected = work.model.predict(work.hundred).tolist()
    try:
        response = httpx.post(
            url + route.path,
            content=route.protocol.body(work.hundred),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        if response.status_code != 200:
            return f"HTTP {response.status_code}: {response.text[:300]}"
        got = route.protocol.answer(response.json())
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if [int(x) for x in got] != expected:
        return f"predictions differ from model.predict (first: {got[:5]} vs {expected[:5]})"
    return None


@dataclass
class Results:
    measured: dict[tuple[str, str], Measured] = field(default_factory=dict)  # (route label, scenario)
    unavailable: dict[str, str] = field(default_factory=dict)  # route label -> reason
    check_failed: dict[str, str] = field(default_factory=dict)
    startup_s: dict[str, float] = field(default_factory=dict)
    parity: dict[str, serving_v2.Tally] = field(default_factory=dict)  # scenario P, by case label


def run_launch(launch: Launch, root: Path, work: Workload, wrk: Wrk, args: argparse.Namespace, res: Results) -> None:
    routes = [r for r in ROUTES if r.server == launch.server]
    port, tag = free_port(), launch.tag
    try:
        with running(launch, port, root / f"{tag}.log") as server:
            progress(f"{tag}: starting on port {port}")
            res.startup_s[tag] = server.wait_ready()
            for route in routes:
                problem = check_answers(server.url, route, work)
                if problem:
                    res.check_failed[route.label] = problem
                    progress(f"{route.label}: CHECK FAILED: {problem}")
            for scenario in launch.scenarios:
                rows, connections = SCENARIOS[scenario]
                frame = work.one if rows == "one" else work.hundred
                for route in routes:
                    if route.label in res.check_failed:
                        continue
                    body = route.protocol.body(frame)
                    url = server.url + route.path
                    wrk.run(url, body, connections=connections, seconds=args.warmup, server_pid=server.pid)
                    got = wrk.run(url, body, connections=connections, seconds=args.duration, server_pid=server.pid)
                    res.measured[(route.label, scenario)] = got
                    progress(
                        f"{route.label} {scenario}: {got.per_s:,.0f} req/s, p50 {got.p50_ms:.2f} ms, "
                        f"cpu {got.cpu_ms_per_request:.2f} ms/req, failed {got.failed}"
                    )
                    if server.process.poll() is not None:
                        raise peers.PeerUnavailable(f"died during {scenario}: {server.log_tail()}")
            if launch.server == "shipyard":
                shipyard_extras(server, routes, work, wrk, args, res, root)
    except (peers.PeerUnavailable, RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
        if launch.server == "shipyard":
            raise
        for route in routes:
            res.unavailable.setdefault(route.label, f"{tag}: {exc}")
        progress(f"{tag}: unavailable: {exc}")


def shipyard_extras(
    server: Running,
    routes: list[Route],
    work: Workload,
    wrk: Wrk,
    args: argparse.Namespace,
    res: Results,
    root: Path,
) -> None:
    """After Shipyard's scenarios, on the same server: scenario P, then the profiles ``--profile`` asks for."""
    if args.parity != "off":
        run_parity(server, work, wrk, args, res)
    if args.profile:
        if args.parity == "only":
            profile_parity(server, work, wrk, args, root)
        else:
            profile_shipyard(server, routes, work, wrk, args, root)


def check_case(url: str, case: serving_v2.Case, work: Workload) -> str | None:
    """None if the parity case answers 100 rows with exactly the model's predictions, else what went wrong."""
    expected = work.model.predict(work.hundred).tolist()
    body = case.body(work.hundred)
    try:
        response = httpx.post(url + case.path, content=body.content, headers=dict(body.headers), timeout=30)
        if response.status_code != 200:
            return f"HTTP {response.status_code}: {response.text[:300]}"
        got = case.answer(response.content, response.headers)
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if [int(x) for x in got] != expected:
        return f"predictions differ from model.predict (first: {got[:5]} vs {expected[:5]})"
    return None


def run_parity(server: Running, work: Workload, wrk: Wrk, args: argparse.Namespace, res: Results) -> None:
    """Scenario P: the v2 infer route's four request forms against /invocations, one row, 64 connections.

    Every case first answers 100 rows correctly (else CHECK FAILED), is warmed up, then runs ``--rounds`` slices
    of ``duration / rounds`` seconds, each round in a rotated order, all on this one server process.
    """
    all_cases = serving_v2.cases("model")
    for case in all_cases:
        problem = check_case(server.url, case, work)
        if problem:
            res.check_failed[f"P {case.label}"] = problem
            progress(f"P {case.label}: CHECK FAILED: {problem}")
    live = tuple(case for case in all_cases if f"P {case.label}" not in res.check_failed)
    bodies = {case.label: case.body(work.one) for case in live}
    slice_s = max(1, round(args.duration / args.rounds))
    for case in live:
        body = bodies[case.label]
        wrk.run(
            server.url + case.path,
            body.content,
            connections=CLIENTS,
            seconds=args.warmup,
            server_pid=server.pid,
            headers=body.headers,
        )
    tallies = {case.label: serving_v2.Tally() for case in live}
    for number in range(args.rounds):
        for case in serving_v2.rotated(live, number):
            body = bodies[case.label]
            got = wrk.run(
                server.url + case.path,
                body.content,
                connections=CLIENTS,
                seconds=slice_s,
                server_pid=server.pid,
                headers=body.headers,
            )
            tallies[case.label].add(
                requests=got.requests,
                seconds=got.seconds,
                cpu_s=got.cpu_ms_per_request * got.requests / 1e3,
                failed=got.failed,
                p50_ms=got.p50_ms,
            )
            if server.process.poll() is not None:
                raise peers.PeerUnavailable(f"died during P: {server.log_tail()}")
        progress(
            f"P round {number + 1}/{args.rounds}: "
            + ", ".join(f"{label} {t.per_s:,.0f} req/s {t.cpu_ms_per_request:.3f} ms" for label, t in tallies.items())
        )
    res.parity = tallies


def profile_parity(server: Running, work: Workload, wrk: Wrk, args: argparse.Namespace, root: Path) -> None:
    """py-spy on the running Shipyard server during an extra run of each parity case; print where time goes."""
    venv = peers.ensure_venv("profiler")
    for number, case in enumerate(serving_v2.cases("model")):
        out = root / f"profile-P{number}.txt"
        spy = peers.pyspy_record(venv, server.pid, args.duration, out)
        time.sleep(0.5)  # py-spy attaches
        body = case.body(work.one)
        got = wrk.run(
            server.url + case.path,
            body.content,
            connections=CLIENTS,
            seconds=args.duration,
            server_pid=server.pid,
            headers=body.headers,
        )
        spy.wait(timeout=args.duration + 60)
        say()
        say(f"profile: P {case.label} ({got.per_s:,.0f} req/s under py-spy), {out}")
        say(f"{'incl %':>7} {'self %':>7}  function (shipyard code only; % of all busy samples, every thread)")
        for inclusive, own, frame in peers.top_frames(out, match=PROFILED, count=args.profile_lines):
            say(f"{inclusive:>7.1f} {own:>7.1f}  {frame}")


def profile_shipyard(
    server: Running, routes: list[Route], work: Workload, wrk: Wrk, args: argparse.Namespace, root: Path
) -> None:
    """py-spy on the running Shipyard server during an extra run of A and of C per route; print where time goes."""
    venv = peers.ensure_venv("profiler")
    for route in routes:
        for scenario in ("A", "C"):
            rows, connections = SCENARIOS[scenario]
            out = root / f"profile-{route.path.strip('/').replace('/', '_')}-{scenario}.txt"
            spy = peers.pyspy_record(venv, server.pid, args.duration, out)
            time.sleep(0.5)  # py-spy attaches
            body = route.protocol.body(work.one if rows == "one" else work.hundred)
            got = wrk.run(
                server.url + route.path, body, connections=connections, seconds=args.duration, server_pid=server.pid
            )
            spy.wait(timeout=args.duration + 60)
            say()
            say(f"profile: {route.label}, scenario {scenario} ({got.per_s:,.0f} req/s under py-spy), {out}")
            say(f"{'incl %':>7} {'self %':>7}  function (shipyard code only; % of all busy samples, every thread)")
            for inclusive, own, frame in peers.top_frames(out, match=PROFILED, count=args.profile_lines):
                say(f"{inclusive:>7.1f} {own:>7.1f}  {frame}")


# --- the report ----------------------------------------------------------------------------------------------

_HEAD = f"{'server':<32} {'requests':>9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}"


class Report:
    """Prints the tables and the Shipyard/peer ratios, and collects each target's verdict."""

    def __init__(self, res: Results, work: Workload, routes: list[Route]) -> None:
        self.res, self.work, self.routes = res, work, routes
        self.verdicts: list[tuple[str, str]] = []

    def get(self, label: str, scenario: str) -> Measured | None:
        return self.res.measured.get((label, scenario))

    def verdict(self, text: str, ok: bool | None) -> None:
        word = "n/a" if ok is None else "met" if ok else "MISSED"
        say(f"  {text}: {word}")
        self.verdicts.append((text, word))

    def ratio(self, text: str, ours: float, theirs: float | None, bound: float, *, at_most: bool = False) -> None:
        if not theirs:
            self.verdict(f"{text}: no figure", None)
            return
        value = ours / theirs
        ok = value <= bound if at_most else value >= bound
        self.verdict(f"{text}: {value:.2f}x (target {'<=' if at_most else '>='} {bound:g}x)", ok)

    def table(self, scenario: str, title: str, *, overhead: bool = False) -> None:
        say()
        say(title)
        say(f"{_HEAD} {'overhead ms' if overhead else '':>11} {'CPU ms/req':>11} {'failed':>7}")
        for route in self.routes:
            name = route.label
            if route.server in ("bentoml", "mlserver"):
                name += " +batching" if scenario == "C" else " plain"
            m = self.get(route.label, scenario)
            if m is None:
                problem = self.res.check_failed.get(route.label)
                reason = (
                    f"CHECK FAILED: {problem}" if problem else f"unavailable: {self.res.unavailable.get(route.label)}"
                )
                say(f"{name:<32} {reason}")
                continue
            extra = f"{m.p50_ms - self.work.predict_one_ms:>11.2f}" if overhead else " " * 11
            say(
                f"{name:<32} {m.requests:>9,} {m.per_s:>9,.0f} {m.p50_ms:>8.2f} {m.p99_ms:>8.2f} {extra} "
                f"{m.cpu_ms_per_request:>11.2f} {m.failed:>7}"
            )

    def single_row(self, duration_s: float) -> None:
        """A (overhead) and B (server CPU per request), from the same runs."""
        self.table(
            "A",
            f"A+B. one row per request, 1 connection, {duration_s:g} s each; overhead = p50 - the model's own "
            f"predict ({self.work.predict_one_ms:.3f} ms, median of 1,000 in-process)",
            overhead=True,
        )
        bento = self.get("bentoml", "A")
        for route in (r for r in self.routes if r.server == "shipyard"):
            m = self.get(route.label, "A")
            if m is None:
                continue
            overhead = m.p50_ms - self.work.predict_one_ms
            bound = OVERHEAD_MS_BOUND
            self.verdict(f"A {route.label}: overhead {overhead:.2f} ms (target < {bound:g} ms)", overhead < bound)
            bento_cpu = bento.cpu_ms_per_request if bento else None
            self.ratio(
                f"B {route.label} CPU/request vs bentoml", m.cpu_ms_per_request, bento_cpu, CPU_VS_BENTO, at_most=True
            )

    def load(self, duration_s: float) -> None:
        """C (64 clients, batching) and D (100-row requests)."""
        self.table("C", f"C. one row per request, {CLIENTS} connections, batching on everywhere, {duration_s:g} s each")
        self.ratios("C", C_VS_MLFLOW)
        self.table(
            "D",
            f"D. 100 rows per request, 1 connection, {duration_s:g} s each; the model's own predict of 100 rows: "
            f"{self.work.predict_hundred_ms:.3f} ms",
        )
        self.ratios("D", D_VS_MLFLOW)

    def ratios(self, scenario: str, vs_mlflow: float) -> None:
        mlflow = self.get("mlflow models serve", scenario)
        peers_c = [m.per_s for m in (self.get("bentoml", "C"), self.get("mlserver (v2)", "C")) if m is not None]
        for route in (r for r in self.routes if r.server == "shipyard"):
            m = self.get(route.label, scenario)
            if m is None:
                continue
            self.ratio(
                f"{scenario} {route.label} req/s vs mlflow", m.per_s, mlflow.per_s if mlflow else None, vs_mlflow
            )
            if scenario == "C":
                best = max(peers_c, default=None)
                self.ratio(f"C {route.label} req/s vs best of bentoml/mlserver", m.per_s, best, C_VS_BEST_PEER)
                self.verdict(f"C {route.label}: {m.failed} failed requests (target 0)", m.failed == 0)


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, set[str]]:
    """The options, defaults filled in, and the servers to run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="3 s per measurement, 1 s warm-up")
    parser.add_argument("--duration", type=float, help="seconds per measurement (default 10; --quick 3)")
    parser.add_argument("--warmup", type=float, help="seconds of untimed load before each (default 2; --quick 1)")
    parser.add_argument("--only", default=",".join(SERVERS), help=f"comma-separated subset of {','.join(SERVERS)}")
    parser.add_argument("--shipyard-args", default="", help="extra `shipyard serve` options, e.g. --no-prediction-log")
    parser.add_argument("--profile", action="store_true", help="then py-spy Shipyard during A and C (--parity only: P)")
    parser.add_argument(
        "--parity",
        choices=("on", "off", "only"),
        default="on",
        help="scenario P, v2 infer vs /invocations on one Shipyard server (default on; only: nothing else)",
    )
    parser.add_argument(
        "--rounds", type=int, help="P: rounds, each case once per round for duration/rounds s (default: 2 s each)"
    )
    parser.add_argument("--profile-lines", type=int, default=25, help="functions listed per profile")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results_serving.json", help="results file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (model, server logs)")
    args = parser.parse_args(argv)
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    if only - set(SERVERS) or "shipyard" not in only:
        parser.error(f"--only takes names among {', '.join(SERVERS)}, and needs shipyard")
    args.rounds = args.rounds if args.rounds is not None else max(1, round(args.duration / 2))
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.parity == "only":
        only = {"shipyard"}
    return args, only


def main(argv: list[str] | None = None) -> int:
    args, only = parse_args(argv)
    wrk_path = ensure_wrk()

    # Ctrl-C and SIGTERM both unwind through the `running` context managers, which stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background (SIG_IGN)
    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="shipyard-bench-serving-"))
    res = Results()
    try:
        work = make_workload(root)
        say(
            f"model: LogisticRegression, {len(COLUMNS)} float columns; own predict {work.predict_one_ms:.3f} ms "
            f"(1 row), {work.predict_hundred_ms:.3f} ms (100 rows); {os.cpu_count()} CPUs, load average "
            f"{os.getloadavg()[0]:.2f}; shipyard serve {args.shipyard_args or '(defaults)'}"
        )
        wrk = Wrk(wrk_path, root)
        scenarios = () if args.parity == "only" else ("A", "D", "C")
        for launch in launches(root, only, shlex.split(args.shipyard_args), scenarios):
            if isinstance(launch, tuple):
                server, reason = launch
                for route in ROUTES:
                    if route.server == server:
                        res.unavailable[route.label] = reason
                progress(f"{server}: unavailable: {reason}")
                continue
            run_launch(launch, root, work, wrk, args, res)
        printed = Report(res, work, [r for r in ROUTES if r.server in only])
        if args.parity != "only":
            printed.single_row(args.duration)
            printed.load(args.duration)
        verdicts = printed.verdicts
        if args.parity != "off":
            title = (
                f"P. v2 infer vs /invocations, same server: one row per request, {CLIENTS} connections, "
                f"{args.rounds} rotated rounds of {max(1, round(args.duration / args.rounds))} s per case"
            )
            verdicts += serving_v2.report(res.parity, serving_v2.cases("model"), say, title)
    finally:
        if args.keep:
            say(f"(kept {root})")
        else:
            shutil.rmtree(root, ignore_errors=True)
    elapsed = time.perf_counter() - started
    say()
    say(f"targets: {sum(v == 'met' for _, v in verdicts)} met, {sum(v == 'MISSED' for _, v in verdicts)} missed")
    say(f"load average at the end: {os.getloadavg()[0]:.2f} (other processes on the machine skew every figure)")
    say(f"bench took {elapsed:.0f} s ({args.duration:g} s per measurement, {args.warmup:g} s warm-up)")
    args.output.write_text(
        json.dumps(
            {
                "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "duration_s": args.duration,
                "predict_one_ms": work.predict_one_ms,
                "predict_hundred_ms": work.predict_hundred_ms,
                "startup_s": res.startup_s,
                "measured": {f"{k[0]} | {k[1]}": vars(v) for k, v in res.measured.items()},
                "unavailable": res.unavailable,
                "check_failed": res.check_failed,
                "parity": {label: tally.as_dict() for label, tally in res.parity.items()},
                "verdicts": dict(verdicts),
                "peers": {name: list(peers.requirements_for(name)) for name in ("bentoml", "mlserver")},
            },
            indent=2,
        )
    )
    return 1 if res.check_failed else 0


if __name__ == "__main__":
    sys.exit(main())
