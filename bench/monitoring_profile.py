"""100,000,000 rows profiled in one streaming pass against a stored reference profile, in under 2 GB of memory.

    .venv/bin/python bench/monitoring_profile.py                  # 100,000,000 rows (~3 GB of Parquet)
    .venv/bin/python bench/monitoring_profile.py --quick          # 10,000,000 rows
    .venv/bin/python bench/monitoring_profile.py --rows 30000000 --keep --data-dir /var/tmp/profile-bench

A reference Parquet file (1,000,000 rows, or ``--rows`` if smaller) and a big one (``--rows``) are generated
chunk by chunk (one row group of 1,000,000 rows at a time, so generating is bounded in memory too): three float
columns (normal, log-normal, one with 5 % missing), an integer count and two string categoricals (5 and 300
levels, the second with missing values); the big file's values drift a little in two columns. Before writing,
the bench checks that the disk holds at least twice the big file's expected size (measured on the reference
file) and refuses otherwise.

The reference profile is built in this process (``profile_parquet(reference_file)``) and saved as JSON. Then a
fresh process loads it and times ``profile_parquet(big_file, reference=reference_profile)``; it reports its
time, CPU time (``getrusage``) and kernel peak RSS, and the parent samples its tree's RSS too. Checks: every
column's profile accounts for every row (values + missing + infinite = rows). Target (issue 5): peak RSS under
2 GB (2,000,000,000 bytes). The big files are deleted at the end unless ``--keep``. Results:
``bench/results_monitoring.json`` (key ``profile``; ``monitoring_drift.py`` writes key ``drift``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from bench.monitoring_drift import RESULTS, Measured, measure, save_results, say  # noqa: E402

FULL_ROWS = 100_000_000
QUICK_ROWS = 10_000_000
REFERENCE_ROWS = 1_000_000
CHUNK_ROWS = 1_000_000
BOUND_BYTES = 2_000_000_000
BOUND_MIB = BOUND_BYTES / 2**20
SEED = 20261207

SCHEMA = pa.schema(
    [
        ("amount", pa.float64()),
        ("latency_ms", pa.float64()),
        ("score", pa.float64()),
        ("items", pa.int64()),
        ("channel", pa.string()),
        ("merchant", pa.string()),
    ]
)
_CHANNELS = pa.array(["web", "app", "store", "phone", "partner"])
_CHANNEL_P = np.array([0.4, 0.3, 0.2, 0.07, 0.03])
_MERCHANTS = pa.array([f"m{i:03d}" for i in range(300)])
_MERCHANT_P = 1.0 / np.arange(1, 301) ** 1.05
_MERCHANT_P /= _MERCHANT_P.sum()

# The measured process: load the stored reference profile, then profile the big file in one streaming pass.
_DRIVER = """
import time
t0, c0 = time.perf_counter(), time.process_time()
import json, resource, sys
reference_path, big_path, out, profile_out, batch_rows = sys.argv[1:6]
from shipyard.monitoring.profiles import Profile, profile_parquet
t1 = time.perf_counter()
reference = Profile.load(reference_path)
t2, c2 = time.perf_counter(), time.process_time()
kwargs = {"reference": reference}
if batch_rows:
    kwargs["batch_rows"] = int(batch_rows)
if profile_out:
    import cProfile
    profiler = cProfile.Profile()
    profile = profiler.runcall(profile_parquet, big_path, **kwargs)
    profiler.dump_stats(profile_out)
else:
    profile = profile_parquet(big_path, **kwargs)
t3, c3 = time.perf_counter(), time.process_time()
me = resource.getrusage(resource.RUSAGE_SELF)
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
columns = {c.name: {"kind": c.kind, "count": c.count, "missing": c.missing, "infinite": c.infinite,
                    "mean": c.mean if c.count else None} for c in profile.columns}
with open(out, "w") as f:
    json.dump({"import_s": t1 - t0, "read_s": t2 - t1, "compute_s": t3 - t2, "compute_cpu_s": c3 - c2,
               "cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
               "maxrss_mib": me.ru_maxrss / 1024, "children_maxrss_mib": kids.ru_maxrss / 1024,
               "rows": profile.rows, "columns": columns}, f)
"""


def chunk(rng: np.random.Generator, rows: int, current: bool) -> pa.Table:
    """``rows`` rows; the current data's ``amount`` and channel mix have moved a little."""
    amount = rng.lognormal(3.0 + (0.1 if current else 0.0), 1.0, rows)
    latency = rng.normal(120.0, 30.0, rows)
    score = pa.array(rng.random(rows), pa.float64(), mask=rng.random(rows) < 0.05)
    items = rng.poisson(3.0, rows)
    channel_p = np.array([0.35, 0.3, 0.2, 0.1, 0.05]) if current else _CHANNEL_P
    channel = pa.DictionaryArray.from_arrays(pa.array(rng.choice(5, rows, p=channel_p), pa.int32()), _CHANNELS)
    merchant_index = pa.array(rng.choice(300, rows, p=_MERCHANT_P), pa.int32(), mask=rng.random(rows) < 0.02)
    merchant = pa.DictionaryArray.from_arrays(merchant_index, _MERCHANTS)
    columns = [pa.array(amount), pa.array(latency), score, pa.array(items)]
    return pa.Table.from_arrays([*columns, channel.cast(pa.string()), merchant.cast(pa.string())], schema=SCHEMA)


def write_file(path: Path, rows: int, seed: int, *, current: bool) -> float:
    """Write ``rows`` rows one row group at a time; returns the seconds it took."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    last_said = started
    with pq.ParquetWriter(path, SCHEMA) as writer:
        for start in range(0, rows, CHUNK_ROWS):
            writer.write_table(chunk(rng, min(CHUNK_ROWS, rows - start), current), row_group_size=CHUNK_ROWS)
            if time.perf_counter() - last_said > 15:
                last_said = time.perf_counter()
                print(f"  .. {start + CHUNK_ROWS:,} of {rows:,} rows written", file=sys.stderr, flush=True)
    return time.perf_counter() - started


def write_files(reference_file: Path, reference_rows: int, big_file: Path, rows: int) -> float | None:
    """Write (or reuse) both files; the seconds the big one took, or None when the disk is too small for it."""
    if not reference_file.exists() or pq.ParquetFile(reference_file).metadata.num_rows != reference_rows:
        write_file(reference_file, reference_rows, SEED, current=False)
    expected = reference_file.stat().st_size / reference_rows * rows
    if big_file.exists() and pq.ParquetFile(big_file).metadata.num_rows == rows:
        say(f"reusing {big_file} ({big_file.stat().st_size / 2**30:.2f} GiB)")
        return 0.0
    free = shutil.disk_usage(big_file.parent).free
    if free < 2 * expected:
        say(
            f"REFUSED: {big_file.parent} has {free / 2**30:.1f} GiB free; the {rows:,}-row file needs about "
            f"{expected / 2**30:.1f} GiB and the bench wants twice that free. Use --rows or --data-dir."
        )
        return None
    say(f"writing {rows:,} rows (~{expected / 2**30:.2f} GiB) to {big_file}")
    generate_s = write_file(big_file, rows, SEED + 1, current=True)
    say(f"  written in {generate_s:.0f} s: {big_file.stat().st_size / 2**30:.2f} GiB")
    return generate_s


def check_counts(result: Measured, rows: int) -> list[str]:
    """Every column accounts for every row: values + missing + infinite = rows."""
    problems = [] if result.inside["rows"] == rows else [f"profile.rows = {result.inside['rows']:,}, not {rows:,}"]
    for name, column in result.inside["columns"].items():
        seen = column["count"] + column["missing"] + column["infinite"]
        if seen != rows:
            problems.append(f"{name}: {seen:,} values + missing + infinite, not {rows:,}")
    return problems


def run_measured(reference_json: Path, big_file: Path, out: Path, args: argparse.Namespace) -> Measured:
    """The measured pass in a fresh process; with ``--profile``, a second one under cProfile, whose top is printed."""
    command = [
        sys.executable,
        "-c",
        _DRIVER,
        str(reference_json),
        str(big_file),
        str(out),
        "",
        str(args.batch_rows or ""),
    ]
    result = measure("shipyard profile_parquet", command, out, args.timeout)
    if args.profile:
        stats = out.parent / "profile.prof"
        command[6] = str(stats)
        measure("shipyard profile_parquet (under cProfile)", command, out, args.timeout)
        import pstats

        for order in ("cumulative", "tottime"):
            say(f"\ncProfile of profile_parquet, top {args.profile_lines} by {order}:")
            pstats.Stats(str(stats)).sort_stats(order).print_stats(args.profile_lines)
    return result


def print_table(result: Measured, rows: int, problems: list[str]) -> tuple[float, bool]:
    """The result line, the checks and the verdict; returns rows/s and whether the memory target is met."""
    inside = result.inside
    rows_per_s = rows / inside["compute_s"]
    met = result.peak_mib < BOUND_MIB
    say(
        f"\n{'target':<26} {'rows':>13} {'wall s':>8} {'profile s':>10} {'CPU s':>8} {'rows/s':>12} "
        f"{'peak RSS MiB':>13}  check"
    )
    say(
        f"{'profile_parquet':<26} {rows:>13,} {result.wall_s:>8.1f} {inside['compute_s']:>10.1f} "
        f"{result.cpu_s:>8.1f} {rows_per_s:>12,.0f} {result.peak_mib:>13,.0f}  {'PASS' if not problems else 'FAIL'}"
    )
    say(
        f"(wall = the whole process: start {inside['import_s']:.1f} s, loading the reference profile "
        f"{inside['read_s']:.2f} s, one pass {inside['compute_s']:.1f} s; kernel peak {inside['maxrss_mib']:,.0f} MiB,"
        f" sampled tree peak {result.tree_peak_mib:,.0f} MiB)"
    )
    for problem in problems:
        say(f"  CHECK FAILED: {problem}")
    say(f"\n{'target':<52} verdict")
    say(f"{'peak memory under 2 GB (1,907 MiB)':<52} {'met' if met else 'MISSED'}")
    if rows < FULL_ROWS:
        say(f"(at {rows:,} rows, not the target's {FULL_ROWS:,})")
    return rows_per_s, met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, help=f"rows in the big file (default {FULL_ROWS:,})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows")
    parser.add_argument("--batch-rows", type=int, help="profile_parquet batch_rows (default: Shipyard's)")
    parser.add_argument("--data-dir", type=Path, help="folder for the files (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the files (with --data-dir: reused next time)")
    parser.add_argument("--profile", action="store_true", help="then run it again under cProfile and print the top")
    parser.add_argument("--profile-lines", type=int, default=25, help="functions listed per profile")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed for the measured process")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results file")
    args = parser.parse_args(argv)
    rows = args.rows or (QUICK_ROWS if args.quick else FULL_ROWS)
    reference_rows = min(REFERENCE_ROWS, rows)

    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    say(
        f"profile {rows:,} rows x {len(SCHEMA)} columns in one pass; "
        f"{os.cpu_count()} CPUs, load average {load_start:.2f}"
    )
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="shipyard-bench-profile-"))
    root.mkdir(parents=True, exist_ok=True)
    reference_file, big_file = root / "reference.parquet", root / f"current-{rows}.parquet"
    reference_json, out = root / "reference.profile.json", root / "profile.json"
    problems: list[str] = []
    try:
        from shipyard.monitoring.profiles import profile_parquet

        generate_s = write_files(reference_file, reference_rows, big_file, rows)
        if generate_s is None:
            return 2
        t0 = time.perf_counter()
        reference = profile_parquet(reference_file)
        reference.save(reference_json)
        reference_s = time.perf_counter() - t0
        size = reference_json.stat().st_size
        say(f"reference profile of {reference_rows:,} rows built in {reference_s:.1f} s ({size:,} bytes of JSON)")

        result = run_measured(reference_json, big_file, out, args)
        problems = check_counts(result, rows)
    finally:
        if args.keep:
            say(f"(kept {root})")
        elif args.data_dir:
            for path in (reference_file, big_file, reference_json, out, root / "profile.prof"):
                path.unlink(missing_ok=True)
        else:
            shutil.rmtree(root, ignore_errors=True)

    rows_per_s, met = print_table(result, rows, problems)
    load_end = os.getloadavg()[0]
    say(f"\nload average {load_start:.2f} at the start, {load_end:.2f} at the end (2 shared cores: compare one run)")
    say(f"bench took {time.perf_counter() - started:.0f} s")
    save_results(
        args.output,
        "profile",
        {
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "rows": rows,
            "reference_rows": reference_rows,
            "batch_rows": args.batch_rows,
            "generate_s": generate_s,
            "reference_profile_s": reference_s,
            "rows_per_s": rows_per_s,
            "bound_bytes": BOUND_BYTES,
            "meets_target": met,
            "checks_failed": problems,
            "load_average_start": load_start,
            "load_average_end": load_end,
            "shipyard": result.to_dict(),
        },
    )
    return 1 if problems else 0  # a missed memory target is printed, not an error


if __name__ == "__main__":
    sys.exit(main())
