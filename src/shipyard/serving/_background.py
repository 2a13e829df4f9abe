"""The inference server's background work: the prediction and feedback logs, ops snapshots, and the bandit."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from starlette.concurrency import run_in_threadpool

from shipyard.serving._http import ServingState
from shipyard.serving._management import flush_logs
from shipyard.serving.rollout.deployment import DeploymentSpec

__all__ = ["bandit", "open_logs", "ops_snapshots"]

_log = logging.getLogger("shipyard.serving")


def open_logs(state: ServingState, uri: str) -> None:
    """Open the prediction and feedback logs and hook the runtime's predictions into the first."""
    from shipyard.predlog._writer import FeedbackLog, PredictionLog, PredictionLogConfig, PredictionRecord

    config = PredictionLogConfig(uri=uri)
    log = state.log = PredictionLog(config)
    state.feedback = FeedbackLog(config)
    deployment = state.name
    metrics = state.metrics

    def on_prediction(
        *, request_id: str, route: str, served: Any, inputs: Any, outputs: Any, latency_ms: float, shadow: bool = False
    ) -> None:
        record = PredictionRecord(
            request_id=request_id,
            time_ms=int(time.time() * 1000),
            deployment=deployment,
            variant=route,
            model_name=served.resolved.name,
            model_version=served.version,
            inputs=inputs,
            outputs=outputs,
            latency_ms=latency_ms,
            shadow=shadow,
        )
        if not log.append(record):
            metrics.prediction_log_dropped()

    state.runtime.on_prediction = on_prediction


async def ops_snapshots(state: ServingState, uri: str) -> None:
    """Every ``ops_interval_s``, write this process's request and error counters per version (and once at exit)."""
    from shipyard.artifacts import open_artifact_store
    from shipyard.predlog._ops import write_ops_snapshot

    store = await run_in_threadpool(open_artifact_store, uri)
    started_ms = int(time.time() * 1000)
    try:
        while True:
            await asyncio.sleep(state.config.ops_interval_s)
            await _write_ops(store, state, started_ms, write_ops_snapshot)
    finally:
        await _write_ops(store, state, started_ms, write_ops_snapshot)


async def _write_ops(store: Any, state: ServingState, started_ms: int, write: Any) -> None:
    totals = {version: dict(counts) for version, counts in state.metrics.totals.items()}
    if not totals:
        return
    try:
        await run_in_threadpool(write, store, state.name, totals, started_ms=started_ms)
    except Exception as exc:  # the artifact store being away must not stop serving
        _log.warning("writing the ops snapshot of %r failed: %r", state.name, exc)


async def bandit(state: ServingState) -> None:
    """Every ``bandit.interval_s``, set the split to the Thompson-sampling weights (when the spec turns it on)."""
    while True:
        spec = state.runtime.revision.spec
        await asyncio.sleep(spec.bandit.interval_s)
        spec = state.runtime.revision.spec
        if not spec.bandit.enabled or len(spec.routes) < 2:
            state.runtime.set_weights(None)
            continue
        try:
            found = await run_in_threadpool(_bandit_weights, state, spec)
        except Exception as exc:
            _log.warning("bandit update of %r failed: %r", spec.name, exc)
            continue
        if found is not None and state.runtime.revision.spec is spec:
            state.runtime.set_weights(found)
            _log.info("bandit weights for %r: %s", spec.name, found)


def _bandit_weights(state: ServingState, spec: DeploymentSpec) -> dict[str, float] | None:
    from shipyard.serving.rollout._abtest import bandit_weights

    flush_logs(state)
    return bandit_weights(spec, str(state.config.prediction_log))
