"""Permission checks for the server's routes: which resource a request touches, and the level it needs.

Runs and logged models take their experiment's permissions, model versions their registered model's, and an
artifact path the permissions of the experiment whose folder it lies in. Every check returns at once for an
admin, and so for every request when authentication is off.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from shipyard.auth import Level, Permissions, Principal
from shipyard.errors import PermissionDenied, ResourceNotFound
from shipyard.registry.service import RegistryService
from shipyard.tracking.service import TrackingService

__all__ = ["Access"]

_CACHE_SIZE = 100_000


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
        """Require ``needed`` on an experiment."""
        if not principal.is_admin:
            self.permissions.require(principal, "experiment", experiment_id, needed, f"experiment '{experiment_id}'")

    def run(self, principal: Principal, run_id: str, needed: Level) -> None:
        """Require ``needed`` on the experiment of a run (RunNotFound for an unknown run)."""
        if not principal.is_admin:
            self.experiment(principal, self.experiment_of_run(run_id), needed)

    def logged_model(self, principal: Principal, model_id: str, needed: Level) -> None:
        """Require ``needed`` on the experiment of a logged model."""
        if not principal.is_admin:
            self.experiment(principal, self.registry.get_logged_model(model_id).experiment_id, needed)

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
        first = key.split("/", 1)[0]
        if first.isdigit():
            try:
                location = self.tracking.get_experiment(first).artifact_location
            except ResourceNotFound:
                location = ""
            if location.rstrip("/").endswith(f":/{first}"):
                self.experiment(principal, first, needed)
                return
        raise PermissionDenied(f"Only an admin may reach artifact path '{key[:200]}': it belongs to no experiment.")

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
