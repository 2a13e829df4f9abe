"""Arrow columns as drift inputs: the kind, numerical sample and category counts ``data_drift`` would see.

``data_drift_files`` reads files one column at a time with pyarrow. For the plain Arrow types (floats, integers,
booleans without missing values, strings) these functions give exactly what ``data_drift`` computes after
``pandas.read_parquet`` (integers with missing values read as float64, strings as pandas strings), without building
pandas objects. ``is_plain`` says when they apply; other columns go through pandas.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pyarrow.compute as pc  # type: ignore[import-untyped]

from shipyard.monitoring.stats.categorical import CategoryCounts
from shipyard.monitoring.stats.columns import CATEGORICAL_MAX_INT_DISTINCT, InferredKind, text_or_categorical
from shipyard.monitoring.stats.numerical import Sample

__all__ = ["PLAIN_NUMPY_TYPES", "category_counts", "infer_kind", "is_plain", "sample"]

PLAIN_NUMPY_TYPES = frozenset(
    {"float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"}
    | {"object", "str"}
)
"""The dtypes in a file's pandas metadata under which pandas reads a column as its Arrow type says."""

Family = Literal["float", "int", "bool", "string"]


def is_plain(column: pa.ChunkedArray, numpy_type: str | None = None) -> bool:
    """True when the functions here reproduce pandas for this column.

    Args:
        column: the column as read.
        numpy_type: its dtype in the file's pandas metadata, if any (pandas restores extension dtypes from it).
    """
    if numpy_type is not None and numpy_type not in PLAIN_NUMPY_TYPES:
        return False
    return _family(column) is not None


def _family(column: pa.ChunkedArray) -> Family | None:
    kind = column.type
    if pa.types.is_float32(kind) or pa.types.is_float64(kind):
        return "float"
    if pa.types.is_integer(kind):
        return "float" if column.null_count else "int"  # pandas reads integers with missing values as float64
    if pa.types.is_boolean(kind):
        return "bool" if column.null_count == 0 else None  # pandas: object dtype
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "string"
    return None


def infer_kind(column: pa.ChunkedArray) -> InferredKind:
    """Evidently's type inference (``stats.columns.infer_kind``) for a plain column of the current data."""
    family = _family(column)
    if family == "float":
        return "numerical"
    if family == "int":
        distinct = int(pc.count_distinct(column).as_py())
        return "categorical" if distinct <= CATEGORICAL_MAX_INT_DISTINCT else "numerical"
    if family == "bool":
        return "categorical"
    distinct = int(pc.count_distinct(column, mode="only_valid").as_py())
    return text_or_categorical(distinct, len(column) - column.null_count)


def sample(column: pa.ChunkedArray) -> Sample | None:
    """A numerical column's cleaned sample, or None for strings (pandas' error message names its dtype)."""
    family = _family(column)
    if family is None or family == "string":
        return None
    values = column.to_numpy()  # floats and integers with nulls: float64 with NaN, as pandas reads them
    if family == "bool":
        values = values.astype(np.float64)  # pandas: to_numpy(dtype=float64) on a bool column
    return Sample.from_values(values)


def category_counts(reference: pa.ChunkedArray, current: pa.ChunkedArray) -> CategoryCounts | None:
    """``CategoryCounts.from_series`` on both sides, or None when their types would make pandas mix kinds.

    Categories in order of first appearance, reference first (pandas' ``value_counts(sort=False)`` and
    ``Index.union(sort=False)``); missing values and ``±inf`` dropped.
    """
    ref_family, cur_family = _family(reference), _family(current)
    if ref_family is None or cur_family is None:
        return None
    numbers = {"int", "float"}
    if ref_family != cur_family and not {ref_family, cur_family} <= numbers:
        return None
    as_float = "float" in {ref_family, cur_family}  # pandas unions an int64 index with a float64 one as float64
    ref_keys, ref_counts = _value_counts(reference, ref_family, as_float=as_float)
    cur_keys, cur_counts = _value_counts(current, cur_family, as_float=as_float)
    position = {key: i for i, key in enumerate(ref_keys)}
    keys = list(ref_keys)
    cur_index = np.empty(len(cur_keys), dtype=np.int64)
    for i, key in enumerate(cur_keys):
        index = position.get(key)
        if index is None:
            index = position[key] = len(keys)
            keys.append(key)
        cur_index[i] = index
    ref_full = np.zeros(len(keys), dtype=np.int64)
    ref_full[: len(ref_keys)] = ref_counts
    cur_full = np.zeros(len(keys), dtype=np.int64)
    cur_full[cur_index] = cur_counts
    return CategoryCounts(keys=keys, ref=ref_full, cur=cur_full)


def _value_counts(
    column: pa.ChunkedArray, family: Family, *, as_float: bool
) -> tuple[list[Any], npt.NDArray[np.int64]]:
    if family == "float":
        values = column.to_numpy().astype(np.float64, copy=False)
        values = values[np.isfinite(values)] + 0.0  # + 0.0: -0.0 counts as 0.0, as in pandas' hash table
        counted = pc.value_counts(pa.array(values))
    else:
        counted = pc.value_counts(column)
    keys = counted.field("values")
    counts = counted.field("counts").to_numpy().astype(np.int64)
    if keys.null_count:
        valid = keys.is_valid()
        keys, counts = keys.filter(valid), counts[valid.to_numpy(zero_copy_only=False)]
    found = keys.to_pylist()
    if as_float:
        found = [float(key) for key in found]
    return found, counts
