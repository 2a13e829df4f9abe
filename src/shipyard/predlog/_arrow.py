"""Prediction records to Arrow: one log row per predicted row, converted once per group of like records."""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Sequence
from typing import Any

from shipyard.predlog._rows import RowMatrix

__all__ = ["Blocks", "blocks", "prediction_table"]

#: A value split into column blocks: their shape (a hashable key), their data, and the row count (None: unknown).
Blocks = tuple[tuple[Hashable, ...], list[Any], int | None]

_META = ("request_id", "row", "time", "deployment", "variant", "model_name", "model_version", "shadow", "latency_ms")


def blocks(value: Any, prefix: str) -> Blocks:
    """Split a model input or output into blocks of columns named after ``prefix``.

    A DataFrame is one block (``prefix.<column>`` each); a Series or 1-D array is ``prefix``; a 2-D array is
    ``prefix.<i>``; a higher-dimensional array is one fixed-size list per row under ``prefix``; a dict is a block
    per key (``prefix.<key>``); a list of dicts is read as a DataFrame; other lists become Arrow values. Records
    whose blocks have equal keys are converted together by `prediction_table`.

    Raises:
        ValueError: the entries of a dict have different row counts.
    """
    import numpy as np
    import pandas as pd

    if value is None or isinstance(value, RowMatrix):  # RowMatrix: the serving fast path's named float64 columns
        return _named(value, prefix)
    if isinstance(value, list | tuple) and value and all(isinstance(item, dict) for item in value):
        value = pd.DataFrame(list(value))  # records, as JSON-speaking models answer
    if isinstance(value, pd.DataFrame):
        return (("frame", prefix, tuple(value.columns)),), [value], len(value)
    if isinstance(value, pd.Series):
        return (("series", prefix),), [value], len(value)
    if isinstance(value, dict):
        return _dict_blocks(value, prefix)
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nested lists
        array = None
    if array is None or (array.dtype == object and isinstance(value, list | tuple)):
        items = list(value)
        return (("list", prefix),), [items], len(items)
    array = array.reshape(1) if array.ndim == 0 else array
    return (("array", prefix, array.dtype.kind, array.shape[1:]),), [array], len(array)


def _named(value: RowMatrix | None, prefix: str) -> Blocks:
    if value is None:
        return (), [], None
    return (("named", prefix, value.columns),), [value.values], len(value)


def _dict_blocks(value: dict[Any, Any], prefix: str) -> Blocks:
    """The blocks of a dict of outputs (``{"label": …, "probabilities": …}``), one ``prefix.<key>`` each."""
    keys: list[Hashable] = []
    data: list[Any] = []
    count: int | None = None
    for name, item in value.items():
        key, values, rows = blocks(item, f"{prefix}.{name}")
        if count is not None and rows != count:
            raise ValueError(f"{prefix}.{name} has {rows} rows, the entries before it {count}")
        keys.extend(key)
        data.extend(values)
        count = rows
    return tuple(keys), data, count


def prediction_table(
    records: Sequence[Any], counts: Sequence[int], inputs: Sequence[Blocks], outputs: Sequence[Blocks]
) -> Any:
    """The log rows of ``records`` (`PredictionRecord`), which share input and output block keys.

    Args:
        records: the records.
        counts: each record's row count.
        inputs: each record's input blocks (from `blocks`).
        outputs: each record's output blocks.

    Returns:
        A ``pyarrow.Table``: the fixed columns, then the inputs, then the predictions.

    Raises:
        Exception: whatever pandas or pyarrow raise for values they cannot convert (mixed types in a column).
    """
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

    from shipyard.predlog._segments import time_type

    repeat = np.array(counts, dtype=np.int64)
    total = int(repeat.sum())
    starts = np.repeat(np.cumsum(repeat) - repeat, repeat)

    def each_row(values: list[Any], dtype: Any, kind: Any) -> Any:
        return pa.array(np.repeat(np.array(values, dtype=dtype), repeat), kind)

    names = list(_META)
    arrays = [
        each_row([str(r.request_id) for r in records], object, pa.string()),
        pa.array((np.arange(total, dtype=np.int64) - starts).astype(np.int32)),
        each_row([r.time_ms for r in records], np.int64, pa.int64()).cast(time_type()),
        *(each_row([str(getattr(r, name)) for r in records], object, pa.string()) for name in _META[3:7]),
        each_row([bool(r.shadow) for r in records], np.bool_, pa.bool_()),
        each_row([r.latency_ms for r in records], np.float64, pa.float64()),
    ]
    for side in (inputs, outputs):
        keys = side[0][0]
        for position, key in enumerate(keys):
            _append_block(key, [record_blocks[1][position] for record_blocks in side], names, arrays)
    return pa.Table.from_arrays(arrays, names=names)


def _append_block(key: Any, values: list[Any], names: list[str], arrays: list[Any]) -> None:
    """Append the Arrow columns of one block, concatenated over the records, to ``names`` and ``arrays``."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    kind, prefix = key[0], key[1]
    if kind == "named":
        matrix = values[0] if len(values) == 1 else np.concatenate(values)
        names.extend(f"{prefix}.{column}" for column in key[2])
        arrays.extend(pa.array(np.ascontiguousarray(matrix[:, i])) for i in range(matrix.shape[1]))
    elif kind == "frame":
        frame = values[0] if len(values) == 1 else pd.concat(values, ignore_index=True)
        names.extend(f"{prefix}.{column}" for column in frame.columns)
        arrays.extend(pa.Table.from_pandas(frame, preserve_index=False).columns)
    elif kind == "series":
        names.append(prefix)
        arrays.append(pa.Array.from_pandas(values[0] if len(values) == 1 else pd.concat(values, ignore_index=True)))
    elif kind == "list":
        names.append(prefix)
        arrays.append(pa.array(list(itertools.chain.from_iterable(values))))
    else:
        array = values[0] if len(values) == 1 else np.concatenate(values)
        if array.ndim == 1:
            names.append(prefix)
            arrays.append(pa.array(array))
        elif array.ndim == 2:
            names.extend(f"{prefix}.{i}" for i in range(array.shape[1]))
            arrays.extend(pa.array(np.ascontiguousarray(array[:, i])) for i in range(array.shape[1]))
        else:  # a tensor per row: its values flattened into one fixed-size list
            names.append(prefix)
            arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(np.ravel(array)), math.prod(array.shape[1:])))
