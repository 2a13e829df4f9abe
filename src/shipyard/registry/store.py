"""Registered models, versions, tags, aliases and stages on SQL; every change writes its event in the same
transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, and_, delete, func, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from shipyard._visibility import EVERYTHING, Visible
from shipyard.db import Database
from shipyard.errors import ModelNotFound, ModelVersionNotFound, ResourceAlreadyExists
from shipyard.events import NewEvent, record_event
from shipyard.registry._search_sql import model_versions_query, registered_models_query
from shipyard.registry.entities import ModelVersion, ModelVersionStatus, RegisteredModel, Stage
from shipyard.registry.tables import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)
from shipyard.tracking import search

__all__ = ["Change", "RegistryStore"]


class Change:
    """Who makes a change, when, and why: recorded on the change's event."""

    __slots__ = ("actor", "now_ms", "reason")

    def __init__(self, actor: str, now_ms: int, reason: str | None = None) -> None:
        self.actor = actor
        self.now_ms = now_ms
        self.reason = reason


def _version_label(name: str, version: int | str) -> str:
    return f"(name={name}, version={version})"


class RegistryStore:
    """The registry's SQL: one short transaction per change, events in the same transaction."""

    def __init__(self, database: Database) -> None:
        self.db = database

    # ------------------------------------------------------------------------------------------ helpers
    @staticmethod
    def _key(conn: Connection, name: str) -> int:
        key = conn.execute(select(registered_models.c.model_key).where(registered_models.c.name == name)).scalar()
        if key is None:
            raise ModelNotFound(f"Registered Model with name={name} not found")
        return int(key)

    @staticmethod
    def _require_version(conn: Connection, key: int, name: str, version: int) -> Any:
        row = conn.execute(
            select(model_versions).where(model_versions.c.model_key == key, model_versions.c.version == version)
        ).first()
        if row is None:
            raise ModelVersionNotFound(f"Model Version {_version_label(name, version)} not found")
        return row

    @staticmethod
    def _event(conn: Connection, change: Change, kind: str, name: str, model_key: int, **fields: Any) -> None:
        version = fields.pop("version", None)
        payload = {"name": name, **({"version": str(version)} if version is not None else {}), **fields}
        record_event(
            conn,
            NewEvent(
                kind=kind,
                entity_type="model_version" if version is not None else "registered_model",
                entity_id=str(model_key),
                entity_name=name,
                actor=change.actor,
                version=str(version) if version is not None else None,
                from_value=_text(fields.get("from")),
                to_value=_text(fields.get("to")),
                reason=change.reason,
                payload={k: v for k, v in payload.items() if v is not None},
            ),
            change.now_ms,
        )

    @staticmethod
    def _touch(conn: Connection, key: int, now_ms: int) -> None:
        conn.execute(
            update(registered_models).where(registered_models.c.model_key == key).values(last_updated_time=now_ms)
        )

    def _versions(self, conn: Connection, pairs: Sequence[tuple[int, int]]) -> list[ModelVersion]:
        """Full ModelVersion entities for ``(model_key, version)`` pairs, in the order given."""
        if not pairs:
            return []
        wanted = tuple_(model_versions.c.model_key, model_versions.c.version).in_(list(pairs))
        rows = conn.execute(
            select(model_versions, registered_models.c.name)
            .join(registered_models, registered_models.c.model_key == model_versions.c.model_key)
            .where(wanted)
        ).all()
        keys = sorted({k for k, _ in pairs})
        tags: dict[tuple[int, int], dict[str, str]] = {}
        for r in conn.execute(select(model_version_tags).where(model_version_tags.c.model_key.in_(keys))):
            tags.setdefault((r.model_key, r.version), {})[r.key] = r.value
        aliases: dict[tuple[int, int], list[str]] = {}
        for r in conn.execute(
            select(registered_model_aliases)
            .where(registered_model_aliases.c.model_key.in_(keys))
            .order_by(registered_model_aliases.c.alias)
        ):
            aliases.setdefault((r.model_key, r.version), []).append(r.alias)
        by_pair = {
            (r.model_key, r.version): ModelVersion(
                name=r.name,
                version=r.version,
                creation_time_ms=r.creation_time,
                last_updated_time_ms=r.last_updated_time,
                current_stage=r.current_stage,
                source=r.source,
                status=r.status,
                description=r.description,
                user_id=r.user_id,
                run_id=r.run_id,
                run_link=r.run_link,
                status_message=r.status_message,
                model_id=r.model_id,
                storage_location=r.storage_location,
                tags=tags.get((r.model_key, r.version), {}),
                aliases=tuple(aliases.get((r.model_key, r.version), ())),
            )
            for r in rows
        }
        return [by_pair[p] for p in pairs if p in by_pair]

    def _models(self, conn: Connection, keys: Sequence[int]) -> list[RegisteredModel]:
        if not keys:
            return []
        rows = {
            r.model_key: r
            for r in conn.execute(select(registered_models).where(registered_models.c.model_key.in_(keys)))
        }
        tags: dict[int, dict[str, str]] = {}
        for r in conn.execute(select(registered_model_tags).where(registered_model_tags.c.model_key.in_(keys))):
            tags.setdefault(r.model_key, {})[r.key] = r.value
        aliases: dict[int, dict[str, int]] = {}
        for r in conn.execute(
            select(registered_model_aliases)
            .where(registered_model_aliases.c.model_key.in_(keys))
            .order_by(registered_model_aliases.c.alias)
        ):
            aliases.setdefault(r.model_key, {})[r.alias] = r.version
        latest_rows = conn.execute(
            select(model_versions.c.model_key, model_versions.c.current_stage, func.max(model_versions.c.version))
            .where(model_versions.c.model_key.in_(keys))
            .group_by(model_versions.c.model_key, model_versions.c.current_stage)
        ).all()
        latest_pairs = sorted((int(k), int(v)) for k, _, v in latest_rows)
        latest: dict[int, list[ModelVersion]] = {}
        for mv, (k, _) in zip(self._versions(conn, latest_pairs), latest_pairs, strict=True):
            latest.setdefault(k, []).append(mv)
        return [
            RegisteredModel(
                name=rows[k].name,
                creation_time_ms=rows[k].creation_time,
                last_updated_time_ms=rows[k].last_updated_time,
                description=rows[k].description,
                user_id=rows[k].user_id,
                tags=tags.get(k, {}),
                aliases=aliases.get(k, {}),
                latest_versions=tuple(latest.get(k, ())),
            )
            for k in keys
            if k in rows
        ]

    # ---------------------------------------------------------------------------------- registered models
    def create_registered_model(
        self, name: str, tags: dict[str, str], description: str | None, user_id: str | None, change: Change
    ) -> RegisteredModel:
        """Insert a registered model with no versions."""
        try:
            with self.db.write() as conn:
                if conn.execute(select(registered_models.c.model_key).where(registered_models.c.name == name)).first():
                    raise ResourceAlreadyExists(f"Registered Model (name={name}) already exists.")
                result = conn.execute(
                    insert(registered_models).values(
                        name=name,
                        creation_time=change.now_ms,
                        last_updated_time=change.now_ms,
                        description=description,
                        user_id=user_id,
                        last_version=0,
                    )
                )
                assert result.inserted_primary_key is not None
                key = int(result.inserted_primary_key[0])
                if tags:
                    conn.execute(
                        insert(registered_model_tags),
                        [{"model_key": key, "key": k, "value": v} for k, v in tags.items()],
                    )
                self._event(conn, change, "registered_model.created", name, key, description=description, tags=tags)
        except IntegrityError as exc:
            raise ResourceAlreadyExists(f"Registered Model (name={name}) already exists.") from exc
        return self.get_registered_model(name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        """A registered model with its tags, aliases and latest version per stage."""
        with self.db.read() as conn:
            return self._models(conn, [self._key(conn, name)])[0]

    def rename_registered_model(self, name: str, new_name: str, change: Change) -> RegisteredModel:
        """Rename; versions, tags, aliases and history follow (they refer to the model's key)."""
        try:
            with self.db.write() as conn:
                key = self._key(conn, name)
                if (
                    name != new_name
                    and conn.execute(
                        select(registered_models.c.model_key).where(registered_models.c.name == new_name)
                    ).first()
                ):
                    raise ResourceAlreadyExists(f"Registered Model (name={new_name}) already exists.")
                conn.execute(
                    update(registered_models)
                    .where(registered_models.c.model_key == key)
                    .values(name=new_name, last_updated_time=change.now_ms)
                )
                self._event(conn, change, "registered_model.renamed", new_name, key, **{"from": name, "to": new_name})
        except IntegrityError as exc:
            raise ResourceAlreadyExists(f"Registered Model (name={new_name}) already exists.") from exc
        return self.get_registered_model(new_name)

    def update_registered_model(self, name: str, description: str | None, change: Change) -> RegisteredModel:
        """Replace the description."""
        with self.db.write() as conn:
            key = self._key(conn, name)
            old = conn.execute(
                select(registered_models.c.description).where(registered_models.c.model_key == key)
            ).scalar()
            conn.execute(
                update(registered_models)
                .where(registered_models.c.model_key == key)
                .values(description=description, last_updated_time=change.now_ms)
            )
            self._event(conn, change, "registered_model.updated", name, key, **{"from": old, "to": description})
        return self.get_registered_model(name)

    def delete_registered_model(self, name: str, change: Change) -> None:
        """Delete the model with all its versions, tags and aliases (its history stays)."""
        with self.db.write() as conn:
            key = self._key(conn, name)
            versions = [
                int(v)
                for v in conn.execute(
                    select(model_versions.c.version).where(model_versions.c.model_key == key)
                ).scalars()
            ]
            conn.execute(delete(registered_model_aliases).where(registered_model_aliases.c.model_key == key))
            conn.execute(delete(model_version_tags).where(model_version_tags.c.model_key == key))
            conn.execute(delete(model_versions).where(model_versions.c.model_key == key))
            conn.execute(delete(registered_model_tags).where(registered_model_tags.c.model_key == key))
            conn.execute(delete(registered_models).where(registered_models.c.model_key == key))
            self._event(conn, change, "registered_model.deleted", name, key, versions=versions)

    def set_registered_model_tag(self, name: str, key_: str, value: str, change: Change) -> None:
        """Set or overwrite a model tag."""
        with self.db.write() as conn:
            key = self._key(conn, name)
            old = _put_tag(conn, registered_model_tags, {"model_key": key}, key_, value)
            self._touch(conn, key, change.now_ms)
            self._event(conn, change, "registered_model_tag.set", name, key, tag=key_, **{"from": old, "to": value})

    def delete_registered_model_tag(self, name: str, key_: str, change: Change) -> None:
        """Remove a model tag; removing a missing tag is not an error (as in MLflow)."""
        with self.db.write() as conn:
            key = self._key(conn, name)
            old = _drop_tag(conn, registered_model_tags, {"model_key": key}, key_)
            if old is not None:
                self._event(conn, change, "registered_model_tag.deleted", name, key, tag=key_, **{"from": old})

    def search_registered_models(
        self,
        filter_string: str | None,
        order_by: Sequence[str],
        max_results: int,
        page_token: str | None,
        *,
        visible: Visible = EVERYTHING,
    ) -> tuple[list[RegisteredModel], str | None]:
        """Registered models matching MLflow's filter grammar, one page at a time (only those in ``visible``)."""
        comparisons = search.parse_filter(filter_string, search.REGISTERED_MODEL_SEARCH)
        order_keys = search.parse_order_by(list(order_by), search.REGISTERED_MODEL_SEARCH)
        offset = search.decode_page_token(page_token)
        with self.db.read() as conn:
            keys = [
                int(k)
                for k in conn.execute(
                    registered_models_query(comparisons, order_keys, offset, max_results + 1, visible=visible)
                ).scalars()
            ]
            page = self._models(conn, keys[:max_results])
        return page, (search.encode_page_token(offset + max_results) if len(keys) > max_results else None)

    def latest_versions(self, name: str, stages: Iterable[str]) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (every stage when empty), ordered by stage."""
        wanted = {Stage.parse(s).value for s in stages}
        model = self.get_registered_model(name)
        return [mv for mv in model.latest_versions if not wanted or mv.current_stage in wanted]

    # ------------------------------------------------------------------------------------- model versions
    def create_model_version(
        self,
        name: str,
        source: str,
        *,
        storage_location: str | None,
        run_id: str | None,
        run_link: str | None,
        tags: dict[str, str],
        description: str | None,
        model_id: str | None,
        user_id: str | None,
        change: Change,
    ) -> ModelVersion:
        """Add the next version (numbers are never reused); registration is synchronous, so it is READY."""
        with self.db.write() as conn:
            key = self._key(conn, name)
            version = (
                int(
                    conn.execute(
                        select(registered_models.c.last_version).where(registered_models.c.model_key == key)
                    ).scalar_one()
                )
                + 1
            )
            conn.execute(
                update(registered_models)
                .where(registered_models.c.model_key == key)
                .values(last_version=version, last_updated_time=change.now_ms)
            )
            conn.execute(
                insert(model_versions).values(
                    model_key=key,
                    version=version,
                    creation_time=change.now_ms,
                    last_updated_time=change.now_ms,
                    description=description,
                    user_id=user_id,
                    current_stage=Stage.NONE.value,
                    source=source,
                    storage_location=storage_location,
                    run_id=run_id,
                    run_link=run_link,
                    status=ModelVersionStatus.READY.value,
                    model_id=model_id,
                )
            )
            if tags:
                conn.execute(
                    insert(model_version_tags),
                    [{"model_key": key, "version": version, "key": k, "value": v} for k, v in tags.items()],
                )
            self._event(
                conn,
                change,
                "model_version.created",
                name,
                key,
                version=version,
                source=source,
                run_id=run_id,
                model_id=model_id,
                to=str(version),
            )
            return self._versions(conn, [(key, version)])[0]

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        """One version with its tags and aliases."""
        with self.db.read() as conn:
            key = self._key(conn, name)
            self._require_version(conn, key, name, version)
            return self._versions(conn, [(key, version)])[0]

    def update_model_version(self, name: str, version: int, description: str | None, change: Change) -> ModelVersion:
        """Replace a version's description."""
        with self.db.write() as conn:
            key = self._key(conn, name)
            row = self._require_version(conn, key, name, version)
            conn.execute(
                update(model_versions)
                .where(model_versions.c.model_key == key, model_versions.c.version == version)
                .values(description=description, last_updated_time=change.now_ms)
            )
            self._event(
                conn,
                change,
                "model_version.updated",
                name,
                key,
                version=version,
                **{"from": row.description, "to": description},
            )
            return self._versions(conn, [(key, version)])[0]

    def delete_model_version(self, name: str, version: int, change: Change) -> None:
        """Delete a version, its tags and any alias pointing at it; its number is not reused."""
        with self.db.write() as conn:
            key = self._key(conn, name)
            row = self._require_version(conn, key, name, version)
            aliases = list(
                conn.execute(
                    select(registered_model_aliases.c.alias).where(
                        registered_model_aliases.c.model_key == key, registered_model_aliases.c.version == version
                    )
                ).scalars()
            )
            where_alias = and_(
                registered_model_aliases.c.model_key == key, registered_model_aliases.c.version == version
            )
            conn.execute(delete(registered_model_aliases).where(where_alias))
            conn.execute(
                delete(model_version_tags).where(
                    model_version_tags.c.model_key == key, model_version_tags.c.version == version
                )
            )
            conn.execute(
                delete(model_versions).where(model_versions.c.model_key == key, model_versions.c.version == version)
            )
            self._touch(conn, key, change.now_ms)
            self._event(
                conn,
                change,
                "model_version.deleted",
                name,
                key,
                version=version,
                aliases=aliases,
                stage=row.current_stage,
            )

    def transition_stage(
        self, name: str, version: int, stage: Stage, archive_existing_versions: bool, change: Change
    ) -> ModelVersion:
        """Move a version to ``stage``; optionally archive the other versions in that stage."""
        with self.db.write() as conn:
            key = self._key(conn, name)
            row = self._require_version(conn, key, name, version)
            if archive_existing_versions:
                others = conn.execute(
                    select(model_versions.c.version, model_versions.c.current_stage).where(
                        model_versions.c.model_key == key,
                        model_versions.c.version != version,
                        model_versions.c.current_stage == stage.value,
                    )
                ).all()
                for other, old_stage in others:
                    conn.execute(
                        update(model_versions)
                        .where(model_versions.c.model_key == key, model_versions.c.version == other)
                        .values(current_stage=Stage.ARCHIVED.value, last_updated_time=change.now_ms)
                    )
                    self._event(
                        conn,
                        change,
                        "model_version.stage_changed",
                        name,
                        key,
                        version=other,
                        archived_by=str(version),
                        **{"from": old_stage, "to": Stage.ARCHIVED.value},
                    )
            conn.execute(
                update(model_versions)
                .where(model_versions.c.model_key == key, model_versions.c.version == version)
                .values(current_stage=stage.value, last_updated_time=change.now_ms)
            )
            self._touch(conn, key, change.now_ms)
            self._event(
                conn,
                change,
                "model_version.stage_changed",
                name,
                key,
                version=version,
                **{"from": row.current_stage, "to": stage.value},
            )
            return self._versions(conn, [(key, version)])[0]

    def set_model_version_tag(self, name: str, version: int, key_: str, value: str, change: Change) -> None:
        """Set or overwrite a version tag."""
        with self.db.write() as conn:
            key = self._key(conn, name)
            self._require_version(conn, key, name, version)
            old = _put_tag(conn, model_version_tags, {"model_key": key, "version": version}, key_, value)
            self._event(
                conn,
                change,
                "model_version_tag.set",
                name,
                key,
                version=version,
                tag=key_,
                **{"from": old, "to": value},
            )

    def delete_model_version_tag(self, name: str, version: int, key_: str, change: Change) -> None:
        """Remove a version tag; removing a missing tag is not an error (as in MLflow)."""
        with self.db.write() as conn:
            key = self._key(conn, name)
            self._require_version(conn, key, name, version)
            old = _drop_tag(conn, model_version_tags, {"model_key": key, "version": version}, key_)
            if old is not None:
                self._event(
                    conn, change, "model_version_tag.deleted", name, key, version=version, tag=key_, **{"from": old}
                )

    def search_model_versions(
        self,
        filter_string: str | None,
        order_by: Sequence[str],
        max_results: int,
        page_token: str | None,
        *,
        visible: Visible = EVERYTHING,
    ) -> tuple[list[ModelVersion], str | None]:
        """Model versions matching MLflow's filter grammar, one page at a time (only of models in ``visible``)."""
        comparisons = search.parse_filter(filter_string, search.MODEL_VERSION_SEARCH)
        order_keys = search.parse_order_by(list(order_by), search.MODEL_VERSION_SEARCH)
        offset = search.decode_page_token(page_token)
        with self.db.read() as conn:
            pairs = [
                (int(k), int(v))
                for k, v in conn.execute(
                    model_versions_query(comparisons, order_keys, offset, max_results + 1, visible=visible)
                )
            ]
            page = self._versions(conn, pairs[:max_results])
        return page, (search.encode_page_token(offset + max_results) if len(pairs) > max_results else None)

    # -------------------------------------------------------------------------------------------- aliases
    def set_alias(self, name: str, alias: str, version: int, change: Change) -> None:
        """Point ``alias`` at ``version``, moving it if it pointed elsewhere."""
        with self.db.write() as conn:
            key = self._key(conn, name)
            self._require_version(conn, key, name, version)
            where = and_(registered_model_aliases.c.model_key == key, registered_model_aliases.c.alias == alias)
            old = conn.execute(select(registered_model_aliases.c.version).where(where)).scalar()
            if old == version:
                return
            if old is None:
                conn.execute(insert(registered_model_aliases).values(model_key=key, alias=alias, version=version))
                kind = "model_version_alias.created"
            else:
                conn.execute(update(registered_model_aliases).where(where).values(version=version))
                kind = "model_version_alias.moved"
            self._touch(conn, key, change.now_ms)
            self._event(
                conn,
                change,
                kind,
                name,
                key,
                version=version,
                alias=alias,
                **{"from": str(old) if old is not None else None, "to": str(version)},
            )

    def delete_alias(self, name: str, alias: str, change: Change) -> None:
        """Remove an alias; removing a missing alias is not an error (as in MLflow)."""
        with self.db.write() as conn:
            key = self._key(conn, name)
            where = and_(registered_model_aliases.c.model_key == key, registered_model_aliases.c.alias == alias)
            old = conn.execute(select(registered_model_aliases.c.version).where(where)).scalar()
            if old is None:
                return
            conn.execute(delete(registered_model_aliases).where(where))
            self._touch(conn, key, change.now_ms)
            self._event(
                conn,
                change,
                "model_version_alias.deleted",
                name,
                key,
                version=int(old),
                alias=alias,
                **{"from": str(old)},
            )

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version an alias points at."""
        with self.db.read() as conn:
            key = self._key(conn, name)
            version = conn.execute(
                select(registered_model_aliases.c.version).where(
                    registered_model_aliases.c.model_key == key, registered_model_aliases.c.alias == alias
                )
            ).scalar()
            if version is None:
                raise ModelVersionNotFound(f"Registered model alias {alias} not found.")
            return self._versions(conn, [(key, int(version))])[0]

    def model_key(self, name: str) -> int:
        """The stable key of a registered model (events refer to it)."""
        with self.db.read() as conn:
            return self._key(conn, name)

    def versions_of_run(self, run_id: str) -> list[ModelVersion]:
        """Every model version registered from a run, newest first."""
        with self.db.read() as conn:
            pairs = [
                (int(k), int(v))
                for k, v in conn.execute(
                    select(model_versions.c.model_key, model_versions.c.version)
                    .where(model_versions.c.run_id == run_id)
                    .order_by(model_versions.c.creation_time.desc())
                )
            ]
            return self._versions(conn, pairs)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _tag_where(table: Table, owner: dict[str, Any], key: str) -> ColumnElement[bool]:
    return and_(*(table.c[column] == value for column, value in owner.items()), table.c.key == key)


def _put_tag(conn: Connection, table: Table, owner: dict[str, Any], key: str, value: str) -> str | None:
    """Set the tag ``key`` of the row ``owner`` names in ``table``; returns the value it had, if any."""
    where = _tag_where(table, owner, key)
    old: str | None = conn.execute(select(table.c.value).where(where)).scalar()
    if old is None:
        conn.execute(insert(table).values(**owner, key=key, value=value))
    else:
        conn.execute(update(table).where(where).values(value=value))
    return old


def _drop_tag(conn: Connection, table: Table, owner: dict[str, Any], key: str) -> str | None:
    """Delete the tag ``key`` of the row ``owner`` names; returns the value it had, or None if there was none."""
    where = _tag_where(table, owner, key)
    old: str | None = conn.execute(select(table.c.value).where(where)).scalar()
    if old is not None:
        conn.execute(delete(table).where(where))
    return old
