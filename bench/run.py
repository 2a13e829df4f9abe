"""Run Shipyard-vs-MLflow benchmarks: same workload, same `mlflow` client, both servers, one run.

    .venv/bin/python bench/run.py                 # full sizes, both servers
    .venv/bin/python bench/run.py --quick         # smoke run (~2 minutes, mostly MLflow's side)
    .venv/bin/python bench/run.py --only search_runs --target shipyard

See bench/README.md for what each benchmark does and how to read the ratios.
"""

from __future__ import annotations

import os

# Client-side settings must be in place before mlflow is imported. No retries: a failing
# or slow server must show up as such, not be hidden by back-off. No telemetry: keep the
# client (and the servers, which inherit this environment) free of background traffic.
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import ModuleType

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
# Import `bench.*` and `tests.support.*` from the repo root, not from bench/ itself.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(REPO_ROOT))

import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from tests.support.servers import mlflow_server, shipyard_server  # noqa: E402

from bench import log_batch, log_metric, metric_history, model_registry, run_creation, search_runs  # noqa: E402
from bench.common import Figure, quiet_stdout  # noqa: E402

# Display order (the order of the brief) ...
BENCHMARKS: list[ModuleType] = [log_batch, search_runs, metric_history, log_metric, run_creation, model_registry]
# ... and execution order: the 10,000-run population goes last so the other benchmarks
# run against a small database on both servers.
EXECUTION_ORDER = [log_batch, metric_history, log_metric, run_creation, model_registry, search_runs]
BY_NAME = {m.NAME: m for m in BENCHMARKS}
TARGETS = {"shipyard": ("Shipyard", shipyard_server), "mlflow": ("MLflow", mlflow_server)}
TARGET_ORDER = ["mlflow", "shipyard"]  # MLflow first: it is the reference


def say(msg: str = "") -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- machine


def machine_info() -> dict:
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 0
    try:
        shipyard_version = importlib.metadata.version("shipyard")
    except importlib.metadata.PackageNotFoundError:
        shipyard_version = None
    mem_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kb = int(Path("/proc/meminfo").read_text().split("MemTotal:", 1)[1].split()[0])
        mem_gb = round(mem_kb / 1024 / 1024, 1)
    return {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gb": mem_gb,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "mlflow": mlflow.__version__,
        "shipyard": shipyard_version,
    }


# --------------------------------------------------------------------------- running


def warm_up(client: MlflowClient) -> None:
    """Touch every endpoint the benchmarks use once, so no benchmark pays first-call costs."""
    exp_id = client.create_experiment("bench-warmup")
    run_id = client.create_run(exp_id).info.run_id
    ts = int(time.time() * 1000)
    client.log_metric(run_id, "w", 1.0, step=0)
    client.log_batch(
        run_id,
        metrics=[Metric("w", float(i), ts, i) for i in range(1, 100)],
        params=[Param("p", "1")],
        tags=[RunTag("t", "1")],
    )
    client.get_metric_history(run_id, "w")
    client.get_run(run_id)
    client.search_runs(
        [exp_id], filter_string="metrics.w > 0 and params.p = '1'", order_by=["metrics.w DESC"], max_results=10
    )
    with quiet_stdout():
        client.set_terminated(run_id)


def run_target(target: str, modules: list[ModuleType], sizes: dict[str, dict], workdir: Path, workers: int) -> dict:
    """Start one server, run the selected benchmarks against it, stop it. Never raises."""
    label, server_cm = TARGETS[target]
    out: dict = {"benchmarks": {}}
    root = workdir / target
    say(f"\n=== {label}: starting server (workers={workers}) ===")
    t0 = time.perf_counter()
    try:
        with server_cm(root, workers=workers) as server:
            out["url"] = server.url
            out["startup_s"] = time.perf_counter() - t0
            say(f"{label} up at {server.url} in {out['startup_s']:.1f}s; warming up")
            client = MlflowClient(tracking_uri=server.url)
            warm_up(client)
            for mod in [m for m in EXECUTION_ORDER if m in modules]:
                say(f"--- {label}: {mod.NAME} {sizes[mod.NAME]}")
                b0 = time.perf_counter()
                try:
                    res = mod.run(client, dict(sizes[mod.NAME]))
                    res["wall_s"] = time.perf_counter() - b0
                    for check in res.get("checks", []):
                        say(f"    CHECK FAILED: {check}")
                    say(
                        f"    done in {res['wall_s']:.1f}s: "
                        + ", ".join(f"{k}={_fmt(res[k], f)}" for k, f in mod.FIGURES.items() if k in res)
                    )
                except Exception as exc:  # one failing benchmark must not stop the others
                    res = {"error": f"{type(exc).__name__}: {exc}", "wall_s": time.perf_counter() - b0}
                    say(f"    ERROR: {res['error']}")
                    traceback.print_exc(file=sys.stderr)
                    _print_log_tail(server.log_path)
                out["benchmarks"][mod.NAME] = res
    except Exception as exc:  # server did not start (e.g. Shipyard not written yet) or did not stop
        out["error"] = f"{type(exc).__name__}: {exc}"
        say(f"    {label} ERROR: {out['error'][:2000]}")
    out["wall_s"] = time.perf_counter() - t0
    return out


def _print_log_tail(path: Path, lines: int = 15) -> None:
    with contextlib.suppress(OSError):
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        print(f"    last lines of {path}:", *(f"      | {t}" for t in tail), sep="\n", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- reporting


def _fmt(value: float | None, fig: Figure) -> str:
    if value is None:
        return "-"
    return f"{value:,.{fig.digits}f} {fig.unit}"


def ratio(fig: Figure, shipyard: float | None, mlflow_: float | None) -> float | None:
    """Shipyard speed / MLflow speed (>1 means Shipyard is faster), whatever the unit."""
    if shipyard is None or mlflow_ is None or shipyard <= 0 or mlflow_ <= 0:
        return None
    return shipyard / mlflow_ if fig.higher_is_better else mlflow_ / shipyard


def build_report(modules: list[ModuleType], sizes: dict, per_target: dict[str, dict]) -> dict:
    """Per benchmark: both targets' figures, the ratios, and the verdict on the headline ratio."""
    report = {}
    for mod in modules:
        results = {}
        for target, data in per_target.items():
            if "benchmarks" in data and mod.NAME in data["benchmarks"]:
                results[target] = data["benchmarks"][mod.NAME]
            elif "error" in data:
                results[target] = {"error": data["error"]}
        ratios = {}
        for key, fig in mod.FIGURES.items():
            r = ratio(fig, results.get("shipyard", {}).get(key), results.get("mlflow", {}).get(key))
            if r is not None:
                ratios[key] = r
        head = ratios.get(mod.HEADLINE)
        failed_checks = any(results.get(t, {}).get("checks") for t in results)
        report[mod.NAME] = {
            "title": mod.TITLE,
            "sizes": sizes[mod.NAME],
            "headline": mod.HEADLINE,
            "target_ratio": mod.TARGET_RATIO,
            "results": results,
            "ratios": ratios,
            "meets_target": None if head is None else bool(head >= mod.TARGET_RATIO and not failed_checks),
        }
    return report


HEADER = ["#", "Benchmark", "Figure", "MLflow", "Shipyard", "Ratio", "Target", "Verdict"]


def _cell(r: dict | None, key: str, fig: Figure, first_row: bool) -> str:
    if r is None:
        return "not run"
    if "error" in r:
        return "ERROR" if first_row else ""
    return _fmt(r.get(key), fig) + (" *" if r.get("from_baseline") else "")


def _verdict(entry: dict, quick: bool) -> str:
    if any(r.get("checks") for r in entry["results"].values()):
        return "CHECK FAILED"
    verdict = {True: "PASS", False: "MISS", None: "-"}[entry["meets_target"]]
    return f"{verdict.lower()} (quick)" if quick and entry["meets_target"] is not None else verdict


def table_rows(report: dict, quick: bool) -> tuple[list[list[str]], list[int], list[str]]:
    """Rows of the summary table, the indexes of rows that end a benchmark, and footnotes."""
    rows: list[list[str]] = []
    section_ends: list[int] = []
    errors: dict[tuple[str, str], list[str]] = {}  # (target, message) -> benchmarks, so a dead server is one note
    notes: list[str] = []
    for i, mod in enumerate([m for m in BENCHMARKS if m.NAME in report], 1):
        entry = report[mod.NAME]
        res = entry["results"]
        for j, (key, fig) in enumerate(mod.FIGURES.items()):
            rt = entry["ratios"].get(key)
            headline = key == mod.HEADLINE
            rows.append(
                [
                    str(i) if j == 0 else "",
                    mod.TITLE if j == 0 else "",
                    fig.label,
                    _cell(res.get("mlflow"), key, fig, j == 0),
                    _cell(res.get("shipyard"), key, fig, j == 0),
                    "-" if rt is None else f"{rt:,.2f}x",
                    f">= {mod.TARGET_RATIO:g}x" if headline else "",
                    _verdict(entry, quick) if headline else "",
                ]
            )
        section_ends.append(len(rows) - 1)
        for target, r in res.items():
            if "error" in r:
                lines = [ln for ln in r["error"].splitlines() if ln.strip()] or [""]
                msg = lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1].strip()}"
                errors.setdefault((target, msg[:400]), []).append(mod.NAME)
            notes.extend(f"{mod.NAME} on {target}: check failed: {c}" for c in r.get("checks", []))
    notes[:0] = [f"{', '.join(names)} on {target}: {msg}" for (target, msg), names in errors.items()]
    return rows, section_ends, notes


def client_cpu_line(report: dict) -> str:
    """The mlflow client's own CPU per timed call on each side: a floor no server can go below."""
    parts = []
    for mod in [m for m in BENCHMARKS if m.NAME in report]:
        key = getattr(mod, "CLIENT_CPU_KEY", "client_cpu_ms")
        res = report[mod.NAME]["results"]
        vals = [f"{TARGETS[t][0]} {res[t][key]:.1f}" for t in TARGET_ORDER if key in res.get(t, {})]
        if vals:
            parts.append(f"{mod.NAME} {' / '.join(vals)}")
    return ("client CPU per call, ms (mlflow client's own work, in the timings): " + "; ".join(parts)) if parts else ""


def print_table(report: dict, quick: bool, baseline_note: str | None) -> None:
    rows, section_ends, notes = table_rows(report, quick)
    title = ("QUICK MODE (smaller sizes; smoke run, not the real figures) -- " if quick else "") + (
        "Ratio = Shipyard speed / MLflow speed (>1: Shipyard faster)"
    )
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max([len(h)] + [len(r[c]) for r in rows]) for c, h in enumerate(HEADER)]
        say("\n" + title)
        right = {HEADER.index(h) for h in ("MLflow", "Shipyard", "Ratio")}

        def line(cells: list[str]) -> str:
            return "  ".join(
                c.rjust(w) if n in right else c.ljust(w) for n, (c, w) in enumerate(zip(cells, widths, strict=True))
            )

        say(line(HEADER))
        say(line(["-" * w for w in widths]))
        for r in rows:
            say(line(r))
    else:
        table = Table(title=title, title_justify="left")
        for h in HEADER:
            table.add_column(h, justify="right" if h in ("MLflow", "Shipyard", "Ratio") else "left")
        for n, r in enumerate(rows):
            table.add_row(*r, end_section=n in section_ends)
        Console(width=max(150, shutil.get_terminal_size().columns)).print(table)
    if baseline_note:
        say(f"* {baseline_note}")
    cpu = client_cpu_line(report)
    if cpu:
        say(cpu)
    for n in notes:
        say(f"  note: {n}")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--quick", action="store_true", help="smaller sizes: a smoke run of about 2 minutes, mostly MLflow's side"
    )
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only these benchmarks (repeat or comma-separate): {', '.join(BY_NAME)}",
    )
    p.add_argument("--target", choices=["both", "shipyard", "mlflow"], default="both")
    p.add_argument("--workers", type=int, default=1, help="server worker processes, same on both sides (default 1)")
    p.add_argument("--output", type=Path, default=BENCH_DIR / "results.json", help="JSON results file")
    p.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="results.json of an earlier run: figures for a target not run now are taken from it "
        "(same mode and sizes only), e.g. MLflow's side of a full run",
    )
    p.add_argument("--keep", action="store_true", help="keep the servers' data folders (and logs) afterwards")
    args = p.parse_args(argv)
    names = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        p.error(f"unknown benchmark(s) {unknown}; choose from {list(BY_NAME)}")
    args.only = names
    return args


def load_baseline(
    path: Path, quick: bool, modules: list[ModuleType], sizes: dict, missing_targets: list[str]
) -> tuple[dict[str, dict], str | None]:
    """Per missing target: {"benchmarks": {...}} taken from an earlier results file."""
    data = json.loads(path.read_text())
    if data.get("quick") != quick:
        say(f"baseline {path} is a {'quick' if data.get('quick') else 'full'} run; ignoring it")
        return {}, None
    found: dict[str, dict] = {}
    for target in missing_targets:
        for mod in modules:
            entry = data.get("benchmarks", {}).get(mod.NAME)
            res = (entry or {}).get("results", {}).get(target)
            if not res or "error" in res:
                continue
            if entry.get("sizes") != sizes[mod.NAME]:
                say(f"baseline {mod.NAME} was run with sizes {entry.get('sizes')}, not {sizes[mod.NAME]}; ignoring it")
                continue
            found.setdefault(target, {"benchmarks": {}, "from_baseline": str(path)})["benchmarks"][mod.NAME] = {
                **res,
                "from_baseline": str(path),
            }
    if not found:
        return {}, None
    names = ", ".join(TARGETS[t][0] for t in found)
    return found, f"{names} figures taken from {path} (generated {data.get('generated_at', '?')}), not this run."


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    modules = [m for m in BENCHMARKS if not args.only or m.NAME in args.only]
    sizes = {m.NAME: dict(m.QUICK if args.quick else m.FULL) for m in modules}
    targets = [t for t in TARGET_ORDER if args.target in ("both", t)]
    machine = machine_info()

    say(f"Shipyard vs MLflow benchmarks -- {'QUICK MODE (smoke run, smaller sizes)' if args.quick else 'full sizes'}")
    say(
        f"machine: nproc={machine['nproc']} ({machine['cpu_model'] or 'unknown CPU'}, {machine['memory_gb']} GB), "
        f"python {machine['python']}, mlflow {machine['mlflow']}, shipyard {machine['shipyard'] or '(not installed)'}, "
        f"{machine['platform']}"
    )
    say(
        f"targets: {', '.join(TARGETS[t][0] for t in targets)}; benchmarks: {', '.join(m.NAME for m in modules)}; "
        f"server workers: {args.workers}"
    )

    results: dict = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "mode": "quick" if args.quick else "full",
        "machine": machine,
        "workers": args.workers,
        "targets_run": targets,
        "client_env": {k: os.environ[k] for k in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_DISABLE_TELEMETRY")},
    }
    per_target: dict[str, dict] = {}
    baseline_note = None
    if args.baseline and len(targets) < 2:
        missing = [t for t in TARGET_ORDER if t not in targets]
        extra, baseline_note = load_baseline(args.baseline, args.quick, modules, sizes, missing)
        per_target.update(extra)

    def write() -> None:
        results["targets"] = {t: {k: v for k, v in d.items() if k != "benchmarks"} for t, d in per_target.items()}
        results["benchmarks"] = build_report(modules, sizes, per_target)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")

    workdir = Path(tempfile.mkdtemp(prefix="shipyard-bench-"))
    t_all = time.perf_counter()
    try:
        for target in targets:
            per_target[target] = run_target(target, modules, sizes, workdir, args.workers)
            write()  # after each target, so a long run leaves partial results behind
    finally:
        results["total_wall_s"] = time.perf_counter() - t_all
        write()
        if args.keep:
            say(f"server data and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print_table(results["benchmarks"], args.quick, baseline_note)
    say(f"total wall time {results['total_wall_s']:.1f}s; results written to {args.output}")
    broken = any("error" in r or r.get("checks") for e in results["benchmarks"].values() for r in e["results"].values())
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
