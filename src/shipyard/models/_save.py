"""save_model: writes a new model folder in MLflow's layout, with SHA256SUMS."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from shipyard._version import __version__
from shipyard.errors import InvalidParameter, ShipyardError, UnsupportedFlavor
from shipyard.models._checksums import write_sums
from shipyard.models._deps import optional_import, pinned
from shipyard.models._entities import ModelInfo, Signature
from shipyard.models._example import normalise_example, write_example
from shipyard.models._infer import infer_schema
from shipyard.models._mlmodel import PYFUNC, write_env_files, write_mlmodel
from shipyard.models.flavors import FLAVORS, detect_flavor, get_flavor
from shipyard.models.flavors._base import Flavor

__all__ = ["save_model"]


def save_model(
    model: Any,
    path: str | Path,
    *,
    input_example: Any = None,
    signature: Signature | None = None,
    flavor: str | None = None,
    serialization: str | None = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    model_id: str | None = None,
) -> ModelInfo:
    """Save a model to a new folder in MLflow's layout, loadable by Shipyard and by ``mlflow.pyfunc``.

    The folder holds MLmodel, the model file(s), requirements.txt, python_env.yaml, conda.yaml, the input
    example files when an example is given, and SHA256SUMS (the digest of every other file).

    Args:
        model: a scikit-learn estimator, an XGBoost or LightGBM model, an ONNX model (``ModelProto``, bytes or a
            path to a .onnx file), or any object with a callable ``predict``.
        path: the folder to create; it may exist only if it is empty.
        input_example: a few rows of input (DataFrame, dict of columns, list of dicts, numpy array); stored, and
            used to infer the signature when none is given.
        signature: the signature to record; inferred from ``input_example`` (and the model's prediction on it)
            when None.
        flavor: one of ``FLAVORS``; chosen from the model's type when None.
        serialization: how to store the model file: ``skops`` (the default for scikit-learn when it is safe),
            ``cloudpickle`` or ``pickle`` for scikit-learn and LightGBM estimators, ``ubj`` or ``json`` for
            XGBoost. None picks the safe default.
        pip_requirements: replaces the inferred requirements.txt lines.
        extra_pip_requirements: appended to them.
        metadata: free-form metadata recorded in MLmodel (Shipyard adds ``shipyard_*`` keys).
        run_id: the run the model belongs to, recorded in MLmodel.
        artifact_path: the model's path in its run's artifacts, recorded in MLmodel.
        model_id: the logged-model id (MLflow 3), recorded in MLmodel.

    Returns:
        What was written, with every file's sha256.

    Raises:
        InvalidParameter: ``path`` exists and is not an empty folder, or an argument is invalid.
        UnsupportedFlavor: no flavor can save this model (or the named flavor cannot).
        MissingExtra: the library the flavor needs is not installed.

    Example:
        >>> info = save_model(classifier, "model", input_example=X_train[:5])
        >>> info.flavor, info.serialization
        ('sklearn', 'skops')
    """
    folder = Path(path)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InvalidParameter(f"Cannot save a model to {folder}: it exists and is not an empty folder.")
    chosen = _choose_flavor(model, flavor)
    example = normalise_example(input_example) if input_example is not None else None
    if signature is None and example is not None:
        signature = _infer_from_example(chosen, model, example)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return _write(
            folder,
            chosen,
            model,
            example=example,
            signature=signature,
            serialization=serialization,
            requirements=_requirements(pip_requirements, extra_pip_requirements),
            metadata=metadata,
            ids={"run_id": run_id, "artifact_path": artifact_path, "model_id": model_id},
        )
    except BaseException:
        # Leave nothing half-written: a folder without SHA256SUMS would load unverified.
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            for child in folder.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise


def _write(
    folder: Path,
    chosen: Flavor,
    model: Any,
    *,
    example: Any,
    signature: Signature | None,
    serialization: str | None,
    requirements: tuple[list[str] | None, list[str]],
    metadata: dict[str, Any] | None,
    ids: dict[str, str | None],
) -> ModelInfo:
    saved = chosen.save(model, folder, serialization=serialization)
    example_info = write_example(folder, example) if example is not None else None
    size_before_env = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    replaced, extra = requirements
    lines = replaced if replaced is not None else sorted({pinned(m) for m in saved.requirements})
    write_env_files(folder, [*lines, *extra])
    flavors: dict[str, Any] = {PYFUNC: saved.pyfunc_conf}
    if saved.mlflow_key is not None:
        flavors[saved.mlflow_key] = saved.flavor_conf
    model_uuid = uuid.uuid4().hex
    content: dict[str, Any] = {
        "flavors": flavors,
        "metadata": {
            **(metadata or {}),
            "shipyard_version": __version__,
            "shipyard_flavor": chosen.name,
            "shipyard_serialization": saved.serialization,
            "shipyard_executes_code_on_load": saved.executes_code_on_load,
        },
        "model_id": ids["model_id"],
        "model_size_bytes": size_before_env,
        "model_uuid": model_uuid,
        # MLflow writes a naive UTC timestamp with str(): '2026-01-31 12:00:00.123456'
        "utc_time_created": str(datetime.now(UTC).replace(tzinfo=None)),
    }
    for key in ("run_id", "artifact_path"):
        if ids[key] is not None:
            content[key] = ids[key]
    if signature is not None:
        content["signature"] = signature.to_mlflow_dict()
        content["is_signature_from_type_hint"] = False
        content["type_hint_from_example"] = False
    if example_info is not None:
        content["saved_input_example_info"] = example_info
    try:
        write_mlmodel(folder, content)
    except yaml.YAMLError as exc:
        raise InvalidParameter(f"metadata must hold only YAML-serialisable values: {exc}") from None
    digests = write_sums(folder)
    return ModelInfo(
        path=str(folder),
        flavor=chosen.name,
        signature=signature,
        files=digests,
        size_bytes=sum((folder / rel).stat().st_size for rel in digests),
        model_uuid=model_uuid,
        serialization=saved.serialization,
        executes_code_on_load=saved.executes_code_on_load,
    )


def _choose_flavor(model: Any, flavor: str | None) -> Flavor:
    if flavor is None:
        return detect_flavor(model)
    chosen = get_flavor(flavor)
    if not chosen.owns(model):
        raise UnsupportedFlavor(
            f"The {flavor} flavor cannot save a {type(model).__name__}; supported flavors are {', '.join(FLAVORS)}."
        )
    return chosen


def _infer_from_example(chosen: Flavor, model: Any, example: Any) -> Signature:
    np = optional_import("numpy")
    pd = optional_import("pandas")
    inputs = infer_schema(example)
    try:
        prediction = chosen.wrap(model).predict(example, None)
    except ShipyardError:
        raise
    except Exception as exc:
        raise InvalidParameter(
            f"The model failed to predict on input_example, so no signature could be inferred: {exc}"
        ) from exc
    if not inputs.is_tensor and isinstance(prediction, np.ndarray) and prediction.ndim == 1:
        prediction = pd.Series(prediction)  # as MLflow: a 1-D prediction on a table is one unnamed column
    return Signature(inputs=inputs, outputs=infer_schema(prediction))


def _requirements(replace: list[str] | None, extra: list[str] | None) -> tuple[list[str] | None, list[str]]:
    for name, value in (("pip_requirements", replace), ("extra_pip_requirements", extra)):
        if value is not None and (isinstance(value, str) or not all(isinstance(v, str) for v in value)):
            raise InvalidParameter(f"{name} must be a list of requirement strings.")
    return (list(replace) if replace is not None else None), list(extra or [])
