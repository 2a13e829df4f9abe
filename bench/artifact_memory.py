"""Server memory while streaming a big artifact through the artifact proxy: Shipyard (local, S3) vs MLflow.

    .venv/bin/python bench/artifact_memory.py                  # 2048 MB, every target
    .venv/bin/python bench/artifact_memory.py --size-mb 256 --only shipyard-local,shipyard-s3

Each target is a fresh server process on a free port: ``shipyard server`` with a local artifact folder or an
``s3://`` store on a moto server (a child process), and MLflow's ``mlflow server --serve-artifacts`` with the
same two destinations. A streaming httpx client uploads the artifact with ``PUT
/api/2.0/mlflow-artifacts/artifacts/...`` from a generator body, then downloads it streaming and checks the
sha256. Meanwhile a thread samples the resident memory of the server process and its children; the table
shows the peak, which must stay under 200 MB for a PASS. moto's own memory is not counted (it keeps objects
in memory), nor is the client's.
"""

from __future__ import annotations

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import argparse
import contextlib
import hashlib
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
# Import `tests.support.*` from the repo root, not from bench/ itself.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
from tests.support.servers import (  # noqa: E402
    MotoS3,
    RunningServer,
    mlflow_server,
    moto_s3_process,
    shipyard_server,
)

MB = 1 << 20
BOUND_MB = 200
CHUNK_BYTES = MB
SAMPLE_EVERY_S = 0.02
ARTIFACT_PATH = "/api/2.0/mlflow-artifacts/artifacts/bench/big-artifact.bin"
TARGETS = ["shipyard-local", "shipyard-s3", "mlflow-local", "mlflow-s3"]


def say(msg: str = "") -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- memory of a process tree


def _status_kb(pid: int, field: str) -> int:
    """A ``kB`` field (``VmRSS``, ``VmHWM``) of /proc/<pid>/status; 0 once the process is gone."""
    try:
        with Path(f"/proc/{pid}/status").open() as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0
    return 0


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc/<pid>/task/*/children)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                queue.extend(int(child) for child in (task / "children").read_text().split())
    return found


def _reset_peaks(pids: list[int]) -> None:
    """Reset the kernel's peak-RSS counters (VmHWM), so each phase reports its own peak; best effort."""
    for pid in pids:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")


class PeakRss:
    """Samples the summed RSS of a process tree in a thread; also reads each process's kernel peak (VmHWM)."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.peak_kb = 0

    def current_kb(self) -> int:
        """The summed RSS of the tree right now."""
        return sum(_status_kb(pid, "VmRSS") for pid in _tree(self._pid))

    def __enter__(self) -> PeakRss:
        _reset_peaks(_tree(self._pid))
        self.peak_kb = self.current_kb()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        # The kernel's own per-process peak (reset on entry) catches a spike between two samples.
        hwm = [_status_kb(pid, "VmHWM") for pid in _tree(self._pid)]
        self.peak_kb = max(self.peak_kb, max(hwm, default=0))

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self.peak_kb = max(self.peak_kb, self.current_kb())


# --------------------------------------------------------------------------- the transfer


def _payload(size_bytes: int, digest: hashlib._Hash) -> Iterator[bytes]:
    """``size_bytes`` of data in 1 MiB chunks, each different, hashed as they are produced."""
    block = bytearray(os.urandom(CHUNK_BYTES))
    sent = 0
    index = 0
    while sent < size_bytes:
        block[:8] = index.to_bytes(8, "little")
        chunk = bytes(block[: min(CHUNK_BYTES, size_bytes - sent)])
        digest.update(chunk)
        sent += len(chunk)
        index += 1
        yield chunk


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    direction: str
    target: str
    size_mb: int
    seconds: float
    idle_mb: float
    peak_mb: float
    ok: bool
    note: str = ""


def measure(server: RunningServer, target: str, size_mb: int) -> list[Row]:
    """Upload then download ``size_mb`` through ``server``'s artifact proxy, measuring the server's memory."""
    url = server.url + ARTIFACT_PATH
    pid = server.process.pid
    rows: list[Row] = []
    sent = hashlib.sha256()
    with httpx.Client(timeout=httpx.Timeout(600.0)) as client:
        idle_kb = PeakRss(pid).current_kb()
        with PeakRss(pid) as memory:
            start = time.perf_counter()
            answer = client.put(url, content=_payload(size_mb * MB, sent))
            seconds = time.perf_counter() - start
        ok = answer.status_code == 200
        note = "" if ok else f"HTTP {answer.status_code}: {answer.text[:120]}"
        rows.append(Row("upload", target, size_mb, seconds, idle_kb / 1024, memory.peak_kb / 1024, ok, note))

        received = hashlib.sha256()
        received_bytes = 0
        with PeakRss(pid) as memory:
            start = time.perf_counter()
            with client.stream("GET", url) as response:
                status = response.status_code
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    received.update(chunk)
                    received_bytes += len(chunk)
            seconds = time.perf_counter() - start
        ok = status == 200 and received.hexdigest() == sent.hexdigest() and received_bytes == size_mb * MB
        note = "" if ok else f"HTTP {status}, {received_bytes} bytes, sha256 {'ok' if ok else 'differs'}"
        rows.append(Row("download", target, size_mb, seconds, idle_kb / 1024, memory.peak_kb / 1024, ok, note))
    return rows


# --------------------------------------------------------------------------- targets


def _s3_target(
    workdir: Path, start: Callable[[Path, MotoS3, str], contextlib.AbstractContextManager[RunningServer]]
) -> Callable[[], contextlib.AbstractContextManager[RunningServer]]:
    @contextlib.contextmanager
    def run() -> Iterator[RunningServer]:
        with moto_s3_process(workdir / "moto") as (moto, _process):
            moto.client().create_bucket(Bucket="bench")
            with start(workdir / "server", moto, "s3://bench/artifacts") as server:
                yield server

    return run


def _targets(workdir: Path) -> dict[str, Callable[[], contextlib.AbstractContextManager[RunningServer]]]:
    def shipyard_s3(root: Path, moto: MotoS3, uri: str) -> contextlib.AbstractContextManager[RunningServer]:
        env = {**moto.env, "SHIPYARD_S3_ENDPOINT_URL": moto.endpoint_url}
        return shipyard_server(root, artifacts=uri, env=env)

    def mlflow_s3(root: Path, moto: MotoS3, uri: str) -> contextlib.AbstractContextManager[RunningServer]:
        env = {**moto.env, "MLFLOW_S3_ENDPOINT_URL": moto.endpoint_url}
        return mlflow_server(root, artifacts_destination=uri, env=env)

    return {
        "shipyard-local": lambda: shipyard_server(workdir / "server"),
        "shipyard-s3": _s3_target(workdir, shipyard_s3),
        "mlflow-local": lambda: mlflow_server(workdir / "server"),
        "mlflow-s3": _s3_target(workdir, mlflow_s3),
    }


# --------------------------------------------------------------------------- room on disk and in memory


def _mem_available_mb() -> int:
    with Path("/proc/meminfo").open() as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    return 0


def fit_size(size_mb: int, folder: Path) -> int:
    """``size_mb``, shrunk (with a message) so the run fits the free disk: up to 3 copies at once, plus 1 GB."""
    free_mb = shutil.disk_usage(folder).free // MB
    # moto keeps the parts and the assembled object (2 copies); MLflow's proxy adds a temporary file.
    fitting = (free_mb - 1024) // 3
    if fitting < size_mb:
        shrunk = max(fitting, 0)
        say(f"Only {free_mb} MB free in {folder}: shrinking the artifact from {size_mb} MB to {shrunk} MB.")
        return shrunk
    return size_mb


# --------------------------------------------------------------------------- table


def print_table(rows: list[Row]) -> None:
    header = ["direction", "store", "size MB", "seconds", "MB/s", "idle RSS MB", "peak RSS MB", "growth MB"]
    header.append(f"peak < {BOUND_MB} MB")
    lines = [
        [
            row.direction,
            row.target,
            str(row.size_mb),
            f"{row.seconds:.1f}",
            f"{row.size_mb / row.seconds:.0f}" if row.seconds > 0 else "-",
            f"{row.idle_mb:.0f}",
            f"{row.peak_mb:.0f}",
            f"{row.peak_mb - row.idle_mb:+.0f}",
            ("PASS" if row.peak_mb < BOUND_MB else "FAIL") + ("" if row.ok else " (transfer failed)"),
        ]
        for row in rows
    ]
    widths = [max(len(cells[n]) for cells in [header, *lines]) for n in range(len(header))]
    say("")
    for cells in [header, ["-" * width for width in widths], *lines]:
        say("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)))
    for row in rows:
        if row.note:
            say(f"  note: {row.direction} {row.target}: {row.note}")
    say("\nPeak RSS: the server process and its children, sampled every 20 ms and checked against the kernel's")
    say("VmHWM; moto (the S3 server) and the client are not counted. Idle RSS is the same tree before the upload;")
    say("MLflow's server is several processes (its CLI, the web server, job workers), all counted.")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=2048, help="artifact size in MB (default 2048)")
    parser.add_argument(
        "--only", default=",".join(TARGETS), help=f"comma-separated targets (default all): {','.join(TARGETS)}"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(TARGETS))
    if unknown:
        say(f"Unknown targets {unknown}; expected some of {TARGETS}.")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="shipyard-artifact-bench-"))
    rows: list[Row] = []
    failed = False
    try:
        size_mb = fit_size(args.size_mb, workdir)
        if size_mb < 1:
            say("Not enough free disk for even 1 MB; nothing measured.")
            return 1
        needs_mb = 3 * size_mb + 1024
        if any(name.endswith("-s3") for name in chosen) and _mem_available_mb() < needs_mb:
            say(f"moto keeps S3 objects in memory (~{needs_mb} MB here); skipping the S3 targets.")
            chosen = [name for name in chosen if not name.endswith("-s3")]
        targets = _targets(workdir)
        for name in chosen:
            say(f"{name}: {size_mb} MB up and down ...")
            try:
                with targets[name]() as server:
                    rows.extend(measure(server, name, size_mb))
            except Exception as exc:  # one broken target must not hide the others' figures
                failed = True
                say(f"  {name} failed: {type(exc).__name__}: {str(exc)[:2000]}")
            for child in workdir.iterdir():  # free the disk before the next target
                shutil.rmtree(child, ignore_errors=True)
        print_table(rows)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    failed = failed or any(not row.ok for row in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
