"""Signature inference from example data: column schemas from tables, tensor schemas from numpy arrays."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.errors import InvalidParameter
from shipyard.models._deps import optional_import
from shipyard.models._entities import ColSpec, Schema, Signature, TensorSpec

__all__ = ["column_type", "infer_schema", "infer_signature", "tensor_dtype_name", "to_table"]

# pandas.api.types.infer_dtype answers for object columns -> MLflow type
_INFERRED_OBJECT_TYPES = {
    "string": "string",
    "bytes": "binary",
    "boolean": "boolean",
    "integer": "long",
    "floating": "double",
    "mixed-integer-float": "double",
    "decimal": "double",
    "datetime": "datetime",
    "datetime64": "datetime",
    "date": "datetime",
}


def infer_signature(model_input: Any, model_output: Any = None) -> Signature:
    """Infer a signature from example input (and, optionally, output) data.

    A pandas DataFrame, a dict of columns (lists or 1-D arrays of equal length) and a list of dicts give a
    column-based schema with MLflow's types; a numpy array gives a tensor schema whose first dimension is
    variable (-1); a dict of numpy arrays gives named tensors.

    Args:
        model_input: example input.
        model_output: example output (e.g. ``model.predict(model_input)``), or None.

    Returns:
        The signature, serialisable exactly as MLflow writes it.

    Raises:
        InvalidParameter: the data is of a kind no schema can describe.

    Example:
        >>> sig = infer_signature(pd.DataFrame({"x": [1.0, 2.0]}), np.array([0, 1]))
        >>> sig.inputs.to_json()
        '[{"type": "double", "name": "x", "required": true}]'
    """
    outputs = infer_schema(model_output) if model_output is not None else None
    return Signature(inputs=infer_schema(model_input), outputs=outputs)


def infer_schema(data: Any) -> Schema:
    """The schema describing ``data`` (see ``infer_signature`` for the accepted kinds)."""
    np = optional_import("numpy")
    pd = optional_import("pandas")
    if isinstance(data, np.ndarray):
        return Schema((_tensor_spec(data, None),))
    if isinstance(data, Mapping) and data and _is_tensor_dict(data, np):
        return Schema(tuple(_tensor_spec(v, str(k)) for k, v in data.items()))
    if isinstance(data, pd.Series):
        return Schema((_column_spec(data, data.name if isinstance(data.name, str) else None),))
    if isinstance(data, list) and data and not all(isinstance(x, Mapping) for x in data):
        return Schema((_column_spec(pd.Series(data), None),))
    table = to_table(data)
    if table is None:
        raise InvalidParameter(
            f"Cannot infer a schema from {type(data).__name__}: expected a pandas DataFrame or Series, a dict of "
            "columns, a list of dicts, or a numpy array."
        )
    return Schema(tuple(_column_spec(table[name], str(name)) for name in table.columns))


def _is_tensor_dict(data: Mapping[Any, Any], np: Any) -> bool:
    # A dict of 1-D arrays reads as columns; as soon as one array has another rank, it is named tensors.
    arrays = list(data.values())
    return all(isinstance(v, np.ndarray) for v in arrays) and any(v.ndim != 1 for v in arrays)


def to_table(data: Any) -> Any:
    """``data`` as a pandas DataFrame when it is one, a dict of columns or a list of dicts; else None."""
    pd = optional_import("pandas")
    np = optional_import("numpy")
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping) and data:
        if not all(isinstance(k, str) for k in data):
            raise InvalidParameter("A dict of columns needs string keys (the column names).")
        values = list(data.values())
        if all(isinstance(v, list | tuple) or (isinstance(v, np.ndarray) and v.ndim == 1) for v in values):
            return pd.DataFrame({k: list(v) for k, v in data.items()})
        if not any(isinstance(v, list | tuple | np.ndarray | Mapping) for v in values):
            return pd.DataFrame({k: [v] for k, v in data.items()})  # one row given as a dict of scalars
        return None
    if isinstance(data, list) and data and all(isinstance(x, Mapping) for x in data):
        return pd.DataFrame.from_records(data)
    return None


def column_type(column: Any) -> str | None:
    """The MLflow type of a pandas Series, or None when its values have no single MLflow type."""
    pd = optional_import("pandas")
    types = pd.api.types
    dtype = column.dtype
    if types.is_bool_dtype(dtype):
        kind = "boolean"
    elif types.is_integer_dtype(dtype):
        small = dtype.itemsize < 4 or (dtype.kind == "i" and dtype.itemsize == 4)
        kind = "integer" if small else "long"
    elif types.is_float_dtype(dtype):
        kind = "float" if dtype.itemsize <= 4 else "double"
    elif types.is_datetime64_any_dtype(dtype):
        kind = "datetime"
    elif dtype.kind == "S":
        kind = "binary"
    elif types.is_string_dtype(dtype) or dtype.kind == "O":
        inferred = types.infer_dtype(column, skipna=True)
        return "string" if inferred == "empty" else _INFERRED_OBJECT_TYPES.get(inferred)
    else:
        return None
    return kind


def tensor_dtype_name(dtype: Any) -> str:
    """MLflow's name of a tensor dtype: flexible string and bytes types lose their size (``<U5`` -> ``str``)."""
    if dtype.kind == "U":
        return "str"
    if dtype.kind == "S":
        return "bytes"
    return str(dtype.name)


def _tensor_spec(array: Any, name: str | None) -> TensorSpec:
    shape = (-1, *array.shape[1:]) if array.ndim else ()
    return TensorSpec(dtype=tensor_dtype_name(array.dtype), shape=tuple(int(d) for d in shape), name=name)


def _column_spec(column: Any, name: str | None) -> ColSpec:
    kind = column_type(column)
    if kind is None:
        label = f"column {name!r}" if name is not None else "the data"
        raise InvalidParameter(f"Cannot infer an MLflow type for {label} (dtype {column.dtype}).")
    return ColSpec(type=kind, name=name, required=not bool(column.isna().any()))
