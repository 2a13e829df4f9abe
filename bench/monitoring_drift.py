"""The default drift report on 1,000,000 rows x 28 columns: Shipyard's ``data_drift_files`` vs Evidently's preset.

    .venv/bin/python bench/monitoring_drift.py                  # 1,000,000 rows (~5 minutes, most of it Evidently)
    .venv/bin/python bench/monitoring_drift.py --quick          # 100,000 rows
    .venv/bin/python bench/monitoring_drift.py --skip-evidently --profile

A reference and a current Parquet file of ``--rows`` rows each (21 numerical and 7 categorical columns: normal,
shifted, heavy-tailed, integer, binary and few-valued floats, categoricals with 3 to 500 levels, missing values,
some columns drifted) are written once from a fixed seed. Then, each in a fresh process that reads both files
itself:

* Shipyard: ``shipyard.monitoring.drift.data_drift_files(reference_path, current_path)`` (default preset, default
  workers), what ``shipyard drift`` runs: it reads the two files a column pair at a time, so its "read" time is
  part of its report time and "data held" is the bare interpreter;
* Evidently 0.7.23: ``Report([DataDriftPreset()]).run(current, reference)``, in its own virtualenv
  (``tests/support/evidently_venv.py``: Evidently cannot import with pandas 3).

Each process reports its import, read and report times, its CPU time (``getrusage``, itself plus waited-for
children), its kernel peak RSS and its RSS once both files are read; the parent also samples the summed RSS of
the process tree. Targets (issue 5): at least 20x faster than Evidently on CPU and on wall time, peak memory under
a quarter of Evidently's (verdicts on the whole process, with the report alone shown under them), and the same
drift decision on every column. Evidently's decision per column is its documented rule for the method applied to
the score and threshold it reports (its own ``DriftedColumnsCount`` is printed next to it as a cross-check).
``--profile`` runs Shipyard's side once more under cProfile, one profiler per thread-pool task, and prints the top.
Results: ``bench/results_monitoring.json`` (key ``drift``). Exit status 1 when Shipyard fails or the decisions
differ; a missed target is printed, not an error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from bench.artifact_memory import PeakRss  # noqa: E402

FULL_ROWS = 1_000_000
QUICK_ROWS = 100_000
SPEEDUP_TARGET = 20.0  # Evidently / Shipyard, on CPU and on wall time
MEMORY_TARGET = 0.25  # Shipyard / Evidently peak RSS
RESULTS = BENCH_DIR / "results_monitoring.json"
SEED = 20261206

# What a measured process prints as its last stdout line (one JSON object), after the work itself.
_REPORT_TAIL = """
import json, resource, sys, time
def _report(out, timings, columns, extra=None):
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as f:
        json.dump({
            **timings,
            "cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
            "children_cpu_s": kids.ru_utime + kids.ru_stime,
            "maxrss_mib": me.ru_maxrss / 1024,
            "children_maxrss_mib": kids.ru_maxrss / 1024,
            "columns": columns,
            **(extra or {}),
        }, f)
"""

# Shipyard's side: a fresh process runs the file-based report, as ``shipyard drift`` does (it reads each column
# of both files itself, a column pair at a time, so there is no separate read step: read_s is 0).
_SHIPYARD_DRIVER = (
    """
import time
t0, c0 = time.perf_counter(), time.process_time()
import sys
reference_path, current_path, out, profile_out, workers = sys.argv[1:6]
from shipyard.monitoring.drift import data_drift_files
t1, c1 = time.perf_counter(), time.process_time()
t2, c2 = t1, c1
import resource
read_peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # nothing read yet
with open("/proc/self/status") as status:
    rss_after_read_mib = [int(l.split()[1]) / 1024 for l in status if l.startswith("VmRSS:")][0]  # the interpreter
kwargs = {"workers": int(workers)} if workers else {}
if profile_out:
    # cProfile sees only the thread it runs in: give each task of data_drift_files's thread pool its own profiler
    import cProfile, pstats
    import concurrent.futures.thread as pool
    profilers, run_task = [], pool._WorkItem.run
    def profiled(task):
        profilers.append(cProfile.Profile())
        profilers[-1].runcall(run_task, task)
    pool._WorkItem.run = profiled
    profiler = cProfile.Profile()
    report = profiler.runcall(data_drift_files, reference_path, current_path, **kwargs)
    pstats.Stats(profiler, *profilers).dump_stats(profile_out)
else:
    report = data_drift_files(reference_path, current_path, **kwargs)
t3, c3 = time.perf_counter(), time.process_time()
"""
    + _REPORT_TAIL
    + """
columns = {c.column: {"kind": c.kind, "test": c.test, "score": c.score if c.score == c.score else None,
                      "threshold": c.threshold, "drifted": bool(c.drifted)} for c in report.columns}
_report(out, {"import_s": t1 - t0, "read_s": t2 - t1, "compute_s": t3 - t2,
              "import_cpu_s": c1 - c0, "read_cpu_s": c2 - c1, "compute_cpu_s": c3 - c2}, columns,
        {"skipped": dict(report.skipped), "dataset_drift": bool(report.dataset_drift), "read_peak_mib": read_peak_mib,
         "rss_after_read_mib": rss_after_read_mib})
"""
)

# Evidently's side, in its own virtualenv (pandas 2.3.3). The drift decision of each column is the documented
# rule for its method (see /work/shared/reference/evidently-drift-rules.md, section 4) applied to the score and
# threshold Evidently reports in the ValueDrift metric's name and value.
_EVIDENTLY_DRIVER = (
    """
import time
t0, c0 = time.perf_counter(), time.process_time()
import sys, re, warnings
warnings.filterwarnings("ignore")
reference_path, current_path, out = sys.argv[1:4]
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
t1, c1 = time.perf_counter(), time.process_time()
reference = pd.read_parquet(reference_path)
current = pd.read_parquet(current_path)
t2, c2 = time.perf_counter(), time.process_time()
import resource
read_peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # reading the data
with open("/proc/self/status") as status:
    rss_after_read_mib = [int(l.split()[1]) / 1024 for l in status if l.startswith("VmRSS:")][0]  # the data held
snapshot = Report([DataDriftPreset()]).run(current, reference)
t3, c3 = time.perf_counter(), time.process_time()
"""
    + _REPORT_TAIL
    + """
P_VALUE = ("p_value", "p-value", "pvalue")
columns, counted = {}, None
for metric in snapshot.dict()["metrics"]:
    name = metric.get("metric_name") or ""
    if name.startswith("DriftedColumnsCount"):
        counted = metric["value"]["count"]
    match = re.match(r"ValueDrift\\(column=(.*),method=(.*),threshold=(.*)\\)$", name)
    if not match:
        continue
    column, method, threshold = match.group(1), match.group(2), float(match.group(3))
    score = metric["value"]
    score = float(score) if isinstance(score, (int, float)) else float("nan")
    lowered = method.lower()
    if any(word in lowered for word in P_VALUE):
        # ks uses <=, chi-square and z use a strict <
        drifted = score <= threshold if lowered.startswith("k-s") else score < threshold
    else:
        drifted = score >= threshold
    columns[column] = {"test": method, "score": score if score == score else None, "threshold": threshold,
                       "drifted": bool(drifted)}
_report(out, {"import_s": t1 - t0, "read_s": t2 - t1, "compute_s": t3 - t2,
              "import_cpu_s": c1 - c0, "read_cpu_s": c2 - c1, "compute_cpu_s": c3 - c2}, columns,
        {"drifted_count": counted, "read_peak_mib": read_peak_mib,
         "rss_after_read_mib": rss_after_read_mib})
"""
)


def say(msg: str = "") -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class Column:
    """One generated column: its kind and how to draw it for the reference and for the current data."""

    name: str
    kind: str  # "numerical" or "categorical", as both tools infer it from the stored type
    draw: Callable[[np.random.Generator, int, bool], pa.Array]  # (rng, rows, current?) -> values
    changed: bool  # whether the current data was drawn differently (not every change is drift to every test)


def _floats(values: np.ndarray, missing: float, rng: np.random.Generator) -> pa.Array:
    mask = rng.random(values.size) < missing if missing else None
    return pa.array(values, type=pa.float64(), mask=mask)


def _normal(shift: float = 0.0, scale: float = 1.0, missing: float = 0.0, cur_missing: float | None = None):
    def draw(rng: np.random.Generator, n: int, current: bool) -> pa.Array:
        mu, sigma = (shift, scale) if current else (0.0, 1.0)
        rate = cur_missing if current and cur_missing is not None else missing
        return _floats(rng.normal(10.0 + mu, sigma, n), rate, rng)

    return draw


def _lognormal(shift: float = 0.0):
    return lambda rng, n, current: _floats(rng.lognormal(3.0 + (shift if current else 0.0), 0.8, n), 0.0, rng)


def _pareto(a: float = 1.5):
    return lambda rng, n, current: _floats((rng.pareto(a, n) + 1.0) * 100.0, 0.0, rng)


def _student_t(df: float = 2.5):
    return lambda rng, n, current: _floats(rng.standard_t(df, n), 0.01, rng)


def _exponential(cur_scale: float = 1.0):
    return lambda rng, n, current: _floats(rng.exponential(cur_scale if current else 1.0, n), 0.0, rng)


def _uniform():
    return lambda rng, n, current: _floats(rng.uniform(-5.0, 5.0, n), 0.0, rng)


def _bimodal(cur_weight: float = 0.3):
    def draw(rng: np.random.Generator, n: int, current: bool) -> pa.Array:
        upper = rng.random(n) < (cur_weight if current else 0.3)
        return _floats(np.where(upper, rng.normal(8.0, 1.0, n), rng.normal(2.0, 1.0, n)), 0.0, rng)

    return draw


def _outliers_in_current():
    """Normal data; the current batch also holds a handful of huge values (a unit error upstream)."""

    def draw(rng: np.random.Generator, n: int, current: bool) -> pa.Array:
        values = rng.normal(50.0, 5.0, n)
        if current:
            values[rng.choice(n, size=5, replace=False)] = 5e4
        return _floats(values, 0.0, rng)

    return draw


def _poisson(cur_lam: float = 20.0):
    return lambda rng, n, current: pa.array(rng.poisson(cur_lam if current else 20.0, n), type=pa.int64())


def _integers(low: int, high: int, cur_low: int | None = None):
    def draw(rng: np.random.Generator, n: int, current: bool) -> pa.Array:
        start = cur_low if current and cur_low is not None else low
        return pa.array(rng.integers(start, high, n), type=pa.int64())

    return draw


def _binary(cur_p: float = 0.3):
    """A 0/1 flag stored as float (as after one-hot encoding): numerical for both tools."""
    return lambda rng, n, current: _floats((rng.random(n) < (cur_p if current else 0.3)).astype(np.float64), 0.0, rng)


def _few_values(cur_probs: tuple[float, ...] | None = None):
    """A float with five distinct values (a rating)."""
    levels = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    ref_probs = (0.1, 0.2, 0.4, 0.2, 0.1)

    def draw(rng: np.random.Generator, n: int, current: bool) -> pa.Array:
        probs = cur_probs if current and cur_probs else ref_probs
        return _floats(rng.choice(levels, size=n, p=probs), 0.02, rng)

    return draw


def _zipf(levels: int, exponent: float = 1.1) -> np.ndarray:
    weights = 1.0 / np.arange(1, levels + 1) ** exponent
    return weights / weights.sum()


def _categorical(levels: int, *, shuffle_top: int = 0, new_level_share: float = 0.0, missing: float = 0.0):
    """Strings ``L000``... with Zipf shares; the current data may reorder the top levels or add an unseen one."""
    labels = np.array([f"L{i:03d}" for i in range(levels)] + ["NEW"], dtype=object)
    ref_probs = _zipf(levels) if levels > 3 else np.array([0.5, 0.3, 0.2])

    def draw(rng: np.random.Generator, n: int, current: bool) -> pa.Array:
        probs = np.append(ref_probs.copy(), 0.0)
        if current and shuffle_top:
            probs[:shuffle_top] = probs[:shuffle_top][::-1]
        if current and new_level_share:
            probs[:-1] *= 1.0 - new_level_share
            probs[-1] = new_level_share
        index = rng.choice(levels + 1, size=n, p=probs / probs.sum())
        mask = rng.random(n) < missing if missing else None
        return pa.array(labels[index], type=pa.string(), mask=mask)

    return draw


COLUMNS: tuple[Column, ...] = (
    Column("num_normal_stable", "numerical", _normal(), False),
    Column("num_normal_shift", "numerical", _normal(shift=0.3), True),
    Column("num_normal_tiny_shift", "numerical", _normal(shift=0.03), True),
    Column("num_scale_change", "numerical", _normal(scale=1.6), True),
    Column("num_nan_rate_change", "numerical", _normal(missing=0.01, cur_missing=0.25), True),
    Column("num_missing_stable", "numerical", _normal(missing=0.08), False),
    Column("num_lognormal_stable", "numerical", _lognormal(), False),
    Column("num_lognormal_shift", "numerical", _lognormal(shift=0.2), True),
    Column("num_pareto_stable", "numerical", _pareto(), False),
    Column("num_student_t_stable", "numerical", _student_t(), False),
    Column("num_exponential_shift", "numerical", _exponential(cur_scale=1.3), True),
    Column("num_uniform_stable", "numerical", _uniform(), False),
    Column("num_bimodal_shift", "numerical", _bimodal(cur_weight=0.45), True),
    Column("num_outliers_in_current", "numerical", _outliers_in_current(), True),
    Column("num_int_poisson_stable", "numerical", _poisson(), False),
    Column("num_int_poisson_shift", "numerical", _poisson(cur_lam=23.0), True),
    Column("num_int_age_stable", "numerical", _integers(18, 90), False),
    Column("num_binary_stable", "numerical", _binary(), False),
    Column("num_binary_shift", "numerical", _binary(cur_p=0.5), True),
    Column("num_rating_stable", "numerical", _few_values(), False),
    Column("num_rating_shift", "numerical", _few_values(cur_probs=(0.05, 0.1, 0.3, 0.3, 0.25)), True),
    Column("cat_low_stable", "categorical", _categorical(3), False),
    Column("cat_low_missing", "categorical", _categorical(3, missing=0.1), False),
    Column("cat_mid_stable", "categorical", _categorical(20), False),
    Column("cat_mid_shift", "categorical", _categorical(20, shuffle_top=4), True),
    Column("cat_mid_new_level", "categorical", _categorical(20, new_level_share=0.001), True),
    Column("cat_high_stable", "categorical", _categorical(500), False),
    Column("cat_high_shift", "categorical", _categorical(500, shuffle_top=30, missing=0.03), True),
)


def write_data(folder: Path, rows: int) -> tuple[Path, Path]:
    """``reference.parquet`` and ``current.parquet`` with ``rows`` rows each (reused when already there)."""
    paths = folder / "reference.parquet", folder / "current.parquet"
    stamp = folder / "data.json"
    spec = {"rows": rows, "seed": SEED, "columns": [(c.name, c.kind, c.changed) for c in COLUMNS]}
    if stamp.exists() and stamp.read_text() == json.dumps(spec) and all(p.exists() for p in paths):
        say(f"reusing {rows:,} rows x {len(COLUMNS)} columns in {folder}")
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for path, current in zip(paths, (False, True), strict=True):
        rng = np.random.default_rng([SEED, int(current)])
        table = pa.table({c.name: c.draw(rng, rows, current) for c in COLUMNS})
        pq.write_table(table, path, row_group_size=1 << 20)
    stamp.write_text(json.dumps(spec))
    sizes = " + ".join(f"{p.stat().st_size / 2**20:.0f}" for p in paths)
    say(f"wrote {rows:,} rows x {len(COLUMNS)} columns twice in {time.perf_counter() - started:.1f} s ({sizes} MiB)")
    return paths


# --------------------------------------------------------------------------- measuring a process


@dataclass(frozen=True)
class Measured:
    """One measured process: its own account (timings, CPU, kernel peak) plus what the parent saw."""

    target: str
    wall_s: float  # the whole process, interpreter start to exit
    tree_peak_mib: float  # the parent's sampled peak of the summed RSS of the process tree
    inside: dict[str, Any]  # what the process reported (import_s, read_s, compute_s, cpu_s, maxrss_mib, columns...)

    @property
    def cpu_s(self) -> float:
        return float(self.inside["cpu_s"])

    @property
    def peak_mib(self) -> float:
        """The larger of the kernel's peak for the process and the sampled peak of its tree."""
        return max(float(self.inside["maxrss_mib"]), self.tree_peak_mib)

    def to_dict(self) -> dict[str, Any]:
        return {"wall_s": self.wall_s, "tree_peak_mib": self.tree_peak_mib, "peak_mib": self.peak_mib, **self.inside}


def measure(target: str, command: list[str], out: Path, timeout_s: float) -> Measured:
    """Run ``command`` (which writes its own account to ``out``), sampling its tree's memory; stop only it."""
    say(f"  {target}: running ...")
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with PeakRss(process.pid) as peak:
            output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise RuntimeError(f"{target} took longer than {timeout_s:g} s (--timeout) and was stopped") from None
    except BaseException:
        process.kill()
        process.wait()
        raise
    wall_s = time.perf_counter() - started
    if process.returncode != 0 or not out.exists():
        raise RuntimeError(f"{target} failed (exit {process.returncode}):\n{output[-4000:]}")
    inside = json.loads(out.read_text())
    result = Measured(target, wall_s, peak.peak_kb / 1024, inside)
    say(
        f"  {target}: {wall_s:.1f} s wall ({inside['compute_s']:.2f} s timed part), {result.cpu_s:.1f} s CPU, "
        f"peak {result.peak_mib:,.0f} MiB"
    )
    return result


def run_shipyard(
    reference: Path, current: Path, root: Path, timeout_s: float, *, workers: int | None, profile: Path | None = None
) -> Measured:
    out = root / "shipyard.json"
    command = [sys.executable, "-c", _SHIPYARD_DRIVER, str(reference), str(current), str(out)]
    command += [str(profile or ""), str(workers or "")]
    label = (
        "shipyard data_drift_files"
        + (f" workers={workers}" if workers else "")
        + (" (under cProfile)" if profile else "")
    )
    return measure(label, command, out, timeout_s)


def run_evidently(reference: Path, current: Path, root: Path, timeout_s: float) -> Measured:
    try:
        from tests.support.evidently_venv import evidently_python
    except ImportError as error:
        raise RuntimeError(f"tests/support/evidently_venv.py is not usable yet: {error}") from error
    python = evidently_python()
    out = root / "evidently.json"
    command = [str(python), "-c", _EVIDENTLY_DRIVER, str(reference), str(current), str(out)]
    return measure("evidently DataDriftPreset", command, out, timeout_s)


def print_profile(stats_path: Path, lines: int) -> None:
    import pstats

    for order in ("cumulative", "tottime"):
        say(f"\ncProfile of data_drift_files (its thread and every pool task, summed), top {lines} by {order}:")
        stats = pstats.Stats(str(stats_path))
        stats.sort_stats(order).print_stats(lines)


# --------------------------------------------------------------------------- the table


def agreement(shipyard: Measured, evidently: Measured) -> tuple[bool, list[str]]:
    """Whether both took the same decision on every column; the lines describing any difference."""
    ours, theirs = shipyard.inside["columns"], evidently.inside["columns"]
    notes = []
    for name in sorted(set(ours) | set(theirs), key=[c.name for c in COLUMNS].index):
        a, b = ours.get(name), theirs.get(name)
        if a is None or b is None:
            notes.append(f"{name}: only tested by {'evidently' if a is None else 'shipyard'}")
        elif a["drifted"] != b["drifted"]:
            notes.append(
                f"{name}: shipyard {a['test']} {a['score']} -> {a['drifted']}, "
                f"evidently {b['test']} {b['score']} -> {b['drifted']}"
            )
    return not notes, notes


def largest_score_difference(shipyard: Measured, evidently: Measured) -> tuple[str, float]:
    """The column whose two scores differ most (relative), and that difference."""
    worst, worst_name = 0.0, ""
    for name, ours in shipyard.inside["columns"].items():
        theirs = evidently.inside["columns"].get(name)
        if theirs is None or ours["score"] is None or theirs["score"] is None:
            continue
        diff = abs(ours["score"] - theirs["score"]) / max(abs(theirs["score"]), 1e-300)
        if diff > worst:
            worst, worst_name = diff, name
    return worst_name, worst


def print_columns(shipyard: Measured | None, evidently: Measured | None) -> None:
    say(
        f"\n{'column':<26} {'changed':>8}  {'shipyard test':<22} {'score':>11} {'drift':>5}  "
        f"{'evidently test':<30} {'score':>11} {'drift':>5}"
    )
    for column in COLUMNS:
        cells = []
        for side in (shipyard, evidently):
            result = side.inside["columns"].get(column.name) if side else None
            width = 22 if side is shipyard else 30
            if result is None:
                cells.append(f"{'-':<{width}} {'':>11} {'':>5}")
            else:
                score = "nan" if result["score"] is None else f"{result['score']:.4g}"
                cells.append(f"{result['test'][:width]:<{width}} {score:>11} {'yes' if result['drifted'] else 'no':>5}")
        say(f"{column.name:<26} {'yes' if column.changed else '-':>8}  {cells[0]}  {cells[1]}")


def print_summary(
    shipyard: Measured | None, evidently: Measured | None
) -> tuple[dict[str, float], dict[str, bool | None], list[str]]:
    """Print the per-column table, the timing table, ratios and verdicts; return ratios, targets and differences."""
    print_columns(shipyard, evidently)
    say(
        f"\n{'':<28} {'wall s':>8} {'import s':>9} {'read s':>8} {'report s':>9} {'CPU s':>8} "
        f"{'report CPU s':>12} {'data held MiB':>13} {'peak RSS MiB':>13} {'report adds MiB':>15}"
    )
    for side in (shipyard, evidently):
        if side is not None:
            i = side.inside
            say(
                f"{side.target:<28} {side.wall_s:>8.2f} {i['import_s']:>9.2f} {i['read_s']:>8.2f} "
                f"{i['compute_s']:>9.2f} {side.cpu_s:>8.2f} {i['compute_cpu_s']:>12.2f} "
                f"{i['rss_after_read_mib']:>13,.0f} {side.peak_mib:>13,.0f} "
                f"{side.peak_mib - i['rss_after_read_mib']:>15,.0f}"
            )

    ratios: dict[str, float] = {}
    targets: dict[str, bool | None] = {"wall": None, "cpu": None, "memory": None, "same_decisions": None}
    notes: list[str] = []
    if shipyard and evidently:
        ratios = {
            "wall_process": evidently.wall_s / shipyard.wall_s,
            "cpu_process": evidently.cpu_s / shipyard.cpu_s,
            "wall_report": evidently.inside["compute_s"] / shipyard.inside["compute_s"],
            "cpu_report": evidently.inside["compute_cpu_s"] / max(shipyard.inside["compute_cpu_s"], 1e-9),
            "memory": shipyard.peak_mib / evidently.peak_mib,
            "memory_report": added_mib(shipyard) / max(added_mib(evidently), 1.0),
        }
        same, notes = agreement(shipyard, evidently)
        # The whole process (start, imports, reading both files, the report) is the figure a user waits for.
        targets = {
            "wall": ratios["wall_process"] >= SPEEDUP_TARGET,
            "cpu": ratios["cpu_process"] >= SPEEDUP_TARGET,
            "memory": ratios["memory"] < MEMORY_TARGET,
            "same_decisions": same,
            "wall_report_alone": ratios["wall_report"] >= SPEEDUP_TARGET,
            "cpu_report_alone": ratios["cpu_report"] >= SPEEDUP_TARGET,
            "memory_report_alone": ratios["memory_report"] < MEMORY_TARGET,
        }
        worst_name, worst = largest_score_difference(shipyard, evidently)
        say(
            f"\nevidently / shipyard, whole process: {ratios['wall_process']:.1f}x wall, "
            f"{ratios['cpu_process']:.1f}x CPU (report alone: {ratios['wall_report']:.1f}x wall, "
            f"{ratios['cpu_report']:.1f}x CPU)"
        )
        say(
            f"shipyard / evidently peak RSS: {ratios['memory']:.3f} (memory added by the report alone: "
            f"{ratios['memory_report']:.3f})"
        )
        say(f"largest relative score difference: {worst:.2e} ({worst_name or 'all scores equal'})")
        derived = sum(c["drifted"] for c in evidently.inside["columns"].values())
        say(
            f"drifted columns: shipyard {sum(c['drifted'] for c in shipyard.inside['columns'].values())}, "
            f"evidently {derived} (its own DriftedColumnsCount: {evidently.inside.get('drifted_count')})"
        )
        say(f"\n{'target':<52} verdict")
        say(f"{'>= 20x faster, CPU (whole process)':<52} {verdict(targets['cpu'])}")
        say(f"{'>= 20x faster, wall (whole process)':<52} {verdict(targets['wall'])}")
        say(f"{'  (report alone, CPU)':<52} {verdict(targets['cpu_report_alone'])}")
        say(f"{'  (report alone, wall)':<52} {verdict(targets['wall_report_alone'])}")
        say(f"{'peak memory < 1/4 of Evidently (whole process)':<52} {verdict(targets['memory'])}")
        say(f"{'  (memory the report adds to the data frames)':<52} {verdict(targets['memory_report_alone'])}")
        say(f"{'same drift decision on every column':<52} {verdict(targets['same_decisions'])}")
        for note in notes:
            say(f"  differs: {note}")
    return ratios, targets, notes


def added_mib(side: Measured) -> float:
    """What the report added on top of the data frames (peak RSS minus the RSS once both files were read)."""
    return side.peak_mib - float(side.inside["rss_after_read_mib"])


def verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("met" if met else "MISSED")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, help=f"rows in reference and in current (default {FULL_ROWS:,})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows")
    parser.add_argument("--skip-evidently", action="store_true", help="only Shipyard")
    parser.add_argument("--workers", type=int, help="data_drift_files(workers=N) (default: Shipyard's, one per core)")
    parser.add_argument("--profile", action="store_true", help="then Shipyard's side again under cProfile")
    parser.add_argument("--profile-lines", type=int, default=25, help="functions listed per profile")
    parser.add_argument("--data-dir", type=Path, help="keep the Parquet files here and reuse them on the next run")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per measured process")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results file")
    args = parser.parse_args(argv)
    rows = args.rows or (QUICK_ROWS if args.quick else FULL_ROWS)
    mode = "quick" if args.quick and not args.rows else "full" if rows == FULL_ROWS else "custom"

    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    say(
        f"drift report, {rows:,} rows x {len(COLUMNS)} columns "
        f"({sum(c.kind == 'numerical' for c in COLUMNS)} numerical, {sum(c.kind == 'categorical' for c in COLUMNS)} "
        f"categorical) in reference and in current; {os.cpu_count()} CPUs, load average {load_start:.2f}"
    )
    root = Path(tempfile.mkdtemp(prefix="shipyard-bench-drift-"))
    shipyard = evidently = None
    errors: dict[str, str] = {}
    try:
        reference, current = write_data(args.data_dir or root, rows)
        try:
            shipyard = run_shipyard(reference, current, root, args.timeout, workers=args.workers)
        except RuntimeError as error:
            errors["shipyard"] = str(error)
            say(f"  shipyard: FAILED: {error}")
        if not args.skip_evidently:
            try:
                evidently = run_evidently(reference, current, root, args.timeout)
            except RuntimeError as error:
                errors["evidently"] = str(error)
                say(f"  evidently: unavailable: {error}")
        if args.profile and "shipyard" not in errors:
            stats = root / "shipyard.prof"
            run_shipyard(reference, current, root, args.timeout, workers=args.workers, profile=stats)
            print_profile(stats, args.profile_lines)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    ratios, targets, notes = print_summary(shipyard, evidently)
    load_end = os.getloadavg()[0]
    say(f"\nload average {load_start:.2f} at the start, {load_end:.2f} at the end (2 shared cores: compare one run)")
    say(f"bench took {time.perf_counter() - started:.0f} s")

    save_results(
        args.output,
        "drift",
        {
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "mode": mode,
            "rows": rows,
            "workers": args.workers,
            "columns": {c.name: {"kind": c.kind, "changed_by_construction": c.changed} for c in COLUMNS},
            "load_average_start": load_start,
            "load_average_end": load_end,
            "shipyard": shipyard.to_dict() if shipyard else None,
            "evidently": evidently.to_dict() if evidently else None,
            "errors": errors,
            "ratios": ratios,
            "targets": targets,
            "differences": notes,
        },
    )
    # A missed speed or memory target is printed, not an error; a failure or a different decision is.
    return 1 if "shipyard" in errors or targets["same_decisions"] is False else 0


def save_results(path: Path, key: str, results: dict[str, Any]) -> None:
    """Write ``results`` under ``key`` of the JSON file, keeping the other benchmark's entry."""
    try:
        existing = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        existing = {}
    existing[key] = results
    path.write_text(json.dumps(existing, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
