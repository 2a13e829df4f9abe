"""Checks model input against a signature: every problem is collected and raised as one SchemaMismatch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.errors import SchemaMismatch
from shipyard.models._deps import optional_import
from shipyard.models._entities import ColSpec, Schema, TensorSpec
from shipyard.models._infer import column_type, tensor_dtype_name, to_table

__all__ = ["enforce_schema"]

# expected MLflow type -> the types that convert to it without losing information
_SAFE_FROM: dict[str, frozenset[str]] = {
    "boolean": frozenset({"boolean"}),
    "integer": frozenset({"integer"}),
    "long": frozenset({"integer", "long"}),
    "float": frozenset({"integer", "float"}),
    "double": frozenset({"integer", "long", "float", "double"}),
    "string": frozenset({"string"}),
    "binary": frozenset({"binary"}),
    "datetime": frozenset({"datetime"}),
}
_NUMPY_TYPES = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "datetime": "datetime64[ns]",
}


def enforce_schema(data: Any, schema: Schema) -> Any:
    """Return ``data`` shaped for the model (safe casts applied) or raise one ``SchemaMismatch``.

    Column schemas accept a DataFrame, a dict of columns, a list of dicts, and a 2-D numpy array as wide as
    the schema; tensor schemas accept numpy arrays (or a dict of them for named tensors).

    Raises:
        SchemaMismatch: listing every missing column, wrong type, extra column, wrong dtype or shape.
    """
    if not schema.items:
        return data
    if schema.is_tensor:
        return _enforce_tensors(data, schema)
    return _enforce_columns(data, schema)


def _enforce_columns(data: Any, schema: Schema) -> Any:
    specs = [s for s in schema.items if isinstance(s, ColSpec)]
    named = all(s.name is not None for s in specs)
    table = _as_table(data, specs, named)
    if not named:
        table = table.copy()
        table.columns = list(range(len(table.columns)))
    specs_by_key: dict[Any, ColSpec] = {s.name: s for s in specs} if named else dict(enumerate(specs))
    problems: list[str] = []
    casts: dict[Any, str] = {}
    for key, spec in specs_by_key.items():
        label = f"column {key!r}" if named else f"column {key}"
        if key not in table.columns:
            if spec.required:
                problems.append(f"missing {label} (expected {spec.type})")
        elif spec.type in _SAFE_FROM:  # MLflow's array/object/map/any types: presence is all that is checked
            problem, cast = _check_column(table[key], spec, label)
            problems.extend(problem)
            if cast:
                casts[key] = cast
    extra = [c for c in table.columns if c not in specs_by_key]
    problems.extend(f"unexpected column {c!r} (got {column_type(table[c]) or table[c].dtype})" for c in extra)
    if problems:
        raise SchemaMismatch(problems)
    if casts:
        table = table.astype(casts)
    return table[list(specs_by_key)]


def _as_table(data: Any, specs: list[ColSpec], named: bool) -> Any:
    np = optional_import("numpy")
    pd = optional_import("pandas")
    names = [s.name if named else i for i, s in enumerate(specs)]
    if isinstance(data, np.ndarray) and data.ndim == 2 and data.shape[1] == len(specs):
        return pd.DataFrame(data, columns=names)
    if isinstance(data, np.ndarray | pd.Series) and data.ndim == 1 and len(specs) == 1:
        return pd.DataFrame({names[0]: data})
    table = to_table(data)
    if table is None:
        width = f" of width {data.shape[1]}" if isinstance(data, np.ndarray) and data.ndim == 2 else ""
        expected = (
            f"expected a table with columns {[s.name for s in specs]}: a DataFrame, a dict of columns, a list of "
            f"dicts or a 2-D array of width {len(specs)}; got {type(data).__name__}{width}"
        )
        raise SchemaMismatch([expected])
    return table


def _check_column(column: Any, spec: ColSpec, label: str) -> tuple[list[str], str | None]:
    """The problems with one column, and the numpy type to cast it to (None when it is fine as it is)."""
    got = column_type(column)
    if spec.required and bool(column.isna().any()) and got not in ("float", "double"):
        return [f"{label}: expected {spec.type}, got missing values"], None
    if got is None or got not in _SAFE_FROM[spec.type]:
        return [f"{label}: expected {spec.type}, got {got or str(column.dtype)}"], None
    return [], _NUMPY_TYPES.get(spec.type) if got != spec.type else None


def _enforce_tensors(data: Any, schema: Schema) -> Any:
    np = optional_import("numpy")
    pd = optional_import("pandas")
    specs = [s for s in schema.items if isinstance(s, TensorSpec)]
    if len(specs) == 1 and specs[0].name is None:
        if isinstance(data, pd.DataFrame):
            data = data.to_numpy()
        elif isinstance(data, list):
            data = np.asarray(data)
        if not isinstance(data, np.ndarray):
            raise SchemaMismatch([f"expected a numpy array ({_describe(specs[0])}), got {type(data).__name__}"])
        problems, cast = _check_tensor(data, specs[0], "input")
        if problems:
            raise SchemaMismatch(problems)
        return cast
    if not isinstance(data, Mapping):
        raise SchemaMismatch([f"expected a dict of arrays named {[s.name for s in specs]}, got {type(data).__name__}"])
    problems = []
    out: dict[str, Any] = {}
    for spec in specs:
        name = str(spec.name)
        if name not in data:
            problems.append(f"missing tensor {name!r} ({_describe(spec)})")
            continue
        found, out[name] = _check_tensor(np.asarray(data[name]), spec, f"tensor {name!r}")
        problems.extend(found)
    problems.extend(f"unexpected tensor {k!r}" for k in data if k not in {s.name for s in specs})
    if problems:
        raise SchemaMismatch(problems)
    return out


def _check_tensor(array: Any, spec: TensorSpec, label: str) -> tuple[list[str], Any]:
    np = optional_import("numpy")
    problems = []
    expected = np.dtype(spec.dtype)
    got_name = tensor_dtype_name(array.dtype)
    same_kind_text = expected.kind in "US" and array.dtype.kind == expected.kind
    if got_name != spec.dtype and not same_kind_text and not np.can_cast(array.dtype, expected, casting="safe"):
        problems.append(f"{label}: expected dtype {spec.dtype}, got {got_name}")
    if len(array.shape) != len(spec.shape):
        problems.append(f"{label}: expected shape {list(spec.shape)}, got {list(array.shape)}")
    else:
        for axis, (want, got) in enumerate(zip(spec.shape, array.shape, strict=True)):
            if want not in (-1, got):
                problems.append(f"{label}: expected size {want} on axis {axis}, got {got}")
    if problems or got_name == spec.dtype or same_kind_text:
        return problems, array
    return problems, array.astype(expected)


def _describe(spec: TensorSpec) -> str:
    return f"dtype {spec.dtype}, shape {list(spec.shape)}"
