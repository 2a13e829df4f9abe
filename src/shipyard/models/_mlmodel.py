"""The MLmodel file and the environment files beside it (requirements.txt, python_env.yaml, conda.yaml)."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import platform
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from shipyard.errors import InvalidParameter
from shipyard.models._entities import ModelMeta, Signature

__all__ = [
    "CONDA_FILE",
    "MLMODEL_FILE",
    "PYFUNC",
    "PYTHON_ENV_FILE",
    "REQUIREMENTS_FILE",
    "ModelSummary",
    "parse_model_meta",
    "pyfunc_conf",
    "read_model_meta",
    "summarize_mlmodel",
    "write_env_files",
    "write_mlmodel",
]

MLMODEL_FILE = "MLmodel"
REQUIREMENTS_FILE = "requirements.txt"
PYTHON_ENV_FILE = "python_env.yaml"
CONDA_FILE = "conda.yaml"
PYFUNC = "python_function"


def read_model_meta(path: str | Path) -> ModelMeta:
    """Parse a model folder's MLmodel file without loading the model.

    Args:
        path: the model folder (or the MLmodel file itself).

    Returns:
        The metadata, with ``requirements`` read from requirements.txt when present.

    Raises:
        InvalidParameter: there is no MLmodel file, or it is not a YAML mapping with a ``flavors`` mapping.
    """
    given = Path(path)
    file = given if given.name == MLMODEL_FILE and given.is_file() else given / MLMODEL_FILE
    if not file.is_file():
        raise InvalidParameter(f"No MLmodel file at {file}: '{given}' is not a model folder.")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidParameter(f"MLmodel at {file} is not valid YAML: {exc}") from None
    meta = parse_model_meta(text, where=f"MLmodel at {file}")
    return dataclasses.replace(meta, requirements=_read_requirements(file.parent / REQUIREMENTS_FILE))


def parse_model_meta(text: str, *, where: str = "MLmodel") -> ModelMeta:
    """Parse the text of an MLmodel file (``requirements`` is left None: it lives in another file).

    Raises:
        InvalidParameter: it is not a YAML mapping with a ``flavors`` mapping, or its signature is malformed.
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidParameter(f"{where} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidParameter(f"{where} must be a YAML mapping, got {type(raw).__name__}.")
    flavors = raw.get("flavors")
    if not isinstance(flavors, dict) or not flavors or not all(isinstance(v, dict) for v in flavors.values()):
        raise InvalidParameter(f"{where} needs a 'flavors' mapping of flavor name -> configuration.")
    signature = raw.get("signature")
    if signature is not None and not isinstance(signature, dict):
        raise InvalidParameter(f"{where}: 'signature' must be a mapping.")
    example_info = raw.get("saved_input_example_info")
    metadata = raw.get("metadata")
    size = raw.get("model_size_bytes")
    return ModelMeta(
        flavors={str(k): dict(v) for k, v in flavors.items()},
        signature=Signature.from_mlflow_dict(signature) if signature else None,
        model_uuid=_text(raw.get("model_uuid")),
        run_id=_text(raw.get("run_id")),
        artifact_path=_text(raw.get("artifact_path")),
        utc_time_created=_text(raw.get("utc_time_created")),
        model_id=_text(raw.get("model_id")),
        saved_input_example_info=dict(example_info) if isinstance(example_info, dict) else None,
        primary_flavor=next((k for k in flavors if k != PYFUNC), PYFUNC),
        requirements=None,
        metadata=dict(metadata) if isinstance(metadata, dict) else {},
        model_size_bytes=size if isinstance(size, int) else None,
    )


class ModelSummary(NamedTuple):
    """What a person (or a model card) wants from an MLmodel file: the flavor and the signature's columns.

    Attributes:
        flavor: the primary flavor (``sklearn``, ``onnx``, …).
        inputs: ``(name, type, required)`` per input column or tensor.
        outputs: the same for outputs.
    """

    flavor: str
    inputs: tuple[tuple[str, str, bool], ...] = ()
    outputs: tuple[tuple[str, str, bool], ...] = ()


def summarize_mlmodel(text: str | None) -> ModelSummary | None:
    """The flavor and signature of an MLmodel file's text; None for no text or a file MLflow would not write."""
    if text is None:
        return None
    try:
        meta = parse_model_meta(text)
    except InvalidParameter:
        return None
    signature = meta.signature
    return ModelSummary(
        flavor=meta.primary_flavor,
        inputs=tuple(signature.inputs.describe()) if signature else (),
        outputs=tuple(signature.outputs.describe()) if signature and signature.outputs else (),
    )


def pyfunc_conf(loader_module: str, data_key: str, data_file: str, **extra: Any) -> dict[str, Any]:
    """The ``python_function`` flavor configuration MLflow's ``pyfunc.load_model`` reads."""
    conf: dict[str, Any] = dict(extra)
    conf[data_key] = data_file
    conf["env"] = {"conda": CONDA_FILE, "virtualenv": PYTHON_ENV_FILE}
    conf["loader_module"] = loader_module
    conf["python_version"] = platform.python_version()
    return conf


def write_mlmodel(folder: Path, content: dict[str, Any]) -> None:
    """Write MLmodel as MLflow does: block-style YAML with sorted keys."""
    text = yaml.safe_dump(content, default_flow_style=False)
    (folder / MLMODEL_FILE).write_text(text, encoding="utf-8")


def write_env_files(folder: Path, requirements: list[str]) -> None:
    """Write requirements.txt, python_env.yaml and conda.yaml, shaped like MLflow's."""
    (folder / REQUIREMENTS_FILE).write_text("\n".join(requirements), encoding="utf-8")
    python = platform.python_version()
    pip = _version("pip")
    build = [f"pip=={pip}" if pip else "pip", _pin("setuptools"), "wheel"]
    python_env = {"python": python, "build_dependencies": build, "dependencies": [f"-r {REQUIREMENTS_FILE}"]}
    (folder / PYTHON_ENV_FILE).write_text(yaml.safe_dump(python_env, sort_keys=False), encoding="utf-8")
    conda = {
        "channels": ["conda-forge"],
        "dependencies": [f"python={python}", f"pip<={pip}" if pip else "pip", {"pip": list(requirements)}],
        "name": "mlflow-env",
    }
    (folder / CONDA_FILE).write_text(yaml.safe_dump(conda, default_flow_style=False), encoding="utf-8")


def _read_requirements(file: Path) -> list[str] | None:
    if not file.is_file():
        return None
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _pin(dist: str) -> str:
    version = _version(dist)
    return f"{dist}=={version}" if version else dist
