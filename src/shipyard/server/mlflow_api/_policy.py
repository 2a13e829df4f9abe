"""Which permission each MLflow route needs: one requirement per handler, checked before the handler runs.

Each requirement is a `shipyard.server._routes.Requirement`, as for every other route family: a `Policy` (a check
over the request's `Fields`, with what it requires in words), `SignedIn` or `Admin`. The endpoint declares it
(`requirement_of` reads it back) and checks it with the arguments ``{"fields": Fields}``; admins pass unchecked.
A handler without one cannot be routed (``mlflow_routes`` raises `UnguardedRoute`), so a new route is closed until
someone decides who may call it. Searches check nothing here: their handlers drop what the caller may not read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.auth import Level
from shipyard.errors import ModelNotFound, PermissionDenied
from shipyard.server._context import AppContext
from shipyard.server._request import Fields
from shipyard.server._routes import Admin, Call, Requirement, SignedIn, UnguardedRoute
from shipyard.server.mlflow_api import (
    experiments,
    logged_models,
    model_versions,
    registered_models,
    runs,
    webhooks,
)
from shipyard.tracking.validation import MAX_METRICS_PER_BATCH

__all__ = ["FIELDS", "Guard", "Policy", "requirement_for"]

Guard = Callable[[AppContext, Fields], None]
FIELDS = "fields"  # where a Policy finds the request's fields among its arguments
R, E, M = Level.READ, Level.EDIT, Level.MANAGE


@dataclass(frozen=True)
class Policy(Requirement):
    """An MLflow route's requirement: a check over the request's fields, and what it requires in words.

    Attributes:
        guard: raises `PermissionDenied` (or another `ShipyardError`) unless the caller may go ahead.
        words: the requirement for people (``EDIT on the experiment of the run named by 'run_id'``).
    """

    guard: Guard
    words: str

    def check(self, call: Call, arguments: Mapping[str, Any]) -> None:
        """See `Requirement.check`: the guard, over ``arguments["fields"]``."""
        self.guard(call.ctx, arguments[FIELDS])

    def describe(self) -> str:
        """See `Requirement.describe`."""
        return self.words


def _policy(words: str) -> Callable[[Guard], Policy]:
    """Make a guard function a `Policy` described by ``words``."""

    def make(guard: Guard) -> Policy:
        return Policy(guard, words)

    return make


# Searches and creations: any signed-in caller (a search drops what the caller may not read).
_SEARCH = SignedIn("lists only what the caller may read")
_CREATE = SignedIn("anyone signed in may create one")


def _experiment(level: Level, name: str = "experiment_id") -> Policy:
    def guard(ctx: AppContext, f: Fields) -> None:
        ctx.access.experiment(f.principal, f.req_str(name), level)

    return Policy(guard, f"{level.name} on the experiment named by '{name}'")


@_policy("READ on the experiment named by 'experiment_name'")
def _experiment_by_name(ctx: AppContext, f: Fields) -> None:
    experiment = ctx.tracking.get_experiment_by_name(f.req_str("experiment_name"))
    ctx.access.experiment(f.principal, experiment.experiment_id, R)


@_policy("signed in; only an admin may choose 'artifact_location'")
def _create_experiment(_ctx: AppContext, f: Fields) -> None:
    # A custom artifact location could aim a user's runs at another experiment's folder: admins only.
    if f.text("artifact_location") and not f.principal.is_admin:
        raise PermissionDenied("Only an admin may choose an experiment's artifact_location; leave it empty.")


def _run(level: Level) -> Policy:
    def guard(ctx: AppContext, f: Fields) -> None:
        ctx.access.run(f.principal, f.run_id(), level)

    return Policy(guard, f"{level.name} on the experiment of the run named by 'run_id' (or 'run_uuid')")


@_policy("EDIT on the experiment named by 'experiment_id' (the default experiment '0' when left out)")
def _create_run(ctx: AppContext, f: Fields) -> None:
    ctx.access.experiment(f.principal, f.text("experiment_id") or "0", E)


@_policy("READ on every experiment named in 'experiment_ids'")
def _experiments_listed(ctx: AppContext, f: Fields) -> None:
    """READ on every experiment a search names: the list is bounded, then checked in one query, not one per id."""
    from shipyard.tracking.service import check_experiment_ids

    listed = list(dict.fromkeys(check_experiment_ids(f.str_list("experiment_ids"))))  # canonical ids, deduplicated
    levels = ctx.permissions.levels(f.principal, "experiment", [str(e) for e in listed])
    denied = [experiment_id for experiment_id, level in levels.items() if level < R]
    if denied:
        shown = ", ".join(f"'{e}'" for e in denied[:10]) + (f" and {len(denied) - 10} more" if len(denied) > 10 else "")
        raise PermissionDenied(
            f"User '{f.principal.username}' lacks READ permission on experiment {shown}; search only experiments "
            "you may read, or ask their owner or an admin."
        )


def _linked_models(ctx: AppContext, f: Fields, metrics: list[dict[str, Any]]) -> None:
    """EDIT on each logged model the metrics name in ``model_id``: a linked metric shows on the model, so it
    changes the model. An unknown id is left to the handler, which answers MLflow's BAD_REQUEST as it does with
    sign-in off; an over-long batch is refused by the handler before anything is looked up."""
    if len(metrics) > MAX_METRICS_PER_BATCH:
        return
    named = {m.get("model_id") for m in metrics}
    for model_id in sorted(m for m in named if isinstance(m, str) and m):
        with contextlib.suppress(ModelNotFound):
            ctx.access.logged_model(f.principal, model_id, E)


@_policy("EDIT on the experiment of the run named by 'run_id', and on the logged model named by 'model_id'")
def _log_metric(ctx: AppContext, f: Fields) -> None:
    ctx.access.run(f.principal, f.run_id(), E)
    _linked_models(ctx, f, [f.data])


@_policy("EDIT on the experiment of the run named by 'run_id', and on each logged model its metrics name")
def _log_batch(ctx: AppContext, f: Fields) -> None:
    ctx.access.run(f.principal, f.run_id(), E)
    _linked_models(ctx, f, f.objects("metrics"))


def _logged_model(level: Level) -> Policy:
    def guard(ctx: AppContext, f: Fields) -> None:
        ctx.access.logged_model(f.principal, f.req_str("model_id"), level)

    return Policy(guard, f"{level.name} on the experiment of the logged model named by 'model_id'")


@_policy("EDIT on the experiment named by 'experiment_id', and on the run named by 'source_run_id'")
def _create_logged_model(ctx: AppContext, f: Fields) -> None:
    ctx.access.experiment(f.principal, f.req_str("experiment_id"), E)
    if f.text("source_run_id"):
        ctx.access.run(f.principal, f.req_str("source_run_id"), E)


@_policy("EDIT on the experiment of the run named by 'run_id', and READ on each logged model in 'models'")
def _log_outputs(ctx: AppContext, f: Fields) -> None:
    ctx.access.run(f.principal, f.run_id(), E)
    for item in f.objects("models"):
        if isinstance(item.get("model_id"), str):
            ctx.access.logged_model(f.principal, item["model_id"], R)


def _model(level: Level) -> Policy:
    def guard(ctx: AppContext, f: Fields) -> None:
        ctx.access.model(f.principal, f.req_str("name"), level)

    return Policy(guard, f"{level.name} on the registered model named by 'name'")


@_policy(
    "EDIT on the registered model named by 'name'; READ on the run and logged model named, and on what 'source' "
    "points at"
)
def _create_version(ctx: AppContext, f: Fields) -> None:
    """EDIT on the model, READ on the run and logged model named, and READ on the owner of the ``source``.

    The source is checked by what it is, always: a ``run_id`` or ``model_id`` beside it says nothing about where
    the source points (or anyone could publish anyone's files by naming their own run next to them).
    """
    principal = f.principal
    ctx.access.model(principal, f.req_str("name"), E)
    if principal.is_admin:
        return
    source, run_id, model_id = f.req_str("source"), f.text("run_id"), f.text("model_id")
    if run_id:
        ctx.access.run(principal, run_id, R)
    if model_id:
        ctx.access.logged_model(principal, model_id, R)
    ctx.access.model_source(principal, source)


@_policy("READ on the registered model named by 'name', and on the storage, run and logged model of its version")
def _version_files(ctx: AppContext, f: Fields) -> None:
    """READ on the model, and on the owner of the storage the version's files are in (see `Access.version_files`)."""
    name = f.req_str("name")
    ctx.access.model(f.principal, name, R)
    ctx.access.version_files(f.principal, ctx.registry.get_model_version(name, f.req_str("version")))


_REQUIREMENTS: dict[Callable[..., object], Requirement] = {
    experiments.create: _create_experiment,
    experiments.get: _experiment(R),
    experiments.get_by_name: _experiment_by_name,
    experiments.search: _SEARCH,
    experiments.update: _experiment(E),
    experiments.delete: _experiment(M),
    experiments.restore: _experiment(M),
    experiments.set_tag: _experiment(E),
    experiments.delete_tag: _experiment(E),
    runs.create: _create_run,
    runs.get: _run(R),
    runs.update: _run(E),
    runs.delete: _run(M),
    runs.restore: _run(M),
    runs.log_metric: _log_metric,
    runs.log_param: _run(E),
    runs.set_tag: _run(E),
    runs.delete_tag: _run(E),
    runs.log_batch: _log_batch,
    runs.log_inputs: _run(E),
    runs.search: _experiments_listed,
    runs.get_history: _run(R),
    logged_models.create: _create_logged_model,
    logged_models.search: _experiments_listed,
    logged_models.get: _logged_model(R),
    logged_models.finalize: _logged_model(E),
    logged_models.delete: _logged_model(M),
    logged_models.set_tags: _logged_model(E),
    logged_models.delete_tag: _logged_model(E),
    logged_models.log_params: _logged_model(E),
    logged_models.log_outputs: _log_outputs,
    registered_models.create: _CREATE,
    registered_models.get: _model(R),
    registered_models.rename: _model(M),
    registered_models.update: _model(E),
    registered_models.delete: _model(M),
    registered_models.search: _SEARCH,
    registered_models.get_latest_versions: _model(R),
    registered_models.set_tag: _model(E),
    registered_models.delete_tag: _model(E),
    registered_models.set_alias: _model(E),
    registered_models.get_by_alias: _model(R),
    registered_models.delete_alias: _model(E),
    model_versions.create: _create_version,
    model_versions.get: _model(R),
    model_versions.update: _model(E),
    model_versions.delete: _model(M),
    model_versions.search: _SEARCH,
    model_versions.download_uri: _version_files,
    model_versions.transition_stage: _model(E),
    model_versions.set_tag: _model(E),
    model_versions.delete_tag: _model(E),
    webhooks.create_webhook: Admin("create webhooks"),
    webhooks.list_webhooks: Admin("list webhooks"),
    webhooks.get_webhook: Admin("read webhooks"),
    webhooks.update_webhook: Admin("change webhooks"),
    webhooks.delete_webhook: Admin("delete webhooks"),
    webhooks.test_webhook: Admin("test webhooks"),
}


def requirement_for(handler: Callable[..., object]) -> Requirement:
    """The requirement of one handler.

    Raises:
        UnguardedRoute: the handler has none (a programming error, caught when the app is built).
    """
    try:
        return _REQUIREMENTS[handler]
    except KeyError:
        raise UnguardedRoute(
            f"MLflow handler {handler.__qualname__} declares no required permission: give it one in _policy.py."
        ) from None
