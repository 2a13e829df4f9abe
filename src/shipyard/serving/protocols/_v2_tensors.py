"""Open Inference Protocol (v2) tensors: datatypes, and tensor data to and from JSON lists and binary buffers."""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from shipyard.errors import InvalidParameter

__all__ = [
    "MLFLOW_TO_V2",
    "V2_TO_NUMPY",
    "as_output_array",
    "as_text",
    "decode_binary_data",
    "decode_json_data",
    "element_count",
    "encode_binary_data",
    "encode_json_data",
    "v2_datatype_of",
]

#: v2 datatype -> numpy dtype, little-endian as the binary extension sends it (BYTES: Python objects).
V2_TO_NUMPY: dict[str, str] = {
    "BOOL": "bool",
    "INT8": "int8",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "UINT8": "uint8",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
    "BYTES": "object",
}

#: MLflow column type -> the v2 datatype a client sends for it (text, binary, dates and complex types as BYTES).
MLFLOW_TO_V2: dict[str, str] = {
    "boolean": "BOOL",
    "integer": "INT32",
    "long": "INT64",
    "float": "FP32",
    "double": "FP64",
}

# the numpy kinds that JSON data may parse to, per v2 datatype family (JSON has no int/float distinction)
_JSON_KINDS = {"BOOL": "b", "INT": "iu", "UINT": "iu", "FP": "iuf"}
_KIND_NAMES = {"b": "booleans", "i": "integers", "u": "integers", "f": "numbers with a fraction", "U": "strings"}
_LENGTH = struct.Struct("<I")
# the v2 datatype of each native-order numeric dtype, looked up before working it out from the kind and size
_NATIVE_DATATYPES = {np.dtype(numpy): v2 for v2, numpy in V2_TO_NUMPY.items() if v2 != "BYTES"}


def element_count(name: str, shape: Any) -> int:
    """The number of elements a v2 ``shape`` holds, after checking it is a list of non-negative integers."""
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise InvalidParameter(f"Input {name!r}: 'shape' must be a list of non-negative integers, got {shape!r}.")
    return math.prod(shape)


def decode_json_data(name: str, datatype: str, shape: Any, data: Any) -> Any:
    """The numpy array of shape ``shape`` that JSON tensor ``data`` (flat or nested, row-major) describes.

    Raises:
        InvalidParameter: the values are not of ``datatype``, are ragged, or are not as many as ``shape`` needs.
    """
    count = element_count(name, shape)
    if not isinstance(data, list):
        raise InvalidParameter(f"Input {name!r}: 'data' must be a list of values, got {type(data).__name__}.")
    if datatype == "BYTES":
        flat = _flatten(name, data)
        bad = next((v for v in flat if not isinstance(v, str)), None)
        if bad is not None:
            raise InvalidParameter(f"Input {name!r} is declared BYTES but its data holds {type(bad).__name__} {bad!r}.")
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
    else:
        array = _numeric_from_json(name, datatype, data)
    if array.size != count:
        raise InvalidParameter(f"Input {name!r} has {array.size} values but its shape {shape} needs {count}.")
    return array.reshape(shape)


def _numeric_from_json(name: str, datatype: str, data: list[Any]) -> Any:
    target = np.dtype(V2_TO_NUMPY[datatype])
    try:
        array = np.asarray(data)
    except ValueError:
        raise InvalidParameter(f"Input {name!r}: 'data' is ragged (nested lists of different lengths).") from None
    if array.size == 0:
        return np.empty(0, dtype=target)
    family = datatype.rstrip("0123456789")
    if array.dtype.kind not in _JSON_KINDS[family]:
        got = _KIND_NAMES.get(array.dtype.kind, "nulls, very large integers or mixed values")
        raise InvalidParameter(f"Input {name!r} is declared {datatype} but its data holds {got}.")
    array = array.reshape(-1)
    if array.dtype == target:  # floats for FP64, integers for INT64: nothing to cast or check
        return array
    with np.errstate(all="ignore"):
        cast = array.astype(target)
    if family != "FP" and not np.array_equal(cast, array):
        raise InvalidParameter(f"Input {name!r} holds values out of the range of {datatype}.")
    return cast


def _flatten(name: str, data: list[Any]) -> list[Any]:
    if not any(isinstance(v, list) for v in data):
        return data
    if not all(isinstance(v, list) for v in data):
        raise InvalidParameter(f"Input {name!r}: 'data' mixes lists and values.")
    inner = [_flatten(name, v) for v in data]
    if len({len(v) for v in inner}) > 1:
        raise InvalidParameter(f"Input {name!r}: 'data' is ragged (nested lists of different lengths).")
    return [v for row in inner for v in row]


def decode_binary_data(name: str, datatype: str, shape: Any, buffer: memoryview) -> Any:
    """The numpy array of shape ``shape`` in ``buffer`` (the binary tensor data extension's layout).

    Fixed-size types are packed little-endian, row-major; BYTES elements each carry a 4-byte little-endian length.

    Raises:
        InvalidParameter: the buffer's size does not match ``shape``, or a BYTES element runs past its end.
    """
    count = element_count(name, shape)
    if datatype == "BYTES":
        return _unpack_bytes(name, buffer, count).reshape(shape)
    dtype = np.dtype(V2_TO_NUMPY[datatype])
    expected = count * dtype.itemsize
    if len(buffer) != expected:
        raise InvalidParameter(
            f"Input {name!r}: binary_data_size is {len(buffer)} bytes, but shape {shape} of {datatype} needs "
            f"{expected} ({count} x {dtype.itemsize})."
        )
    return np.frombuffer(buffer, dtype=dtype).reshape(shape)


def _unpack_bytes(name: str, buffer: memoryview, count: int) -> Any:
    items: list[bytes] = []
    offset, end = 0, len(buffer)
    while offset < end:
        if offset + 4 > end:
            raise InvalidParameter(
                f"Input {name!r}: BYTES data is truncated inside the length of element {len(items)}."
            )
        (length,) = _LENGTH.unpack_from(buffer, offset)
        offset += 4
        if offset + length > end:
            raise InvalidParameter(
                f"Input {name!r}: BYTES element {len(items)} declares {length} bytes but only {end - offset} remain."
            )
        items.append(bytes(buffer[offset : offset + length]))
        offset += length
    if len(items) != count:
        raise InvalidParameter(f"Input {name!r} holds {len(items)} BYTES elements but its shape needs {count}.")
    array = np.empty(count, dtype=object)
    array[:] = items
    return array


def v2_datatype_of(dtype: Any) -> str:
    """The v2 datatype of a numpy dtype (text, bytes, dates and anything else as BYTES)."""
    known = _NATIVE_DATATYPES.get(dtype)
    if known is not None:
        return known
    kind, size = dtype.kind, dtype.itemsize
    if kind == "b":
        return "BOOL"
    if kind in "iu" and size in (1, 2, 4, 8):
        return f"{'INT' if kind == 'i' else 'UINT'}{size * 8}"
    if kind == "f" and size in (2, 4, 8):
        return f"FP{size * 8}"
    return "BYTES"


def as_output_array(value: Any) -> tuple[Any, str]:
    """``value`` (a numpy array, pandas column, list or scalar) as an array ready to encode, with its datatype.

    Text becomes an object array of ``str``, bytes stay ``bytes``, datetimes become ISO strings, and any other
    non-numeric value its ``str``.
    """
    if type(value) is np.ndarray:
        array = value
    else:
        to_numpy = getattr(value, "to_numpy", None)
        array = to_numpy() if callable(to_numpy) else np.asarray(value)
    if array.ndim == 0:
        array = array.reshape(1)
    datatype = v2_datatype_of(array.dtype)
    if datatype != "BYTES":
        return array, datatype
    if array.dtype.kind == "f":  # float128 and the like
        return array.astype(np.float64), "FP64"
    if array.dtype.kind == "M":
        array = np.datetime_as_string(array)
    out = np.empty(array.shape, dtype=object)
    out.reshape(-1)[:] = [v if isinstance(v, str | bytes) else str(v) for v in array.reshape(-1).tolist()]
    return out, "BYTES"


def encode_json_data(name: str, array: Any, datatype: str) -> Any:
    """Row-major data of ``array`` for a JSON tensor: a flat numpy array (orjson writes it), or a list of str."""
    if datatype != "BYTES":
        return np.ascontiguousarray(array.reshape(-1))
    return as_text(array.reshape(-1), f"Output {name!r}", hint=": request it with binary_data true")


def encode_binary_data(array: Any, datatype: str) -> bytes:
    """``array`` in the binary tensor data extension's layout (little-endian; BYTES with length prefixes)."""
    if datatype != "BYTES":
        return np.ascontiguousarray(array, dtype=np.dtype(V2_TO_NUMPY[datatype])).tobytes()
    parts: list[bytes] = []
    for value in array.reshape(-1):
        raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
        parts.extend((_LENGTH.pack(len(raw)), raw))
    return b"".join(parts)


def as_text(values: Sequence[Any], label: str, *, hint: str = "") -> list[Any]:
    """BYTES values as ``str`` (UTF-8), for text; ``str`` values pass through.

    Raises:
        InvalidParameter: ``label`` (``"Input 'x'"``) holds bytes that are not UTF-8, followed by ``hint``.
    """
    try:
        return [v.decode("utf-8") if isinstance(v, bytes) else v for v in values]
    except UnicodeDecodeError:
        raise InvalidParameter(f"{label} holds bytes that are not UTF-8 text{hint}.") from None
