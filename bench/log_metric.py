"""Benchmark 4: single log_metric call latency.

One run; `calls` sequential calls of `MlflowClient.log_metric(run_id, "m", value, step=i)`,
each one HTTP round trip. Reported: p50 / p95 latency and calls per second.
"""

from __future__ import annotations

import uuid

from mlflow import MlflowClient

from bench.common import Figure, progress, quiet_stdout, time_calls

NAME = "log_metric"
TITLE = "single log_metric call"
HEADLINE = "p50_ms"
TARGET_RATIO = 3.0
FIGURES = {
    "p50_ms": Figure("p50 latency", "ms", higher_is_better=False, digits=2),
    "p95_ms": Figure("p95 latency", "ms", higher_is_better=False, digits=2),
}
FULL = {"calls": 300}
QUICK = {"calls": 100}


def run(client: MlflowClient, sizes: dict) -> dict:
    calls = sizes["calls"]
    exp_id = client.create_experiment(f"bench-log-metric-{uuid.uuid4().hex[:8]}")
    run_id = client.create_run(exp_id).info.run_id
    progress(f"log_metric: {calls} calls")
    sw = time_calls(lambda i: client.log_metric(run_id, "m", float(i) * 0.5, step=i), calls)

    checks: list[str] = []
    latest = client.get_run(run_id).data.metrics.get("m")
    if latest != float(calls - 1) * 0.5:
        checks.append(f"latest value of 'm' is {latest!r}, expected {float(calls - 1) * 0.5}")
    n = len(client.get_metric_history(run_id, "m"))
    if n != calls:
        checks.append(f"history of 'm' has {n} points, expected {calls}")
    with quiet_stdout():
        client.set_terminated(run_id)
    return {**sw.summary(), "calls_per_s": calls / sw.total_s, "calls": calls, "checks": checks}
