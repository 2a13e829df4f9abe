"""Frozen, I/O-free entities of the model format: schemas, signatures, saved-model info and MLmodel metadata."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import InvalidParameter

__all__ = ["COLUMN_TYPES", "ColSpec", "ModelInfo", "ModelMeta", "Schema", "Signature", "TensorSpec"]

#: MLflow's scalar column types, in MLflow's order.
COLUMN_TYPES: tuple[str, ...] = ("boolean", "integer", "long", "float", "double", "string", "binary", "datetime")


@dataclass(frozen=True)
class ColSpec:
    """One column of a column-based schema.

    Attributes:
        type: an MLflow column type (``"double"``, ``"long"``, ...); ``"array"``, ``"object"``, ``"map"`` or
            ``"any"`` for MLflow's complex types, whose full definition is kept in ``detail``.
        name: the column name, or None for an unnamed column (typical of outputs).
        required: False when the column may be missing or hold nulls.
        detail: the JSON of a complex type, kept so that it round-trips unchanged.
    """

    type: str
    name: str | None = None
    required: bool = True
    detail: str | None = None

    def to_mlflow_dict(self) -> dict[str, Any]:
        """The dictionary MLflow writes for this column (key order included)."""
        out: dict[str, Any] = dict(json.loads(self.detail)) if self.detail else {"type": self.type}
        if self.name is not None:
            out["name"] = self.name
        out["required"] = self.required
        return out

    @classmethod
    def from_mlflow_dict(cls, raw: Mapping[str, Any]) -> ColSpec:
        """Parse one column as MLflow writes it."""
        kind = raw.get("type")
        name = raw.get("name")
        required = bool(raw.get("required", True))
        if kind in COLUMN_TYPES:
            return cls(type=str(kind), name=name, required=required)
        if not isinstance(kind, str):
            raise InvalidParameter(f"Schema column {raw!r} has no valid 'type'.")
        detail = {k: v for k, v in raw.items() if k not in ("name", "required")}
        return cls(type=kind, name=name, required=required, detail=json.dumps(detail))


@dataclass(frozen=True)
class TensorSpec:
    """One tensor of a tensor-based schema.

    Attributes:
        dtype: a numpy dtype name (``"float64"``, ``"int32"``, ``"str"``, ...).
        shape: the shape, with -1 for a variable dimension (the first one, for a batch).
        name: the tensor name, or None for a single unnamed tensor.
    """

    dtype: str
    shape: tuple[int, ...]
    name: str | None = None

    def to_mlflow_dict(self) -> dict[str, Any]:
        """The dictionary MLflow writes for this tensor (key order included)."""
        spec = {"dtype": self.dtype, "shape": list(self.shape)}
        if self.name is None:
            return {"type": "tensor", "tensor-spec": spec}
        return {"name": self.name, "type": "tensor", "tensor-spec": spec}

    @classmethod
    def from_mlflow_dict(cls, raw: Mapping[str, Any]) -> TensorSpec:
        """Parse one tensor as MLflow writes it."""
        spec = raw.get("tensor-spec")
        if not isinstance(spec, Mapping) or "dtype" not in spec or "shape" not in spec:
            raise InvalidParameter(f"Tensor spec {raw!r} needs 'tensor-spec' with 'dtype' and 'shape'.")
        return cls(dtype=str(spec["dtype"]), shape=tuple(int(d) for d in spec["shape"]), name=raw.get("name"))


@dataclass(frozen=True)
class Schema:
    """An ordered list of columns or of tensors (never a mix), as in MLflow.

    Attributes:
        items: the column specs or tensor specs.
    """

    items: tuple[ColSpec, ...] | tuple[TensorSpec, ...]

    @property
    def is_tensor(self) -> bool:
        """True for a tensor-based schema."""
        return bool(self.items) and isinstance(self.items[0], TensorSpec)

    @property
    def names(self) -> list[str | None]:
        """The column or tensor names, in order."""
        return [item.name for item in self.items]

    def describe(self) -> list[tuple[str, str, bool]]:
        """``(name, type, required)`` per column or tensor, for people: ``("age", "long", True)``,
        ``("", "tensor float64 [-1, 4]", True)``."""
        out: list[tuple[str, str, bool]] = []
        for item in self.items:
            if isinstance(item, TensorSpec):
                out.append((item.name or "", f"tensor {item.dtype} {list(item.shape)}", True))
            else:
                out.append((item.name or "", item.type, item.required))
        return out

    def to_json(self) -> str:
        """The JSON string MLflow stores in MLmodel for this schema."""
        return json.dumps([item.to_mlflow_dict() for item in self.items])

    @classmethod
    def from_json(cls, text: str) -> Schema:
        """Parse the JSON string MLflow stores in MLmodel."""
        try:
            raw = json.loads(text)
        except (TypeError, json.JSONDecodeError) as exc:
            raise InvalidParameter(f"Schema is not valid JSON: {exc}") from None
        if not isinstance(raw, list) or not all(isinstance(x, Mapping) for x in raw):
            raise InvalidParameter("Schema must be a JSON list of column or tensor specs.")
        if raw and all(x.get("type") == "tensor" for x in raw):
            return cls(tuple(TensorSpec.from_mlflow_dict(x) for x in raw))
        if any(x.get("type") == "tensor" for x in raw):
            raise InvalidParameter("A schema cannot mix tensors and columns.")
        return cls(tuple(ColSpec.from_mlflow_dict(x) for x in raw))


@dataclass(frozen=True)
class Signature:
    """What a model takes and returns.

    Attributes:
        inputs: the input schema.
        outputs: the output schema, or None when unknown.
        params: MLflow's params schema as its JSON string, kept unchanged (Shipyard does not enforce it).
    """

    inputs: Schema
    outputs: Schema | None = None
    params: str | None = None

    def to_mlflow_dict(self) -> dict[str, str | None]:
        """The ``signature`` mapping MLflow writes in MLmodel: each schema as a JSON string."""
        return {
            "inputs": self.inputs.to_json(),
            "outputs": self.outputs.to_json() if self.outputs is not None else None,
            "params": self.params,
        }

    @classmethod
    def from_mlflow_dict(cls, raw: Mapping[str, Any]) -> Signature:
        """Parse the ``signature`` mapping of an MLmodel file.

        Raises:
            InvalidParameter: the mapping has no inputs or a schema is malformed.
        """
        inputs = raw.get("inputs")
        if not isinstance(inputs, str) or not inputs:
            raise InvalidParameter("Signature needs 'inputs' as a JSON string.")
        outputs = raw.get("outputs")
        params = raw.get("params")
        return cls(
            inputs=Schema.from_json(inputs),
            outputs=Schema.from_json(outputs) if isinstance(outputs, str) and outputs else None,
            params=params if isinstance(params, str) and params else None,
        )

    def to_json(self) -> str:
        """This signature as one JSON document (``to_mlflow_dict`` as JSON)."""
        return json.dumps(self.to_mlflow_dict())

    @classmethod
    def from_json(cls, text: str) -> Signature:
        """Parse what ``to_json`` wrote."""
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidParameter(f"Signature is not valid JSON: {exc}") from None
        if not isinstance(raw, Mapping):
            raise InvalidParameter("Signature JSON must be an object.")
        return cls.from_mlflow_dict(raw)


@dataclass(frozen=True)
class ModelInfo:
    """What ``save_model`` wrote.

    Attributes:
        path: the model folder.
        flavor: one of ``FLAVORS``.
        signature: the signature written to MLmodel, or None.
        files: relative posix path -> sha256 hex digest, for every file except SHA256SUMS.
        size_bytes: total size of those files.
        model_uuid: the MLmodel ``model_uuid``.
        serialization: how the model file is stored (``skops``, ``cloudpickle``, ``ubj``, ``onnx``, ...).
        executes_code_on_load: True when loading runs code from the model file (pickle, cloudpickle).
    """

    path: str
    flavor: str
    signature: Signature | None
    files: dict[str, str]
    size_bytes: int
    model_uuid: str
    serialization: str
    executes_code_on_load: bool


@dataclass(frozen=True)
class ModelMeta:
    """A read-only view of an MLmodel file (nothing is loaded).

    Attributes:
        flavors: flavor name -> flavor configuration, as written.
        signature: the parsed signature, or None.
        model_uuid: the model's uuid, if recorded.
        run_id: the run that logged the model, if recorded.
        artifact_path: the model's path inside its run's artifacts, if recorded.
        utc_time_created: when the model was saved, as MLflow writes it.
        model_id: the MLflow 3 logged-model id, if recorded.
        saved_input_example_info: where and how the input example is stored, if any.
        primary_flavor: the native flavor key (``sklearn``, ``xgboost``...) or ``python_function``.
        requirements: the lines of requirements.txt, or None when it is missing.
        metadata: the free-form ``metadata`` mapping (Shipyard writes ``shipyard_*`` keys there).
        model_size_bytes: the size MLflow records, if any.
    """

    flavors: dict[str, dict[str, Any]]
    signature: Signature | None
    model_uuid: str | None
    run_id: str | None
    artifact_path: str | None
    utc_time_created: str | None
    model_id: str | None
    saved_input_example_info: dict[str, Any] | None
    primary_flavor: str
    requirements: list[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    model_size_bytes: int | None = None
