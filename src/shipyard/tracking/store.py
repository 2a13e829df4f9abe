"""SQL for tracking: the one place that reads and writes experiments, runs, params, metrics and tags."""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Collection, Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, delete, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from shipyard._ids import strict_experiment_id
from shipyard._visibility import EVERYTHING, Visible
from shipyard.db import Database
from shipyard.errors import (
    BadRequest,
    ExperimentNotFound,
    InvalidParameter,
    ParamConflict,
    ResourceAlreadyExists,
    ResourceNotFound,
    RunNotFound,
)
from shipyard.tracking import search
from shipyard.tracking._chunks import merge_points, pack
from shipyard.tracking._run_search import for_runs, search_run_ids
from shipyard.tracking._search_sql import experiments_query
from shipyard.tracking.entities import (
    DatasetInput,
    Experiment,
    LifecycleStage,
    Metric,
    MetricSeries,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from shipyard.tracking.tables import (
    datasets,
    experiment_tags,
    experiments,
    latest_metrics,
    metric_chunks,
    params,
    run_inputs,
    runs,
    tags,
)
from shipyard.tracking.validation import MetricGroups

__all__ = ["DEFAULT_EXPERIMENT_ID", "LoggedModelLinks", "TrackingStore", "linked_metrics"]

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
RUN_NAME_TAG = "mlflow.runName"


def _zero_nan(value: float) -> float:
    return 0.0 if value != value else value


def _run_from_row(row: Any, **data: Any) -> Run:
    return Run(
        run_id=row["run_uuid"],
        experiment_id=str(row["experiment_id"]),
        run_name=row["name"],
        user_id=row["user_id"],
        status=row["status"],
        start_time_ms=row["start_time"],
        end_time_ms=row["end_time"],
        lifecycle_stage=row["lifecycle_stage"],
        artifact_uri=row["artifact_uri"],
        **data,
    )


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


def _exp_id(experiment_id: str | int) -> int:
    # Only the canonical spelling's digits: int() alone would let " 2", "+2" or "٢" reach experiment 2 past a
    # permission check made on that other spelling.
    return strict_experiment_id(experiment_id, "experiment ID")


class TrackingStore:
    """Experiments, runs and their data on a SQL database (SQLite or PostgreSQL).

    Writes run in one short transaction each through ``Database.write`` (serialised per process on SQLite),
    metric history is inserted in bulk, and a latest-value table serves search and sort.
    """

    def __init__(self, database: Database) -> None:
        self.db = database
        # Set by the registry when it is built on this store; without it, points linked to a model are refused.
        self.model_links: LoggedModelLinks | None = None
        self._dialect_insert: Any = sqlite.insert if database.is_sqlite else postgresql.insert
        # Upsert statements are built once: building ON CONFLICT clauses costs more than running them.
        self._statements: dict[tuple[str, ...], Any] = {}
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

    # ----------------------------------------------------------------------------------------- experiments
    def ensure_default_experiment(self, artifact_root: str, now_ms: int) -> None:
        """Create experiment 0 ("Default") if it is missing, as MLflow does."""
        with self.db.read() as conn:
            found = conn.execute(select(experiments.c.experiment_id).where(experiments.c.experiment_id == 0)).first()
        if found:
            return
        try:
            with self.db.write() as conn:
                conn.execute(
                    insert(experiments).values(
                        experiment_id=0,
                        name=DEFAULT_EXPERIMENT_NAME,
                        artifact_location=f"{artifact_root}/0",
                        lifecycle_stage=LifecycleStage.ACTIVE.value,
                        creation_time=now_ms,
                        last_update_time=now_ms,
                    )
                )
        except IntegrityError:
            return  # another process created it first

    def create_experiment(
        self, name: str, artifact_root: str, artifact_location: str | None, tags: dict[str, str], now_ms: int
    ) -> str:
        """Insert an experiment; its artifact location defaults to ``artifact_root/<id>``."""
        try:
            with self.db.write() as conn:
                taken = conn.execute(select(experiments.c.experiment_id).where(experiments.c.name == name)).first()
                if taken:
                    raise ResourceAlreadyExists(f"Experiment '{name}' already exists.")
                result = conn.execute(
                    insert(experiments).values(
                        name=name,
                        artifact_location=artifact_location or "",
                        lifecycle_stage=LifecycleStage.ACTIVE.value,
                        creation_time=now_ms,
                        last_update_time=now_ms,
                    )
                )
                assert result.inserted_primary_key is not None
                new_id = int(result.inserted_primary_key[0])
                if not artifact_location:
                    conn.execute(
                        update(experiments)
                        .where(experiments.c.experiment_id == new_id)
                        .values(artifact_location=f"{artifact_root}/{new_id}")
                    )
                if tags:
                    conn.execute(
                        insert(experiment_tags),
                        [{"experiment_id": new_id, "key": k, "value": v} for k, v in tags.items()],
                    )
        except IntegrityError as exc:
            raise ResourceAlreadyExists(f"Experiment '{name}' already exists.") from exc
        return str(new_id)

    def _experiments_by_ids(self, conn: Connection, ids: Sequence[int]) -> list[Experiment]:
        if not ids:
            return []
        rows = conn.execute(select(experiments).where(experiments.c.experiment_id.in_(ids))).mappings().all()
        tag_rows = conn.execute(select(experiment_tags).where(experiment_tags.c.experiment_id.in_(ids))).all()
        tag_map: dict[int, dict[str, str]] = {}
        for exp_id, key, value in tag_rows:
            tag_map.setdefault(exp_id, {})[key] = value
        by_id = {
            row["experiment_id"]: Experiment(
                experiment_id=str(row["experiment_id"]),
                name=row["name"],
                artifact_location=row["artifact_location"],
                lifecycle_stage=row["lifecycle_stage"],
                creation_time_ms=row["creation_time"],
                last_update_time_ms=row["last_update_time"],
                tags=tag_map.get(row["experiment_id"], {}),
            )
            for row in rows
        }
        return [by_id[i] for i in ids if i in by_id]

    def get_experiment(self, experiment_id: str | int) -> Experiment:
        """One experiment by id (deleted ones included)."""
        exp_id = _exp_id(experiment_id)
        with self.db.read() as conn:
            found = self._experiments_by_ids(conn, [exp_id])
        if not found:
            raise ExperimentNotFound(f"No Experiment with id={experiment_id} exists")
        return found[0]

    def get_experiment_by_name(self, name: str) -> Experiment:
        """One experiment by its unique name."""
        with self.db.read() as conn:
            exp_id = conn.execute(select(experiments.c.experiment_id).where(experiments.c.name == name)).scalar()
            found = self._experiments_by_ids(conn, [exp_id]) if exp_id is not None else []
        if not found:
            raise ExperimentNotFound(f"Could not find experiment with name '{name}'")
        return found[0]

    def search_experiments(
        self,
        view_type: ViewType,
        filter_string: str | None,
        order_by: Sequence[str],
        max_results: int,
        page_token: str | None,
        *,
        visible: Visible = EVERYTHING,
    ) -> tuple[list[Experiment], str | None]:
        """Experiments matching MLflow's experiment filter grammar, one page at a time.

        Only experiments in ``visible`` are searched, so a page holds ``max_results`` of them when that many exist.
        """
        comparisons = search.parse_filter(filter_string, search.EXPERIMENT_SEARCH)
        order_keys = search.parse_order_by(list(order_by), search.EXPERIMENT_SEARCH)
        offset = search.decode_page_token(page_token)
        query = experiments_query(comparisons, order_keys, view_type.stages, offset, max_results + 1, visible=visible)
        with self.db.read() as conn:
            ids = [int(row[0]) for row in conn.execute(query)]
            page = self._experiments_by_ids(conn, ids[:max_results])
        token = search.encode_page_token(offset + max_results) if len(ids) > max_results else None
        return page, token

    def _require_experiment(self, conn: Connection, exp_id: int, experiment_id: str | int) -> str:
        stage = conn.execute(
            select(experiments.c.lifecycle_stage).where(experiments.c.experiment_id == exp_id)
        ).scalar()
        if stage is None:
            raise ExperimentNotFound(f"No Experiment with id={experiment_id} exists")
        return str(stage)

    def rename_experiment(self, experiment_id: str | int, new_name: str, now_ms: int) -> None:
        """Give an active experiment a new, unused name."""
        exp_id = _exp_id(experiment_id)
        try:
            with self.db.write() as conn:
                stage = self._require_experiment(conn, exp_id, experiment_id)
                if stage != LifecycleStage.ACTIVE:
                    raise InvalidParameter("Cannot rename a non-active experiment.")
                taken = conn.execute(
                    select(experiments.c.experiment_id).where(
                        experiments.c.name == new_name, experiments.c.experiment_id != exp_id
                    )
                ).first()
                if taken:
                    raise ResourceAlreadyExists(f"Experiment '{new_name}' already exists.")
                conn.execute(
                    update(experiments)
                    .where(experiments.c.experiment_id == exp_id)
                    .values(name=new_name, last_update_time=now_ms)
                )
        except IntegrityError as exc:
            raise ResourceAlreadyExists(f"Experiment '{new_name}' already exists.") from exc

    def set_experiment_lifecycle(self, experiment_id: str | int, stage: LifecycleStage, now_ms: int) -> None:
        """Soft-delete or restore an experiment together with its runs."""
        exp_id = _exp_id(experiment_id)
        with self.db.write() as conn:
            current = self._require_experiment(conn, exp_id, experiment_id)
            if stage == LifecycleStage.DELETED and exp_id == 0:
                raise InvalidParameter("Cannot delete the default experiment '0'.")
            if current == stage:
                verb = "deleted" if stage == LifecycleStage.DELETED else "active"
                raise InvalidParameter(f"Experiment {experiment_id} is already {verb}.")
            conn.execute(
                update(experiments)
                .where(experiments.c.experiment_id == exp_id)
                .values(lifecycle_stage=stage.value, last_update_time=now_ms)
            )
            deleted_time = now_ms if stage == LifecycleStage.DELETED else None
            conn.execute(
                update(runs)
                .where(runs.c.experiment_id == exp_id)
                .values(lifecycle_stage=stage.value, deleted_time=deleted_time)
            )

    def set_experiment_tag(self, experiment_id: str | int, key: str, value: str) -> None:
        """Set or overwrite one experiment tag."""
        exp_id = _exp_id(experiment_id)
        with self.db.write() as conn:
            stage = self._require_experiment(conn, exp_id, experiment_id)
            if stage != LifecycleStage.ACTIVE:
                raise InvalidParameter(f"The experiment {experiment_id} must be in the 'active' state.")
            self._upsert(
                conn,
                experiment_tags,
                [{"experiment_id": exp_id, "key": key, "value": value}],
                ["experiment_id", "key"],
                ["value"],
            )

    def delete_experiment_tag(self, experiment_id: str | int, key: str) -> None:
        """Remove one experiment tag; a missing tag is an error."""
        exp_id = _exp_id(experiment_id)
        with self.db.write() as conn:
            self._require_experiment(conn, exp_id, experiment_id)
            result = conn.execute(
                delete(experiment_tags).where(experiment_tags.c.experiment_id == exp_id, experiment_tags.c.key == key)
            )
            if result.rowcount == 0:
                raise ResourceNotFound(f"No tag with name: {key} in experiment with id {experiment_id}")

    # ------------------------------------------------------------------------------------------------ runs
    def create_run(
        self,
        experiment_id: str | int,
        user_id: str,
        start_time_ms: int,
        run_tags: dict[str, str],
        run_name: str,
        run_id: str | None = None,
    ) -> Run:
        """Start a RUNNING run in an active experiment.

        With ``run_id`` (an id the client chose) the call is idempotent: if that run exists in this experiment it
        is returned unchanged, so a client that retries or replays a create makes one run.

        Raises:
            ResourceAlreadyExists: ``run_id`` names a run of another experiment.
        """
        exp_id = _exp_id(experiment_id)
        if run_id is not None:
            try:
                return self._create_run(exp_id, experiment_id, user_id, start_time_ms, run_tags, run_name, run_id)
            except IntegrityError:  # a concurrent create with the same id won: answer with its run
                with self.db.read() as conn:
                    existing = self._proposed_run(conn, run_id, exp_id)
                if existing is None:
                    raise
                return existing
        return self._create_run(exp_id, experiment_id, user_id, start_time_ms, run_tags, run_name, None)

    def _proposed_run(self, conn: Connection, run_id: str, exp_id: int) -> Run | None:
        """The run a client-chosen id already names in experiment ``exp_id``, or None if the id is free."""
        found = conn.execute(select(runs.c.experiment_id).where(runs.c.run_uuid == run_id)).scalar()
        if found is None:
            return None
        if found != exp_id:
            raise ResourceAlreadyExists(
                f"Run '{run_id}' already exists in another experiment; choose a new run id for experiment {exp_id}."
            )
        return self._load_runs(conn, [run_id])[0]

    def _create_run(
        self,
        exp_id: int,
        experiment_id: str | int,
        user_id: str,
        start_time_ms: int,
        run_tags: dict[str, str],
        run_name: str,
        proposed: str | None,
    ) -> Run:
        run_id = proposed or uuid.uuid4().hex
        with self.db.write() as conn:
            if proposed is not None:
                existing = self._proposed_run(conn, proposed, exp_id)
                if existing is not None:
                    return existing
            row = conn.execute(
                select(experiments.c.lifecycle_stage, experiments.c.artifact_location).where(
                    experiments.c.experiment_id == exp_id
                )
            ).first()
            if row is None:
                raise ExperimentNotFound(f"No Experiment with id={experiment_id} exists")
            if row[0] != LifecycleStage.ACTIVE:
                raise InvalidParameter(f"The experiment {experiment_id} must be in the 'active' state.")
            artifact_uri = f"{row[1]}/{run_id}/artifacts"
            conn.execute(
                insert(runs).values(
                    run_uuid=run_id,
                    experiment_id=exp_id,
                    name=run_name,
                    user_id=user_id,
                    status=RunStatus.RUNNING.value,
                    start_time=start_time_ms,
                    end_time=None,
                    deleted_time=None,
                    lifecycle_stage=LifecycleStage.ACTIVE.value,
                    artifact_uri=artifact_uri,
                )
            )
            all_tags = {**run_tags, RUN_NAME_TAG: run_name}
            conn.execute(insert(tags), [{"run_uuid": run_id, "key": k, "value": v} for k, v in all_tags.items()])
        return Run(
            run_id=run_id,
            experiment_id=str(exp_id),
            run_name=run_name,
            user_id=user_id,
            status=RunStatus.RUNNING.value,
            start_time_ms=start_time_ms,
            end_time_ms=None,
            lifecycle_stage=LifecycleStage.ACTIVE.value,
            artifact_uri=artifact_uri,
            tags=all_tags,
        )

    def _load_runs(self, conn: Connection, run_ids: Sequence[str]) -> list[Run]:
        """Runs with their data, in the order of ``run_ids``, in five queries whatever their number."""
        if not run_ids:
            return []
        ids = list(run_ids)
        info_rows = conn.execute(select(runs).where(runs.c.run_uuid.in_(ids))).mappings().all()
        param_map: dict[str, dict[str, str]] = {}
        sqlite = self.db.is_sqlite
        for run_uuid, key, value in conn.execute(
            *for_runs(
                "params", select(params.c.run_uuid, params.c.key, params.c.value), params.c.run_uuid, ids, sqlite=sqlite
            )
        ):
            param_map.setdefault(run_uuid, {})[key] = value
        tag_map: dict[str, dict[str, str]] = {}
        for run_uuid, key, value in conn.execute(
            *for_runs("tags", select(tags.c.run_uuid, tags.c.key, tags.c.value), tags.c.run_uuid, ids, sqlite=sqlite)
        ):
            tag_map.setdefault(run_uuid, {})[key] = value
        metric_map: dict[str, list[Metric]] = {}
        latest = select(
            latest_metrics.c.run_uuid,
            latest_metrics.c.key,
            latest_metrics.c.value,
            latest_metrics.c.timestamp,
            latest_metrics.c.step,
            latest_metrics.c.is_nan,
        )
        for run_uuid, key, value, timestamp, step, nan in conn.execute(
            *for_runs("latest_metrics", latest, latest_metrics.c.run_uuid, ids, sqlite=sqlite)
        ):
            metric_map.setdefault(run_uuid, []).append(
                Metric(key=key, value=math.nan if nan else value, timestamp_ms=timestamp, step=step)
            )
        input_map: dict[str, list[DatasetInput]] = {}
        inputs = select(run_inputs.c.run_uuid, run_inputs.c.tags_json, datasets).join(
            datasets, datasets.c.dataset_uuid == run_inputs.c.dataset_uuid
        )
        for row in conn.execute(*for_runs("inputs", inputs, run_inputs.c.run_uuid, ids, sqlite=sqlite)).mappings():
            input_map.setdefault(row["run_uuid"], []).append(
                DatasetInput(
                    name=row["name"],
                    digest=row["digest"],
                    source_type=row["source_type"],
                    source=row["source"],
                    schema=row["schema"],
                    profile=row["profile"],
                    tags=json.loads(row["tags_json"]),
                )
            )
        by_id: dict[str, Run] = {}
        for row in info_rows:
            rid = row["run_uuid"]
            by_id[rid] = _run_from_row(
                row,
                metrics=tuple(metric_map.get(rid, ())),
                params=param_map.get(rid, {}),
                tags=tag_map.get(rid, {}),
                inputs=tuple(input_map.get(rid, ())),
            )
        return [by_id[r] for r in ids if r in by_id]

    def get_run(self, run_id: str) -> Run:
        """One run with its latest metrics, params, tags and inputs (deleted runs included)."""
        with self.db.read() as conn:
            found = self._load_runs(conn, [run_id])
        if not found:
            raise RunNotFound(f"Run with id={run_id} not found")
        return found[0]

    def _require_active_run(self, conn: Connection, run_id: str) -> None:
        stage = conn.execute(select(runs.c.lifecycle_stage).where(runs.c.run_uuid == run_id)).scalar()
        if stage is None:
            raise RunNotFound(f"Run with id={run_id} not found")
        if stage != LifecycleStage.ACTIVE:
            raise InvalidParameter(f"The run {run_id} must be in the 'active' state. Current state is {stage}.")

    def update_run(self, run_id: str, status: str | None, end_time_ms: int | None, run_name: str | None) -> Run:
        """Change a run's status, end time or name (the name is mirrored in the ``mlflow.runName`` tag).

        Returns the run's info only (no metrics, params or tags): what MLflow's ``runs/update`` answers.
        """
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = status
        if end_time_ms is not None:
            values["end_time"] = end_time_ms
        if run_name:
            values["name"] = run_name
        active = (runs.c.run_uuid == run_id) & (runs.c.lifecycle_stage == LifecycleStage.ACTIVE.value)
        with self.db.write() as conn:
            # One statement in the common case: update the active run and read it back.
            if values:
                row = conn.execute(update(runs).where(active).values(**values).returning(*runs.c)).mappings().first()
            else:
                row = conn.execute(select(runs).where(active)).mappings().first()
            if row is None:
                self._require_active_run(conn, run_id)  # raises the precise error
            assert row is not None
            if run_name:
                self._upsert(
                    conn,
                    tags,
                    [{"run_uuid": run_id, "key": RUN_NAME_TAG, "value": run_name}],
                    ["run_uuid", "key"],
                    ["value"],
                )
            return _run_from_row(row)

    def set_run_lifecycle(self, run_id: str, stage: LifecycleStage, now_ms: int) -> None:
        """Soft-delete or restore a run."""
        with self.db.write() as conn:
            current = conn.execute(select(runs.c.lifecycle_stage).where(runs.c.run_uuid == run_id)).scalar()
            if current is None:
                raise RunNotFound(f"Run with id={run_id} not found")
            conn.execute(
                update(runs)
                .where(runs.c.run_uuid == run_id)
                .values(
                    lifecycle_stage=stage.value,
                    deleted_time=now_ms if stage == LifecycleStage.DELETED else None,
                )
            )

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        """Set or overwrite a run tag; ``mlflow.runName`` also renames the run."""
        self.log_batch(run_id, {}, (), (RunTag(key, value),))

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a run tag; a missing tag is an error."""
        with self.db.write() as conn:
            self._require_active_run(conn, run_id)
            result = conn.execute(delete(tags).where(tags.c.run_uuid == run_id, tags.c.key == key))
            if result.rowcount == 0:
                raise ResourceNotFound(f"No tag with name: {key} in run with id {run_id}")

    # --------------------------------------------------------------------------------------------- logging
    def _upsert(
        self, conn: Connection, table: Any, rows: list[dict[str, Any]], keys: list[str], update_cols: list[str]
    ) -> None:
        cache_key = (table.name, *keys, "|", *update_cols)
        stmt = self._statements.get(cache_key)
        if stmt is None:
            base = self._dialect_insert(table)
            stmt = self._statements[cache_key] = base.on_conflict_do_update(
                index_elements=keys, set_={col: getattr(base.excluded, col) for col in update_cols}
            )
        conn.execute(stmt, rows)

    def log_batch(
        self,
        run_id: str,
        metric_columns: MetricGroups,
        run_params: Iterable[Param],
        run_tags: Iterable[RunTag],
    ) -> None:
        """Log metrics, params and tags to an active run in one transaction.

        Points grouped under a `MetricSeries` are linked to its logged model as well as logged to the run.

        Raises:
            ParamConflict: a param already has a different value (nothing of the batch is written).
            BadRequest: a point names a logged model that does not exist (nothing of the batch is written).
        """
        new_params = list(run_params)
        new_tags = list(run_tags)
        model_ids = {s.model_id for s in metric_columns if not isinstance(s, str)}
        with self.db.write() as conn:
            self._require_active_run(conn, run_id)
            if model_ids:
                if self.model_links is None:
                    raise BadRequest("This store keeps no logged models: log the metric without 'model_id'.")
                self.model_links.require_linkable(conn, model_ids)
            if new_params:
                self._insert_params(conn, run_id, new_params)
            if new_tags:
                by_key = {t.key: t.value for t in new_tags}
                self._upsert(
                    conn,
                    tags,
                    [{"run_uuid": run_id, "key": k, "value": v} for k, v in by_key.items()],
                    ["run_uuid", "key"],
                    ["value"],
                )
                if RUN_NAME_TAG in by_key:
                    conn.execute(update(runs).where(runs.c.run_uuid == run_id).values(name=by_key[RUN_NAME_TAG]))
            if metric_columns:
                self._insert_metrics(conn, run_id, metric_columns)

    def _insert_params(self, conn: Connection, run_id: str, new_params: list[Param]) -> None:
        wanted: dict[str, str] = {}
        for p in new_params:
            if p.key in wanted and wanted[p.key] != p.value:
                raise InvalidParameter(
                    f"Duplicate parameter keys have been submitted: ['{p.key}']. Please ensure the request "
                    "contains only one param value per param key."
                )
            wanted[p.key] = p.value
        existing = dict(
            conn.execute(
                select(params.c.key, params.c.value).where(params.c.run_uuid == run_id, params.c.key.in_(list(wanted)))
            ).all()
        )
        for key, value in wanted.items():
            if key in existing and existing[key] != value:
                raise ParamConflict(
                    f"Changing param values is not allowed. Param with key='{key}' was already logged with "
                    f"value='{existing[key]}' for run ID='{run_id}'. Attempted logging new value '{value}'."
                )
        fresh = [{"run_uuid": run_id, "key": k, "value": v} for k, v in wanted.items() if k not in existing]
        if fresh:
            conn.execute(insert(params), fresh)

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

    def log_inputs(self, run_id: str, inputs: Sequence[DatasetInput]) -> None:
        """Record the datasets a run used; a dataset is stored once per experiment (name + digest)."""
        if not inputs:
            return
        with self.db.write() as conn:
            self._require_active_run(conn, run_id)
            exp_id = conn.execute(select(runs.c.experiment_id).where(runs.c.run_uuid == run_id)).scalar_one()
            for item in inputs:
                dataset_uuid = conn.execute(
                    select(datasets.c.dataset_uuid).where(
                        datasets.c.experiment_id == exp_id,
                        datasets.c.name == item.name,
                        datasets.c.digest == item.digest,
                    )
                ).scalar()
                if dataset_uuid is None:
                    dataset_uuid = uuid.uuid4().hex
                    conn.execute(
                        insert(datasets).values(
                            dataset_uuid=dataset_uuid,
                            experiment_id=exp_id,
                            name=item.name,
                            digest=item.digest,
                            source_type=item.source_type,
                            source=item.source,
                            schema=item.schema,
                            profile=item.profile,
                        )
                    )
                self._upsert(
                    conn,
                    run_inputs,
                    [{"run_uuid": run_id, "dataset_uuid": dataset_uuid, "tags_json": json.dumps(item.tags)}],
                    ["run_uuid", "dataset_uuid"],
                    ["tags_json"],
                )

    # ----------------------------------------------------------------------------------------------- reads
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
        offset = search.decode_page_token(page_token)
        # An unknown run has an empty history, as in MLflow (its client relies on that answer).
        with self.db.read() as conn:
            points = self._points(conn, [run_id], key)[run_id]
        end = len(points) if max_results is None else offset + max_results
        token = search.encode_page_token(end) if end < len(points) else None
        return points[offset:end], token

    def search_runs(
        self,
        experiment_ids: Sequence[str | int],
        filter_string: str | None,
        view_type: ViewType,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
        *,
        visible: Visible = EVERYTHING,
    ) -> tuple[list[Run], str | None]:
        """Runs matching MLflow's run filter grammar, ordered, one page at a time (only in ``visible`` experiments)."""
        comparisons = search.parse_filter(filter_string, search.RUN_SEARCH)
        order_keys = search.parse_order_by(list(order_by), search.RUN_SEARCH)
        offset = search.decode_page_token(page_token)
        exp_ids = [_exp_id(e) for e in experiment_ids]
        with self.db.read() as conn:
            ids = search_run_ids(
                conn,
                sqlite=self.db.is_sqlite,
                comparisons=comparisons,
                order_keys=order_keys,
                experiment_ids=exp_ids,
                lifecycle_stages=view_type.stages,
                offset=offset,
                limit=max_results + 1,
                visible=visible,
            )
            page = self._load_runs(conn, ids[:max_results])
        token = search.encode_page_token(offset + max_results) if len(ids) > max_results else None
        return page, token

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
