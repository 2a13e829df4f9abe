"""What each web UI page and form requires, as the `shipyard.server._routes.Requirement` its route declares.

A page checks its requirement itself, in its own order (the thing it shows is looked up first, so an unknown one
is the 404 page), through the same `shipyard.server._access.Access` checks these resources name. Their arguments
are the route's path parameters, with the query string under ``"query"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.auth import Level
from shipyard.server._monitor_paths import authorize_monitor_paths
from shipyard.server._routes import Access, Arg, Call, Resource, SignedIn
from shipyard.server.api.models import RegisteredModel
from shipyard.server.api.monitors import StoredMonitor
from shipyard.server.ui._tracking_pages import _run_ids  # the comparison page's own reading of ?runs=

__all__ = [
    "ACCOUNT",
    "EDIT_MODEL",
    "READ_EXPERIMENT",
    "READ_MODEL",
    "READ_MONITOR",
    "READ_RUN",
    "READ_RUNS",
    "READ_VERSION",
    "Experiment",
    "MonitorAndData",
    "RunExperiment",
    "RunsExperiments",
    "VersionFiles",
]


@dataclass(frozen=True)
class Experiment(Resource):
    """The experiment a request names by its id."""

    experiment_id: Arg

    def check(self, call: Call, arguments: Mapping[str, Any], level: Level) -> None:
        """See `Resource.check`."""
        call.ctx.access.experiment(call.principal, str(self.experiment_id(call, arguments)), level)

    def describe(self) -> str:
        """See `Resource.describe`."""
        return f"experiment named by '{self.experiment_id.where}'"


@dataclass(frozen=True)
class RunExperiment(Resource):
    """The experiment of the run a request names."""

    run_id: Arg

    def check(self, call: Call, arguments: Mapping[str, Any], level: Level) -> None:
        """See `Resource.check`."""
        call.ctx.access.run(call.principal, str(self.run_id(call, arguments)), level)

    def describe(self) -> str:
        """See `Resource.describe`."""
        return f"experiment of the run named by '{self.run_id.where}'"


@dataclass(frozen=True)
class RunsExperiments(Resource):
    """The experiments of every run the comparison page lists in ``?runs=``."""

    query: Arg

    def check(self, call: Call, arguments: Mapping[str, Any], level: Level) -> None:
        """See `Resource.check`."""
        for run_id in _run_ids(self.query(call, arguments)):
            call.ctx.access.run(call.principal, run_id, level)

    def describe(self) -> str:
        """See `Resource.describe`."""
        return f"experiment of every run listed in '{self.query.where}.runs'"


@dataclass(frozen=True)
class VersionFiles(Resource):
    """A registered model's version: the model, and the storage, run and logged model the version points at."""

    name: Arg
    version: Arg

    def check(self, call: Call, arguments: Mapping[str, Any], level: Level) -> None:
        """See `Resource.check` (``Access.version_files`` always asks READ of what the version points at)."""
        name = str(self.name(call, arguments))
        call.ctx.access.model(call.principal, name, level)
        found = call.ctx.registry.get_model_version(name, str(self.version(call, arguments)))
        call.ctx.access.version_files(call.principal, found)

    def describe(self) -> str:
        """See `Resource.describe`."""
        return (
            f"registered model named by '{self.name.where}', and READ on the storage, run and logged model its "
            f"version '{self.version.where}' points at"
        )


@dataclass(frozen=True)
class MonitorAndData(Resource):
    """A stored monitor (see `StoredMonitor`), and the data its windows were computed from."""

    name: Arg

    def check(self, call: Call, arguments: Mapping[str, Any], level: Level) -> None:
        """See `Resource.check`."""
        StoredMonitor(self.name).check(call, arguments, level)
        monitor = call.ctx.monitors.get(str(self.name(call, arguments)))
        authorize_monitor_paths(call.ctx, call.principal, monitor.spec, stored=True)

    def describe(self) -> str:
        """See `Resource.describe`."""
        return f"{StoredMonitor(self.name).describe()}, and on the data it reads"


READ_EXPERIMENT = Access(Level.READ, Experiment(Arg("experiment_id")))
READ_RUN = Access(Level.READ, RunExperiment(Arg("run_id")))
READ_RUNS = Access(Level.READ, RunsExperiments(Arg("query")))
READ_MODEL = Access(Level.READ, RegisteredModel(Arg("name")))
EDIT_MODEL = Access(Level.EDIT, RegisteredModel(Arg("name")))
READ_VERSION = Access(Level.READ, VersionFiles(Arg("name"), Arg("version")))
READ_MONITOR = Access(Level.READ, MonitorAndData(Arg("name")))
ACCOUNT = SignedIn("acts on the caller's own account (a note instead when sign-in is off)")
