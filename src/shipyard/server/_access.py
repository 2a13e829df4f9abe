"""Permission checks for the server's routes: which resource a request touches, and the level it needs.

Runs and logged models take their experiment's permissions, model versions their registered model's, and an
artifact path the permissions of the experiment whose folder it lies in. A model version's files are checked
twice: READ on the model to see the version, and READ on the owner of the storage they sit in to see the files.
Every check returns at once for an admin, and so for every request when authentication is off.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from shipyard._ids import canonical_experiment_id
from shipyard.artifacts import safe_relpath
from shipyard.auth import Level, Permissions, Principal
from shipyard.errors import InvalidParameter, PermissionDenied, ResourceNotFound
from shipyard.registry.entities import ModelVersion
from shipyard.registry.service import RegistryService
from shipyard.registry.uris import UriKind, parse_model_uri
from shipyard.registry.validation import check_version_source
from shipyard.tracking.service import ARTIFACT_SCHEME, TrackingService, artifact_key

__all__ = ["Access", "storage_key"]

_CACHE_SIZE = 100_000
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


@dataclass
class Access:
    """Resolve a request's resource to the experiment or registered model whose permissions govern it."""

    permissions: Permissions
    tracking: TrackingService
    registry: RegistryService
    # A run never moves to another experiment, so run -> experiment is cached (bounded, oldest dropped).
    _run_experiment: OrderedDict[str, str] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def experiment(self, principal: Principal, experiment_id: str, needed: Level) -> None:
        """Require ``needed`` on an experiment, named in its canonical spelling (``"02"`` is ``"2"``).

        Raises:
            InvalidParameter: the id is not ASCII digits (``" 2"``, ``"+2"``, ``"0_2"``, ``"٢"``), even for an
                admin: the store refuses those spellings too, so the answer does not depend on who asks.
        """
        experiment_id = canonical_experiment_id(experiment_id)
        if not principal.is_admin:
            self.permissions.require(principal, "experiment", experiment_id, needed, f"experiment '{experiment_id}'")

    def run(self, principal: Principal, run_id: str, needed: Level) -> None:
        """Require ``needed`` on the experiment of a run (RunNotFound for an unknown run)."""
        if not principal.is_admin:
            self.experiment(principal, self.experiment_of_run(run_id), needed)

    def logged_model(self, principal: Principal, model_id: str, needed: Level) -> None:
        """Require ``needed`` on the experiment of a logged model."""
        if not principal.is_admin:
            self.experiment(principal, self.registry.logged_model_experiment(model_id), needed)

    def model(self, principal: Principal, name: str, needed: Level) -> None:
        """Require ``needed`` on a registered model."""
        if not principal.is_admin:
            self.permissions.require(principal, "registered_model", name, needed, f"registered model '{name}'")

    def deployment(self, principal: Principal, name: str, needed: Level) -> None:
        """Require ``needed`` on a deployment."""
        if not principal.is_admin:
            self.permissions.require(principal, "deployment", name, needed, f"deployment '{name}'")

    def monitor(self, principal: Principal, name: str, deployment: str | None, needed: Level) -> None:
        """Require ``needed`` on the deployment a monitor watches; a data set monitor is for admins only."""
        if principal.is_admin:
            return
        if deployment is None:
            raise PermissionDenied(f"Only an admin may reach monitor '{name[:128]}': it watches a data set.")
        self.deployment(principal, deployment, needed)

    def admin(self, principal: Principal, what: str) -> None:
        """Require the admin role."""
        self.permissions.require_admin(principal, what)

    def artifact(self, principal: Principal, key: str, needed: Level) -> None:
        """Require ``needed`` on the experiment whose artifact folder holds ``key`` (admins only elsewhere).

        Experiments keep their artifacts under ``<experiment_id>/`` of the artifact root unless created with
        another location; paths outside such a folder belong to no experiment, and only admins reach them.
        """
        if principal.is_admin:
            return
        owner = self.tracking.experiment_owning(key)
        if owner is None:
            raise PermissionDenied(f"Only an admin may reach artifact path '{key[:200]}': it belongs to no experiment.")
        self.experiment(principal, owner, needed)

    def storage(self, principal: Principal, location: str, needed: Level) -> None:
        """Require ``needed`` on the owner of the storage ``location`` names (an artifact URI, a path or ``file:``
        or ``s3:`` URI under the artifact root): the experiment whose folder holds it (logged models keep their
        files inside their experiment's folder). Storage nobody owns (``deployments/…``, anything outside the
        artifact root) is for admins only.
        """
        if principal.is_admin:
            return
        key = storage_key(location, self.tracking.artifact_root)
        if key is None:
            shown = location if len(location) <= 200 else location[:200] + "..."
            raise PermissionDenied(f"Only an admin may use storage {shown!r}: it belongs to no experiment.")
        self.artifact(principal, key, needed)

    def model_source(self, principal: Principal, source: str) -> None:
        """Require READ on what a new model version's ``source`` is, whatever else the request names.

        ``runs:/`` needs READ on the run, ``models:/m-…`` on the logged model, ``models:/name/…`` on the
        registered model; then, for every form, the storage the source resolves to needs READ on its owner
        (see `storage`), so no source can publish files the caller could not read directly.

        Raises:
            InvalidParameter: the source is none of the accepted forms (see `check_version_source`).
            ResourceNotFound: the run, logged model or version it names does not exist.
            PermissionDenied: the caller lacks READ on any of these.
        """
        if principal.is_admin:
            return
        check_version_source(source, self.tracking.artifact_root)
        location = source
        if source.startswith(("runs:", "models:")):
            parsed = parse_model_uri(source)
            if parsed.kind is UriKind.RUN:
                self.run(principal, parsed.name, Level.READ)
            elif parsed.kind is UriKind.LOGGED_MODEL:
                self.logged_model(principal, parsed.name, Level.READ)
            else:
                self.model(principal, parsed.name, Level.READ)
            location = self.registry.resolve_model_uri(source).artifact_uri
        self.storage(principal, location, Level.READ)

    def version_files(self, principal: Principal, mv: ModelVersion) -> None:
        """Require READ on everything a version's pages show besides its registry entry: the owner of the storage
        holding its files, the run it came from and its logged model (READ on the registered model is checked
        by the caller). A version registered before sources were checked may point at anyone's files; this
        keeps them unserved.
        """
        if principal.is_admin:
            return
        key = storage_key(mv.storage_location or mv.source, self.tracking.artifact_root)
        if key is not None:  # files outside this server's store are never served by it
            self.artifact(principal, key, Level.READ)
        if mv.run_id:
            # A run gone since (or never valid) shows nothing, so there is nothing to check.
            with contextlib.suppress(ResourceNotFound, InvalidParameter):
                self.run(principal, mv.run_id, Level.READ)
        if mv.model_id:
            with contextlib.suppress(ResourceNotFound):
                self.logged_model(principal, mv.model_id, Level.READ)

    def readable_experiments(self, principal: Principal) -> Callable[[str], bool]:
        """A predicate on experiment ids: which ones the principal may see."""
        return self.permissions.readable(principal, "experiment")

    def readable_deployments(self, principal: Principal) -> Callable[[str], bool]:
        """A predicate on deployment names: which ones the principal may see."""
        return self.permissions.readable(principal, "deployment")

    def readable_models(self, principal: Principal) -> Callable[[str], bool]:
        """A predicate on registered model names: which ones the principal may see."""
        return self.permissions.readable(principal, "registered_model")

    def experiment_of_run(self, run_id: str) -> str:
        """The experiment a run belongs to."""
        with self._lock:
            found = self._run_experiment.get(run_id)
        if found is not None:
            return found
        experiment_id = self.tracking.get_run(run_id).experiment_id
        with self._lock:
            self._run_experiment[run_id] = experiment_id
            if len(self._run_experiment) > _CACHE_SIZE:
                self._run_experiment.popitem(last=False)
        return experiment_id


def storage_key(location: str, artifact_root: str) -> str | None:
    """The artifact-store key ``location`` names, or None when it is not inside this server's artifact root.

    ``mlflow-artifacts:/2/abc`` is ``2/abc``; so are ``<root>/2/abc``, ``file://<root>/2/abc`` and, for an S3
    root ``s3://bucket/prefix``, ``s3://bucket/prefix/2/abc``. A location with a ``..`` component, or any other
    scheme, is None.
    """
    try:
        if location.startswith(ARTIFACT_SCHEME):
            return artifact_key(location)
        scheme, root_scheme = _scheme(location), _scheme(artifact_root)
        if scheme == "s3":
            return _relative(_s3_parts(location), _s3_parts(artifact_root)) if root_scheme == "s3" else None
        if scheme not in ("", "file") or root_scheme not in ("", "file") or not artifact_root:
            return None
        path = _local(location)
        root = Path(_local(artifact_root)).expanduser()
        roots = dict.fromkeys((root.absolute().as_posix(), root.resolve().as_posix()))
        found = (_relative(path.split("/"), candidate.split("/")) for candidate in roots)
        return next((key for key in found if key is not None), None)
    except (InvalidParameter, ValueError):
        return None


def _scheme(uri: str) -> str:
    """The lower-cased scheme of a URI; "" for a plain path (a one-letter "scheme" is a Windows drive)."""
    match = _SCHEME.match(uri)
    return match.group(1).lower() if match is not None and len(match.group(1)) > 1 else ""


def _local(uri: str) -> str:
    if uri.lower().startswith("file:"):
        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost"):
            raise InvalidParameter(f"{uri!r} names another host.")
        return unquote(parts.path)
    return uri


def _s3_parts(uri: str) -> list[str]:
    parts = urlsplit(uri)
    return [parts.netloc, *parts.path.split("/")]


def _relative(parts: list[str], root_parts: list[str]) -> str | None:
    """``parts`` relative to ``root_parts`` as a confined key (``//`` and ``/./`` read as ``/``), or None outside."""
    kept = [p for p in parts if p not in ("", ".")]
    root = [p for p in root_parts if p not in ("", ".")]
    if kept[: len(root)] != root or len(kept) == len(root):
        return None
    return safe_relpath("/".join(kept[len(root) :]))
