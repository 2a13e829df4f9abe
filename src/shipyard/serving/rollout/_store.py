"""Where a deployment's revisions live: the metadata store (shared by every process and replica), or memory.

Every change reads the deployment's revisions, decides the next one (`_revision`), and commits it only if no one
else committed since: in the metadata store the deployment's ``head`` moves with ``UPDATE … WHERE head = <read>``
(a new deployment's row is an INSERT that a second creator fails on), and a change that lost the race reads again
and decides again. So two replicas applying at once make two revisions, one after the other, and never lose one;
two replicas recording the same alias move make one revision, since the second finds it already served.
"""

from __future__ import annotations

import abc
import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.db import Database
from shipyard.errors import StoreUnavailable
from shipyard.serving.rollout._revision import Revision, rollback_revision, same_serving, start_revision
from shipyard.serving.tables import deployment_revisions, deployments

__all__ = ["KEEP_REVISIONS", "DeploymentStore", "InMemoryDeploymentStore", "RevisionStore"]

KEEP_REVISIONS = 100
"""Revisions kept per deployment; older ones are pruned (rollback reaches any kept one)."""
_ATTEMPTS = 50  # changes that lost the race read again; this many in a row means something is wrong

_Decide = Callable[[list[Revision]], Revision | None]


class RevisionStore(abc.ABC):
    """The operations on deployments' revisions, over three primitives: read them, read the head, commit one."""

    shared: bool = False
    """Whether other processes see the revisions (and so may make some this process has to adopt)."""

    @abc.abstractmethod
    def revisions(self, name: str) -> list[Revision]:
        """The kept revisions of deployment ``name``, oldest first (empty for a deployment never started)."""

    @abc.abstractmethod
    def head(self, name: str) -> int:
        """The number of the newest (active) revision, or 0: one indexed read, cheap enough to poll."""

    @abc.abstractmethod
    def _commit(self, name: str, head: int, revision: Revision) -> bool:
        """Store ``revision`` as the one after ``head``; False when the head is no longer ``head``."""

    def active(self, name: str) -> Revision | None:
        """The revision deployment ``name`` serves: its newest one (None before it was ever started)."""
        stored = self.revisions(name)
        return stored[-1] if stored else None

    def start(self, draft: Revision) -> Revision:
        """``serve`` starts with ``draft``: store it as the first revision, resume the newest stored one when the
        spec is the same, or add it as a new revision when the spec changed. Returns the active revision."""
        return self._change(draft.spec.name, lambda stored: start_revision(stored, draft))

    def append(self, draft: Revision) -> Revision:
        """Add ``draft`` as the newest revision (its number is assigned here), unless the active revision already
        serves exactly the same (another process recorded the same alias move). Returns the active revision."""

        def decide(stored: list[Revision]) -> Revision | None:
            return None if stored and same_serving(stored[-1], draft) else draft

        return self._change(draft.spec.name, decide)

    def rollback(self, name: str, *, to: int | None = None, actor: str | None = None) -> Revision:
        """Add a revision that serves revision ``to`` (default: the one before the active one) again, pinned to the
        versions it served. Returns it.

        Raises:
            InvalidState: there is no earlier revision.
            ResourceNotFound: revision ``to`` is not kept.
        """
        now_ms = int(time.time() * 1000)
        return self._change(
            name, lambda stored: rollback_revision(stored, name=name, to=to, actor=actor, time_ms=now_ms)
        )

    def _change(self, name: str, decide: _Decide) -> Revision:
        for attempt in range(_ATTEMPTS):
            stored = self.revisions(name)
            head = stored[-1].number if stored else 0
            proposed = decide(stored)
            if proposed is None:
                return stored[-1]
            revision = replace(proposed, number=head + 1)
            if self._commit(name, head, revision):
                return revision
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # noqa: S311 - spreading retries, not secrets
        raise StoreUnavailable(
            f"Deployment {name!r} changed {_ATTEMPTS} times while this change was being made; try again."
        )


class DeploymentStore(RevisionStore):
    """Deployment revisions in the metadata store (SQLite or PostgreSQL), shared by every serving process.

    Example:
        >>> store = DeploymentStore(database)  # doctest: +SKIP
        >>> store.active("churn").summary()  # doctest: +SKIP
        {'number': 3, 'time_ms': ..., 'reason': 'rollback to revision 1', 'actor': 'ada', 'versions': {'main': '1'}}
    """

    shared = True

    def __init__(self, database: Database) -> None:
        self.db = database

    def revisions(self, name: str) -> list[Revision]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(deployment_revisions)
                .where(deployment_revisions.c.deployment == name)
                .order_by(deployment_revisions.c.number)
            ).all()
        return [_from_row(row) for row in rows]

    def head(self, name: str) -> int:
        with self.db.read() as conn:
            found = conn.execute(select(deployments.c.head).where(deployments.c.name == name)).scalar()
        return int(found or 0)

    def _commit(self, name: str, head: int, revision: Revision) -> bool:
        now_ms = int(time.time() * 1000)
        try:
            with self.db.write() as conn:
                if head == 0:
                    conn.execute(
                        insert(deployments).values(
                            name=name, head=revision.number, created_at=now_ms, updated_at=now_ms
                        )
                    )
                else:
                    moved = conn.execute(
                        update(deployments)
                        .where(deployments.c.name == name, deployments.c.head == head)
                        .values(head=revision.number, updated_at=now_ms)
                    )
                    if moved.rowcount != 1:
                        return False  # another process committed first; nothing was written
                conn.execute(insert(deployment_revisions).values(deployment=name, **_to_row(revision)))
                conn.execute(
                    delete(deployment_revisions).where(
                        deployment_revisions.c.deployment == name,
                        deployment_revisions.c.number <= revision.number - KEEP_REVISIONS,
                    )
                )
        except IntegrityError:
            return False  # another process created the deployment (or its revision) first
        return True


class InMemoryDeploymentStore(RevisionStore):
    """Revisions kept in this process only, for a deployment served without a metadata store (lost on exit)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stored: dict[str, list[Revision]] = {}

    def revisions(self, name: str) -> list[Revision]:
        with self._lock:
            return list(self._stored.get(name, []))

    def head(self, name: str) -> int:
        with self._lock:
            stored = self._stored.get(name)
            return stored[-1].number if stored else 0

    def _commit(self, name: str, head: int, revision: Revision) -> bool:
        with self._lock:
            stored = self._stored.setdefault(name, [])
            if (stored[-1].number if stored else 0) != head:
                return False
            stored.append(revision)
            del stored[:-KEEP_REVISIONS]
            return True


def _to_row(revision: Revision) -> dict[str, Any]:
    data = revision.to_dict()
    return {
        "number": revision.number,
        "time_ms": revision.time_ms,
        "reason": revision.reason,
        "actor": revision.actor,
        "spec": orjson.dumps(data["spec"]).decode(),
        "models": orjson.dumps(data["models"]).decode(),
        "shadow": orjson.dumps(data["shadow"]).decode() if revision.shadow is not None else None,
        "aliases": orjson.dumps(data["aliases"]).decode(),
    }


def _from_row(row: Any) -> Revision:
    return Revision.from_dict(
        {
            "number": row.number,
            "time_ms": row.time_ms,
            "reason": row.reason,
            "actor": row.actor,
            "spec": orjson.loads(row.spec),
            "models": orjson.loads(row.models),
            "shadow": orjson.loads(row.shadow) if row.shadow else None,
            "aliases": orjson.loads(row.aliases),
        }
    )
