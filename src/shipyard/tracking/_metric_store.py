"""The tracking store's metrics: history written in packed chunks, the latest-value table, links to logged models,
and the history reads."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, select, tuple_

from shipyard._paging import decode_page_token, encode_page_token
from shipyard.db import Database
from shipyard.tracking._chunks import merge_points, pack
from shipyard.tracking._store_base import StoreBase
from shipyard.tracking.entities import Metric, MetricSeries
from shipyard.tracking.tables import latest_metrics, metric_chunks
from shipyard.tracking.validation import MetricGroups

__all__ = ["LoggedModelLinks", "MetricStore", "linked_metrics"]


def _zero_nan(value: float) -> float:
    return 0.0 if value != value else value


def _newest(steps: list[int], stamps: list[int], values: list[float]) -> int:
    """Index of the point MLflow keeps as latest: max by (step, timestamp, value), NaN ranking as 0."""
    top = max(steps)
    if steps.count(top) == 1:
        return steps.index(top)
    candidates = [i for i, step in enumerate(steps) if step == top]
    return max(candidates, key=lambda i: (stamps[i], _zero_nan(values[i])))


def _newer(row: dict[str, Any], than: dict[str, Any] | None) -> bool:
    """Whether a latest-value row is newer than another, by MLflow's (step, timestamp, value) rule."""
    if than is None:
        return True
    return (row["step"], row["timestamp"], row["value"]) > (than["step"], than["timestamp"], than["value"])


def _linked_digest(digest: str, series: MetricSeries) -> str:
    """A chunk's digest with its link: the same points linked to two models (or to none) are distinct chunks."""
    link = "\x1f".join((digest, series.model_id, series.dataset_name or "", series.dataset_digest or ""))
    return hashlib.sha1(link.encode(), usedforsecurity=False).hexdigest()


class LoggedModelLinks(Protocol):
    """What linking metric points to logged models needs from whoever keeps the models (the registry).

    Tracking may not import the registry, so the registry hands this in (`TrackingStore.model_links`); both run
    inside the transaction that writes the points, on its connection.
    """

    def require_linkable(self, conn: Connection, model_ids: Collection[str]) -> None:
        """Raise ``BadRequest`` (MLflow's code for a metric naming an unknown model) unless every id is an active
        logged model."""

    def record_latest(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Keep each row (model_id, key, step, timestamp, value, is_nan) where it is newer than the stored one."""


def linked_metrics(conn: Connection, model_ids: Sequence[str]) -> dict[str, tuple[Metric, ...]]:
    """Every metric point linked to each of these logged models, over all runs, with its run, model and dataset.

    Identical points of one run, key and dataset are merged (MLflow stores one row per model, key, timestamp,
    step and run). Points come grouped by key, then dataset and run, each group in MLflow's history order.
    """
    if not model_ids:
        return {}
    rows = conn.execute(
        select(
            metric_chunks.c.model_id,
            metric_chunks.c.key,
            metric_chunks.c.dataset_name,
            metric_chunks.c.dataset_digest,
            metric_chunks.c.run_uuid,
            metric_chunks.c.steps,
            metric_chunks.c.timestamps,
            metric_chunks.c.vals,
        ).where(metric_chunks.c.model_id.in_(list(model_ids)))
    ).all()
    groups: dict[tuple[str, str, str, str, str], list[tuple[bytes, bytes, bytes]]] = {}
    for model_id, key, dataset_name, dataset_digest, run_uuid, steps, stamps, vals in rows:
        group = (model_id, key, dataset_name or "", dataset_digest or "", run_uuid)
        groups.setdefault(group, []).append((steps, stamps, vals))
    out: dict[str, list[Metric]] = {}
    for (model_id, key, name, digest, run_uuid), chunks in sorted(groups.items()):
        out.setdefault(model_id, []).extend(
            Metric(key, v, t, s, model_id, name or None, digest or None, run_uuid) for t, s, v in merge_points(chunks)
        )
    return {model_id: tuple(points) for model_id, points in out.items()}


class MetricStore(StoreBase):
    """Metric points: written in bulk (chunks plus the latest value per key), read back as histories."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        # Set by the registry when it is built on this store; without it, points linked to a model are refused.
        self.model_links: LoggedModelLinks | None = None
        insert_chunk = self._dialect_insert(metric_chunks).on_conflict_do_nothing()
        latest = self._dialect_insert(latest_metrics)
        newer = tuple_(latest.excluded.step, latest.excluded.timestamp, latest.excluded.value) > tuple_(
            latest_metrics.c.step, latest_metrics.c.timestamp, latest_metrics.c.value
        )
        self._insert_chunks = insert_chunk
        self._upsert_latest = latest.on_conflict_do_update(
            index_elements=["run_uuid", "key"],
            set_={c: getattr(latest.excluded, c) for c in ("step", "timestamp", "value", "is_nan")},
            where=newer,
        )

    def _insert_metrics(self, conn: Connection, run_id: str, groups: MetricGroups) -> None:
        chunk_rows = []
        latest_rows: dict[str, dict[str, Any]] = {}  # one per key: a key may come plain and linked in one batch
        model_rows: dict[tuple[str, str], dict[str, Any]] = {}
        for series, (steps, stamps, values) in groups.items():
            chunk = pack(steps, stamps, values)
            model_id: str | None = None
            dataset_name: str | None = None
            dataset_digest: str | None = None
            if isinstance(series, str):
                key, digest = series, chunk.digest
            else:
                key, model_id, dataset_name, dataset_digest = series
                digest = _linked_digest(chunk.digest, series)
            chunk_rows.append(
                {
                    "run_uuid": run_id,
                    "key": key,
                    "digest": digest,
                    "n_points": chunk.n_points,
                    "min_timestamp": chunk.min_timestamp,
                    "max_timestamp": chunk.max_timestamp,
                    "steps": chunk.steps,
                    "timestamps": chunk.timestamps,
                    "vals": chunk.vals,
                    "model_id": model_id,
                    "dataset_name": dataset_name,
                    "dataset_digest": dataset_digest,
                }
            )
            newest = _newest(steps, stamps, values)
            nan = values[newest] != values[newest]
            row = {
                "run_uuid": run_id,
                "key": key,
                "step": steps[newest],
                "timestamp": stamps[newest],
                "value": _zero_nan(values[newest]),
                "is_nan": nan,
            }
            if _newer(row, latest_rows.get(key)):
                latest_rows[key] = row
            if model_id is not None:
                model_row = {**row, "model_id": model_id}
                del model_row["run_uuid"]
                if _newer(model_row, model_rows.get((model_id, key))):
                    model_rows[model_id, key] = model_row
        conn.execute(self._insert_chunks, chunk_rows)
        conn.execute(self._upsert_latest, list(latest_rows.values()))
        if model_rows:
            assert self.model_links is not None  # log_batch checked the links first
            self.model_links.record_latest(conn, list(model_rows.values()))

    def _points(self, conn: Connection, run_ids: Sequence[str], key: str) -> dict[str, list[tuple[int, int, float]]]:
        rows = conn.execute(
            select(
                metric_chunks.c.run_uuid, metric_chunks.c.steps, metric_chunks.c.timestamps, metric_chunks.c.vals
            ).where(metric_chunks.c.run_uuid.in_(list(run_ids)), metric_chunks.c.key == key)
        ).all()
        by_run: dict[str, list[tuple[bytes, bytes, bytes]]] = {r: [] for r in run_ids}
        for run_uuid, steps, stamps, vals in rows:
            by_run[run_uuid].append((steps, stamps, vals))
        return {r: merge_points(chunks) for r, chunks in by_run.items()}

    def get_metric_history(
        self, run_id: str, key: str, max_results: int | None, page_token: str | None
    ) -> tuple[list[tuple[int, int, float]], str | None]:
        """A metric's points as (timestamp, step, value) in MLflow's order, a page at a time."""
        offset = decode_page_token(page_token)
        # An unknown run has an empty history, as in MLflow (its client relies on that answer).
        with self.db.read() as conn:
            points = self._points(conn, [run_id], key)[run_id]
        end = len(points) if max_results is None else offset + max_results
        token = encode_page_token(end) if end < len(points) else None
        return points[offset:end], token

    def count_metric_points(self, run_id: str) -> int:
        """How many distinct history points a run has over all keys (for tests and the UI)."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(
                    metric_chunks.c.key, metric_chunks.c.steps, metric_chunks.c.timestamps, metric_chunks.c.vals
                ).where(metric_chunks.c.run_uuid == run_id)
            ).all()
        by_key: dict[str, list[tuple[bytes, bytes, bytes]]] = {}
        for key, steps, stamps, vals in rows:
            by_key.setdefault(key, []).append((steps, stamps, vals))
        return sum(len(merge_points(chunks)) for chunks in by_key.values())

    def histories(self, run_ids: Sequence[str], key: str) -> dict[str, list[Metric]]:
        """Full histories of one metric over several runs, ordered by step (for charts)."""
        with self.db.read() as conn:
            merged = self._points(conn, run_ids, key)
        return {
            rid: [Metric(key, v, t, s) for t, s, v in sorted(points, key=lambda p: (p[1], p[0]))]
            for rid, points in merged.items()
        }

    @staticmethod
    def linked_metrics(conn: Connection, model_ids: Sequence[str]) -> dict[str, tuple[Metric, ...]]:
        """Every metric point linked to each of these logged models (see `linked_metrics`), on the caller's
        connection."""
        return linked_metrics(conn, model_ids)
