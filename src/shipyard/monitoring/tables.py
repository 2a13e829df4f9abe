"""SQL tables of monitors: their specs, each window's results as a time series, and the alerts they raised."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, String, Table, Text

from shipyard.db import metadata

__all__ = ["FIRING", "RESOLVED", "monitor_alerts", "monitor_windows", "monitors"]

# The values of monitor_alerts.state.
FIRING, RESOLVED = "FIRING", "RESOLVED"

monitors = Table(
    "monitors",
    metadata,
    Column("monitor_id", String(32), primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    # The deployment whose grants govern the monitor (None: a monitor of a Parquet data set, admins only).
    Column("deployment", String(128), nullable=True),
    Column("spec", Text, nullable=False),  # JSON of the validated MonitorSpec
    Column("created_by", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("last_run_at", BigInteger, nullable=True),
    # Alert rules have been evaluated on every window that starts at or before this (ms), so a run replays
    # only newer windows and an alert is raised once, in window order, however far behind the runs were.
    Column("evaluated_through", BigInteger, nullable=True),
    Index(None, "deployment"),
)

# One row per computed window: the series the monitoring page charts and the alert rules read.
monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column("monitor_id", String(32), ForeignKey("monitors.monitor_id", ondelete="CASCADE"), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),  # ms, inclusive
    Column("window_end", BigInteger, nullable=False),  # ms, exclusive
    Column("computed_at", BigInteger, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("drifted_share", Float, nullable=True),  # None: no rows, or drift could not be computed
    Column("dataset_drift", Boolean, nullable=True),
    Column("columns", Text, nullable=False),  # JSON: per column, the test, score, decision and small histograms
    Column("quality", Text, nullable=False),  # JSON: data quality, and model quality when labels were joined
    Column("ops", Text, nullable=False),  # JSON: traffic and latency percentiles per model version
    Column("metrics", Text, nullable=False),  # JSON: the flat name -> number map metric rules read
    Column("error", Text, nullable=True),  # why a window has no drift result, if it failed
)

# One row per time a rule started firing; it is RESOLVED (same row) when the rule stops.
monitor_alerts = Table(
    "monitor_alerts",
    metadata,
    Column("alert_id", Integer, primary_key=True, autoincrement=True),
    Column("monitor_id", String(32), ForeignKey("monitors.monitor_id", ondelete="CASCADE"), nullable=False),
    Column("rule", String(128), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("state", String(16), nullable=False),  # FIRING | RESOLVED
    Column("message", Text, nullable=False),
    Column("value", Float, nullable=True),
    Column("window_start", BigInteger, nullable=False),  # the window in which it started firing
    Column("fired_at", BigInteger, nullable=False),
    Column("fired_event_id", Integer, nullable=True),
    Column("resolved_window_start", BigInteger, nullable=True),
    Column("resolved_at", BigInteger, nullable=True),
    Column("resolved_event_id", Integer, nullable=True),
    Index(None, "monitor_id", "rule", "state"),
    Index(None, "monitor_id", "alert_id"),
)
