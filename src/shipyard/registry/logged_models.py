"""MLflow 3 logged models on SQL: create, finalise, tag, search, and link to the runs that produced them."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from shipyard._paging import decode_page_token, encode_page_token
from shipyard._visibility import EVERYTHING, Visible
from shipyard.db import Database
from shipyard.errors import BadRequest, InvalidParameter, ModelNotFound, RunNotFound
from shipyard.filters import parse_filter, parse_order_by
from shipyard.registry._search_sql import logged_models_query
from shipyard.registry.entities import LoggedModel, LoggedModelStatus
from shipyard.registry.search import LOGGED_MODEL_SEARCH
from shipyard.registry.tables import (
    latest_model_metrics,
    logged_model_params,
    logged_model_tags,
    logged_models,
    run_outputs,
)
from shipyard.tracking.entities import LifecycleStage, ViewType
from shipyard.tracking.store import TrackingStore

__all__ = ["LoggedModelStore", "new_model_id"]


def new_model_id() -> str:
    """A fresh logged-model id in MLflow's shape: ``m-`` and 32 hex digits."""
    return f"m-{uuid.uuid4().hex}"


def _upsert(conn: Connection, table: Any, model_id: str, values: dict[str, str]) -> None:
    if not values:
        return
    conn.execute(delete(table).where(table.c.model_id == model_id, table.c.key.in_(list(values))))
    conn.execute(insert(table), [{"model_id": model_id, "key": k, "value": v} for k, v in values.items()])


class LoggedModelStore:
    """Logged models and run outputs; the tracking store's `LoggedModelLinks` (metric points linked to models).

    Args:
        database: the metadata database (the tracking store's).
        tracking: the tracking store, for what a logged model needs of experiments, runs and their metrics; it is
            asked on this store's connection, so each check runs in the same transaction as the change.
    """

    def __init__(self, database: Database, tracking: TrackingStore) -> None:
        self.db = database
        self.tracking = tracking
        dialect_insert: Any = sqlite.insert if database.is_sqlite else postgresql.insert
        latest = dialect_insert(latest_model_metrics)
        newer = tuple_(latest.excluded.step, latest.excluded.timestamp, latest.excluded.value) > tuple_(
            latest_model_metrics.c.step, latest_model_metrics.c.timestamp, latest_model_metrics.c.value
        )
        self._upsert_latest = latest.on_conflict_do_update(
            index_elements=["model_id", "key"],
            set_={c: getattr(latest.excluded, c) for c in ("step", "timestamp", "value", "is_nan")},
            where=newer,
        )

    # ------------------------------------------------------------------------ LoggedModelLinks (tracking's port)
    def require_linkable(self, conn: Connection, model_ids: Collection[str]) -> None:
        """Refuse metric points linked to a logged model that does not exist or is deleted.

        Raises:
            BadRequest: MLflow's error code (and status, 400) for a metric naming an unknown model.
        """
        wanted = sorted(model_ids)
        found = set(
            conn.execute(
                select(logged_models.c.model_id).where(
                    logged_models.c.model_id.in_(wanted),
                    logged_models.c.lifecycle_stage == LifecycleStage.ACTIVE.value,
                )
            ).scalars()
        )
        missing = [m for m in wanted if m not in found]
        if missing:
            shown = missing[0] if len(missing[0]) <= 64 else missing[0][:64] + "…"
            raise BadRequest(
                f"Logged model with ID '{shown}' not found: a metric's model_id must name an existing logged model "
                "(create it with mlflow.initialize_logged_model or log_model first)."
            )

    def record_latest(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Keep each (model_id, key) row where it is newer, by (step, timestamp, value), than the stored one."""
        conn.execute(self._upsert_latest, list(rows))

    def _load(self, conn: Connection, ids: Sequence[str]) -> list[LoggedModel]:
        if not ids:
            return []
        rows = {r.model_id: r for r in conn.execute(select(logged_models).where(logged_models.c.model_id.in_(ids)))}
        tags: dict[str, dict[str, str]] = {}
        for r in conn.execute(select(logged_model_tags).where(logged_model_tags.c.model_id.in_(ids))):
            tags.setdefault(r.model_id, {})[r.key] = r.value
        params: dict[str, dict[str, str]] = {}
        for r in conn.execute(select(logged_model_params).where(logged_model_params.c.model_id.in_(ids))):
            params.setdefault(r.model_id, {})[r.key] = r.value
        metrics = self.tracking.linked_metrics(conn, ids)
        return [
            LoggedModel(
                model_id=r.model_id,
                experiment_id=str(r.experiment_id),
                name=r.name,
                artifact_location=r.artifact_location,
                creation_time_ms=r.creation_time,
                last_updated_time_ms=r.last_updated_time,
                status=r.status,
                status_message=r.status_message,
                user_id=r.user_id,
                model_type=r.model_type,
                source_run_id=r.source_run_id,
                tags=tags.get(r.model_id, {}),
                params=params.get(r.model_id, {}),
                metrics=metrics.get(r.model_id, ()),
            )
            for r in (rows[i] for i in ids if i in rows)
        ]

    @staticmethod
    def _require(conn: Connection, model_id: str) -> Any:
        row = conn.execute(select(logged_models).where(logged_models.c.model_id == model_id)).first()
        if row is None or row.lifecycle_stage != LifecycleStage.ACTIVE.value:
            raise ModelNotFound(f"Logged model with ID '{model_id}' not found.")
        return row

    def create(
        self,
        experiment_id: int,
        name: str,
        *,
        source_run_id: str | None,
        model_type: str | None,
        user_id: str | None,
        params: dict[str, str],
        tags: dict[str, str],
        now_ms: int,
    ) -> LoggedModel:
        """A new PENDING logged model stored under ``<experiment location>/models/<model_id>/artifacts``."""
        model_id = new_model_id()
        with self.db.write() as conn:
            location = self.tracking.artifact_location_of(conn, experiment_id)
            if location is None:
                raise InvalidParameter(f"No experiment with id {experiment_id}.")
            if source_run_id is not None and self.tracking.experiment_of_run(conn, source_run_id) is None:
                raise InvalidParameter(f"Source run '{source_run_id}' does not exist.")
            conn.execute(
                insert(logged_models).values(
                    model_id=model_id,
                    experiment_id=experiment_id,
                    name=name,
                    artifact_location=f"{location.rstrip('/')}/models/{model_id}/artifacts",
                    creation_time=now_ms,
                    last_updated_time=now_ms,
                    status=LoggedModelStatus.PENDING.value,
                    user_id=user_id,
                    model_type=model_type,
                    source_run_id=source_run_id,
                    lifecycle_stage=LifecycleStage.ACTIVE.value,
                )
            )
            _upsert(conn, logged_model_params, model_id, params)
            _upsert(conn, logged_model_tags, model_id, tags)
            return self._load(conn, [model_id])[0]

    def get(self, model_id: str) -> LoggedModel:
        """One logged model with its tags and params."""
        with self.db.read() as conn:
            self._require(conn, model_id)
            return self._load(conn, [model_id])[0]

    def experiment_of(self, model_id: str) -> str:
        """The experiment of a logged model, without loading its tags, params and metrics."""
        with self.db.read() as conn:
            return str(self._require(conn, model_id).experiment_id)

    def finalize(self, model_id: str, status: LoggedModelStatus, now_ms: int) -> LoggedModel:
        """Set the upload status (PENDING → READY or UPLOAD_FAILED)."""
        with self.db.write() as conn:
            self._require(conn, model_id)
            conn.execute(
                update(logged_models)
                .where(logged_models.c.model_id == model_id)
                .values(status=status.value, last_updated_time=now_ms)
            )
            return self._load(conn, [model_id])[0]

    def delete(self, model_id: str, now_ms: int) -> None:
        """Soft-delete (hidden from get and search)."""
        with self.db.write() as conn:
            self._require(conn, model_id)
            conn.execute(
                update(logged_models)
                .where(logged_models.c.model_id == model_id)
                .values(lifecycle_stage=LifecycleStage.DELETED.value, last_updated_time=now_ms)
            )

    def set_tags(self, model_id: str, tags: dict[str, str]) -> None:
        """Set or overwrite tags."""
        with self.db.write() as conn:
            self._require(conn, model_id)
            _upsert(conn, logged_model_tags, model_id, tags)

    def delete_tag(self, model_id: str, key: str) -> None:
        """Remove one tag (404 if it is not there, as MLflow)."""
        with self.db.write() as conn:
            self._require(conn, model_id)
            result = conn.execute(
                delete(logged_model_tags).where(
                    logged_model_tags.c.model_id == model_id, logged_model_tags.c.key == key
                )
            )
            if result.rowcount == 0:
                raise ModelNotFound(f"No tag with key {key!r} found for logged model with ID '{model_id}'.")

    def log_params(self, model_id: str, params: dict[str, str]) -> None:
        """Set params (a logged model's params may be set again, as MLflow allows)."""
        with self.db.write() as conn:
            self._require(conn, model_id)
            _upsert(conn, logged_model_params, model_id, params)

    def search(
        self,
        experiment_ids: Sequence[int],
        filter_string: str | None,
        order_by: Sequence[str],
        max_results: int,
        page_token: str | None,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        *,
        visible: Visible = EVERYTHING,
    ) -> tuple[list[LoggedModel], str | None]:
        """Logged models of the experiments matching the filter, one page at a time (only in ``visible`` ones)."""
        comparisons = parse_filter(filter_string, LOGGED_MODEL_SEARCH)
        order_keys = parse_order_by(list(order_by), LOGGED_MODEL_SEARCH)
        offset = decode_page_token(page_token)
        query = logged_models_query(
            experiment_ids, comparisons, order_keys, view_type.stages, offset, max_results + 1, visible=visible
        )
        with self.db.read() as conn:
            ids = list(conn.execute(query).scalars())
            page = self._load(conn, ids[:max_results])
        return page, (encode_page_token(offset + max_results) if len(ids) > max_results else None)

    def log_outputs(self, run_id: str, outputs: Sequence[tuple[str, int]]) -> None:
        """Record that ``run_id`` produced these ``(model_id, step)`` outputs."""
        with self.db.write() as conn:
            if self.tracking.experiment_of_run(conn, run_id) is None:
                raise RunNotFound(f"Run '{run_id}' not found.")
            for model_id, step in outputs:
                self._require(conn, model_id)
                conn.execute(
                    delete(run_outputs).where(run_outputs.c.run_uuid == run_id, run_outputs.c.model_id == model_id)
                )
                conn.execute(insert(run_outputs).values(run_uuid=run_id, model_id=model_id, step=step))

    def outputs_of(self, run_id: str) -> list[tuple[str, int]]:
        """The ``(model_id, step)`` outputs of a run."""
        with self.db.read() as conn:
            return [
                (r.model_id, int(r.step))
                for r in conn.execute(
                    select(run_outputs.c.model_id, run_outputs.c.step)
                    .where(run_outputs.c.run_uuid == run_id)
                    .order_by(run_outputs.c.step, run_outputs.c.model_id)
                )
            ]
