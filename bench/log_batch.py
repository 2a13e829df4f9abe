"""Benchmark 1: log_batch ingest throughput.

One run; `calls` calls of `MlflowClient.log_batch`, each carrying `metrics_per_call`
metric points spread over `keys` keys (so each call is `metrics_per_call / keys`
consecutive steps of every key). Reported: metric points per second over the whole
timed loop, plus per-call latency.
"""

from __future__ import annotations

import uuid

from mlflow import MlflowClient
from mlflow.entities import Metric

from bench.common import Figure, now_ms, progress, quiet_stdout, time_calls

NAME = "log_batch"
TITLE = "log_batch ingest (1,000 metrics per call)"
HEADLINE = "points_per_s"
CLIENT_CPU_KEY = "call_client_cpu_ms"
TARGET_RATIO = 10.0
FIGURES = {
    "points_per_s": Figure("metric points/s", "points/s", higher_is_better=True, digits=0),
    "call_p50_ms": Figure("per-call p50", "ms", higher_is_better=False),
}
FULL = {"calls": 50, "metrics_per_call": 1000, "keys": 5}
QUICK = {"calls": 5, "metrics_per_call": 1000, "keys": 5}


def _batch(call: int, metrics_per_call: int, keys: int) -> list[Metric]:
    steps = metrics_per_call // keys
    ts = now_ms()
    first = call * steps
    return [
        Metric(key=f"batch_{k}", value=float((first + s) * (k + 1)) / 7.0, timestamp=ts, step=first + s)
        for s in range(steps)
        for k in range(keys)
    ]


def run(client: MlflowClient, sizes: dict) -> dict:
    calls, per_call, keys = sizes["calls"], sizes["metrics_per_call"], sizes["keys"]
    if per_call % keys:
        raise ValueError("metrics_per_call must be a multiple of keys")
    exp_id = client.create_experiment(f"bench-log-batch-{uuid.uuid4().hex[:8]}")
    run_id = client.create_run(exp_id).info.run_id

    # Build payloads up front so only the client call + server round trip is timed.
    batches = [_batch(i, per_call, keys) for i in range(calls)]
    progress(f"log_batch: {calls} calls x {per_call} metrics")
    sw = time_calls(lambda i: client.log_batch(run_id, metrics=batches[i]), calls)
    elapsed = sw.total_s

    points = calls * per_call
    checks: list[str] = []
    history = client.get_metric_history(run_id, "batch_0")
    if len(history) != points // keys:
        checks.append(f"history of batch_0 has {len(history)} points, expected {points // keys}")
    with quiet_stdout():
        client.set_terminated(run_id)
    return {
        "points_per_s": points / elapsed,
        "points": points,
        "calls": calls,
        "elapsed_s": elapsed,
        **sw.summary(prefix="call_"),
        "checks": checks,
    }
