"""Input examples on disk, written and read as MLflow does (input_example.json, serving_input_example.json)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidParameter
from shipyard.models._deps import optional_import
from shipyard.models._entities import ColSpec, Signature, TensorSpec
from shipyard.models._infer import to_table

__all__ = ["EXAMPLE_FILE", "SERVING_EXAMPLE_FILE", "normalise_example", "read_example", "write_example"]

EXAMPLE_FILE = "input_example.json"
SERVING_EXAMPLE_FILE = "serving_input_example.json"


def normalise_example(example: Any) -> Any:
    """The example as the model will see it: dicts of columns and lists of dicts become a DataFrame."""
    np = optional_import("numpy")
    pd = optional_import("pandas")
    if isinstance(example, pd.DataFrame | np.ndarray):
        return example
    arrays = list(example.values()) if isinstance(example, dict) else []
    if arrays and all(isinstance(v, np.ndarray) for v in arrays) and any(v.ndim != 1 for v in arrays):
        return example  # named tensors
    table = to_table(example)
    if table is None:
        raise InvalidParameter(
            f"input_example of type {type(example).__name__} is not supported: give a pandas DataFrame, a dict "
            "of columns, a list of dicts, a numpy array or a dict of numpy arrays."
        )
    return table


def write_example(folder: Path, example: Any) -> dict[str, Any]:
    """Write the example files and return MLmodel's ``saved_input_example_info``."""
    np = optional_import("numpy")
    pd = optional_import("pandas")
    if isinstance(example, pd.DataFrame):
        split = example.astype(object).where(example.notna(), None).to_dict(orient="split")
        del split["index"]
        body: Any = split
        serving: dict[str, Any] = {"dataframe_split": split}
        info = {"artifact_path": EXAMPLE_FILE, "pandas_orient": "split", "type": "dataframe"}
    elif isinstance(example, np.ndarray | dict):
        body = {k: v.tolist() for k, v in example.items()} if isinstance(example, dict) else example.tolist()
        serving = {"inputs": body}
        info = {"artifact_path": EXAMPLE_FILE, "type": "ndarray"}
    else:  # pragma: no cover - normalise_example rules this out
        raise InvalidParameter(f"input_example of type {type(example).__name__} is not supported.")
    (folder / EXAMPLE_FILE).write_text(json.dumps(body, default=_jsonable), encoding="utf-8")
    (folder / SERVING_EXAMPLE_FILE).write_text(json.dumps(serving, default=_jsonable, indent=2), encoding="utf-8")
    info["serving_input_path"] = SERVING_EXAMPLE_FILE
    return info


def read_example(folder: Path, info: dict[str, Any] | None, signature: Signature | None) -> Any:
    """The saved input example (typed by the signature when there is one), or None if there is none."""
    if not info or "artifact_path" not in info:
        return None
    file = folder / str(info["artifact_path"])
    if not file.is_file():
        return None
    raw = json.loads(file.read_text(encoding="utf-8"))
    kind = info.get("type")
    if isinstance(raw, dict) and "params" in raw and "data" in raw:
        raw = raw["data"]  # MLflow stores (data, params) examples this way
    if kind == "dataframe":
        return _read_table(raw, info.get("pandas_orient", "split"), signature)
    if kind == "ndarray":
        return _read_tensors(raw, signature)
    return raw


def _read_table(raw: Any, orient: str, signature: Signature | None) -> Any:
    pd = optional_import("pandas")
    if orient == "split" and isinstance(raw, dict):
        table = pd.DataFrame(raw["data"], columns=raw.get("columns"))
    elif orient == "records":
        table = pd.DataFrame.from_records(raw)
    else:
        table = pd.DataFrame(raw)
    if signature is None or signature.inputs.is_tensor:
        return table
    for spec in signature.inputs.items:
        if isinstance(spec, ColSpec) and spec.name in table.columns:
            table[spec.name] = _typed_column(table[spec.name], spec.type)
    return table


def _typed_column(column: Any, kind: str) -> Any:
    pd = optional_import("pandas")
    numpy_types = {"integer": "int32", "long": "int64", "float": "float32", "double": "float64", "boolean": "bool"}
    if column.isna().any():
        return column
    if kind in numpy_types:
        return column.astype(numpy_types[kind])
    if kind == "datetime":
        return pd.to_datetime(column)
    if kind == "binary":
        return column.map(lambda v: base64.decodebytes(v.encode("ascii")) if isinstance(v, str) else v)
    return column


def _read_tensors(raw: Any, signature: Signature | None) -> Any:
    np = optional_import("numpy")
    specs = [s for s in signature.inputs.items if isinstance(s, TensorSpec)] if signature is not None else []
    if isinstance(raw, dict):
        by_name = {s.name: s.dtype for s in specs}
        return {k: np.asarray(v, dtype=_numpy_dtype(by_name.get(k))) for k, v in raw.items()}
    dtype = _numpy_dtype(specs[0].dtype) if len(specs) == 1 else None
    return np.asarray(raw, dtype=dtype)


def _numpy_dtype(name: str | None) -> str | None:
    return None if name in (None, "str", "bytes", "object") else name


def _jsonable(value: Any) -> Any:
    np = optional_import("numpy")
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes | bytearray):
        return base64.encodebytes(bytes(value)).decode("ascii")
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
