"""Batch scoring of a big Parquet file: ``shipyard predict`` (chunked, parallel) vs MLflow's whole-file pyfunc.

    .venv/bin/python bench/batch_scoring.py                     # 10,000,000 rows
    .venv/bin/python bench/batch_scoring.py --rows 2000000 --workers 2

A Parquet file of ``--rows`` rows (an id and 8 float features, row groups of 1 Mi rows) and a scikit-learn
linear model are written to a temporary folder. Then, each in a fresh process:

* ``shipyard predict MODEL --input data.parquet --output out.parquet`` (the real CLI);
* MLflow's peer: ``mlflow.pyfunc.spark_udf`` needs Spark, which is not here, so the plain pyfunc way:
  ``mlflow.pyfunc.load_model(MODEL).predict(pd.read_parquet(data))``, written with the id to Parquet.

A thread samples the resident memory of each process and its children (``PeakRss`` from
``artifact_memory.py``); the table shows time, rows/s and the peak. Shipyard must stay under 1 GB for a PASS,
and both outputs must agree.
"""

from __future__ import annotations

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from bench.artifact_memory import PeakRss  # noqa: E402

FEATURES = [f"f{i}" for i in range(8)]
BOUND_MB = 1024
PART_ROWS = 500_000

_MLFLOW_PEER = """
import sys
import mlflow.pyfunc
import pandas as pd
model_dir, source, out = sys.argv[1:4]
frame = pd.read_parquet(source)
model = mlflow.pyfunc.load_model(model_dir)
frame["prediction"] = model.predict(frame.drop(columns=["id"]))
frame[["id", "prediction"]].to_parquet(out)
"""


@dataclass(frozen=True)
class Row:
    target: str
    seconds: float
    rows_per_s: float
    peak_mb: float
    ok: bool


def say(msg: str = "") -> None:
    print(msg, flush=True)


def write_data(path: Path, rows: int) -> None:
    """``rows`` rows of id + features, written in parts so the generator's own memory stays small."""
    rng = np.random.default_rng(0)
    schema = pa.schema([("id", pa.int64())] + [(c, pa.float64()) for c in FEATURES])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, PART_ROWS):
            n = min(PART_ROWS, rows - start)
            part = {"id": np.arange(start, start + n)} | {c: rng.normal(size=n) for c in FEATURES}
            writer.write_table(pa.table(part, schema=schema), row_group_size=1 << 20)


def write_model(folder: Path) -> None:
    from sklearn.linear_model import LinearRegression

    from shipyard.models import save_model

    rng = np.random.default_rng(1)
    train = pd.DataFrame(rng.normal(size=(1_000, len(FEATURES))), columns=FEATURES)
    model = LinearRegression().fit(train, train.to_numpy() @ np.arange(1.0, len(FEATURES) + 1))
    save_model(model, folder, input_example=train.head(3))


def measure(target: str, command: list[str], rows: int) -> tuple[float, float]:
    """Run ``command``; its wall time and the peak summed RSS (MB) of its process tree."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    with PeakRss(process.pid) as peak:
        _, stderr = process.communicate()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{target} failed ({process.returncode}):\n{stderr}")
    say(f"  {target}: {rows:,} rows in {seconds:.1f} s, peak {peak.peak_kb / 1024:.0f} MB")
    return seconds, peak.peak_kb / 1024


def agree(ours: Path, theirs: Path) -> bool:
    """Both outputs hold the same ids in the same order and the same predictions."""
    a, b = pq.read_table(ours), pq.read_table(theirs)
    same_ids = a.column("id").equals(b.column("id"))
    close = np.allclose(a.column("prediction").to_numpy(), b.column("prediction").to_numpy())
    return bool(same_ids and close)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows in the generated file")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="shipyard predict --workers")
    parser.add_argument("--chunk-rows", type=int, default=100_000, help="shipyard predict --chunk-rows")
    parser.add_argument("--skip-mlflow", action="store_true", help="only Shipyard")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="shipyard-bench-batch-") as tmp:
        root = Path(tmp)
        source, model = root / "data.parquet", root / "model"
        say(f"writing {args.rows:,} rows ({len(FEATURES)} features) and a LinearRegression model to {root}")
        write_data(source, args.rows)
        write_model(model)
        say(f"  data.parquet: {source.stat().st_size / 2**20:.0f} MB on disk")

        ours = root / "shipyard.parquet"
        command = [
            sys.executable,
            "-m",
            "shipyard",
            "predict",
            str(model),
            "--input",
            str(source),
            "--output",
            str(ours),
            "--workers",
            str(args.workers),
            "--chunk-rows",
            str(args.chunk_rows),
        ]
        seconds, peak_mb = measure(f"shipyard predict --workers {args.workers}", command, args.rows)
        rows = [
            Row(f"shipyard predict (workers={args.workers})", seconds, args.rows / seconds, peak_mb, peak_mb < BOUND_MB)
        ]
        if not args.skip_mlflow:
            theirs = root / "mlflow.parquet"
            command = [sys.executable, "-c", _MLFLOW_PEER, str(model), str(source), str(theirs)]
            seconds, peak_mb = measure("mlflow pyfunc whole file", command, args.rows)
            rows.append(Row("mlflow.pyfunc, whole file", seconds, args.rows / seconds, peak_mb, agree(ours, theirs)))

    say()
    say(f"{'target':<34} {'seconds':>8} {'rows/s':>12} {'peak RSS MB':>12}  check")
    for row in rows:
        say(
            f"{row.target:<34} {row.seconds:>8.1f} {row.rows_per_s:>12,.0f} {row.peak_mb:>12,.0f}  "
            f"{'PASS' if row.ok else 'FAIL'}"
        )
    if len(rows) == 2:
        say(
            f"\nshipyard/mlflow: {rows[0].rows_per_s / rows[1].rows_per_s:.2f}x rows/s, "
            f"{rows[0].peak_mb / rows[1].peak_mb:.2f}x peak memory"
        )
    say(f"(PASS for shipyard: peak under {BOUND_MB} MB; for mlflow: same ids and predictions as shipyard)")
    return 0 if all(row.ok for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
