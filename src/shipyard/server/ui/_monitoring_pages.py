"""The monitoring pages: the monitors list, one monitor (drift share over time, the column x window heatmap,
quality and operational figures over time, alerts) and one column's drill-down (its score per window and the
reference vs current histogram).

Charts are inline SVG drawn here (points computed in Python, colours from CSS classes), so the pages need no
script and pass the UI's strict Content-Security-Policy. Every function runs in a worker thread.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams
from starlette.responses import Response

from shipyard.auth import Level
from shipyard.errors import InvalidParameter, ResourceNotFound
from shipyard.monitoring.monitors import Monitor, MonitorWindow, describe
from shipyard.server._context import AppContext
from shipyard.server._monitor_paths import authorize_monitor_paths
from shipyard.server.ui._render import fmt_number, fmt_time, render
from shipyard.server.ui._viewer import Viewer

__all__ = ["column_page", "monitor_page", "monitors_page"]

WINDOWS_CHARTED = 200
HEATMAP_WINDOWS = 30
_WIDTH, _HEIGHT, _PAD = 640, 160, 28


@dataclass(frozen=True)
class Line:
    """One SVG line chart: the polyline's points, its dots (with tooltips) and its axis labels."""

    points: str
    dots: list[tuple[float, float, str]]
    y_max: str
    y_min: str
    x_first: str
    x_last: str
    width: int = _WIDTH
    height: int = _HEIGHT


def _line(
    times: Sequence[int], values: Sequence[float | None], *, label: str, y_max: float | None = None
) -> Line | None:
    """A line through the known values (None leaves a gap in the dots, not in the line)."""
    known = [(t, v) for t, v in zip(times, values, strict=True) if v is not None and math.isfinite(v)]
    if not known:
        return None
    low = min(0.0, *(v for _, v in known))
    high = y_max if y_max is not None else max(v for _, v in known)
    high = high if high > low else low + 1.0
    first, last = known[0][0], known[-1][0]
    span = (last - first) or 1

    def x(t: int) -> float:
        return round(_PAD + (t - first) / span * (_WIDTH - 2 * _PAD), 1) if len(known) > 1 else _WIDTH / 2

    def y(v: float) -> float:
        return round(_HEIGHT - _PAD - (v - low) / (high - low) * (_HEIGHT - 2 * _PAD), 1)

    dots = [(x(t), y(v), f"{fmt_time(t)}: {label} {fmt_number(v)}") for t, v in known]
    return Line(
        points=" ".join(f"{px},{py}" for px, py, _ in dots),
        dots=dots,
        y_max=fmt_number(high),
        y_min=fmt_number(low),
        x_first=fmt_time(first)[:16],
        x_last=fmt_time(last)[:16],
    )


def _heat(column: dict[str, Any] | None) -> tuple[str, str]:
    """A heatmap cell's CSS class and tooltip: 0-2 not drifted (how close to the threshold), 3-4 drifted."""
    if not column or "drifted" not in column:
        reason = (column or {}).get("skipped", "not tested")
        return "heat-none", str(reason)
    score, threshold = column.get("score"), column.get("threshold") or 0.0
    if not isinstance(score, int | float):
        ratio = 0.0
    elif column.get("score_is_p_value"):
        ratio = threshold / score if score > 0 else math.inf
    else:
        ratio = score / threshold if threshold > 0 else 0.0
    level = (4 if ratio >= 2 else 3) if column["drifted"] else (2 if ratio >= 0.5 else 1 if ratio >= 0.25 else 0)
    verdict = "drifted" if column["drifted"] else "no drift"
    return f"heat-{level}", f"{column.get('test')} score {fmt_number(score)} vs {fmt_number(threshold)}: {verdict}"


def _readable(ctx: AppContext, viewer: Viewer, name: str) -> Monitor:
    """The monitor, if the viewer may read its deployment and the data its windows were computed from."""
    monitor = ctx.monitors.get(name)
    ctx.access.monitor(viewer.principal, monitor.name, monitor.deployment, Level.READ)
    authorize_monitor_paths(ctx, viewer.principal, monitor.spec, stored=True)
    return monitor


def monitors_page(ctx: AppContext, viewer: Viewer, _query: QueryParams, _path: dict[str, Any]) -> Response:
    """Every monitor the viewer may read, with its newest window and open alerts."""
    found = ctx.monitors.list_monitors()
    if not viewer.principal.is_admin:
        readable = ctx.access.readable_deployments(viewer.principal)
        found = [m for m in found if m.deployment is not None and readable(m.deployment)]
    alerts = ctx.monitors.store.alerts(found, limit=1000)
    rows = []
    for monitor in found:
        latest = ctx.monitors.windows(monitor.name, limit=1)
        firing = [a for a in alerts if a.monitor_id == monitor.monitor_id and a.state == "FIRING"]
        rows.append({"monitor": monitor, "latest": latest[-1] if latest else None, "firing": firing})
    return render("monitors.html", viewer=viewer, rows=rows)


def _quality_series(windows: Sequence[MonitorWindow]) -> list[tuple[str, Line]]:
    """A line per model-quality metric (and labelled rows), in name order."""
    names = sorted({k for w in windows for k in w.metrics if k.startswith("model.")})
    times = [w.start_ms for w in windows]
    charts = []
    for name in names[:12]:
        line = _line(times, [w.metrics.get(name) for w in windows], label=name)
        if line is not None:
            charts.append((name, line))
    return charts


def _ops_rows(windows: Sequence[MonitorWindow]) -> list[dict[str, Any]]:
    rows = []
    for window in reversed(windows[-HEATMAP_WINDOWS:]):
        errors = window.ops.get("error_versions") or {}
        for version, figures in sorted((window.ops.get("versions") or {}).items()):
            failed = errors.get(version.removesuffix(" (shadow)")) if not version.endswith("(shadow)") else None
            rows.append(
                {"start_ms": window.start_ms, "version": version, "error_rate": None, "errors": None, **figures}
            )
            if failed:
                rows[-1]["error_rate"] = failed.get("error_rate")
                rows[-1]["errors"] = failed.get("errors")
    return rows


def monitor_page(ctx: AppContext, viewer: Viewer, _query: QueryParams, path: dict[str, Any]) -> Response:
    """One monitor: drift share over time, heatmap, quality, ops and alerts."""
    monitor = _readable(ctx, viewer, path["name"])
    windows = ctx.monitors.windows(monitor.name, limit=WINDOWS_CHARTED)
    recent = windows[-HEATMAP_WINDOWS:]
    columns = list(dict.fromkeys(c for w in recent for c in w.columns))
    heatmap = [(column, [_heat(w.columns.get(column)) for w in recent]) for column in columns]
    times = [w.start_ms for w in windows]
    return render(
        "monitor.html",
        viewer=viewer,
        monitor=monitor,
        rules=[(rule, describe(rule)) for rule in monitor.spec.alerts],
        windows=windows,
        recent=recent,
        heatmap=heatmap,
        share_line=_line(times, [w.drifted_share for w in windows], label="drifted share", y_max=1.0),
        latency_line=_line(times, [w.metrics.get("latency_p95_ms") for w in windows], label="p95 latency ms"),
        traffic_line=_line(times, [w.metrics.get("requests") for w in windows], label="requests"),
        error_line=_line(times, [w.metrics.get("error_rate") for w in windows], label="error rate", y_max=1.0),
        quality=_quality_series(windows),
        ops_rows=_ops_rows(windows),
        alerts=ctx.monitors.alerts(monitor.name, limit=100),
    )


@dataclass(frozen=True)
class Bars:
    """A histogram of reference vs current shares on shared bins."""

    bars: list[tuple[float, float, float, float, str, str]]  # x, y, width, height, class, tooltip
    labels: list[tuple[float, str]]
    width: int = _WIDTH
    height: int = 200


def _bars(histogram: dict[str, Any] | None) -> Bars | None:
    if not histogram:
        return None
    if histogram["kind"] == "numerical":
        edges = histogram["edges"]
        names = [f"{fmt_number(a)} to {fmt_number(b)}" for a, b in itertools.pairwise(edges)]
    else:
        names = [str(c) for c in histogram["categories"]]
    shares = list(zip(histogram["reference"], histogram["current"], strict=True))
    top = max((max(r, c) for r, c in shares), default=0.0) or 1.0
    slot = (_WIDTH - 2 * _PAD) / max(len(shares), 1)
    bar_w = round(slot * 0.4, 1)
    bars, labels = [], []
    for index, ((ref, cur), name) in enumerate(zip(shares, names, strict=True)):
        x0 = _PAD + index * slot
        for offset, share, cls, side in (
            (0.0, ref, "bar-reference", "reference"),
            (bar_w, cur, "bar-current", "current"),
        ):
            h = round(share / top * (200 - 2 * _PAD), 1)
            bars.append((round(x0 + offset, 1), round(200 - _PAD - h, 1), bar_w, h, cls, f"{name}: {side} {share:.1%}"))
        if len(names) <= 12 or index % max(1, len(names) // 10) == 0:
            labels.append((round(x0 + bar_w, 1), name[:14]))
    return Bars(bars=bars, labels=labels)


def column_page(ctx: AppContext, viewer: Viewer, query: QueryParams, path: dict[str, Any]) -> Response:
    """One column of one monitor: its drift score per window and a window's histograms (the newest by default)."""
    monitor = _readable(ctx, viewer, path["name"])
    column = path["column"]
    windows = [w for w in ctx.monitors.windows(monitor.name, limit=WINDOWS_CHARTED) if column in w.columns]
    if not windows:
        raise ResourceNotFound(f"Monitor '{monitor.name}' has no window that tested column '{column[:128]}'.")
    chosen = windows[-1]
    wanted = query.get("window", "")
    if wanted:
        if not wanted.isdigit():
            raise InvalidParameter(f"Invalid window {wanted[:40]!r}: expected a window's start in ms.")
        chosen = next((w for w in windows if w.start_ms == int(wanted)), chosen)
    times = [w.start_ms for w in windows]
    scores = [w.columns[column].get("score") for w in windows]
    entry = chosen.columns[column]
    return render(
        "monitor_column.html",
        viewer=viewer,
        monitor=monitor,
        column=column,
        windows=windows,
        chosen=chosen,
        entry=entry,
        heat=_heat(entry),
        score_line=_line(times, [s if isinstance(s, int | float) else None for s in scores], label="score"),
        bars=_bars(entry.get("histogram")),
    )
