"""A deployment's revisions on disk: what every worker process serves, and what survives a restart.

Each change (an apply, a followed alias moving, a rollback) appends a revision that pins the exact model version
of every route. The file is rewritten whole (temp file, then rename) under an exclusive ``flock``, so readers
never see half of it and two workers never append at once. Workers poll its modification time and adopt a newer
revision, which is how a change made through one worker reaches the others.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from shipyard.errors import InvalidParameter, InvalidState
from shipyard.serving.rollout.deployment import DeploymentSpec, parse_spec

__all__ = ["ResolvedModel", "Revision", "StateFile"]

_KEEP_REVISIONS = 100
_FORMAT = 1


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
        return {"uri": self.uri, "name": self.name, "version": self.version, "source": self.source}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResolvedModel:
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
    """

    number: int
    time_ms: int
    reason: str
    actor: str | None
    spec: DeploymentSpec
    models: dict[str, ResolvedModel]
    shadow: ResolvedModel | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "time_ms": self.time_ms,
            "reason": self.reason,
            "actor": self.actor,
            "spec": self.spec.to_dict(),
            "models": {route: model.to_dict() for route, model in self.models.items()},
            "shadow": self.shadow.to_dict() if self.shadow else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Revision:
        shadow = data.get("shadow")
        return cls(
            number=int(data["number"]),
            time_ms=int(data["time_ms"]),
            reason=str(data["reason"]),
            actor=data.get("actor"),
            spec=parse_spec(data["spec"], source="the stored deployment spec"),
            models={route: ResolvedModel.from_dict(model) for route, model in data["models"].items()},
            shadow=ResolvedModel.from_dict(shadow) if shadow else None,
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


class StateFile:
    """The revisions of one deployment, in ``<folder>/state.json``."""

    def __init__(self, folder: Path, deployment: str) -> None:
        self.folder = folder
        self.deployment = deployment
        self.path = folder / "state.json"
        self._lock_path = folder / ".lock"

    def mtime_ns(self) -> int:
        """The file's modification time (0 while it does not exist): cheap enough to poll."""
        try:
            return self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def read(self) -> list[Revision]:
        """Every stored revision, oldest first (empty when there is no file yet)."""
        try:
            data = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return []
        except (OSError, orjson.JSONDecodeError) as exc:
            raise InvalidState(f"The deployment state {str(self.path)!r} cannot be read: {exc}.") from None
        if data.get("deployment") != self.deployment:
            raise InvalidParameter(
                f"The state folder {str(self.folder)!r} belongs to deployment {data.get('deployment')!r}, "
                f"not {self.deployment!r}; use another --state-dir."
            )
        return [Revision.from_dict(item) for item in data.get("revisions", [])]

    @contextlib.contextmanager
    def locked(self) -> Iterator[list[Revision]]:
        """Hold the exclusive lock and yield the stored revisions; :meth:`write` inside the block."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield self.read()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def write(self, revisions: list[Revision]) -> None:
        """Replace the file with ``revisions`` (the newest ``_KEEP_REVISIONS``); call it inside :meth:`locked`."""
        payload = {
            "format": _FORMAT,
            "deployment": self.deployment,
            "written_ms": int(time.time() * 1000),
            "revisions": [revision.to_dict() for revision in revisions[-_KEEP_REVISIONS:]],
        }
        fd, tmp = tempfile.mkstemp(prefix=".state-", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
                out.flush()
                os.fsync(out.fileno())
            Path(tmp).replace(self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
