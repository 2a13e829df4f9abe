"""The Open Inference Protocol (v2) REST codec, model inputs: what a decoded request's tensors are for the model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shipyard.errors import InvalidParameter
from shipyard.models import ColSpec, Schema, Signature, TensorSpec
from shipyard.serving.protocols._v2 import InferRequest, InputTensor, column_datatype, tensor_names
from shipyard.serving.protocols._v2_tensors import as_text

__all__ = ["request_to_model_input"]

# MLflow column type -> numpy dtype a column is cast to when no value changes (the [n, k] layout needs it)
_COLUMN_DTYPES = {"boolean": "bool", "integer": "int32", "long": "int64", "float": "float32", "double": "float64"}


def request_to_model_input(request: InferRequest, signature: Signature | None) -> Any:
    """The model input the request's tensors describe, shaped for ``LoadedModel.predict``.

    For a column signature, a pandas DataFrame with the signature's columns, in order, from either one tensor
    per column (named as the columns, shape ``[n]`` or ``[n, 1]``) or one ``[n, k]`` tensor (columns in
    signature order; any name). Numbers are cast to the column's type when no value changes, text columns get
    ``str`` and binary columns ``bytes``. For a tensor signature, the array (one unnamed tensor) or a dict of
    arrays by name. Without a signature, the one tensor's array, or a DataFrame of several ``[n]`` tensors.

    Raises:
        InvalidParameter: unknown or missing inputs, a shape that fits neither layout, rows that disagree.
    """
    schema = signature.inputs if signature is not None and signature.inputs.items else None
    if schema is None:
        return _without_schema(request)
    if schema.is_tensor:
        return _tensors(request, [s for s in schema.items if isinstance(s, TensorSpec)])
    return _frame(request, [s for s in schema.items if isinstance(s, ColSpec)])


def _frame(request: InferRequest, specs: list[ColSpec]) -> Any:
    import pandas as pd

    names = tensor_names(Schema(tuple(specs)), "input")
    given = {tensor.name: tensor for tensor in request.inputs}
    first = request.inputs[0]
    if len(request.inputs) == 1 and len(first.shape) == 2 and (first.shape[1] == len(specs) or first.name not in names):
        columns = _columns_of_matrix(first, specs, names)
    elif all(name in names for name in given):
        columns = _columns_per_tensor(given, specs, names)
    else:
        unknown = [name for name in given if name not in names]
        raise InvalidParameter(
            f"Unknown input {', '.join(map(repr, unknown))}: expected one tensor per column named "
            f"{', '.join(map(repr, names))}, or a single [n, {len(specs)}] tensor."
        )
    keys: list[Any] = [s.name if s.name is not None else i for i, s in enumerate(specs)]
    return pd.DataFrame({keys[i]: column for i, column in columns.items()})


def _columns_per_tensor(given: dict[str, InputTensor], specs: list[ColSpec], names: list[str]) -> dict[int, Any]:
    missing = [
        f"{n!r} ({column_datatype(s)})" for n, s in zip(names, specs, strict=True) if n not in given and s.required
    ]
    if missing:
        raise InvalidParameter(f"Missing input {', '.join(missing)}: the signature needs one tensor per column.")
    columns: dict[int, Any] = {}
    rows: tuple[str, int] | None = None
    for position, (name, spec) in enumerate(zip(names, specs, strict=True)):
        tensor = given.get(name)
        if tensor is None:
            continue
        if len(tensor.shape) not in (1, 2) or tensor.shape[1:] not in ((), (1,)):
            raise InvalidParameter(
                f"Input {name!r} has shape {list(tensor.shape)}; one tensor per column needs shape [n] or [n, 1]."
            )
        if rows is not None and rows[1] != tensor.shape[0]:
            raise InvalidParameter(f"Input {name!r} has {tensor.shape[0]} rows but input {rows[0]!r} has {rows[1]}.")
        rows = (name, tensor.shape[0])
        columns[position] = _fit_column(tensor.data.reshape(-1), spec, name)
    return columns


def _columns_of_matrix(tensor: InputTensor, specs: list[ColSpec], names: list[str]) -> dict[int, Any]:
    width = tensor.shape[1]
    if width != len(specs):
        raise InvalidParameter(
            f"Input {tensor.name!r} has shape {list(tensor.shape)}; a single [n, k] tensor needs k = {len(specs)} "
            f"(the signature's columns {', '.join(map(repr, names))})."
        )
    return {j: _fit_column(tensor.data[:, j], spec, names[j]) for j, spec in enumerate(specs)}


def _fit_column(values: Any, spec: ColSpec, name: str) -> Any:
    """One column's values with the Python or numpy type the column's MLflow type expects, where nothing is lost."""
    if values.dtype == object:
        if spec.type == "binary":
            return _object_array([v.encode("utf-8") if isinstance(v, str) else v for v in values])
        text = as_text(values, f"Input {name!r}")
        if spec.type == "datetime":
            import pandas as pd

            try:
                return pd.to_datetime(text, format="ISO8601").as_unit("ns")
            except (ValueError, TypeError) as exc:
                raise InvalidParameter(
                    f"Input {name!r} holds text that is not an ISO 8601 date and time: {exc}"
                ) from None
        return _object_array(text)
    target = _COLUMN_DTYPES.get(spec.type)
    return values if target is None else _cast_if_lossless(values, np.dtype(target))


def _cast_if_lossless(values: Any, target: Any) -> Any:
    if values.dtype == target or values.dtype.kind not in "biuf" or target.kind not in "biuf":
        return values
    with np.errstate(all="ignore"):
        cast = values.astype(target)
        back = cast.astype(values.dtype)
    same = np.array_equal(back, values, equal_nan=values.dtype.kind == "f")
    return cast if same else values


def _object_array(values: Sequence[Any]) -> Any:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _tensors(request: InferRequest, specs: list[TensorSpec]) -> Any:
    if len(specs) == 1 and specs[0].name is None:
        if len(request.inputs) != 1:
            raise InvalidParameter(f"The model takes one input tensor, got {len(request.inputs)}.")
        return _fit_tensor(request.inputs[0], specs[0])
    given = {tensor.name: tensor for tensor in request.inputs}
    names = tensor_names(Schema(tuple(specs)), "input")
    unknown = [name for name in given if name not in names]
    if unknown:
        raise InvalidParameter(
            f"Unknown input {', '.join(map(repr, unknown))}: expected {', '.join(map(repr, names))}."
        )
    missing = [name for name in names if name not in given]
    if missing:
        raise InvalidParameter(f"Missing input {', '.join(map(repr, missing))}.")
    return {name: _fit_tensor(given[name], spec) for name, spec in zip(names, specs, strict=True)}


def _fit_tensor(tensor: InputTensor, spec: TensorSpec) -> Any:
    data = tensor.data
    if data.dtype == object:
        if spec.dtype == "bytes":
            return data
        return _object_array(as_text(data.reshape(-1), f"Input {tensor.name!r}")).reshape(data.shape)
    try:
        target = np.dtype(spec.dtype)
    except TypeError:
        return data
    return _cast_if_lossless(data, target)


def _without_schema(request: InferRequest) -> Any:
    if len(request.inputs) == 1:
        tensor = request.inputs[0]
        if tensor.data.dtype != object:
            return tensor.data
        return _object_array(_text_if_utf8(tensor.data.reshape(-1))).reshape(tensor.data.shape)
    import pandas as pd

    rows = {tensor.shape[0] if tensor.shape else -1 for tensor in request.inputs}
    if len(rows) != 1 or any(tensor.shape[1:] not in ((), (1,)) for tensor in request.inputs):
        raise InvalidParameter(
            "The model has no signature: send one tensor, or several tensors of shape [n] (one per column)."
        )
    return pd.DataFrame({t.name: _text_if_utf8(t.data.reshape(-1)) for t in request.inputs})


def _text_if_utf8(values: Any) -> Any:
    if values.dtype != object:
        return values
    try:
        return _object_array(as_text(values, ""))
    except InvalidParameter:
        return values
