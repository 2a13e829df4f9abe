"""Permission grants per experiment, registered model and deployment, and the checks every route makes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, insert, select, update
from sqlalchemy.engine import Connection

from shipyard._capabilities import resource_types
from shipyard._ids import canonical_experiment_id
from shipyard._visibility import EVERYTHING, Visible
from shipyard.auth._audit import audit
from shipyard.auth.entities import Grant, Level, Principal
from shipyard.auth.tables import permissions, users
from shipyard.db import Database
from shipyard.errors import InvalidParameter, PermissionDenied, ResourceNotFound

__all__ = ["Permissions", "check_resource_type", "resource_key"]


@dataclass
class Permissions:
    """Who may do what with each resource.

    A user's level on a resource is their grant on it if they have one, else ``default_level``; admins (and
    everyone, when authentication is off) have ``MANAGE`` on everything. The creator of a resource is granted
    ``MANAGE`` on it. Every grant and revocation is recorded as a ``permission.*`` event.

    Attributes:
        database: the metadata database holding the grants.
        default_level: the level of users without a grant (``Settings.auth_default_permission``).
    """

    database: Database
    default_level: Level = Level.READ

    def level(self, principal: Principal, resource_type: str, resource_id: str) -> Level:
        """The principal's effective level on one resource."""
        resource_id = resource_key(resource_type, resource_id)
        if principal.is_admin:
            return Level.MANAGE
        with self.database.read() as conn:
            found = conn.execute(
                select(permissions.c.level).where(
                    permissions.c.resource_type == resource_type,
                    permissions.c.resource_id == resource_id,
                    permissions.c.username == principal.username,
                )
            ).scalar_one_or_none()
        return self.default_level if found is None else Level(found)

    def require(self, principal: Principal, resource_type: str, resource_id: str, needed: Level, what: str) -> None:
        """Raise PermissionDenied unless the principal holds ``needed`` on the resource.

        Args:
            what: the resource as the message should name it (``"experiment '3'"``).

        Raises:
            InvalidParameter: an experiment id in any spelling but ASCII digits (see `resource_key`), even for
                an admin, so a request never means one experiment to the check and another to the store.
        """
        resource_id = resource_key(resource_type, resource_id)
        if principal.is_admin:
            return
        if self.level(principal, resource_type, resource_id) < needed:
            raise PermissionDenied(
                f"User '{principal.username}' lacks {needed.name} permission on {what}; ask its owner or an admin."
            )

    def require_admin(self, principal: Principal, what: str) -> None:
        """Raise PermissionDenied unless the principal is an admin."""
        if not principal.is_admin:
            raise PermissionDenied(f"Only an admin may {what}.")

    def readable(self, principal: Principal, resource_type: str) -> Callable[[str], bool]:
        """A predicate on resource ids: whether the principal may read each one (one query, for searches).

        Ids are compared as stored and as the store writes them (experiment ids are canonical, see `resource_key`).
        """
        if principal.is_admin:
            return lambda _rid: True
        with self.database.read() as conn:
            grants = {
                row.resource_id: Level(row.level)
                for row in conn.execute(
                    select(permissions.c.resource_id, permissions.c.level).where(
                        permissions.c.username == principal.username, permissions.c.resource_type == resource_type
                    )
                )
            }
        default = self.default_level
        return lambda rid: grants.get(rid, default) >= Level.READ

    def visible(self, principal: Principal, resource_type: str) -> Visible:
        """Which resources of one type the principal may read, for the stores to filter listings in SQL (one query).

        With a default level of READ, everything but the explicit denials; with NO_PERMISSIONS, only what the
        principal was granted READ or more on. Admins see everything.
        """
        if principal.is_admin:
            return EVERYTHING
        with self.database.read() as conn:
            rows = conn.execute(
                select(permissions.c.resource_id, permissions.c.level).where(
                    permissions.c.username == principal.username, permissions.c.resource_type == resource_type
                )
            ).all()
        if self.default_level >= Level.READ:
            return Visible(allowed=None, denied=frozenset(r.resource_id for r in rows if r.level < Level.READ))
        return Visible(allowed=frozenset(r.resource_id for r in rows if r.level >= Level.READ))

    def levels(self, principal: Principal, resource_type: str, resource_ids: Sequence[str]) -> dict[str, Level]:
        """The principal's effective level on each of several resources, in one query (keyed by id as given).

        Callers bound ``resource_ids`` (a search's ``experiment_ids`` are at most a thousand).

        Raises:
            InvalidParameter: an experiment id in a spelling other than ASCII digits (see `resource_key`).
        """
        keys = {rid: resource_key(resource_type, rid) for rid in resource_ids}
        if principal.is_admin:
            return dict.fromkeys(keys, Level.MANAGE)
        with self.database.read() as conn:
            found = {
                row.resource_id: Level(row.level)
                for row in conn.execute(
                    select(permissions.c.resource_id, permissions.c.level).where(
                        permissions.c.username == principal.username,
                        permissions.c.resource_type == resource_type,
                        permissions.c.resource_id.in_(sorted(set(keys.values()))),
                    )
                )
            }
        return {rid: found.get(key, self.default_level) for rid, key in keys.items()}

    def grants(self, resource_type: str, resource_id: str) -> list[Grant]:
        """Every explicit grant on one resource, by username."""
        check_resource_type(resource_type)
        resource_id = resource_key(resource_type, resource_id)
        with self.database.read() as conn:
            rows = conn.execute(
                select(permissions)
                .where(permissions.c.resource_type == resource_type, permissions.c.resource_id == resource_id)
                .order_by(permissions.c.username)
            )
            return [Grant(r.resource_type, r.resource_id, r.username, Level(r.level)) for r in rows]

    def user_grants(self, username: str) -> list[Grant]:
        """Every explicit grant a user holds."""
        with self.database.read() as conn:
            rows = conn.execute(
                select(permissions)
                .where(permissions.c.username == username)
                .order_by(permissions.c.resource_type, permissions.c.resource_id)
            )
            return [Grant(r.resource_type, r.resource_id, r.username, Level(r.level)) for r in rows]

    def grant(self, resource_type: str, resource_id: str, username: str, level: Level, *, actor: str | None) -> None:
        """Set ``username``'s level on a resource (replacing any earlier grant); recorded as an event.

        Raises:
            InvalidParameter: an unknown resource type, or an experiment id that is not ASCII digits.
            ResourceNotFound: no such user.
        """
        check_resource_type(resource_type)
        resource_id = resource_key(resource_type, resource_id)
        with self.database.write() as conn:
            if conn.execute(select(users.c.username).where(users.c.username == username)).first() is None:
                raise ResourceNotFound(f"User '{username}' does not exist.")
            self._grant(conn, resource_type, resource_id, username, level, actor)

    def grant_creator(self, resource_type: str, resource_id: str, principal: Principal) -> None:
        """Give the user who created a resource ``MANAGE`` on it (nothing when authentication is off)."""
        if principal.username is None:
            return
        resource_id = resource_key(resource_type, resource_id)
        with self.database.write() as conn:
            self._grant(conn, resource_type, resource_id, principal.username, Level.MANAGE, principal.username)

    def revoke(self, resource_type: str, resource_id: str, username: str, *, actor: str | None) -> None:
        """Remove a user's grant (they fall back to the default level); recorded as an event."""
        check_resource_type(resource_type)
        resource_id = resource_key(resource_type, resource_id)
        with self.database.write() as conn:
            before = _current(conn, resource_type, resource_id, username)
            if before is None:
                raise ResourceNotFound(f"User '{username}' holds no grant on {resource_type} '{resource_id}'.")
            conn.execute(delete(permissions).where(_key(resource_type, resource_id, username)))
            _audit(conn, "permission.revoked", resource_type, resource_id, username, actor, before, None)

    def rename_resource(self, resource_type: str, old_id: str, new_id: str, *, actor: str | None) -> None:
        """Carry a resource's grants over to its new name (a registered model renamed)."""
        with self.database.write() as conn:
            conn.execute(
                update(permissions)
                .where(permissions.c.resource_type == resource_type, permissions.c.resource_id == old_id)
                .values(resource_id=new_id)
            )

    def forget_resource(self, resource_type: str, resource_id: str) -> None:
        """Drop every grant on a deleted resource, so a new one with the same name starts clean."""
        resource_id = resource_key(resource_type, resource_id)
        with self.database.write() as conn:
            conn.execute(
                delete(permissions).where(
                    permissions.c.resource_type == resource_type, permissions.c.resource_id == resource_id
                )
            )

    def _grant(
        self, conn: Connection, resource_type: str, resource_id: str, username: str, level: Level, actor: str | None
    ) -> None:
        before = _current(conn, resource_type, resource_id, username)
        if before == level:
            return
        if before is None:
            conn.execute(
                insert(permissions).values(
                    resource_type=resource_type, resource_id=resource_id, username=username, level=int(level)
                )
            )
        else:
            conn.execute(update(permissions).where(_key(resource_type, resource_id, username)).values(level=int(level)))
        _audit(conn, "permission.granted", resource_type, resource_id, username, actor, before, level)


def resource_key(resource_type: str, resource_id: str) -> str:
    """The key grants on a resource are stored under: experiment ids in their canonical spelling (``"02"`` is
    ``"2"``), other names as given.

    The tracking store reads ``"02"`` as experiment 2, so a grant keyed by the string as sent would let one
    experiment have several keys, and a denial on one be passed with another.

    Raises:
        InvalidParameter: an experiment id that is not ASCII digits (``" 2"``, ``"+2"``, ``"0_2"``, ``"٢"``).
    """
    if resource_type == "experiment":
        return canonical_experiment_id(resource_id, "experiment id")
    return resource_id


def check_resource_type(resource_type: str) -> None:
    """Refuse a resource type no capability declares (the kinds grants name come from the capability registry:
    ``experiment``, ``registered_model``, ``deployment``, …).

    Raises:
        InvalidParameter: an unknown resource type, with the known ones.
    """
    known = resource_types()
    if resource_type not in known:
        raise InvalidParameter(f"Invalid resource type {resource_type!r}: expected one of {', '.join(known)}.")


def _key(resource_type: str, resource_id: str, username: str) -> ColumnElement[bool]:
    return and_(
        permissions.c.resource_type == resource_type,
        permissions.c.resource_id == resource_id,
        permissions.c.username == username,
    )


def _current(conn: Connection, resource_type: str, resource_id: str, username: str) -> Level | None:
    found = conn.execute(select(permissions.c.level).where(_key(resource_type, resource_id, username))).scalar()
    return None if found is None else Level(found)


def _audit(
    conn: Connection,
    kind: str,
    resource_type: str,
    resource_id: str,
    username: str,
    actor: str | None,
    before: Level | None,
    after: Level | None,
) -> None:
    audit(
        conn,
        kind,
        "permission",
        f"{resource_type}:{resource_id}",
        actor,
        entity_name=resource_id,
        from_value=None if before is None else before.name,
        to_value=None if after is None else after.name,
        payload={"resource_type": resource_type, "resource_id": resource_id, "username": username},
    )
