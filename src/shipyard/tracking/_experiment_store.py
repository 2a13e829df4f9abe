"""The tracking store's experiments: create, read, search, rename, delete and restore, and their tags."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipyard._paging import decode_page_token, encode_page_token
from shipyard._visibility import EVERYTHING, Visible
from shipyard.errors import ExperimentNotFound, InvalidParameter, ResourceAlreadyExists, ResourceNotFound
from shipyard.filters import parse_filter, parse_order_by
from shipyard.tracking._search_sql import experiments_query
from shipyard.tracking._store_base import StoreBase, parse_experiment_id
from shipyard.tracking.entities import Experiment, LifecycleStage, ViewType
from shipyard.tracking.search import EXPERIMENT_SEARCH
from shipyard.tracking.tables import experiment_tags, experiments, runs

__all__ = ["DEFAULT_EXPERIMENT_ID", "DEFAULT_EXPERIMENT_NAME", "ExperimentStore"]

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"


class ExperimentStore(StoreBase):
    """Experiments and their tags (the part of `TrackingStore` that owns the experiment tables)."""

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
        exp_id = parse_experiment_id(experiment_id)
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
        comparisons = parse_filter(filter_string, EXPERIMENT_SEARCH)
        order_keys = parse_order_by(list(order_by), EXPERIMENT_SEARCH)
        offset = decode_page_token(page_token)
        query = experiments_query(comparisons, order_keys, view_type.stages, offset, max_results + 1, visible=visible)
        with self.db.read() as conn:
            ids = [int(row[0]) for row in conn.execute(query)]
            page = self._experiments_by_ids(conn, ids[:max_results])
        token = encode_page_token(offset + max_results) if len(ids) > max_results else None
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
        exp_id = parse_experiment_id(experiment_id)
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
        exp_id = parse_experiment_id(experiment_id)
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
        exp_id = parse_experiment_id(experiment_id)
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
        exp_id = parse_experiment_id(experiment_id)
        with self.db.write() as conn:
            self._require_experiment(conn, exp_id, experiment_id)
            result = conn.execute(
                delete(experiment_tags).where(experiment_tags.c.experiment_id == exp_id, experiment_tags.c.key == key)
            )
            if result.rowcount == 0:
                raise ResourceNotFound(f"No tag with name: {key} in experiment with id {experiment_id}")

    @staticmethod
    def artifact_location_of(conn: Connection, experiment_id: int) -> str | None:
        """An experiment's artifact location, read on the caller's connection (None if there is no such experiment).

        The registry creates logged models under it, in the transaction that inserts them.
        """
        location = conn.execute(
            select(experiments.c.artifact_location).where(experiments.c.experiment_id == experiment_id)
        ).scalar()
        return None if location is None else str(location)
