"""Benchmark 3: get_metric_history of one long metric.

Set-up (untimed): one run with a single metric key logged at `steps` steps
(via log_batch, 1,000 points per call). Timed: `calls` calls of
`MlflowClient.get_metric_history(run_id, key)`; reported p50 / p95 latency.
"""

from __future__ import annotations

import uuid

from mlflow import MlflowClient
from mlflow.entities import Metric

from bench.common import Figure, now_ms, progress, quiet_stdout, time_calls

NAME = "metric_history"
TITLE = "get_metric_history (one long metric)"
HEADLINE = "p50_ms"
TARGET_RATIO = 5.0
FIGURES = {
    "p50_ms": Figure("p50 latency", "ms", higher_is_better=False),
    "p95_ms": Figure("p95 latency", "ms", higher_is_better=False),
}
FULL = {"steps": 10_000, "calls": 10}
QUICK = {"steps": 2_000, "calls": 5}
KEY = "loss"


def run(client: MlflowClient, sizes: dict) -> dict:
    steps, calls = sizes["steps"], sizes["calls"]
    exp_id = client.create_experiment(f"bench-metric-history-{uuid.uuid4().hex[:8]}")
    run_id = client.create_run(exp_id).info.run_id
    progress(f"metric_history: logging {steps} steps of '{KEY}'")
    ts = now_ms()
    for start in range(0, steps, 1000):
        client.log_batch(
            run_id,
            metrics=[
                Metric(key=KEY, value=1.0 / (1 + s), timestamp=ts + s, step=s)
                for s in range(start, min(start + 1000, steps))
            ],
        )
    with quiet_stdout():
        client.set_terminated(run_id)

    progress(f"metric_history: {calls} x get_metric_history({steps} steps)")
    lengths: list[int] = []
    sw = time_calls(lambda _i: lengths.append(len(client.get_metric_history(run_id, KEY))), calls)

    checks = [f"call returned {n} points, expected {steps}" for n in set(lengths) if n != steps]
    last = client.get_metric_history(run_id, KEY)
    if sorted(m.step for m in last) != list(range(steps)):
        checks.append("steps returned are not exactly 0..steps-1")
    return {**sw.summary(), "steps": steps, "calls": calls, "checks": checks}
