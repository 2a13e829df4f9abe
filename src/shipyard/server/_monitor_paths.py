"""Who may point a monitor at which data: every location a monitor spec names, authorized by its owner.

A monitor reads what its spec names with the server's own access, and shows what it read (histograms, categories,
quality figures) to whoever may read the monitor. So each location is checked as if the caller read the data
themselves: it is canonicalized to a key of the artifact root (no ``..``, no other scheme, no encoded tricks, and
symbolic links followed to where they really lead), and each key is authorized by whoever owns it. An admin may
name anything, as before; anyone else only the watched deployment's own prediction log (its ``predictions/``,
``feedback/`` and ``ops/`` folders for that deployment, under a log root that is no experiment's folder) and paths
inside experiments they can READ.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from shipyard.artifacts import safe_relpath
from shipyard.auth import Level, Principal
from shipyard.errors import ArtifactPathError, PermissionDenied
from shipyard.monitoring.monitors import MonitorSpec
from shipyard.server._context import AppContext

__all__ = ["LOG_FOLDERS", "authorize_monitor_paths", "monitor_locations"]

# The folders a prediction log root keeps per deployment (serving.predlog writes the first two, serving.ops the last).
LOG_FOLDERS = ("predictions", "feedback", "ops")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# Symbolic links beneath a named folder are followed to their targets; a folder this large is refused rather than
# walked on every request.
_MAX_ENTRIES = 100_000
_SHOWN_CHARS = 200


class _Refused(Exception):
    """Why one location cannot be used (turned into `PermissionDenied` naming the field and the location)."""


def monitor_locations(spec: MonitorSpec) -> list[tuple[str, str, tuple[str, ...]]]:
    """Every location ``spec`` makes a monitor read: ``(field, location, sub-folders read beneath it)``.

    A deployment's log root is read only in the folders of that deployment; a data set or a reference path is
    read whole.
    """
    found: list[tuple[str, str, tuple[str, ...]]] = []
    if spec.deployment is not None:
        name = spec.deployment.name
        found.append(("deployment.uri", spec.deployment.uri, tuple(f"{kind}/{name}" for kind in LOG_FOLDERS)))
    if spec.dataset is not None:
        found.append(("dataset.path", spec.dataset.path, ("",)))
    if spec.reference.path is not None:
        found.append(("reference.path", spec.reference.path, ("",)))
    return found


def authorize_monitor_paths(ctx: AppContext, principal: Principal, spec: MonitorSpec, *, stored: bool = False) -> None:
    """Require that ``principal`` may read every location ``spec`` names.

    Called when a monitor is created or changed, and again (``stored``) whenever it is run or its windows are
    shown, since a stored spec may predate these rules.

    Args:
        ctx: the server's services.
        principal: the caller.
        spec: the monitor's spec.
        stored: check a stored spec: a location that really lies outside the artifact root is passed over, since
            only an admin (or the operator, through the database) could ever store one (for a log root given to
            ``shipyard serve --prediction-log``, say), while users may read the monitors of their deployments.

    Raises:
        PermissionDenied: a location is outside the artifact root, is malformed, or holds data the caller may
            not read; the message names the field, the location (shortened) and why.
    """
    if principal.is_admin:
        return
    root = ctx.settings.resolved_artifacts_uri
    for field, location, reads in monitor_locations(spec):
        if stored and _really_outside(location, root):
            continue
        try:
            base = _key_of(location, root)
            for sub in reads:
                for key in _real_keys("/".join(p for p in (base, sub) if p), root):
                    _authorize(ctx, principal, key, spec.deployment_name)
        except _Refused as exc:
            shown = location if len(location) <= _SHOWN_CHARS else location[:_SHOWN_CHARS] + "..."
            raise PermissionDenied(f"The monitor's {field} {shown!r} is refused: {exc}") from None


def _key_of(location: str, root: str) -> str:
    """The artifact-root key ``location`` names, or `_Refused` if it names none (or names it in a tricky way)."""
    if any(ord(c) < 32 for c in location):
        raise _Refused("it contains control characters.")
    if root.startswith("s3://"):
        return _s3_key(location, root)
    # The reader strips exactly "file://" (any other spelling would be read as a relative path, or not at all).
    path = location[len("file://") :] if location.startswith("file://") else location
    if _SCHEME.match(path):
        raise _Refused("expected a path or file:// URI under the server's artifact root, not another scheme.")
    if not path.startswith("/"):
        raise _Refused("it is relative; expected an absolute path (or file:// URI) under the server's artifact root.")
    local_root = root.removeprefix("file://")
    # Either spelling of the root: as configured, or with its own symbolic links resolved.
    for spelling in (Path(local_root).absolute(), Path(local_root).resolve()):
        base = str(spelling).rstrip("/")
        if path.rstrip("/") == base:
            return ""
        if path.startswith(base + "/"):
            return _confined(path[len(base) :].lstrip("/"))
    raise _Refused("it is outside the server's artifact root; only an admin may name other locations.")


def _really_outside(location: str, root: str) -> bool:
    """Whether ``location`` is an absolute path or URI that neither names nor leads into the artifact root."""
    if root.startswith("s3://"):
        base = root.rstrip("/")
        return not (location.rstrip("/") == base or location.startswith(base + "/"))
    path = location[len("file://") :] if location.startswith("file://") else location
    if not path.startswith("/") or _SCHEME.match(path):
        return False  # not a location anyone may store: checked, and refused, as at creation
    local_root = Path(root.removeprefix("file://"))
    real_root = local_root.resolve()
    try:
        real = Path(path).resolve()
    except (RuntimeError, OSError):  # a symbolic link loop: checked, and refused, as at creation
        return False
    inside = (str(local_root.absolute()).rstrip("/") + "/", str(real_root).rstrip("/") + "/")
    return not (real.is_relative_to(real_root) or (path.rstrip("/") + "/").startswith(inside))


def _s3_key(location: str, root: str) -> str:
    base = root.rstrip("/")
    if location.rstrip("/") == base:
        return ""
    if not location.startswith(base + "/"):
        raise _Refused("it is outside the server's artifact root; only an admin may name other locations.")
    rest = location[len(base) + 1 :].rstrip("/")
    key = _confined(rest)
    # An object store reads "a//b" and "a/./b" as they are: only the canonical spelling is the key checked.
    if key != rest:
        raise _Refused(f"spell it canonically ({base}/{key}): no empty or '.' components.")
    return key


def _confined(relative: str) -> str:
    try:
        return safe_relpath(relative)
    except ArtifactPathError as exc:
        raise _Refused(str(exc)) from None


def _real_keys(key: str, root: str) -> Iterator[str]:
    """``key``, and for a local root every key it really reads: where it, or a link beneath it, leads."""
    yield key
    if root.startswith("s3://"):
        return
    real_root = Path(root.removeprefix("file://")).resolve()
    start = _resolved(real_root / key if key else real_root, real_root)
    if start != (real_root / key if key else real_root):
        yield _key_in(start, real_root)
    if not start.is_dir():
        return
    pending, seen, entries = [start], {start}, 0
    while pending:
        for folder, dirs, files in os.walk(pending.pop(), followlinks=False):
            entries += len(dirs) + len(files)
            if entries > _MAX_ENTRIES:
                raise _Refused(f"it holds more than {_MAX_ENTRIES} files and folders to check.")
            for name in dirs + files:
                entry = Path(folder) / name
                if entry.is_symlink():
                    target = _resolved(entry, real_root)
                    yield _key_in(target, real_root)
                    if target.is_dir() and target not in seen:
                        seen.add(target)
                        pending.append(target)


def _resolved(path: Path, real_root: Path) -> Path:
    try:
        real = path.resolve()
    except (RuntimeError, OSError):  # RuntimeError: Path.resolve's report of a symbolic link loop
        raise _Refused("it runs into a symbolic link loop.") from None
    if not real.is_relative_to(real_root):
        raise _Refused("it leads outside the server's artifact root through a symbolic link.")
    return real


def _key_in(real: Path, real_root: Path) -> str:
    relative = real.relative_to(real_root).as_posix()
    return "" if relative == "." else relative


def _own_log(key: str, deployment: str | None) -> bool:
    """Whether ``key`` lies in the watched deployment's own folders of a log root that is no experiment's."""
    parts = key.split("/")
    if deployment is None or parts[0].isdigit():  # an experiment's folder: its grants decide, not the layout
        return False
    return any(parts[i] in LOG_FOLDERS and parts[i + 1] == deployment for i in range(len(parts) - 1))


def _authorize(ctx: AppContext, principal: Principal, key: str, deployment: str | None) -> None:
    if _own_log(key, deployment):
        return
    try:
        ctx.access.artifact(principal, key, Level.READ)
    except PermissionDenied as exc:
        own = f"the prediction log of deployment '{deployment}'" if deployment else "a data set of yours"
        raise _Refused(
            f"the data at artifact key {key[:_SHOWN_CHARS]!r} is neither {own} nor inside an experiment you can "
            f"READ ({exc})"
        ) from None
