"""Operational snapshots: each serving process writes its request and error counters per model version to the
artifact store now and then, so monitors get error rates per window without reaching into the server.

A snapshot is a small JSON file, ``<uri>/ops/<deployment>/date=YYYY-MM-DD/<time_ms>-<pid>.json``, holding the
process's counters since it started (cumulative, like Prometheus counters). A window's figures are the differences
between each process's last snapshot at or before the window's end and its last one at or before the window's start
(zero when the process started inside the window). The prediction log already has traffic and latency per version;
these add what it cannot see: the requests that failed.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Iterable
from typing import Any

import orjson

from shipyard.artifacts import ArtifactStore, open_artifact_store

__all__ = ["OPS_FOLDER", "error_rates", "read_ops", "write_ops_snapshot"]

OPS_FOLDER = "ops"
_log = logging.getLogger("shipyard.serving")
_MAX_FILES = 20_000  # per read: a day at one snapshot a minute for a dozen processes, with room


def _day(time_ms: int) -> str:
    return dt.datetime.fromtimestamp(time_ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d")


def write_ops_snapshot(
    store: ArtifactStore,
    deployment: str,
    totals: dict[str, dict[str, int]],
    *,
    started_ms: int,
    now_ms: int | None = None,
) -> str:
    """Write one snapshot of ``totals`` (version -> ``requests``, ``errors``, ``client_errors``); returns its path."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    pid = os.getpid()
    record = {"time_ms": now, "started_ms": started_ms, "pid": pid, "deployment": deployment, "versions": totals}
    path = f"{OPS_FOLDER}/{deployment}/date={_day(now)}/{now}-{pid}.json"
    store.write_bytes(path, orjson.dumps(record))
    return path


def read_ops(
    uri: str | ArtifactStore, deployment: str, *, start_ms: int, end_ms: int, s3_endpoint_url: str | None = None
) -> list[dict[str, Any]]:
    """The snapshots of ``deployment`` that a window ``[start_ms, end_ms)`` needs (from the day before its start on)."""
    store = open_artifact_store(uri, s3_endpoint_url=s3_endpoint_url) if isinstance(uri, str) else uri
    folder = f"{OPS_FOLDER}/{deployment}"
    first_day = _day(start_ms - 86_400_000)
    last_day = _day(end_ms)
    snapshots: list[dict[str, Any]] = []
    try:
        days = [entry for entry in store.list_dir(folder) if entry.is_dir]
    except (FileNotFoundError, OSError):
        return []
    for day in days:
        name = day.path.rstrip("/").rsplit("/", 1)[-1].removeprefix("date=")
        if not first_day <= name <= last_day:
            continue
        for file in store.list_dir(day.path):
            stem = file.path.rsplit("/", 1)[-1]
            if file.is_dir or not stem.endswith(".json") or not stem.split("-", 1)[0].isdigit():
                continue
            if int(stem.split("-", 1)[0]) >= end_ms or len(snapshots) >= _MAX_FILES:
                continue
            try:
                snapshots.append(orjson.loads(b"".join(store.iter_read(file.path))))
            except (OSError, orjson.JSONDecodeError) as exc:  # a damaged snapshot costs only itself
                _log.warning("skipping ops snapshot %s: %s", file.path, exc)
    return snapshots


def error_rates(snapshots: Iterable[dict[str, Any]], *, start_ms: int, end_ms: int) -> dict[str, Any]:
    """Requests, errors and the error rate in ``[start_ms, end_ms)``, overall and per model version."""
    by_process: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for snapshot in snapshots:
        key = (int(snapshot.get("pid", 0)), int(snapshot.get("started_ms", 0)))
        by_process.setdefault(key, []).append(snapshot)
    totals: dict[str, dict[str, int]] = {}
    for (_, started_ms), items in by_process.items():
        items.sort(key=lambda item: int(item["time_ms"]))
        at_end = [item for item in items if int(item["time_ms"]) < end_ms]
        if not at_end:
            continue
        before = [item for item in items if int(item["time_ms"]) <= start_ms]
        base = before[-1]["versions"] if before and started_ms < start_ms else {}
        for version, counts in at_end[-1]["versions"].items():
            previous = base.get(version, {})
            total = totals.setdefault(str(version), {"requests": 0, "errors": 0, "client_errors": 0})
            for name in total:
                total[name] += max(0, int(counts.get(name, 0)) - int(previous.get(name, 0)))
    requests = sum(item["requests"] for item in totals.values())
    errors = sum(item["errors"] for item in totals.values())
    return {
        "served_requests": requests,
        "errors": errors,
        "error_rate": errors / requests if requests else None,
        "error_versions": {
            version: {**item, "error_rate": item["errors"] / item["requests"] if item["requests"] else None}
            for version, item in sorted(totals.items())
        },
    }
