"""Benchmark 5: run creation rate.

`runs` sequential iterations of `MlflowClient.create_run(exp)` followed by
`MlflowClient.set_terminated(run_id)`: the life cycle of a short run. With mlflow 3.x
that is three round trips per run (runs/create, runs/update, and the runs/get that
set_terminated does to print the run's URL). Reported: runs per second and per-run latency.
"""

from __future__ import annotations

import uuid

from mlflow import MlflowClient
from mlflow.entities import RunStatus

from bench.common import Figure, progress, quiet_stdout, time_calls

NAME = "run_creation"
TITLE = "run creation (create_run + set_terminated)"
HEADLINE = "runs_per_s"
TARGET_RATIO = 3.0
FIGURES = {
    "runs_per_s": Figure("runs/s", "runs/s", higher_is_better=True),
    "p50_ms": Figure("per-run p50", "ms", higher_is_better=False),
}
FULL = {"runs": 100}
QUICK = {"runs": 30}


def run(client: MlflowClient, sizes: dict) -> dict:
    n = sizes["runs"]
    exp_id = client.create_experiment(f"bench-run-creation-{uuid.uuid4().hex[:8]}")
    progress(f"run_creation: {n} runs")

    def one(_i: int) -> None:
        client.set_terminated(client.create_run(exp_id).info.run_id)

    with quiet_stdout():
        sw = time_calls(one, n)
    elapsed = sw.total_s

    checks: list[str] = []
    runs = client.search_runs([exp_id], max_results=max(n, 1))
    if len(runs) != n:
        checks.append(f"search_runs found {len(runs)} runs, expected {n}")
    not_finished = sum(r.info.status != RunStatus.to_string(RunStatus.FINISHED) for r in runs)
    if not_finished:
        checks.append(f"{not_finished} runs are not FINISHED")
    return {"runs_per_s": n / elapsed, "runs": n, "elapsed_s": elapsed, **sw.summary(), "checks": checks}
