"""The supervisor of ``shipyard server --workers N``: a light process that only runs uvicorn's supervisor.

uvicorn starts each worker with the ``spawn`` method, which first re-imports the parent's ``__main__`` module,
and the worker answers the supervisor's health-check pings only once that is done. When the parent is the
``shipyard`` command, ``__main__`` imports the whole CLI (SQLAlchemy, the auth services, …: about 1.3 s of CPU),
so four workers starting at once on two cores, or a replacement started while the other workers are busy,
missed the 5 s budget and were killed, again and again (issue 13, item 2). ``shipyard server`` therefore
replaces itself (``exec``, the PID stays the same) with ``python -m shipyard.cli._workers``, whose ``__main__``
imports only uvicorn: a worker answers pings a few hundred milliseconds after it is spawned, and loads the app
afterwards.

The health-check budget is also set from a measured start time rather than assumed: this process measures how
long it took from the ``exec`` to get as far as a worker must before it can answer (interpreter start plus the
uvicorn imports), and the budget is that times a safety factor for N workers sharing the cores under load, between
10 s and 60 s (``SHIPYARD_WORKER_HEALTHCHECK_S`` overrides it). It must not be large either: uvicorn uses the same
budget when a worker dies between a ping and its answer, and a dead worker is replaced only once it runs out.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

__all__ = ["exec_supervisor", "healthcheck_budget_s"]

_MIN_BUDGET_S = 10
# How much slower than this quiet start a worker may start: every worker spawned at once on few cores, other
# workers serving load meanwhile, page cache cold after an upgrade.
_SAFETY_FACTOR = 8
# The budget also bounds how long the supervisor waits on a worker that died between a ping and its answer
# (uvicorn keeps both ends of the pipe, so no end-of-file tells it sooner): never more than a minute.
_MAX_BUDGET_S = 60
_FALLBACK_START_S = 1.0


def healthcheck_budget_s(measured_start_s: float, workers: int, cores: int) -> int:
    """Seconds a worker may take to answer uvicorn's health check, from this process's own start time.

    Args:
        measured_start_s: how long this process took from exec to ready (what a worker does before answering).
        workers: worker processes started together.
        cores: CPU cores available.
    """
    contention = max(1.0, workers / max(cores, 1))
    return min(_MAX_BUDGET_S, max(_MIN_BUDGET_S, math.ceil(measured_start_s * contention * _SAFETY_FACTOR)))


def exec_supervisor(*, host: str, port: int, workers: int, log_level: str) -> None:
    """Replace this process with the light supervisor (it never returns). Settings travel in the environment."""
    argv = [
        sys.executable,
        "-m",
        "shipyard.cli._workers",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        log_level,
        "--exec-at",
        repr(time.monotonic()),  # CLOCK_MONOTONIC is system-wide on Linux: the new process measures from here
    ]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # noqa: S606  (a fixed argument list, no shell)


def main(argv: list[str] | None = None) -> None:
    """Run uvicorn's multi-process supervisor over ``shipyard.server.app:app_from_env``."""
    parser = argparse.ArgumentParser(prog="shipyard server (supervisor)")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--exec-at", type=float, default=None)
    args = parser.parse_args(argv)

    import uvicorn
    import uvicorn.supervisors.multiprocess  # what a spawned worker imports before it answers

    configured = os.environ.get("SHIPYARD_WORKER_HEALTHCHECK_S", "").strip()
    if configured:
        budget = int(configured)
    else:
        measured = time.monotonic() - args.exec_at if args.exec_at is not None else _FALLBACK_START_S
        budget = healthcheck_budget_s(measured, args.workers, os.cpu_count() or 1)
    uvicorn.run(
        "shipyard.server.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,
        timeout_keep_alive=30,
        timeout_worker_healthcheck=budget,
    )


if __name__ == "__main__":
    main()
