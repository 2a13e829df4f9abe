"""The SDK's model functions: log and load models, register them, move aliases and stages."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.client._backend import Backend
from shipyard.client._fluent_state import active as _active
from shipyard.client._fluent_state import state as _state
from shipyard.errors import InvalidParameter
from shipyard.registry.entities import ModelVersion, RegisteredModel
from shipyard.registry.service import CARD_PREFIX, EVALUATION_PREFIX
from shipyard.registry.uris import UriKind, is_model_uri, parse_model_uri

if TYPE_CHECKING:
    from shipyard.models import LoadedModel, Signature

__all__ = [
    "LoggedModelInfo",
    "attach_evaluation",
    "delete_alias",
    "download_model",
    "download_tree",
    "get_model_version",
    "get_registered_model",
    "load_model",
    "log_model",
    "register_model",
    "search_model_versions",
    "set_alias",
    "set_model_card",
    "transition_stage",
]

_PENDING, _READY, _FAILED = "LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"


@dataclass(frozen=True)
class LoggedModelInfo:
    """What `log_model` stored.

    Attributes:
        model_id: the logged model's id (``m-…``).
        model_uri: ``models:/<model_id>``, loadable by `load_model` and by ``mlflow.pyfunc.load_model``.
        run_uri: ``runs:/<run_id>/<name>``, the same model through its run.
        artifact_uri: where the files are.
        flavor: the flavor it was saved with.
        signature: the model's signature (inferred from the input example when not given).
        files: relative path → sha256 of every file.
        registered_version: the model version, when ``registered_model_name`` was given.
    """

    model_id: str
    model_uri: str
    run_uri: str
    artifact_uri: str
    flavor: str
    signature: Signature | None
    files: dict[str, str]
    registered_version: ModelVersion | None = None


def _backend() -> Backend:
    return _state.get_backend()


def log_model(
    model: Any,
    name: str = "model",
    *,
    input_example: Any = None,
    signature: Signature | None = None,
    flavor: str | None = None,
    serialization: str | None = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    registered_model_name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    step: int = 0,
) -> LoggedModelInfo:
    """Save ``model`` in MLflow's model layout and store it as a logged model of the active run.

    The folder has an ``MLmodel`` file, the flavor's files, ``requirements.txt``/``python_env.yaml`` with
    pinned versions and a ``SHA256SUMS`` manifest, so ``mlflow.pyfunc.load_model`` loads it too.

    Args:
        model: a scikit-learn, XGBoost or LightGBM model, an ONNX model, or any object with ``predict``.
        name: the model's name within the run (``runs:/<run>/<name>``).
        input_example: a few rows of input; the signature is inferred from it when ``signature`` is None.
        signature: the input/output schema ``predict`` enforces.
        flavor: force a flavor (``sklearn``, ``xgboost``, ``lightgbm``, ``onnx``, ``python``).
        serialization: for scikit-learn, ``skops`` (the default where the model allows) or ``cloudpickle``.
        pip_requirements: replace the inferred requirements.
        extra_pip_requirements: add to them.
        registered_model_name: also register it as a new version of this registered model.
        params: params recorded on the logged model.
        tags: tags recorded on the logged model.
        step: the training step it was logged at.

    Example:
        >>> with sy.start_run():  # doctest: +SKIP
        ...     info = sy.log_model(clf, "model", input_example=X.head(), registered_model_name="churn")
        >>> sy.load_model("models:/churn@champion").predict(X)  # doctest: +SKIP
    """
    from shipyard.models import save_model

    run = _active()
    backend = _backend()
    logged = backend.create_logged_model(
        run.experiment_id,
        name,
        run.run_id,
        flavor,
        {k: str(v) for k, v in (params or {}).items()},
        dict(tags or {}),
    )
    try:
        with tempfile.TemporaryDirectory(prefix="shipyard-model-") as tmp:
            folder = Path(tmp) / "model"
            info = save_model(
                model,
                folder,
                input_example=input_example,
                signature=signature,
                flavor=flavor,
                serialization=serialization,
                pip_requirements=pip_requirements,
                extra_pip_requirements=extra_pip_requirements,
                run_id=run.run_id,
                artifact_path=name,
                model_id=logged.model_id,
            )
            for file in sorted(p for p in folder.rglob("*") if p.is_file()):
                backend.upload_file(logged.artifact_location, file, file.relative_to(folder).as_posix())
    except BaseException:
        backend.finalize_logged_model(logged.model_id, _FAILED)
        raise
    backend.finalize_logged_model(logged.model_id, _READY)
    backend.log_outputs(run.run_id, [(logged.model_id, step)])
    registered = None
    if registered_model_name:
        registered = register_model(f"models:/{logged.model_id}", registered_model_name)
    return LoggedModelInfo(
        model_id=logged.model_id,
        model_uri=f"models:/{logged.model_id}",
        run_uri=f"runs:/{run.run_id}/{name}",
        artifact_uri=logged.artifact_location,
        flavor=info.flavor,
        signature=info.signature,
        files=dict(info.files),
        registered_version=registered,
    )


def download_tree(backend: Backend, artifact_uri: str, destination: Path) -> list[Path]:
    """Copy every file under ``artifact_uri`` into ``destination``, keeping the layout; returns the files.

    Raises:
        InvalidParameter: nothing is stored there.
    """
    pending = [""]
    written: list[Path] = []
    while pending:
        folder = pending.pop()
        for rel, is_dir, _size in backend.list_files(artifact_uri, folder):
            if is_dir:
                pending.append(rel)
            else:
                written.append(backend.download_file(artifact_uri, rel, destination / rel))
    if not written:
        raise InvalidParameter(f"No model files at {artifact_uri!r}.")
    return written


def download_model(model_uri: str, dst: str | Path) -> Path:
    """Download a model's folder (``models:/…``, ``runs:/…``) into ``dst``; returns the folder.

    Raises:
        ResourceNotFound: the URI names nothing.
        InvalidParameter: not a model URI, or nothing is stored there.
    """
    backend = _backend()
    destination = Path(dst)
    destination.mkdir(parents=True, exist_ok=True)
    download_tree(backend, backend.resolve_model_uri(model_uri), destination)
    return destination


def load_model(model_uri: str | Path, *, verify: bool = True) -> LoadedModel:
    """Load a model saved by Shipyard or MLflow.

    Args:
        model_uri: ``models:/<name>/<version>``, ``models:/<name>@<alias>``, ``models:/<name>/<stage>``,
            ``models:/<model_id>``, ``runs:/<run_id>/<name>``, or a local folder.
        verify: check every file against the ``SHA256SUMS`` manifest (models saved by Shipyard); a changed,
            missing or added file raises `ModelIntegrityError`.

    Returns:
        A model whose ``predict`` checks its input against the signature (one `SchemaMismatch` naming every
        problem; safe casts such as int to float are applied).

    Example:
        >>> model = sy.load_model("models:/churn@champion")  # doctest: +SKIP
        >>> model.predict(df)  # doctest: +SKIP
    """
    from shipyard.models import load_model as load_folder

    text = str(model_uri)
    if not is_model_uri(text):
        folder = Path(text)
        if not folder.is_dir():
            raise InvalidParameter(
                f"{text!r} is neither a model folder nor a model URI (models:/<name>/<version>, "
                "models:/<name>@<alias>, runs:/<run_id>/<path>)."
            )
        return load_folder(folder, verify=verify)
    with tempfile.TemporaryDirectory(prefix="shipyard-load-") as tmp:
        folder = download_model(text, Path(tmp) / "model")
        return load_folder(folder, verify=verify)


def register_model(
    model_uri: str,
    name: str,
    *,
    alias: str | None = None,
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
    reason: str | None = None,
) -> ModelVersion:
    """Register the model at ``model_uri`` as a new version of ``name`` (created if missing).

    Args:
        model_uri: ``models:/<model_id>`` (from `log_model`), ``runs:/<run_id>/<name>`` or any artifact URI.
        name: the registered model.
        alias: also point this alias (``champion``, ``challenger``) at the new version.
        tags: version tags.
        description: the version's description.
        reason: recorded in the model's history.
    """
    backend = _backend()
    backend.create_registered_model(name, {}, None)
    model_id = None
    run_id = None
    parsed = parse_model_uri(model_uri) if is_model_uri(model_uri) else None
    if parsed is not None and parsed.kind is UriKind.LOGGED_MODEL:
        model_id = parsed.name
    elif parsed is not None and parsed.kind is UriKind.RUN:
        run_id = parsed.name
        location = backend.resolve_model_uri(model_uri)
        if "/models/m-" in location:
            model_id = location.split("/models/", 1)[1].split("/", 1)[0]
            model_uri = f"models:/{model_id}"
    version = backend.create_model_version(name, model_uri, run_id, model_id, dict(tags or {}), description, reason)
    if alias:
        backend.set_alias(name, alias, str(version.version), reason)
        version = backend.get_model_version(name, str(version.version))
    return version


def get_registered_model(name: str) -> RegisteredModel:
    """A registered model with its aliases and latest version per stage."""
    return _backend().get_registered_model(name)


def get_model_version(name: str, version: str | int) -> ModelVersion:
    """One model version."""
    return _backend().get_model_version(name, str(version))


def search_model_versions(filter_string: str | None = None, max_results: int = 10_000) -> list[ModelVersion]:
    """Model versions matching MLflow's filter grammar (``"name = 'churn'"``)."""
    return _backend().search_model_versions(filter_string, max_results)


def set_alias(name: str, alias: str, version: str | int, *, reason: str | None = None) -> None:
    """Point ``alias`` at ``version`` (moving it from another version if needed); recorded in the history."""
    _backend().set_alias(name, alias, str(version), reason)


def delete_alias(name: str, alias: str, *, reason: str | None = None) -> None:
    """Remove an alias."""
    _backend().delete_alias(name, alias, reason)


def transition_stage(
    name: str, version: str | int, stage: str, *, archive_existing: bool = False, reason: str | None = None
) -> ModelVersion:
    """Move a version to a legacy stage (None, Staging, Production, Archived)."""
    return _backend().transition_stage(name, str(version), stage, archive_existing, reason)


def set_model_card(
    name: str, version: str | int, *, intended_use: str | None = None, limitations: str | None = None, **more: str
) -> None:
    """Write the owner's sections of a version's model card (intended use, limitations, …)."""
    fields = {"intended_use": intended_use, "limitations": limitations, **more}
    for key, value in fields.items():
        if value is not None:
            _backend().set_model_version_tag(name, str(version), CARD_PREFIX + key, value)


def attach_evaluation(name: str, version: str | int, evaluation: str, results: Mapping[str, Any]) -> None:
    """Attach evaluation (or fairness) results to a version; they appear on its model card.

    Example:
        >>> sy.attach_evaluation("churn", 3, "fairness-by-gender", {"demographic_parity": 0.04})  # doctest: +SKIP
    """
    if not evaluation:
        raise InvalidParameter("An evaluation needs a name.")
    text = json.dumps(dict(results), sort_keys=True, default=str)
    _backend().set_model_version_tag(name, str(version), EVALUATION_PREFIX + evaluation, text)
