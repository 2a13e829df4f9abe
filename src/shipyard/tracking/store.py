"""SQL for tracking: the one place that reads and writes experiments, runs, params, metrics and tags.

`TrackingStore` is assembled from its parts: experiments (`_experiment_store`), metric history and the latest-value
table (`_metric_store`), and runs with their params, tags and inputs (here).
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipyard._paging import decode_page_token, encode_page_token
from shipyard._visibility import EVERYTHING, Visible
from shipyard.errors import (
    BadRequest,
    ExperimentNotFound,
    InvalidParameter,
    ParamConflict,
    ResourceAlreadyExists,
    ResourceNotFound,
    RunNotFound,
)
from shipyard.filters import parse_filter, parse_order_by
from shipyard.tracking._experiment_store import DEFAULT_EXPERIMENT_ID, ExperimentStore
from shipyard.tracking._metric_store import LoggedModelLinks, MetricStore, linked_metrics
from shipyard.tracking._run_search import for_runs, search_run_ids
from shipyard.tracking._store_base import parse_experiment_id
from shipyard.tracking.entities import (
    DatasetInput,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from shipyard.tracking.search import RUN_SEARCH
from shipyard.tracking.tables import (
    datasets,
    experiments,
    latest_metrics,
    params,
    run_inputs,
    runs,
    tags,
)
from shipyard.tracking.validation import MetricGroups

__all__ = ["DEFAULT_EXPERIMENT_ID", "RUN_NAME_TAG", "LoggedModelLinks", "TrackingStore", "linked_metrics"]

RUN_NAME_TAG = "mlflow.runName"


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


class TrackingStore(ExperimentStore, MetricStore):
    """Experiments, runs and their data on a SQL database (SQLite or PostgreSQL).

    Writes run in one short transaction each through ``Database.write`` (serialised per process on SQLite),
    metric history is inserted in bulk, and a latest-value table serves search and sort.
    """

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
        exp_id = parse_experiment_id(experiment_id)
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
        comparisons = parse_filter(filter_string, RUN_SEARCH)
        order_keys = parse_order_by(list(order_by), RUN_SEARCH)
        offset = decode_page_token(page_token)
        exp_ids = [parse_experiment_id(e) for e in experiment_ids]
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
        token = encode_page_token(offset + max_results) if len(ids) > max_results else None
        return page, token

    @staticmethod
    def experiment_of_run(conn: Connection, run_id: str) -> int | None:
        """The experiment of a run, read on the caller's connection (None if there is no such run)."""
        found = conn.execute(select(runs.c.experiment_id).where(runs.c.run_uuid == run_id)).scalar()
        return None if found is None else int(found)
