"""A deployment's revisions: its spec and the exact version behind each route, and how a change makes the next one.

Each change (``serve`` starting, an apply, a followed alias moving, a rollback) makes a revision that pins the
exact model version of every route; the newest revision is the active one. The decisions below are pure: a store
(`_store`) runs them against the revisions it holds, under its own concurrency control.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from shipyard.errors import InvalidState, ResourceNotFound
from shipyard.serving.rollout.deployment import DeploymentSpec, parse_spec

__all__ = [
    "OPERATOR_REASONS",
    "ResolvedModel",
    "Revision",
    "rollback_revision",
    "rollback_target",
    "same_serving",
    "start_revision",
]

START, CHANGED_START = "start", "start with a changed spec"
OPERATOR_REASONS = frozenset({START, CHANGED_START})
"""The reasons of revisions made from the spec ``serve`` started with (the operator's, not an API caller's)."""


@dataclass(frozen=True)
class ResolvedModel:
    """A model URI pinned to what it named when it was resolved.

    Attributes:
        uri: what the spec says (``models:/churn@champion``).
        name: the registered model's name (or the folder's name).
        version: the version it resolved to (``"1"`` for a folder).
        source: what loads exactly that version (``models:/churn/4``, or the folder).
    """

    uri: str
    name: str
    version: str
    source: str

    def to_dict(self) -> dict[str, str]:
        """The model as JSON-ready values."""
        return {"uri": self.uri, "name": self.name, "version": self.version, "source": self.source}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResolvedModel:
        """The model :meth:`to_dict` gave."""
        return cls(str(data["uri"]), str(data["name"]), str(data["version"]), str(data["source"]))


@dataclass(frozen=True)
class Revision:
    """One state of a deployment: its spec and the exact version behind each route.

    Attributes:
        number: 1, 2, 3… in the order they were made.
        time_ms: when it was made.
        reason: why (``apply``, ``alias champion moved from 3 to 4``, ``rollback to revision 2``).
        actor: who made it (the signed-in user), or None.
        spec: the deployment spec.
        models: route name -> the pinned model.
        shadow: the pinned shadow model, or None.
        aliases: each followed alias URI -> the version it named when the revision was made. Usually what
            ``models`` pins; after a rollback the routes pin older versions while the aliases still name newer
            ones, and only a further move of an alias is a change to follow.
    """

    number: int
    time_ms: int
    reason: str
    actor: str | None
    spec: DeploymentSpec
    models: dict[str, ResolvedModel]
    shadow: ResolvedModel | None = None
    aliases: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The revision as JSON-ready values."""
        return {
            "number": self.number,
            "time_ms": self.time_ms,
            "reason": self.reason,
            "actor": self.actor,
            "spec": self.spec.to_dict(),
            "models": {route: model.to_dict() for route, model in self.models.items()},
            "shadow": self.shadow.to_dict() if self.shadow else None,
            "aliases": dict(self.aliases),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Revision:
        """The revision :meth:`to_dict` gave."""
        shadow = data.get("shadow")
        return cls(
            number=int(data["number"]),
            time_ms=int(data["time_ms"]),
            reason=str(data["reason"]),
            actor=data.get("actor"),
            spec=parse_spec(data["spec"], source="the stored deployment spec"),
            models={route: ResolvedModel.from_dict(model) for route, model in data["models"].items()},
            shadow=ResolvedModel.from_dict(shadow) if shadow else None,
            aliases={str(uri): str(version) for uri, version in (data.get("aliases") or {}).items()},
        )

    def summary(self) -> dict[str, Any]:
        """The revision in a status answer: number, when, why, who, and the version per route."""
        return {
            "number": self.number,
            "time_ms": self.time_ms,
            "reason": self.reason,
            "actor": self.actor,
            "versions": {route: model.version for route, model in self.models.items()},
        }


def same_serving(a: Revision, b: Revision) -> bool:
    """Whether two revisions serve exactly the same: the same spec and the same pinned versions."""
    return a.spec == b.spec and a.models == b.models and a.shadow == b.shadow


def start_revision(stored: Sequence[Revision], draft: Revision) -> Revision | None:
    """The revision ``serve`` starting with ``draft`` adds, or None to resume the newest stored one.

    A restart (or another process, or another replica) with the same spec resumes where the deployment is,
    rollbacks included; a changed spec is a new revision.
    """
    if not stored:
        return replace(draft, reason=START)
    if stored[-1].spec == draft.spec:
        return None
    return replace(draft, reason=CHANGED_START)


def rollback_target(stored: Sequence[Revision], *, name: str, to: int | None) -> Revision:
    """The revision a rollback returns to: revision ``to``, or the one before the newest.

    Raises:
        InvalidState: there is no earlier revision.
        ResourceNotFound: revision ``to`` is not kept.
    """
    if to is None:
        if len(stored) < 2:
            raise InvalidState(f"Deployment {name!r} has no earlier revision to roll back to.")
        return stored[-2]
    found = [revision for revision in stored if revision.number == to]
    if not found:
        numbers = ", ".join(str(revision.number) for revision in stored[-20:]) or "none"
        raise ResourceNotFound(f"Deployment {name!r} has no revision {to}; kept: {numbers}.")
    return found[0]


def rollback_revision(
    stored: Sequence[Revision], *, name: str, to: int | None, actor: str | None, time_ms: int
) -> Revision:
    """The revision that rolls back to `rollback_target`, pinned to the versions it served.

    Raises:
        InvalidState: there is no earlier revision.
        ResourceNotFound: revision ``to`` is not kept.
    """
    target = rollback_target(stored, name=name, to=to)
    current = stored[-1]
    return Revision(
        number=current.number + 1,
        time_ms=time_ms,
        reason=f"rollback to revision {target.number}",
        actor=actor,
        spec=target.spec,
        models=dict(target.models),
        shadow=target.shadow,
        aliases={**target.aliases, **current.aliases},  # the aliases still name what they name now
    )
