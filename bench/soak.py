"""Soak test: 30 minutes of mixed load on PostgreSQL with 4 workers, one worker killed every 5 minutes.

    .venv/bin/python bench/soak.py                      # Shipyard, 30 minutes (make soak)
    .venv/bin/python bench/soak.py --quick              # 3 minutes, a worker killed every minute
    .venv/bin/python bench/soak.py --target mlflow      # the same load against MLflow's own server
    .venv/bin/python bench/soak.py --minutes 60 --kill-every 10 --writers 16

Not part of `make bench` or CI (it runs for half an hour). The server (`shipyard server --workers 4`, or
`mlflow server --workers 4`) runs on a fresh PostgreSQL database and a fresh artifact folder. Load, all through
MLflow's REST API so that both servers take the same requests:

    writers     each creates runs in one experiment, logs 3 params and 2 tags per run, then one batch of 10 metrics
                per step (200 steps a run), and ends the run; a failed request is retried with the same content
                until acknowledged
    searchers   filtered, ordered run search (`params.p0 = '…' and metrics.m0 > 0.5`, order by `metrics.m1 DESC`)
    ui          the web UI's experiment list, runs page and run page (MLflow: its single-page app's `/`)
    uploaders   256 KiB artifacts through the artifact proxy (`mlflow-artifacts`), with their SHA-256 kept

Every `--kill-every` minutes one worker (a process the supervisor spawned) gets SIGKILL. Every `--sample-s`
seconds the run records throughput by kind, errors, search latency, and the resident memory of every worker.

At the end it checks that everything acknowledged is stored exactly once: every run's params and tags, every
metric point (each (key, step) present once with its value, none missing, none doubled, read back through
`metrics/get-history`), every artifact byte for byte. Memory: a worker that lived through the measurement must not
grow by more than `--rss-growth-mb` between its first sample after the warm-up and its last. Exit status 1 when
either check fails. Results go to `bench/soak.json` (git-ignored).
"""

from __future__ import annotations

import os

os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import argparse
import contextlib
import hashlib
import json
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
from tests.support.pg import fresh_pg_database  # noqa: E402
from tests.support.servers import RunningServer, mlflow_server, shipyard_server  # noqa: E402

from bench.common import percentile  # noqa: E402
from bench.run import machine_info  # noqa: E402

STEPS_PER_RUN = 200
METRIC_KEYS = [f"m{i}" for i in range(10)]
ARTIFACT_BYTES = 256 * 1024
API = "/api/2.0/mlflow"


# ---------------------------------------------------------------------------------------------------- bookkeeping


@dataclass
class Ledger:
    """What the server acknowledged, and what happened on the way (shared by every load thread)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    params: dict[str, dict[str, str]] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    points: dict[str, dict[int, float]] = field(default_factory=dict)  # run -> step -> value (same for every key)
    finished: set[str] = field(default_factory=set)
    artifacts: dict[tuple[str, str], str] = field(default_factory=dict)  # (run, path) -> sha256
    ops: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    search_ms: list[float] = field(default_factory=list)

    def count(self, kind: str) -> None:
        with self.lock:
            self.ops[kind] += 1

    def error(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] += 1


def _error_kind(exc_or_status: BaseException | int) -> str:
    if isinstance(exc_or_status, int):
        return f"http {exc_or_status}"
    return type(exc_or_status).__name__


def _until_acknowledged(
    ledger: Ledger, stop: threading.Event, label: str, call: Callable[[], httpx.Response]
) -> httpx.Response | None:
    """Send `call` until the server answers 2xx (same content each time); None if the soak ends first.

    A 4xx other than 429 is a real error: recorded and not retried.
    """
    delay = 0.1
    while True:
        try:
            answer = call()
        except httpx.HTTPError as exc:
            ledger.error(f"{label}: {_error_kind(exc)}")
        else:
            if answer.is_success:
                return answer
            ledger.error(f"{label}: {_error_kind(answer.status_code)}")
            if 400 <= answer.status_code < 500 and answer.status_code != 429:
                return None
        if stop.is_set() and label != "write":
            return None
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


# ------------------------------------------------------------------------------------------------------- the load


def _writer(url: str, experiment: str, ledger: Ledger, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=60) as http:
        while not stop.is_set():
            created = _until_acknowledged(
                ledger, stop, "write", lambda: http.post(f"{API}/runs/create", json={"experiment_id": experiment})
            )
            if created is None:
                return
            run_id = created.json()["run"]["info"]["run_id"]
            params = {f"p{i}": rng.choice(["a", "b", "c"]) for i in range(3)}
            tags = {"team": rng.choice(["x", "y"]), "soak": "1"}
            body = {
                "run_id": run_id,
                "params": [{"key": k, "value": v} for k, v in params.items()],
                "tags": [{"key": k, "value": v} for k, v in tags.items()],
            }
            if _until_acknowledged(ledger, stop, "write", lambda b=body: http.post(f"{API}/runs/log-batch", json=b)):
                with ledger.lock:
                    ledger.params[run_id], ledger.tags[run_id], ledger.points[run_id] = params, tags, {}
            for step in range(STEPS_PER_RUN):
                if stop.is_set():
                    return
                value = round(rng.random(), 6)
                now = int(time.time() * 1000)
                metrics = [{"key": k, "value": value, "timestamp": now, "step": step} for k in METRIC_KEYS]
                batch = {"run_id": run_id, "metrics": metrics}
                if _until_acknowledged(
                    ledger, stop, "write", lambda b=batch: http.post(f"{API}/runs/log-batch", json=b)
                ):
                    with ledger.lock:
                        ledger.points[run_id][step] = value
                    ledger.count("metric batches")
            ended = {"run_id": run_id, "status": "FINISHED", "end_time": int(time.time() * 1000)}
            if _until_acknowledged(ledger, stop, "write", lambda b=ended: http.post(f"{API}/runs/update", json=b)):
                with ledger.lock:
                    ledger.finished.add(run_id)
                ledger.count("runs")


def _searcher(url: str, experiment: str, ledger: Ledger, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=120) as http:
        while not stop.is_set():
            body = {
                "experiment_ids": [experiment],
                "filter": f"params.p0 = '{rng.choice('abc')}' and metrics.m0 > 0.5",
                "order_by": ["metrics.m1 DESC"],
                "max_results": 100,
            }
            started = time.perf_counter()
            try:
                answer = http.post(f"{API}/runs/search", json=body)
            except httpx.HTTPError as exc:
                ledger.error(f"search: {_error_kind(exc)}")
                time.sleep(0.2)
                continue
            if answer.is_success:
                with ledger.lock:
                    ledger.search_ms.append((time.perf_counter() - started) * 1000)
                ledger.count("searches")
            else:
                ledger.error(f"search: {_error_kind(answer.status_code)}")


def _ui(url: str, experiment: str, target: str, ledger: Ledger, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=60) as http:
        while not stop.is_set():
            if target == "mlflow":
                paths = ["/"]
            else:
                with ledger.lock:
                    runs = list(ledger.finished)
                paths = ["/", f"/experiments/{experiment}"] + ([f"/runs/{rng.choice(runs)}"] if runs else [])
            for path in paths:
                try:
                    answer = http.get(path)
                except httpx.HTTPError as exc:
                    ledger.error(f"ui: {_error_kind(exc)}")
                    continue
                if answer.is_success:
                    ledger.count("ui pages")
                else:
                    ledger.error(f"ui: {_error_kind(answer.status_code)}")
            time.sleep(0.05)


def _uploader(url: str, experiment: str, ledger: Ledger, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=120) as http:
        created = _until_acknowledged(
            ledger, stop, "upload", lambda: http.post(f"{API}/runs/create", json={"experiment_id": experiment})
        )
        if created is None:
            return
        info = created.json()["run"]["info"]
        run_id, artifact_uri = info["run_id"], info["artifact_uri"]
        # mlflow-artifacts:/<experiment>/<run>/artifacts -> PUT /api/2.0/mlflow-artifacts/artifacts/<...>/<file>
        prefix = artifact_uri.split("mlflow-artifacts:", 1)[-1].lstrip("/")
        index = 0
        while not stop.is_set():
            data = rng.randbytes(ARTIFACT_BYTES)
            path = f"blob-{seed}-{index}.bin"
            target = f"/api/2.0/mlflow-artifacts/artifacts/{prefix}/{path}"
            if _until_acknowledged(ledger, stop, "upload", lambda t=target, d=data: http.put(t, content=d)):
                with ledger.lock:
                    ledger.artifacts[(run_id, f"{prefix}/{path}")] = hashlib.sha256(data).hexdigest()
                ledger.count("uploads")
            index += 1
            time.sleep(0.5)


# ---------------------------------------------------------------------------------------------------- the server


def _workers(root_pid: int) -> dict[int, int]:
    """Worker PID -> resident memory in bytes, for every process below `root_pid` that multiprocessing spawned."""
    found: dict[int, int] = {}
    pending = [root_pid]
    while pending:
        pid = pending.pop()
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                pending.extend(int(child) for child in (task / "children").read_text().split())
        if pid == root_pid:
            continue
        with contextlib.suppress(OSError, ValueError):
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                status = Path(f"/proc/{pid}/status").read_text()
                rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
                found[pid] = rss_kb * 1024
    return found


@contextlib.contextmanager
def _server(target: str, root: Path, store: str, workers: int) -> Iterator[RunningServer]:
    if target == "shipyard":
        with shipyard_server(root, workers=workers, store=store, console_script=True, timeout_s=180) as server:
            yield server
        return
    sa_url = store.replace("postgresql://", "postgresql+psycopg://", 1)
    with mlflow_server(root, workers=workers, extra_args=("--backend-store-uri", sa_url), timeout_s=300) as server:
        yield server


# ------------------------------------------------------------------------------------------------------ the check


def _check_exactly_once(url: str, ledger: Ledger) -> dict[str, Any]:
    """Read back everything acknowledged; count what is missing, doubled or different."""
    problems: Counter[str] = Counter()
    checked: Counter[str] = Counter()
    examples: list[str] = []

    def note(kind: str, detail: str) -> None:
        problems[kind] += 1
        if len(examples) < 20:
            examples.append(f"{kind}: {detail}")

    def check_run(run_id: str) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            run = http.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]
            data = run.get("data", {})
            params = Counter((p["key"], p["value"]) for p in data.get("params", []))
            for key, value in ledger.params[run_id].items():
                checked["params"] += 1
                if params[(key, value)] != 1:
                    note("param", f"{run_id} {key}={value} stored {params[(key, value)]} times")
            tags = {t["key"]: t["value"] for t in data.get("tags", [])}
            for key, value in ledger.tags[run_id].items():
                checked["tags"] += 1
                if tags.get(key) != value:
                    note("tag", f"{run_id} {key}: {tags.get(key)!r} != {value!r}")
            if run_id in ledger.finished:
                checked["run ends"] += 1
                if run["info"]["status"] != "FINISHED":
                    note("run end", f"{run_id} is {run['info']['status']}")
            expected = ledger.points[run_id]
            for key in METRIC_KEYS:
                history = http.get(
                    f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": key, "max_results": 100_000}
                ).json()
                steps = Counter(int(m["step"]) for m in history.get("metrics", []))
                values = {int(m["step"]): float(m["value"]) for m in history.get("metrics", [])}
                checked["metric points"] += len(expected)
                for step, value in expected.items():
                    if steps[step] != 1:
                        note("metric point", f"{run_id} {key} step {step} stored {steps[step]} times")
                    elif abs(values[step] - value) > 1e-9:
                        note("metric value", f"{run_id} {key} step {step}: {values[step]} != {value}")
                for step, times in steps.items():  # a point sent but never acknowledged may be stored, once
                    if times > 1 and step not in expected:
                        note("metric point", f"{run_id} {key} unacknowledged step {step} stored {times} times")

    def check_artifact(item: tuple[tuple[str, str], str]) -> None:
        (_run, path), sha = item
        checked["artifacts"] += 1
        with httpx.Client(base_url=url, timeout=120) as http:
            answer = http.get(f"/api/2.0/mlflow-artifacts/artifacts/{path}")
        if answer.status_code != 200 or hashlib.sha256(answer.content).hexdigest() != sha:
            note("artifact", f"{path}: status {answer.status_code}, {len(answer.content)} bytes")

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(check_run, list(ledger.params)))
        list(pool.map(check_artifact, list(ledger.artifacts.items())))
    return {"checked": dict(checked), "problems": dict(problems), "examples": examples}


# ------------------------------------------------------------------------------------------------------- the soak


@dataclass
class Observations:
    """What the sampler saw: one row per sample, the kills, and every worker's memory over time."""

    samples: list[dict[str, Any]] = field(default_factory=list)
    kills: list[dict[str, Any]] = field(default_factory=list)
    rss: dict[int, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))


def _start_load(
    url: str, experiment: str, args: argparse.Namespace, ledger: Ledger, stop: threading.Event
) -> list[threading.Thread]:
    plan: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
    plan += [(_writer, (url, experiment, ledger, stop, i)) for i in range(args.writers)]
    plan += [(_searcher, (url, experiment, ledger, stop, 100 + i)) for i in range(args.searchers)]
    plan += [(_ui, (url, experiment, args.target, ledger, stop, 200 + i)) for i in range(args.ui)]
    plan += [(_uploader, (url, experiment, ledger, stop, 300 + i)) for i in range(args.uploaders)]
    threads = [threading.Thread(target=fn, args=a, daemon=True) for fn, a in plan]
    for thread in threads:
        thread.start()
    return threads


def _sample_and_kill(supervisor: int, args: argparse.Namespace, ledger: Ledger, seen: Observations) -> None:
    """Sample every `--sample-s` seconds for `--minutes`, killing a worker every `--kill-every` minutes."""
    started = time.monotonic()
    duration = args.minutes * 60
    next_kill = started + args.kill_every * 60
    last_ops: Counter[str] = Counter()
    last_errors = last_searches = 0
    print(
        f"{'t (s)':>6} {'batches/s':>9} {'search/s':>8} {'ui/s':>6} {'upl/s':>6} {'errors':>6} "
        f"{'search p50':>10} {'workers':>7} {'max RSS MB':>10}",
        flush=True,
    )
    while (now := time.monotonic()) - started < duration:
        time.sleep(min(args.sample_s, max(0.0, started + duration - now)))
        now = time.monotonic()
        workers = _workers(supervisor)
        for pid, rss in workers.items():
            seen.rss[pid].append((now - started, rss))
        with ledger.lock:
            ops, errors = Counter(ledger.ops), sum(ledger.errors.values())
            window, last_searches = ledger.search_ms[last_searches:], len(ledger.search_ms)
        per_s = {k: round(v / args.sample_s, 2) for k, v in (ops - last_ops).items()}
        p50 = round(statistics.median(window), 1) if window else None
        seen.samples.append(
            {
                "t_s": round(now - started, 1),
                "per_s": per_s,
                "errors": errors - last_errors,
                "search_p50_ms": p50,
                "workers": len(workers),
                "rss_mb": {str(pid): round(rss / 2**20, 1) for pid, rss in workers.items()},
            }
        )
        last_ops, last_errors = ops, errors
        print(
            f"{now - started:>6.0f} {per_s.get('metric batches', 0):>9.1f} {per_s.get('searches', 0):>8.1f} "
            f"{per_s.get('ui pages', 0):>6.1f} {per_s.get('uploads', 0):>6.1f} {seen.samples[-1]['errors']:>6} "
            f"{f'{p50:.0f} ms' if p50 is not None else '-':>10} {len(workers):>7} "
            f"{max(workers.values(), default=0) / 2**20:>10.0f}",
            flush=True,
        )
        if now >= next_kill and now - started < duration - 30 and workers:
            victim = random.Random(len(seen.kills)).choice(sorted(workers))
            os.kill(victim, signal.SIGKILL)
            seen.kills.append({"t_s": round(now - started, 1), "pid": victim})
            print(f"       killed worker {victim}", flush=True)
            next_kill += args.kill_every * 60


def soak(args: argparse.Namespace) -> dict[str, Any]:
    """Run the load against a fresh server for `--minutes`, then check what it stored."""
    ledger, stop, seen = Ledger(), threading.Event(), Observations()
    with (
        tempfile.TemporaryDirectory(prefix="shipyard-soak-") as tmp,
        fresh_pg_database("shipyard_soak") as store,
        _server(args.target, Path(tmp), store, args.workers) as server,
    ):
        experiment = httpx.post(
            f"{server.url}{API}/experiments/create", json={"name": f"soak-{uuid.uuid4().hex[:8]}"}, timeout=60
        ).json()["experiment_id"]
        threads = _start_load(server.url, experiment, args, ledger, stop)
        _sample_and_kill(server.process.pid, args, ledger, seen)
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        print("checking that everything acknowledged is stored exactly once ...", flush=True)
        check = _check_exactly_once(server.url, ledger)
    memory = _memory_verdict(seen.rss, warm_s=min(120.0, args.minutes * 12), bound_mb=args.rss_growth_mb)
    return {
        "target": args.target,
        "minutes": args.minutes,
        "workers": args.workers,
        "load": {"writers": args.writers, "searchers": args.searchers, "ui": args.ui, "uploaders": args.uploaders},
        "machine": machine_info(),
        "totals": dict(ledger.ops),
        "errors": dict(ledger.errors),
        "search_ms": _percentiles(ledger.search_ms),
        "kills": seen.kills,
        "workers_started": len(seen.rss),
        "replacements": len(seen.rss) - args.workers,
        "samples": seen.samples,
        "memory": memory,
        "exactly_once": check,
    }


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {f"p{q}": round(percentile(values, q), 1) for q in (50, 95, 99)} | {"count": len(values)}


def _memory_verdict(history: dict[int, list[tuple[float, int]]], *, warm_s: float, bound_mb: float) -> dict[str, Any]:
    """Per worker that lived past the warm-up: RSS at its first sample after warm-up and at its last."""
    rows = []
    for pid, points in history.items():
        warm = [rss for t, rss in points if t >= warm_s]
        if len(warm) < 2:
            continue
        growth = (warm[-1] - warm[0]) / 2**20
        rows.append(
            {
                "pid": pid,
                "warm_mb": round(warm[0] / 2**20, 1),
                "last_mb": round(warm[-1] / 2**20, 1),
                "max_mb": round(max(warm) / 2**20, 1),
                "growth_mb": round(growth, 1),
            }
        )
    worst = max((row["growth_mb"] for row in rows), default=0.0)
    return {"bound_mb": bound_mb, "workers": rows, "worst_growth_mb": worst, "ok": worst <= bound_mb}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", choices=["shipyard", "mlflow"], default="shipyard")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--kill-every", type=float, default=5.0, help="minutes between worker kills")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--searchers", type=int, default=2)
    parser.add_argument("--ui", type=int, default=1)
    parser.add_argument("--uploaders", type=int, default=1)
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--rss-growth-mb", type=float, default=150.0, help="allowed growth of one worker's memory")
    parser.add_argument("--quick", action="store_true", help="3 minutes, a worker killed every minute")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "soak.json")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.kill_every, args.sample_s = 3.0, 1.0, 5.0
    print(
        f"soak: {args.target}, {args.minutes:g} min, {args.workers} workers on PostgreSQL, a worker killed every "
        f"{args.kill_every:g} min; load: {args.writers} writers, {args.searchers} searchers, {args.ui} UI, "
        f"{args.uploaders} uploaders",
        flush=True,
    )
    result = soak(args)
    args.output.write_text(json.dumps(result, indent=2))
    problems = result["exactly_once"]["problems"]
    print()
    print(f"totals: {result['totals']}")
    print(f"errors (all retried or counted): {result['errors'] or 'none'}")
    print(f"search latency (ms): {result['search_ms']}")
    print(
        f"worker kills: {len(result['kills'])}, workers started: {result['workers_started']} "
        f"({result['replacements']} replacements)"
    )
    print(f"exactly once: checked {result['exactly_once']['checked']}; problems: {problems or 'none'}")
    for example in result["exactly_once"]["examples"]:
        print(f"  {example}")
    memory = result["memory"]
    print(
        f"memory: worst growth of a worker after warm-up {memory['worst_growth_mb']} MB "
        f"(bound {memory['bound_mb']} MB): {'ok' if memory['ok'] else 'FAILED'}"
    )
    print(f"results: {args.output}")
    crash_loop = result["replacements"] > len(result["kills"])
    if crash_loop:
        print(f"FAILED: {result['replacements']} workers replaced for {len(result['kills'])} kills (a crash loop)")
    return 0 if not problems and memory["ok"] and not crash_loop else 1


if __name__ == "__main__":
    raise SystemExit(main())
