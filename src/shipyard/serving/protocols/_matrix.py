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

import itertools
import operator
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import orjson

from shipyard.models import ColSpec, Signature
from shipyard.predlog import RowMatrix

__all__ = ["RowMatrix", "V2Rows", "invocation_matrix", "matrix_columns", "v2_matrix", "v2_request_matrix"]

_MAX_FAST_ROWS = 100_000
_FLOAT_ONLY = frozenset((float,))
_INT_ONLY = frozenset((int,))
_DICT_ONLY = frozenset((dict,))
_LIST_ONLY = frozenset((list,))
_JSON_FIELDS = operator.itemgetter("name", "datatype", "shape", "data")
_BINARY_FIELDS = operator.itemgetter("name", "datatype", "shape", "parameters")
_BINARY_SIZE = operator.itemgetter("binary_data_size")
_INT64_END = 2**63  # an int in [-2**63, 2**63) reads the same as a float whichever way numpy converts it
_FP64_SIZE = 8


class V2Rows(NamedTuple):
    """The rows of a v2 request's tensors, and how the tensors held them (enough to rebuild the tensors).

    Attributes:
        matrix: the rows, in the model's column order.
        names: the tensors' names, in request order (one per column, or the single ``[n, k]`` tensor's).
        shape: every tensor's shape (``[n]`` or ``[n, 1]`` per column, or ``[n, k]``).
        binary: True when the tensors came as binary data, False when as JSON ``data``.
    """

    matrix: RowMatrix
    names: tuple[str, ...]
    shape: tuple[int, ...]
    binary: bool


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


def v2_request_matrix(raw_inputs: list[Any], binary: memoryview | None, columns: tuple[str, ...]) -> V2Rows | None:
    """The rows of a v2 infer request's ``inputs`` (its parsed JSON objects) and ``binary`` data (what follows the
    JSON header; None without an ``Inference-Header-Content-Length``), read straight into the matrix, without a
    numpy array per tensor.

    Recognises exactly one FP64 tensor per column (``[n]`` or ``[n, 1]``, named as the columns, any order) or a
    single ``[n, k]`` FP64 tensor (any name), each with flat JSON ``data`` of plain numbers (the ``[n, k]`` one may
    also nest its rows) or with a ``binary_data_size`` parameter and nothing else, the binary data used up exactly.
    Anything else, including whatever the codec would refuse, gives None: the codec then decodes the tensors one by
    one and decides, with its messages. Nothing returned refers to the parsed JSON, which can go at once.
    """
    width = len(columns)
    if "" in columns:  # the codec refuses a tensor without a name
        return None
    if len(raw_inputs) == 1 and type(raw_inputs[0]) is dict:
        shape = raw_inputs[0].get("shape")
        if type(shape) is list and len(shape) == 2 and type(shape[1]) is int and shape[1] == width:
            matrix = _v2_one_matrix(raw_inputs[0], shape[0], binary, columns)
            if matrix is None:
                return None
            return V2Rows(matrix, (raw_inputs[0]["name"],), (shape[0], width), "data" not in raw_inputs[0])
    if len(raw_inputs) != width:
        return None
    return _v2_per_column(raw_inputs, binary, columns)


def _plain_numbers(values: list[Any]) -> bool:
    """True when every value is a float, or an int numpy reads as the same float (not a bool, not huge)."""
    if _FLOAT_ONLY.issuperset(map(type, values)):
        return True
    return all(type(v) is float or (type(v) is int and -_INT64_END <= v < _INT64_END) for v in values)


def _binary_size(raw: dict[str, Any], parameters: Any, binary: memoryview | None) -> int:
    """The tensor's ``binary_data_size`` when that is its only parameter and it has no ``data``; else -1."""
    if type(parameters) is not dict or len(parameters) != 1 or binary is None or "data" in raw:
        return -1
    size = parameters.get("binary_data_size")
    return size if type(size) is int else -1


def _v2_one_matrix(
    raw: dict[str, Any], rows: Any, binary: memoryview | None, columns: tuple[str, ...]
) -> RowMatrix | None:
    name, parameters = raw.get("name"), raw.get("parameters")
    if raw.get("datatype") != "FP64" or type(name) is not str or not name or type(rows) is not int or rows <= 0:
        return None
    if parameters is None or parameters == {}:
        return _v2_json_matrix(raw.get("data"), binary, rows, columns)
    size = _binary_size(raw, parameters, binary)
    if binary is None or size != rows * len(columns) * _FP64_SIZE or len(binary) != size:
        return None
    return RowMatrix(np.frombuffer(binary, dtype=np.float64).reshape(rows, len(columns)), columns)


def _v2_json_matrix(data: Any, binary: memoryview | None, rows: int, columns: tuple[str, ...]) -> RowMatrix | None:
    """An ``[n, k]`` tensor's JSON data: flat, or nested by rows."""
    width = len(columns)
    if type(data) is not list or binary:  # binary data nobody claims: the codec refuses it
        return None
    if len(data) == rows * width and _plain_numbers(data):
        return RowMatrix(np.array(data, dtype=np.float64).reshape(rows, width), columns)
    nested = len(data) == rows and all(type(row) is list and len(row) == width and _plain_numbers(row) for row in data)
    return RowMatrix(np.array(data, dtype=np.float64), columns) if nested else None


def _v2_per_column(raw_inputs: list[Any], binary: memoryview | None, columns: tuple[str, ...]) -> V2Rows | None:
    fields = _column_fields(raw_inputs, columns)
    if fields is None:
        return None
    names, shape, payloads, order, sent_binary = fields
    if sent_binary:
        matrix = _v2_binary_columns(payloads, binary, shape[0], columns, order)
    else:
        matrix = _v2_json_columns(payloads, binary, shape[0], columns, order)
    return None if matrix is None else V2Rows(matrix, names, shape, sent_binary)


def _column_fields(
    raw_inputs: list[Any], columns: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[int, ...], tuple[Any, ...], list[int] | None, bool] | None:
    """The names, the shape, each tensor's data (or parameters when binary), the column order and whether binary:
    when every tensor is an FP64 ``[n]`` or ``[n, 1]`` tensor named after a column (once each) with exactly the four
    fields name, datatype, shape, and data or parameters. Checked a field at a time across all the tensors (C loops,
    not a Python loop per tensor)."""
    width = len(columns)
    if not _DICT_ONLY.issuperset(map(type, raw_inputs)) or sum(map(len, raw_inputs)) != 4 * width:
        return None
    sent_binary = "data" not in raw_inputs[0]
    try:
        fields = map(_BINARY_FIELDS if sent_binary else _JSON_FIELDS, raw_inputs)
        names, datatypes, shapes, payloads = zip(*fields, strict=True)
        order = _column_order(names, columns)
    except (KeyError, TypeError):  # a field missing, or an unhashable name
        return None
    shape = shapes[0]
    plain = (
        datatypes.count("FP64") == width
        and type(shape) is list
        and shapes.count(shape) == width  # so every shape is a list, equal to the first ([1.0] == [True] == [1])
        and (len(shape) == 1 or shape[1:] == [1])
        and _INT_ONLY.issuperset(map(type, itertools.chain.from_iterable(shapes)))  # ...and all integers
        and shape[0] > 0
    )
    return (names, tuple(shape), payloads, order, sent_binary) if plain else None


def _v2_json_columns(
    payloads: tuple[Any, ...], binary: memoryview | None, rows: int, columns: tuple[str, ...], order: list[int] | None
) -> RowMatrix | None:
    width = len(columns)
    if binary or not _LIST_ONLY.issuperset(map(type, payloads)) or list(map(len, payloads)).count(rows) != width:
        return None  # binary data nobody claims (the codec refuses it), or data that does not fit the shape
    flat = list(itertools.chain.from_iterable(payloads if order is None else [payloads[i] for i in order]))
    if not _plain_numbers(flat):
        return None
    return RowMatrix(np.ascontiguousarray(np.array(flat, dtype=np.float64).reshape(width, rows).T), columns)


def _column_order(names: tuple[Any, ...], columns: tuple[str, ...]) -> list[int] | None:
    """Where each column's tensor is in the request; None when in column order.

    Raises:
        KeyError: the names are not the columns, once each.
    """
    if names == columns:
        return None
    position = dict(zip(names, range(len(names)), strict=True))
    if len(position) != len(columns):
        raise KeyError("a name appears twice")
    return [position[name] for name in columns]


def _v2_binary_columns(
    parameters: tuple[Any, ...], binary: memoryview | None, rows: int, columns: tuple[str, ...], order: list[int] | None
) -> RowMatrix | None:
    """Every column sent as binary data of ``rows`` float64 values, one after the other in request order."""
    width = len(columns)
    if binary is None or len(binary) != width * rows * _FP64_SIZE or not _DICT_ONLY.issuperset(map(type, parameters)):
        return None
    if list(map(len, parameters)).count(1) != width:
        return None
    try:
        sizes = list(map(_BINARY_SIZE, parameters))
    except KeyError:
        return None
    if sizes.count(rows * _FP64_SIZE) != width or not _INT_ONLY.issuperset(map(type, sizes)):
        return None
    block = np.frombuffer(binary, dtype=np.float64).reshape(width, rows)
    return RowMatrix(np.ascontiguousarray((block if order is None else block[order]).T), columns)
