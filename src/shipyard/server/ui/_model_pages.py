"""The registry's pages and forms: models list, model, version; each calls the registry service and renders.

Every function here is synchronous and runs in a worker thread (see ``routes.page`` and ``routes.action``).
Forms answer with a redirect back to their page on success (post/redirect/get) and re-render the page with
the message and a 4xx status when the registry refuses the change, in which case nothing was changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams
from starlette.responses import RedirectResponse, Response

from shipyard.artifacts import safe_relpath
from shipyard.auth import Level
from shipyard.errors import InvalidParameter, ResourceNotFound, ShipyardError
from shipyard.registry.card import model_card_markdown
from shipyard.registry.entities import LoggedModel, ModelVersion, RegisteredModel
from shipyard.registry.lineage import model_lineage
from shipyard.registry.service import CARD_PREFIX
from shipyard.server._cards import version_facts
from shipyard.server._context import AppContext
from shipyard.server.ui import _artifacts, _model_views
from shipyard.server.ui._render import markdown_html, render
from shipyard.server.ui._viewer import Viewer
from shipyard.tracking.service import artifact_key

__all__ = [
    "LoggedModelLink",
    "card_action",
    "model_page",
    "models_page",
    "run_models",
    "set_alias_action",
    "stage_action",
    "version_page",
    "version_raw",
]

MODELS_PER_PAGE = 100
MAX_VERSIONS_SHOWN = 1000
MAX_HISTORY = 500
CARD_FORM_FIELDS = ("intended_use", "limitations")
_ARTIFACT_SCHEME = "mlflow-artifacts:"


# ------------------------------------------------------------------------------------------------ helpers
def _text(form: dict[str, str], name: str) -> str:
    return form.get(name, "").strip()


def _refused(exc: ShipyardError) -> bool:
    """Whether the registry refused a form's change for a reason the person filling it in can fix."""
    return 400 <= exc.http_status < 500


def _version_key(mv: ModelVersion) -> str | None:
    """The artifact-store key of a version's folder, or None when its files live outside this server."""
    location = mv.storage_location or mv.source
    if not location.startswith(_ARTIFACT_SCHEME):
        return None
    try:
        return artifact_key(location)
    except InvalidParameter:
        return None


def models_page(ctx: AppContext, viewer: Viewer, query: QueryParams, _path: dict[str, Any]) -> Response:
    """Every registered model, filterable with MLflow's grammar (``name LIKE 'churn%'``, ``tags.team = 'x'``)."""
    filter_text = query.get("filter", "")
    token = query.get("page_token") or None
    error = None
    models: list[RegisteredModel] = []
    next_token = None
    try:
        models, next_token = ctx.registry.search_registered_models(
            filter_text or None,
            max_results=MODELS_PER_PAGE,
            page_token=token,
            # Filtered in SQL, before the page is cut: a page's size never hints at models the viewer cannot see.
            visible=ctx.permissions.visible(viewer.principal, "registered_model"),
        )
    except InvalidParameter as exc:  # a filter the grammar rejects: say why, next to the box
        error = exc.message
    return render(
        "models.html",
        viewer=viewer,
        status_code=400 if error else 200,
        rows=[_model_views.model_row(model) for model in models],
        filter=filter_text,
        error=error,
        page_token=token,
        next_token=next_token,
    )


def _model_response(
    ctx: AppContext,
    viewer: Viewer,
    name: str,
    *,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    model = ctx.registry.get_registered_model(name)
    ctx.access.model(viewer.principal, model.name, Level.READ)
    versions, more = ctx.registry.search_model_versions(
        _model_views.versions_filter(model.name), ["version_number DESC"], max_results=MAX_VERSIONS_SHOWN
    )
    history = _model_views.history_entries(ctx.registry.history(model.name, limit=MAX_HISTORY))
    return render(
        "model.html",
        viewer=viewer,
        status_code=status,
        model=model,
        versions=versions,
        versions_cut=more is not None,
        tags=sorted(model.tags.items()),
        history=history,
        stages=_model_views.STAGES,
        error=error,
        form=form or {},
    )


def model_page(ctx: AppContext, viewer: Viewer, _query: QueryParams, path: dict[str, Any]) -> Response:
    """One registered model: description, tags, versions with stages and aliases, history, and the forms."""
    return _model_response(ctx, viewer, path["name"])


def _version_response(
    ctx: AppContext,
    viewer: Viewer,
    name: str,
    version: str,
    *,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    ctx.access.model(viewer.principal, name, Level.READ)
    lineage = model_lineage(ctx.registry, name, version)
    mv = lineage.version
    # Its files, MLmodel, run params and card come from wherever the version points: READ there too.
    ctx.access.version_files(viewer.principal, mv)
    key = _version_key(mv)
    facts = version_facts(ctx, mv)
    files: list[_model_views.FileRow] = []
    files_cut = False
    raw_base = f"{_model_views.version_url(mv.name, mv.version)}/raw"
    if key is not None:
        nodes, files_cut = _artifacts.artifact_tree(ctx.artifacts, key)
        prefix = ""
        run_root = _artifacts.artifact_root(lineage.run) if lineage.run is not None else None
        if lineage.run is not None and run_root and key.startswith(run_root + "/"):
            # The files sit in the run's artifacts: link into the run's raw route, which a person may know.
            raw_base = f"/ui/artifacts/{lineage.run.run_id}/raw"
            prefix = key[len(run_root) + 1 :] + "/"
        files = _model_views.file_rows(nodes, prefix)
    card_values = {field: mv.tags.get(CARD_PREFIX + field, "") for field in CARD_FORM_FIELDS}
    return render(
        "model_version.html",
        viewer=viewer,
        status_code=status,
        mv=mv,
        lineage=lineage,
        chain=_model_views.chain_links(lineage.chain, lineage.run.run_id if lineage.run else None, mv),
        signature=_model_views.signature_rows(facts),
        has_mlmodel=facts is not None,
        files=files,
        files_cut=files_cut,
        files_here=key is not None,
        raw_base=raw_base,
        tags=sorted(mv.tags.items()),
        card_html=markdown_html(model_card_markdown(lineage, facts)),
        card=form if form is not None else card_values,
        error=error,
    )


def version_page(ctx: AppContext, viewer: Viewer, _query: QueryParams, path: dict[str, Any]) -> Response:
    """One model version: facts, signature, files, lineage chain and the model card."""
    return _version_response(ctx, viewer, path["name"], path["version"])


def version_raw(ctx: AppContext, viewer: Viewer, query: QueryParams, path: dict[str, Any]) -> Response:
    """One file of a version's folder as is (for versions whose files are not inside a run's artifacts)."""
    ctx.access.model(viewer.principal, path["name"], Level.READ)
    mv = ctx.registry.get_model_version(path["name"], path["version"])
    ctx.access.version_files(viewer.principal, mv)
    key = _version_key(mv)
    if key is None:
        raise ResourceNotFound(f"Version {mv.version} of {mv.name!r} is stored outside this server ({mv.source}).")
    rel = safe_relpath(query.get("path", ""))
    download = query.get("download", "") not in ("", "0", "false")
    try:
        return _artifacts.raw_response(ctx.artifacts, key, rel, download=download)
    except ResourceNotFound:
        raise ResourceNotFound(f"No file at {rel!r} in version {mv.version} of {mv.name!r}.") from None


# ---------------------------------------------------------------------------------------------------- forms
def set_alias_action(
    ctx: AppContext, viewer: Viewer, form: dict[str, str], path: dict[str, Any], actor: str
) -> Response:
    """Point an alias at a version (moving it if it pointed elsewhere), with an optional reason."""
    name = path["name"]
    ctx.registry.get_registered_model(name)  # an unknown model is the 404 page, not a form error
    ctx.access.model(viewer.principal, name, Level.EDIT)
    try:
        ctx.registry.set_alias(
            name, _text(form, "alias"), _text(form, "version"), actor=actor, reason=_text(form, "reason") or None
        )
    except ShipyardError as exc:
        if not _refused(exc):
            raise
        return _model_response(ctx, viewer, name, error=exc.message, status=exc.http_status, form=form)
    return RedirectResponse(f"{_model_views.model_url(name)}#versions", status_code=303)


def stage_action(ctx: AppContext, viewer: Viewer, form: dict[str, str], path: dict[str, Any], actor: str) -> Response:
    """Move a version to a stage, optionally archiving the versions already there."""
    name = path["name"]
    ctx.registry.get_registered_model(name)
    ctx.access.model(viewer.principal, name, Level.EDIT)
    try:
        ctx.registry.transition_model_version_stage(
            name,
            _text(form, "version"),
            _text(form, "stage"),
            archive_existing_versions=form.get("archive_existing") == "true",
            actor=actor,
            reason=_text(form, "reason") or None,
        )
    except ShipyardError as exc:
        if not _refused(exc):
            raise
        return _model_response(ctx, viewer, name, error=exc.message, status=exc.http_status, form=form)
    return RedirectResponse(f"{_model_views.model_url(name)}#versions", status_code=303)


def card_action(ctx: AppContext, viewer: Viewer, form: dict[str, str], path: dict[str, Any], actor: str) -> Response:
    """Save the owner-written sections of a version's model card."""
    name, version = path["name"], path["version"]
    mv = ctx.registry.get_model_version(name, version)
    ctx.access.model(viewer.principal, name, Level.EDIT)
    fields = {field: form.get(field, "").strip() for field in CARD_FORM_FIELDS}
    try:
        ctx.registry.set_card_fields(name, version, actor=actor, **fields)
    except ShipyardError as exc:
        if not _refused(exc):
            raise
        return _version_response(ctx, viewer, name, version, error=exc.message, status=exc.http_status, form=fields)
    return RedirectResponse(f"{_model_views.version_url(mv.name, mv.version)}#card", status_code=303)


# ------------------------------------------------------------------------------------------- run page part
@dataclass(frozen=True)
class LoggedModelLink:
    """A model a run logged, with the registered versions made from it."""

    model_id: str
    name: str
    step: int
    versions: list[ModelVersion]


def run_models(ctx: AppContext, viewer: Viewer, run_id: str) -> tuple[list[ModelVersion], list[LoggedModelLink]]:
    """The model versions registered from a run (of models the viewer may read), and the models it logged."""
    versions = ctx.registry.runs_versions(run_id)
    if not viewer.principal.is_admin:
        # A run has few versions: filtering here is one grants query, and hides models the viewer cannot read.
        readable = ctx.access.readable_models(viewer.principal)
        versions = [v for v in versions if readable(v.name)]
    logged: list[LoggedModelLink] = []
    for model_id, step in ctx.registry.run_outputs(run_id):
        try:
            model: LoggedModel | None = ctx.registry.get_logged_model(model_id)
        except ResourceNotFound:  # deleted since: still worth listing by id
            model = None
        from_it = [v for v in versions if v.model_id == model_id]
        logged.append(LoggedModelLink(model_id, model.name if model else "", step, from_it))
    return versions, logged
