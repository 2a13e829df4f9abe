"""Run search at 100,000 runs on PostgreSQL that has never analysed its tables: Shipyard vs MLflow, one run.

    .venv/bin/python bench/search_scale.py              # 100,000 runs, 30 timed searches per target
    .venv/bin/python bench/search_scale.py --quick      # 10,000 runs, 10 searches: a smoke run
    .venv/bin/python bench/search_scale.py --skip-mlflow

Issue 13, item 3: on a PostgreSQL database whose tables had never been analysed, the filtered, ordered search took
230 s at 39,347 runs. The target: p50 under 300 ms at 100,000 runs, through the real mlflow client.

Set-up, for each server in a fresh database of its own on the PostgreSQL server at ``--pg`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``, or ``SHIPYARD_BENCH_PG``):

* the schema is created by the server's own migrations (Shipyard's end with ``ANALYZE``, which on the still empty
  tables records nothing; MLflow's analyse nothing);
* autovacuum is switched off on the tracking tables (``ALTER TABLE ... SET (autovacuum_enabled = false)``) before
  any row is loaded, so no statistics appear during the measurement; the report shows ``pg_stats`` holding no rows
  for them;
* the same runs are loaded in bulk into one experiment: each with 3 params (``lr`` among 4 values, ``model`` among
  3, ``depth``), 3 metrics (``acc`` uniform in [0, 1), ``loss``, ``f1``, each with its history) and 3 tags
  (``team``, ``stage``, ``mlflow.runName``). Shipyard's rows go in with ``COPY``; MLflow's through its
  SqlAlchemyStore's session and tables (its models' ``__table__``), in batches of 10,000.

Timed: ``MlflowClient.search_runs([exp], "params.lr = '0.01' and metrics.acc > 0.5", order_by=["metrics.acc
DESC"], max_results=100)`` against each server (one worker, ``MLFLOW_HTTP_REQUEST_MAX_RETRIES=0``), after one
untimed call; and the same search through Shipyard's store directly. The first page is checked against the top 100
computed locally. MLflow gets fewer repeats and a time budget: one search may take minutes there.
"""

from __future__ import annotations

import os

os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "600")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import argparse
import contextlib
import datetime as dt
import io
import json
import math
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(REPO_ROOT))

import psycopg  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from tests.support.servers import _launch, free_port  # noqa: E402

from bench.common import latency_summary, progress, quiet_stdout  # noqa: E402
from bench.run import machine_info  # noqa: E402
from shipyard.db import open_database  # noqa: E402
from shipyard.tracking._chunks import pack  # noqa: E402
from shipyard.tracking.entities import ViewType  # noqa: E402
from shipyard.tracking.store import TrackingStore  # noqa: E402

FULL = {"runs": 100_000, "repeats": 30, "mlflow_repeats": 10, "mlflow_budget_s": 900.0}
QUICK = {"runs": 10_000, "repeats": 10, "mlflow_repeats": 3, "mlflow_budget_s": 180.0}
FILTER = "params.lr = '0.01' and metrics.acc > 0.5"
ORDER_BY = ["metrics.acc DESC"]
MAX_RESULTS = 100
TARGET_P50_MS = 300.0
SEED = 20261228
T0_MS = 1_760_000_000_000
TABLES = {
    "shipyard": ("runs", "params", "latest_metrics", "metric_chunks", "tags", "experiments"),
    "mlflow": ("runs", "params", "latest_metrics", "metrics", "tags", "experiments"),
}
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


def say(message: str) -> None:
    print(message, flush=True)


def make_runs(n: int) -> list[dict[str, Any]]:
    """The same runs for both servers, from a fixed seed."""
    rng = random.Random(SEED)
    runs = []
    for i in range(n):
        acc = rng.random()
        runs.append(
            {
                "id": f"{rng.getrandbits(128):032x}",
                "name": f"run-{i:06d}",
                "start": T0_MS + i,
                "params": {"lr": ("0.01", "0.03", "0.1", "0.3")[i % 4], "model": ("rf", "xgb", "lr")[i % 3],
                           "depth": str(rng.randint(2, 12))},
                "metrics": {"acc": acc, "loss": 1.0 - acc + rng.uniform(-0.05, 0.05), "f1": acc * rng.uniform(0.8, 1)},
                "tags": {"team": rng.choice(("vision", "nlp", "tabular")), "stage": rng.choice(("dev", "prod"))},
            }
        )  # fmt: skip
    return runs


def expected_top(runs: list[dict[str, Any]]) -> list[float]:
    hits = [r["metrics"]["acc"] for r in runs if r["params"]["lr"] == "0.01" and r["metrics"]["acc"] > 0.5]
    return sorted(hits, reverse=True)[:MAX_RESULTS]


@contextlib.contextmanager
def fresh_database(admin_url: str, prefix: str, keep: bool) -> Iterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        if keep:
            say(f"kept database {name}")
        else:  # FORCE also ends any query a server left running
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _no_autovacuum(url: str, tables: tuple[str, ...]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for table in tables:
            conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")


def _copy(conn: psycopg.Connection, table: str, columns: str, rows: Iterator[tuple[Any, ...]]) -> None:
    with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def load_shipyard(url: str, runs: list[dict[str, Any]]) -> str:
    database = open_database(url)  # migrations, as `shipyard server` runs them
    try:
        exp_id = TrackingStore(database).create_experiment("scale", "/tmp/shipyard-bench-artifacts", None, {}, T0_MS)
    finally:
        database.dispose()
    _no_autovacuum(url, TABLES["shipyard"])
    with psycopg.connect(url) as conn:
        columns = "run_uuid, experiment_id, name, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri"
        exp = int(exp_id)
        rows = ((r["id"], exp, r["name"], "bench", "FINISHED", r["start"], r["start"] + 1, "active", "") for r in runs)
        _copy(conn, "runs", columns, rows)
        _copy(conn, "params", "run_uuid, key, value", ((r["id"], k, v) for r in runs for k, v in r["params"].items()))
        tags = ((r["id"], k, v) for r in runs for k, v in [*r["tags"].items(), ("mlflow.runName", r["name"])])
        _copy(conn, "tags", "run_uuid, key, value", tags)
        latest = ((r["id"], k, 0, r["start"], v, False) for r in runs for k, v in r["metrics"].items())
        _copy(conn, "latest_metrics", "run_uuid, key, step, timestamp, value, is_nan", latest)
        chunks = (
            (r["id"], k, c.digest, c.n_points, c.min_timestamp, c.max_timestamp, c.steps, c.timestamps, c.vals)
            for r in runs
            for k, v in r["metrics"].items()
            for c in [pack([0], [r["start"]], [v])]
        )
        columns = "run_uuid, key, digest, n_points, min_timestamp, max_timestamp, steps, timestamps, vals"
        _copy(conn, "metric_chunks", columns, chunks)
        conn.commit()
    return exp_id


def load_mlflow(url: str, runs: list[dict[str, Any]], artifacts: Path) -> str:
    from mlflow.store.tracking.dbmodels import models
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from sqlalchemy import insert

    store_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    with quiet_stdout():
        store = SqlAlchemyStore(store_url, str(artifacts))  # runs MLflow's migrations
    exp_id = store.create_experiment("scale")
    _no_autovacuum(url, TABLES["mlflow"])
    batches: dict[Any, list[dict[str, Any]]] = {t: [] for t in ("runs", "params", "tags", "metrics", "latest")}

    def flush(force: bool = False) -> None:
        if not force and len(batches["runs"]) < 10_000:
            return
        with store.ManagedSessionMaker() as session:
            for key, model in (("runs", models.SqlRun), ("params", models.SqlParam), ("tags", models.SqlTag),
                               ("metrics", models.SqlMetric), ("latest", models.SqlLatestMetric)):  # fmt: skip
                if batches[key]:
                    session.execute(insert(model.__table__), batches[key])
                    batches[key].clear()

    for r in runs:
        batches["runs"].append(
            {
                "run_uuid": r["id"],
                "name": r["name"],
                "source_type": "UNKNOWN",
                "source_name": "",
                "entry_point_name": "",
                "user_id": "bench",
                "status": "FINISHED",
                "start_time": r["start"],
                "end_time": r["start"] + 1,
                "source_version": "",
                "lifecycle_stage": "active",
                "artifact_uri": f"{artifacts}/{r['id']}",
                "experiment_id": int(exp_id),
                "deleted_time": None,
            }
        )
        batches["params"] += [{"run_uuid": r["id"], "key": k, "value": v} for k, v in r["params"].items()]
        tags = [*r["tags"].items(), ("mlflow.runName", r["name"])]
        batches["tags"] += [{"run_uuid": r["id"], "key": k, "value": v} for k, v in tags]
        for key in ("metrics", "latest"):
            batches[key] += [
                {"run_uuid": r["id"], "key": k, "value": v, "timestamp": r["start"], "step": 0, "is_nan": False}
                for k, v in r["metrics"].items()
            ]
        flush()
    flush(force=True)
    store.engine.dispose()
    return exp_id


def statistics(url: str, tables: tuple[str, ...]) -> dict[str, Any]:
    """Row counts, and what the planner knows of each table: pg_stats rows (none: never analysed)."""
    out: dict[str, Any] = {}
    with psycopg.connect(url) as conn:
        for table in tables:
            rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # our own table names
            stats = conn.execute("SELECT count(*) FROM pg_stats WHERE tablename = %s", (table,)).fetchone()[0]
            autovacuum = conn.execute(
                "SELECT coalesce(array_to_string(reloptions, ','), '') FROM pg_class WHERE relname = %s", (table,)
            ).fetchone()[0]
            out[table] = {"rows": rows, "pg_stats_rows": stats, "options": autovacuum}
    return out


def check_page(page: list[Any], want: list[float]) -> list[str]:
    got = [run.data.metrics.get("acc") for run in page]
    problems = []
    if len(got) != len(want) or not all(
        g is not None and math.isclose(g, w, rel_tol=1e-12) for g, w in zip(got, want, strict=False)
    ):
        problems.append(f"first page differs from the expected top {len(want)} by acc")
    if any(run.data.params.get("lr") != "0.01" for run in page):
        problems.append("a returned run has lr != 0.01")
    return problems


def time_client(url: str, exp_id: str, repeats: int, budget_s: float, want: list[float]) -> dict[str, Any]:
    client = MlflowClient(tracking_uri=url)

    def search() -> list[Any]:
        return list(client.search_runs([exp_id], FILTER, order_by=ORDER_BY, max_results=MAX_RESULTS))

    load = os.getloadavg()[0]
    started = time.perf_counter()
    try:
        first = search()
    except Exception as exc:  # a timeout on MLflow's side is a result, not a crash of the benchmark
        return {"error": f"{type(exc).__name__}: {str(exc)[:300]}", "first_call_s": time.perf_counter() - started}
    first_s = time.perf_counter() - started
    samples = []
    deadline = time.monotonic() + budget_s
    for _ in range(repeats):
        if samples and time.monotonic() > deadline:
            break
        t = time.perf_counter()
        search()
        samples.append(time.perf_counter() - t)
    return {
        **latency_summary(samples),
        "samples": len(samples),
        "first_call_ms": first_s * 1e3,
        "checks": check_page(first, want),
        "load_average": [load, os.getloadavg()[0]],
    }


def time_store(url: str, exp_id: str, repeats: int) -> dict[str, Any]:
    database = open_database(url, migrate=False)
    store = TrackingStore(database)
    load = os.getloadavg()[0]
    try:
        store.search_runs([exp_id], FILTER, ViewType.ACTIVE_ONLY, MAX_RESULTS, ORDER_BY, None)
        samples = []
        for _ in range(repeats):
            t = time.perf_counter()
            store.search_runs([exp_id], FILTER, ViewType.ACTIVE_ONLY, MAX_RESULTS, ORDER_BY, None)
            samples.append(time.perf_counter() - t)
    finally:
        database.dispose()
    return {**latency_summary(samples), "samples": len(samples), "load_average": [load, os.getloadavg()[0]]}


def run_shipyard(admin: str, runs: list[dict[str, Any]], sizes: dict[str, Any], work: Path, keep: bool) -> dict:
    want = expected_top(runs)
    with fresh_database(admin, "shipyard_scale", keep) as url:
        t = time.perf_counter()
        exp_id = load_shipyard(url, runs)
        result: dict[str, Any] = {"load_s": time.perf_counter() - t, "tables": statistics(url, TABLES["shipyard"])}
        progress(f"shipyard: loaded {len(runs)} runs in {result['load_s']:.0f} s; timing the store directly")
        result["store"] = time_store(url, exp_id, sizes["repeats"])
        port = free_port()
        cmd = [sys.executable, "-m", "shipyard", "server", "--port", str(port), "--store", url]
        cmd += ["--artifacts", str(work / "shipyard-artifacts")]
        (work / "shipyard").mkdir(parents=True, exist_ok=True)
        with _launch(cmd, f"http://127.0.0.1:{port}", work / "shipyard", 120.0, None) as server:
            progress("shipyard: timing the mlflow client against `shipyard server`")
            result["server"] = time_client(server.url, exp_id, sizes["repeats"], math.inf, want)
        result["tables_after"] = statistics(url, TABLES["shipyard"])
    return result


def run_mlflow(admin: str, runs: list[dict[str, Any]], sizes: dict[str, Any], work: Path, keep: bool) -> dict:
    want = expected_top(runs)
    with fresh_database(admin, "mlflow_scale", keep) as url:
        t = time.perf_counter()
        exp_id = load_mlflow(url, runs, work / "mlflow-artifacts")
        result: dict[str, Any] = {"load_s": time.perf_counter() - t, "tables": statistics(url, TABLES["mlflow"])}
        progress(f"mlflow: loaded {len(runs)} runs in {result['load_s']:.0f} s; timing `mlflow server`")
        port = free_port()
        store_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        cmd = [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--backend-store-uri", store_url, "--artifacts-destination", str(work / "mlflow-artifacts")]
        cmd += ["--serve-artifacts", "--workers", "1"]
        (work / "mlflow").mkdir(parents=True, exist_ok=True)
        with _launch(cmd, f"http://127.0.0.1:{port}", work / "mlflow", 180.0, None) as server:
            result["server"] = time_client(server.url, exp_id, sizes["mlflow_repeats"], sizes["mlflow_budget_s"], want)
        result["tables_after"] = statistics(url, TABLES["mlflow"])
    return result


def report(results: dict[str, Any]) -> None:
    shipyard, mlflow = results.get("shipyard", {}), results.get("mlflow", {})
    say("")
    say(f"search_runs at {results['sizes']['runs']:,} runs on PostgreSQL {results['postgresql']}, never analysed")
    say(f"  filter {FILTER!r}, order_by {ORDER_BY}, max_results {MAX_RESULTS}")
    for name, side in (("shipyard", shipyard), ("mlflow", mlflow)):
        for table, info in side.get("tables", {}).items():
            counts = f"{info['rows']:>9,} rows  pg_stats rows {info['pg_stats_rows']}"
            say(f"  {name:8s} {table:15s} {counts}  {info['options']}")
    rows = [("shipyard store (no HTTP)", shipyard.get("store", {})), ("shipyard server + mlflow client",
            shipyard.get("server", {})), ("mlflow server + mlflow client", mlflow.get("server", {}))]  # fmt: skip
    say("")
    say(f"  {'target':34s} {'p50 ms':>10s} {'p95 ms':>10s} {'first ms':>10s} {'n':>4s}  load avg")
    for label, r in rows:
        if not r:
            continue
        if "error" in r:
            say(f"  {label:34s} ERROR after {r['first_call_s']:.0f} s: {r['error']}")
            continue
        load = "/".join(f"{x:.1f}" for x in r.get("load_average", []))
        first = f"{r['first_call_ms']:10.1f}" if "first_call_ms" in r else f"{'':10s}"
        say(f"  {label:34s} {r['p50_ms']:10.1f} {r['p95_ms']:10.1f} {first} {r['samples']:4d}  {load}")
    server = shipyard.get("server", {})
    if "p50_ms" in server:
        verdict = "met" if server["p50_ms"] < TARGET_P50_MS else "MISSED"
        say(f"  target: shipyard p50 < {TARGET_P50_MS:.0f} ms through the mlflow client: {verdict}")
        theirs = mlflow.get("server", {})
        if "p50_ms" in theirs:
            say(f"  ratio: mlflow p50 / shipyard p50 = {theirs['p50_ms'] / server['p50_ms']:.1f}x")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="10,000 runs and fewer searches: a smoke run")
    p.add_argument("--skip-mlflow", action="store_true", help="measure Shipyard only")
    p.add_argument("--pg", default=os.environ.get("SHIPYARD_BENCH_PG", PG_DEFAULT), help="PostgreSQL admin URL")
    p.add_argument("--output", type=Path, default=BENCH_DIR / "results_search_scale.json", help="JSON results")
    p.add_argument("--keep", action="store_true", help="keep the databases and the servers' folders")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = dict(QUICK if args.quick else FULL)
    machine = machine_info()
    with psycopg.connect(args.pg) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    say(f"search at scale on PostgreSQL, {'QUICK MODE' if args.quick else 'full sizes'}: {sizes}")
    say(
        f"machine: nproc={machine['nproc']} ({machine['cpu_model'] or 'unknown CPU'}), python {machine['python']}, "
        f"mlflow {machine['mlflow']}, shipyard {machine['shipyard']}, load average {os.getloadavg()[0]:.1f}"
    )
    results: dict[str, Any] = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "machine": machine,
        "postgresql": version,
        "sizes": sizes,
        "load_average_start": os.getloadavg()[0],
    }
    runs = make_runs(sizes["runs"])
    work = Path(tempfile.mkdtemp(prefix="shipyard-search-scale-"))
    try:
        results["shipyard"] = run_shipyard(args.pg, runs, sizes, work, args.keep)
        if not args.skip_mlflow:
            results["mlflow"] = run_mlflow(args.pg, runs, sizes, work, args.keep)
    finally:
        results["load_average_end"] = os.getloadavg()[0]
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2) + "\n")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report(results)
    say(
        f"  load average {results['load_average_start']:.1f} at the start, {results['load_average_end']:.1f} at the end"
    )
    say(f"  results written to {args.output}")
    shipyard_server = results["shipyard"].get("server", {})
    return 1 if "error" in shipyard_server or shipyard_server.get("checks") else 0


if __name__ == "__main__":
    with contextlib.redirect_stderr(io.TextIOWrapper(sys.stderr.buffer, line_buffering=True)):
        sys.exit(main())
