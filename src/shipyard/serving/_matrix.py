"""The fast path for the most common model: every input a required ``double`` column.

For such a model a request's rows are parsed straight from the JSON (or the v2 tensors) into one float64
matrix, checked against the signature while parsing, merged with other requests' matrices by one
``numpy.concatenate``, and turned into a single-block DataFrame once per batch, in the model's thread. The
general path (a DataFrame per request, MLflow's casting rules, then the signature check) costs a millisecond or
more per request in pandas; this one a few tens of microseconds. Whatever the fast path does not recognise
exactly (missing or extra columns, ``null``, ``NaN`` spelled out, text, an ``index``, params) goes the general
way, so answers and error messages stay the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from shipyard.models import ColSpec, Signature

__all__ = ["RowMatrix", "invocation_matrix", "matrix_columns", "v2_matrix"]

_MAX_FAST_ROWS = 100_000


class RowMatrix:
    """Rows of a model's ``double`` columns: a float64 ``(n, k)`` array and the ``k`` column names, in order."""

    __slots__ = ("columns", "values")

    def __init__(self, values: np.ndarray[Any, Any], columns: tuple[str, ...]) -> None:
        self.values = values
        self.columns = columns

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def to_frame(self) -> Any:
        """The rows as a pandas DataFrame (one float64 block, no copy)."""
        import pandas as pd

        return pd.DataFrame(self.values, columns=list(self.columns), copy=False)

    @staticmethod
    def concat(parts: Sequence[RowMatrix]) -> RowMatrix:
        """Several requests' rows, in order (they share the columns)."""
        return RowMatrix(np.concatenate([part.values for part in parts]), parts[0].columns)


def matrix_columns(signature: Signature | None) -> tuple[str, ...] | None:
    """The column names when every input is a required, named ``double`` column; else None (no fast path)."""
    if signature is None or signature.inputs.is_tensor or not signature.inputs.items:
        return None
    names: list[str] = []
    for spec in signature.inputs.items:
        if not isinstance(spec, ColSpec) or spec.type != "double" or not spec.required or spec.name is None:
            return None
        names.append(spec.name)
    return tuple(names) if len(set(names)) == len(names) else None


def _is_number(value: Any) -> bool:
    return type(value) is float or type(value) is int  # bool is an int subclass: it is not a number here


def _from_rows(rows: list[list[Any]], columns: tuple[str, ...]) -> RowMatrix | None:
    if not rows or len(rows) > _MAX_FAST_ROWS:
        return None
    width = len(columns)
    for row in rows:
        if len(row) != width or not all(_is_number(value) for value in row):
            return None
    return RowMatrix(np.array(rows, dtype=np.float64), columns)


def _from_records(records: Any, columns: tuple[str, ...]) -> RowMatrix | None:
    if not isinstance(records, list) or not records:
        return None
    wanted = set(columns)
    rows = []
    for record in records:
        if not isinstance(record, dict) or record.keys() != wanted:
            return None
        rows.append([record[name] for name in columns])
    return _from_rows(rows, columns)


def _from_split(split: Any, columns: tuple[str, ...]) -> RowMatrix | None:
    if not isinstance(split, dict) or split.keys() != {"columns", "data"}:
        return None
    given, data = split["columns"], split["data"]
    if not isinstance(given, list) or not isinstance(data, list) or sorted(given) != sorted(columns):
        return None
    if not all(isinstance(row, list) for row in data):
        return None
    if tuple(given) != columns:
        order = [given.index(name) for name in columns]
        data = [[row[i] for i in order] if len(row) == len(order) else row for row in data]
    return _from_rows(data, columns)


def _from_columns(columns_data: Any, columns: tuple[str, ...]) -> RowMatrix | None:
    """``{"a": [1, 2], "b": [3, 4]}``: MLflow's ``inputs``/``instances`` as a dict of columns."""
    if not isinstance(columns_data, dict) or columns_data.keys() != set(columns):
        return None
    lists = [columns_data[name] for name in columns]
    if not all(isinstance(values, list) for values in lists) or len({len(values) for values in lists}) != 1:
        return None
    return _from_rows([list(row) for row in zip(*lists, strict=True)], columns)


def invocation_matrix(body: bytes, content_type: str | None, columns: tuple[str, ...]) -> RowMatrix | None:
    """The rows of a ``POST /invocations`` JSON body, if the fast path recognises it exactly; else None."""
    mime, _, parameters = (content_type or "").partition(";")
    if mime.strip().lower() != "application/json" or parameters.strip().lower() not in ("charset=utf-8", ""):
        return None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None  # the general path gives MLflow's message (and accepts NaN, which orjson does not)
    if not isinstance(document, dict) or len(document) != 1:
        return None  # params, or several formats: the general path decides
    ((key, value),) = document.items()
    parse = _FORMATS.get(key)
    if parse is None or (key in ("inputs", "instances") and not isinstance(value, list)):
        parse = _from_columns if key in ("inputs", "instances") else None
    return parse(value, columns) if parse is not None else None


_FORMATS = {
    "dataframe_records": _from_records,
    "dataframe_split": _from_split,
    "inputs": _from_records,
    "instances": _from_records,
}


def v2_matrix(inputs: Sequence[Any], columns: tuple[str, ...]) -> RowMatrix | None:
    """The rows of v2 input tensors (``InputTensor``), when they are one FP64 tensor per column or one
    ``[n, k]`` FP64 tensor; else None."""
    if len(inputs) == 1 and inputs[0].datatype == "FP64" and len(inputs[0].shape) == 2:
        tensor = inputs[0]
        if tensor.shape[1] == len(columns) and tensor.shape[0] > 0:
            return RowMatrix(np.ascontiguousarray(tensor.data, dtype=np.float64), columns)
        return None
    by_name = {tensor.name: tensor for tensor in inputs}
    if len(inputs) != len(columns) or by_name.keys() != set(columns):
        return None
    return _per_column([by_name[name] for name in columns], columns)


def _per_column(tensors: list[Any], columns: tuple[str, ...]) -> RowMatrix | None:
    rows = tensors[0].shape[0] if tensors[0].shape else 0
    for tensor in tensors:
        fits = len(tensor.shape) in (1, 2) and tensor.shape[1:] in ((), (1,)) and tensor.shape[0] == rows
        if tensor.datatype != "FP64" or not fits:
            return None
    if not rows:
        return None
    return RowMatrix(np.column_stack([tensor.data.reshape(-1) for tensor in tensors]), columns)
