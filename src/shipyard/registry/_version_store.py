"""The registry store's model versions and aliases: register, describe, stage, tag, search, alias, delete."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, delete, insert, select, update

from shipyard._paging import decode_page_token, encode_page_token
from shipyard._visibility import EVERYTHING, Visible
from shipyard.db import Database
from shipyard.errors import ModelVersionNotFound
from shipyard.filters import parse_filter, parse_order_by
from shipyard.registry._rows import (
    Change,
    drop_tag,
    load_versions,
    model_key_of,
    put_tag,
    record_change,
    require_version,
    touch,
)
from shipyard.registry._search_sql import model_versions_query
from shipyard.registry.entities import ModelVersion, ModelVersionStatus, Stage
from shipyard.registry.search import MODEL_VERSION_SEARCH
from shipyard.registry.tables import model_version_tags, model_versions, registered_model_aliases, registered_models

__all__ = ["VersionStore"]


class VersionStore:
    """Model versions and aliases (the part of `RegistryStore` that owns their tables)."""

    db: Database

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
            key = model_key_of(conn, name)
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
            record_change(
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
            return load_versions(conn, [(key, version)])[0]

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        """One version with its tags and aliases."""
        with self.db.read() as conn:
            key = model_key_of(conn, name)
            require_version(conn, key, name, version)
            return load_versions(conn, [(key, version)])[0]

    def update_model_version(self, name: str, version: int, description: str | None, change: Change) -> ModelVersion:
        """Replace a version's description."""
        with self.db.write() as conn:
            key = model_key_of(conn, name)
            row = require_version(conn, key, name, version)
            conn.execute(
                update(model_versions)
                .where(model_versions.c.model_key == key, model_versions.c.version == version)
                .values(description=description, last_updated_time=change.now_ms)
            )
            record_change(
                conn,
                change,
                "model_version.updated",
                name,
                key,
                version=version,
                **{"from": row.description, "to": description},
            )
            return load_versions(conn, [(key, version)])[0]

    def delete_model_version(self, name: str, version: int, change: Change) -> None:
        """Delete a version, its tags and any alias pointing at it; its number is not reused."""
        with self.db.write() as conn:
            key = model_key_of(conn, name)
            row = require_version(conn, key, name, version)
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
            touch(conn, key, change.now_ms)
            record_change(
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
            key = model_key_of(conn, name)
            row = require_version(conn, key, name, version)
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
                    record_change(
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
            touch(conn, key, change.now_ms)
            record_change(
                conn,
                change,
                "model_version.stage_changed",
                name,
                key,
                version=version,
                **{"from": row.current_stage, "to": stage.value},
            )
            return load_versions(conn, [(key, version)])[0]

    def set_model_version_tag(self, name: str, version: int, key_: str, value: str, change: Change) -> None:
        """Set or overwrite a version tag."""
        with self.db.write() as conn:
            key = model_key_of(conn, name)
            require_version(conn, key, name, version)
            old = put_tag(conn, model_version_tags, {"model_key": key, "version": version}, key_, value)
            record_change(
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
            key = model_key_of(conn, name)
            require_version(conn, key, name, version)
            old = drop_tag(conn, model_version_tags, {"model_key": key, "version": version}, key_)
            if old is not None:
                record_change(
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
        comparisons = parse_filter(filter_string, MODEL_VERSION_SEARCH)
        order_keys = parse_order_by(list(order_by), MODEL_VERSION_SEARCH)
        offset = decode_page_token(page_token)
        with self.db.read() as conn:
            pairs = [
                (int(k), int(v))
                for k, v in conn.execute(
                    model_versions_query(comparisons, order_keys, offset, max_results + 1, visible=visible)
                )
            ]
            page = load_versions(conn, pairs[:max_results])
        return page, (encode_page_token(offset + max_results) if len(pairs) > max_results else None)

    # -------------------------------------------------------------------------------------------- aliases
    def set_alias(self, name: str, alias: str, version: int, change: Change) -> None:
        """Point ``alias`` at ``version``, moving it if it pointed elsewhere."""
        with self.db.write() as conn:
            key = model_key_of(conn, name)
            require_version(conn, key, name, version)
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
            touch(conn, key, change.now_ms)
            record_change(
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
            key = model_key_of(conn, name)
            where = and_(registered_model_aliases.c.model_key == key, registered_model_aliases.c.alias == alias)
            old = conn.execute(select(registered_model_aliases.c.version).where(where)).scalar()
            if old is None:
                return
            conn.execute(delete(registered_model_aliases).where(where))
            touch(conn, key, change.now_ms)
            record_change(
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
            key = model_key_of(conn, name)
            version = conn.execute(
                select(registered_model_aliases.c.version).where(
                    registered_model_aliases.c.model_key == key, registered_model_aliases.c.alias == alias
                )
            ).scalar()
            if version is None:
                raise ModelVersionNotFound(f"Registered model alias {alias} not found.")
            return load_versions(conn, [(key, int(version))])[0]

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
            return load_versions(conn, pairs)
