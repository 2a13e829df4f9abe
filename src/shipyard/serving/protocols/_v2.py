"""The Open Inference Protocol (v2, KServe/Triton) REST codec: infer requests, infer responses and model metadata.

Pure functions over bytes and parsed objects, with no I/O. Requests may be plain JSON or a JSON header followed by
binary tensor data (the binary tensor data extension, tritonclient's default), whose header length arrives in the
``Inference-Header-Content-Length`` HTTP header.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import orjson

from shipyard.errors import InvalidParameter
from shipyard.models import ColSpec, Schema, Signature, TensorSpec
from shipyard.serving.protocols._matrix import RowMatrix, V2Rows, v2_request_matrix
from shipyard.serving.protocols._v2_tensors import (
    MLFLOW_TO_V2,
    V2_TO_NUMPY,
    as_output_array,
    as_text,
    decode_binary_data,
    decode_json_data,
    encode_binary_data,
    encode_json_data,
    v2_datatype_of,
)

__all__ = [
    "HEADER_LENGTH",
    "InferRequest",
    "InputTensor",
    "OutputTensor",
    "RequestedOutput",
    "encode_infer_response",
    "model_metadata",
    "parse_infer_request",
    "prediction_to_outputs",
    "request_to_model_input",
]

#: The HTTP header that carries the JSON header's length when binary tensor data follows it.
HEADER_LENGTH = "Inference-Header-Content-Length"

# MLflow column type -> numpy dtype a column is cast to when no value changes (the [n, k] layout needs it)
_COLUMN_DTYPES = {"boolean": "bool", "integer": "int32", "long": "int64", "float": "float32", "double": "float64"}


@dataclass(frozen=True)
class InputTensor:
    """One decoded input tensor.

    Attributes:
        name: the tensor's name.
        datatype: its v2 datatype (``FP32``, ``INT64``, ``BYTES``...).
        shape: its shape.
        data: a numpy array of that shape (BYTES: an object array of ``str`` from JSON, ``bytes`` from binary).
        parameters: the tensor's ``parameters`` as sent.
    """

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: Any
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestedOutput:
    """An output the client asked for.

    Attributes:
        name: the output's name.
        binary: its ``binary_data`` parameter; None when unset (the request's ``binary_data_output`` decides).
    """

    name: str
    binary: bool | None = None


@dataclass(frozen=True)
class InferRequest:
    """A decoded infer request.

    Attributes:
        inputs: the input tensors, in request order.
        id: the request id to echo, or None.
        outputs: the outputs asked for, or None for all of them.
        parameters: the request's ``parameters`` as sent.
        matrix: the inputs as the serving fast path's `RowMatrix` (float64 rows in the model's column order), when
            ``parse_infer_request`` was given the columns and the request is one FP64 tensor per column or one
            ``[n, k]`` FP64 tensor; else None. ``inputs`` are then views of it, made when first used.
    """

    inputs: Sequence[InputTensor]
    id: str | None = None
    outputs: tuple[RequestedOutput, ...] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    matrix: RowMatrix | None = None

    @property
    def binary_output(self) -> bool:
        """True when the request asks for every output in binary (``binary_data_output``)."""
        return self.parameters.get("binary_data_output") is True


@dataclass(frozen=True)
class OutputTensor:
    """One output tensor of a prediction, before encoding.

    Attributes:
        name: the output's name.
        datatype: its v2 datatype.
        data: a numpy array (BYTES: an object array of ``str`` or ``bytes``).
    """

    name: str
    datatype: str
    data: Any


def parse_infer_request(
    body: bytes, *, header_length: str | int | None = None, columns: tuple[str, ...] | None = None
) -> InferRequest:
    """Decode an infer request body.

    Args:
        body: the HTTP body.
        header_length: the ``Inference-Header-Content-Length`` header, when the request has one: the JSON header
            is that many bytes and the binary data of inputs with a ``binary_data_size`` parameter follows it,
            in input order.
        columns: the model's columns when every input is a required ``double`` column (the serving fast path's
            ``matrix_columns``): a request that is plainly one FP64 tensor per column or one ``[n, k]`` FP64
            tensor is then read straight into ``matrix``, with no numpy array per tensor.

    Returns:
        The request, each input decoded to a numpy array of its shape (and ``matrix`` set, see ``columns``).

    Raises:
        InvalidParameter: naming what is malformed (not JSON, not an object, no inputs, an unknown datatype, a
            wrong element count, a binary size that does not match, truncated or left-over binary data).

    Example:
        >>> request = parse_infer_request(body, header_length=headers.get(HEADER_LENGTH))
        >>> request.inputs[0].data.shape
        (2, 4)
    """
    json_end = _json_end(header_length, len(body))
    view = memoryview(body)
    document = _load_json(view[:json_end] if json_end is not None else view)
    if not isinstance(document, dict):
        raise InvalidParameter(f"An infer request must be a JSON object with 'inputs', got {_kind(document)}.")
    raw_inputs = document.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidParameter("An infer request needs 'inputs': a non-empty list of tensors.")
    binary = view[json_end:] if json_end is not None else view[:0]
    # The fast path only takes inputs the loop below would decode without complaint, to the same values.
    rows = v2_request_matrix(raw_inputs, binary if json_end is not None else None, columns) if columns else None
    inputs: Sequence[InputTensor] = (
        _parse_inputs(raw_inputs, binary, has_header=json_end is not None) if rows is None else _MatrixInputs(rows)
    )
    return InferRequest(
        inputs=inputs,
        id=_request_id(document.get("id")),
        outputs=_requested_outputs(document.get("outputs")),
        parameters=_parameters(document.get("parameters"), "the request"),
        matrix=None if rows is None else rows.matrix,
    )


def _parse_inputs(raw_inputs: list[Any], binary: memoryview, *, has_header: bool) -> tuple[InputTensor, ...]:
    inputs: list[InputTensor] = []
    names: set[str] = set()
    offset = 0
    for position, raw in enumerate(raw_inputs):
        tensor, size = _parse_input(raw, position, binary, offset, has_header=has_header)
        if tensor.name in names:
            raise InvalidParameter(f"Input {tensor.name!r} appears twice in the request.")
        names.add(tensor.name)
        inputs.append(tensor)
        offset += size
    if offset != len(binary):
        raise InvalidParameter(
            f"The request carries {len(binary)} bytes of binary data after its JSON header, but its inputs' "
            f"binary_data_size parameters add up to {offset}."
        )
    return tuple(inputs)


class _MatrixInputs(Sequence[InputTensor]):
    """The input tensors of a request the fast path read into a matrix: views of its columns, made on first use.

    It keeps the matrix and the tensors' names, not the parsed JSON: that is freed once the request is parsed,
    rather than held (dozens of objects for the garbage collector to walk) while the request waits for the model.
    """

    __slots__ = ("_made", "_rows")

    def __init__(self, rows: V2Rows) -> None:
        self._rows = rows
        self._made: tuple[InputTensor, ...] | None = None

    def _tensors(self) -> tuple[InputTensor, ...]:
        if self._made is None:
            values, names, shape = self._rows.matrix.values, self._rows.names, self._rows.shape
            position = {name: j for j, name in enumerate(self._rows.matrix.columns)}
            parameters = {"binary_data_size": math.prod(shape) * values.itemsize} if self._rows.binary else {}
            self._made = tuple(
                InputTensor(
                    name,
                    "FP64",
                    shape,
                    values.reshape(shape) if len(names) == 1 else values[:, position[name]].reshape(shape),
                    dict(parameters),
                )
                for name in names
            )
        return self._made

    def __len__(self) -> int:
        return len(self._rows.names)

    @overload
    def __getitem__(self, index: int) -> InputTensor: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[InputTensor, ...]: ...

    def __getitem__(self, index: int | slice) -> InputTensor | tuple[InputTensor, ...]:
        return self._tensors()[index]

    def __iter__(self) -> Iterator[InputTensor]:
        return iter(self._tensors())

    def __repr__(self) -> str:
        return repr(self._tensors())


def _json_end(header_length: str | int | None, body_size: int) -> int | None:
    if header_length is None:
        return None
    try:
        value = int(header_length)
    except (TypeError, ValueError):
        raise InvalidParameter(f"{HEADER_LENGTH} must be an integer, got {header_length!r}.") from None
    if value < 0 or value > body_size:
        raise InvalidParameter(f"{HEADER_LENGTH} is {value}, but the body has {body_size} bytes.")
    return value


def _load_json(text: memoryview) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:  # tritonclient's rapidjson writes NaN and Infinity, which only the standard library reads
        return json.loads(bytes(text))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidParameter(
            f"The infer request is not valid JSON ({exc}). A request with binary data needs the "
            f"{HEADER_LENGTH} header set to the JSON header's length."
        ) from None


def _parse_input(
    raw: Any, position: int, binary: memoryview, offset: int, *, has_header: bool
) -> tuple[InputTensor, int]:
    """One input tensor, and the number of binary bytes it used."""
    if not isinstance(raw, dict):
        raise InvalidParameter(f"Input {position} must be a JSON object, got {_kind(raw)}.")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidParameter(f"Input {position} needs a 'name' (a non-empty string).")
    datatype = raw.get("datatype")
    if datatype not in V2_TO_NUMPY:
        raise InvalidParameter(f"Input {name!r} has datatype {datatype!r}; expected one of {', '.join(V2_TO_NUMPY)}.")
    shape = raw.get("shape")
    parameters = _parameters(raw.get("parameters"), f"input {name!r}")
    if "shared_memory_region" in parameters:
        raise InvalidParameter(f"Input {name!r} uses shared memory, which this server does not support.")
    size = parameters.get("binary_data_size")
    if size is None:
        if "data" not in raw:
            raise InvalidParameter(f"Input {name!r} has neither 'data' nor a binary_data_size parameter.")
        data = decode_json_data(name, datatype, shape, raw["data"])
        return InputTensor(name, datatype, tuple(data.shape), data, parameters), 0
    if "data" in raw:
        raise InvalidParameter(f"Input {name!r} has both 'data' and a binary_data_size parameter.")
    if not has_header:
        raise InvalidParameter(
            f"Input {name!r} has binary data, but the request has no {HEADER_LENGTH} header to find it."
        )
    if type(size) is not int or size < 0:
        raise InvalidParameter(f"Input {name!r}: binary_data_size must be a non-negative integer, got {size!r}.")
    if offset + size > len(binary):
        raise InvalidParameter(
            f"Input {name!r}: binary_data_size is {size} bytes, but only {len(binary) - offset} bytes of binary "
            "data remain: the body is truncated."
        )
    data = decode_binary_data(name, datatype, shape, binary[offset : offset + size])
    return InputTensor(name, datatype, tuple(data.shape), data, parameters), size


def _parameters(raw: Any, owner: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidParameter(f"The 'parameters' of {owner} must be a JSON object, got {_kind(raw)}.")
    return raw


def _request_id(raw: Any) -> str | None:
    if raw is None or isinstance(raw, str):
        return raw
    raise InvalidParameter(f"The request 'id' must be a string, got {_kind(raw)}.")


def _requested_outputs(raw: Any) -> tuple[RequestedOutput, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InvalidParameter(f"'outputs' must be a list of objects with a 'name', got {_kind(raw)}.")
    out: list[RequestedOutput] = []
    for position, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise InvalidParameter(f"Requested output {position} needs a 'name' (a non-empty string).")
        parameters = _parameters(item.get("parameters"), f"output {name!r}")
        if parameters.get("classification") or "shared_memory_region" in parameters:
            raise InvalidParameter(
                f"Output {name!r} asks for classification or shared memory, which this server does not support."
            )
        binary = parameters.get("binary_data")
        if binary is not None and not isinstance(binary, bool):
            raise InvalidParameter(f"Output {name!r}: binary_data must be true or false, got {binary!r}.")
        out.append(RequestedOutput(name, binary))
    return tuple(out)


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

    names = _tensor_names(Schema(tuple(specs)), "input")
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
        f"{n!r} ({_column_datatype(s)})" for n, s in zip(names, specs, strict=True) if n not in given and s.required
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
    names = _tensor_names(Schema(tuple(specs)), "input")
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


def prediction_to_outputs(prediction: Any, schema: Schema | None = None) -> list[OutputTensor]:
    """Split a prediction into named output tensors.

    A dict gives one output per key; a DataFrame one per column; a 2-D array as wide as a named column output
    schema one per column; anything else one output. Names come from the output schema when it names them
    (``output-0`` for an unnamed one), else from the DataFrame's columns or the Series' name.
    """
    names = _tensor_names(schema, "output") if schema is not None else []
    if type(prediction) is np.ndarray:  # the common case first, without pandas or abstract base classes
        return _array_outputs(prediction, names)
    import pandas as pd

    if isinstance(prediction, Mapping):
        return [_output(str(key), value) for key, value in prediction.items()]
    if isinstance(prediction, pd.DataFrame):
        width = prediction.shape[1]
        labels = (
            names
            if len(names) == width
            else [c if isinstance(c, str) else f"output-{i}" for i, c in enumerate(prediction.columns)]
        )
        return [_output(labels[j], prediction.iloc[:, j]) for j in range(width)]
    if isinstance(prediction, pd.Series):
        label = names[0] if len(names) == 1 else prediction.name if isinstance(prediction.name, str) else "output-0"
        return [_output(label, prediction)]
    return _array_outputs(np.asarray(prediction), names)


def _array_outputs(array: Any, names: list[str]) -> list[OutputTensor]:
    if len(names) > 1 and array.ndim == 2 and array.shape[1] == len(names):
        return [_output(name, array[:, j]) for j, name in enumerate(names)]
    return [_output(names[0] if len(names) == 1 else "output-0", array)]


def _output(name: str, value: Any) -> OutputTensor:
    array, datatype = as_output_array(value)
    return OutputTensor(name, datatype, array)


def encode_infer_response(
    prediction: Any,
    *,
    request: InferRequest,
    model_name: str,
    model_version: str,
    signature: Signature | None = None,
) -> tuple[bytes, dict[str, str]]:
    """Encode a prediction as the infer response to ``request``.

    Only the outputs the request names are returned, in its order (all when it names none). An output is sent
    as binary data when its ``binary_data`` parameter is true, or when unset and the request's
    ``binary_data_output`` parameter is true; the JSON header's length then goes in ``Inference-Header-Content-Length``.
    JSON data cannot hold NaN or infinities: they are written as null (binary outputs keep them exactly).

    Args:
        prediction: what ``LoadedModel.predict`` returned.
        request: the decoded request (for its id and requested outputs).
        model_name: the model's name.
        model_version: the version that answered.
        signature: the model's signature, whose outputs name the output tensors.

    Returns:
        The body and the headers to send with it (``Content-Type``, and the header length when binary).

    Raises:
        InvalidParameter: the request asks for an output the model does not produce.
    """
    outputs = prediction_to_outputs(prediction, signature.outputs if signature is not None else None)
    chosen = _choose_outputs(outputs, request)
    document: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request.id is not None:
        document["id"] = request.id
    tensors: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for output, binary in chosen:
        tensor: dict[str, Any] = {"name": output.name, "datatype": output.datatype, "shape": list(output.data.shape)}
        if binary:
            raw = encode_binary_data(output.data, output.datatype)
            tensor["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            tensor["data"] = encode_json_data(output.name, output.data, output.datatype)
        tensors.append(tensor)
    document["outputs"] = tensors
    head = orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
    if not chunks:
        return head, {"Content-Type": "application/json"}
    headers = {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(head))}
    return b"".join([head, *chunks]), headers


def _choose_outputs(outputs: list[OutputTensor], request: InferRequest) -> list[tuple[OutputTensor, bool]]:
    default = request.binary_output
    if request.outputs is None:
        return [(output, default) for output in outputs]
    by_name = {output.name: output for output in outputs}
    unknown = [wanted.name for wanted in request.outputs if wanted.name not in by_name]
    if unknown:
        raise InvalidParameter(
            f"Unknown output {', '.join(map(repr, unknown))}: the model produces {', '.join(map(repr, by_name))}."
        )
    return [(by_name[w.name], default if w.binary is None else w.binary) for w in request.outputs]


def model_metadata(name: str, *, versions: Sequence[str], platform: str, signature: Signature | None) -> dict[str, Any]:
    """The ``GET /v2/models/{name}`` document: inputs and outputs from the signature, -1 for the batch dimension.

    A column signature lists one ``[-1]`` tensor per column (named ``input-0``... when unnamed); a tensor
    signature lists its tensors with their shapes. A model without a signature lists no inputs or outputs.

    Example:
        >>> model_metadata("churn", versions=["3"], platform="shipyard-sklearn", signature=sig)["inputs"][0]
        {'name': 'age', 'datatype': 'INT64', 'shape': [-1]}
    """
    inputs = signature.inputs if signature is not None else None
    outputs = signature.outputs if signature is not None else None
    return {
        "name": name,
        "versions": list(versions),
        "platform": platform,
        "inputs": _tensor_metadata(inputs, "input"),
        "outputs": _tensor_metadata(outputs, "output"),
    }


def _tensor_metadata(schema: Schema | None, prefix: str) -> list[dict[str, Any]]:
    if schema is None or not schema.items:
        return []
    out: list[dict[str, Any]] = []
    items: Sequence[ColSpec | TensorSpec] = schema.items
    for name, item in zip(_tensor_names(schema, prefix), items, strict=True):
        if isinstance(item, TensorSpec):
            out.append({"name": name, "datatype": _tensor_datatype(item.dtype), "shape": list(item.shape)})
        else:
            out.append({"name": name, "datatype": _column_datatype(item), "shape": [-1]})
    return out


def _tensor_names(schema: Schema, prefix: str) -> list[str]:
    """Tensor names for a schema's items: their own, or ``input-0``, ``output-1``... for unnamed ones."""
    items: Sequence[ColSpec | TensorSpec] = schema.items
    return [item.name if item.name is not None else f"{prefix}-{i}" for i, item in enumerate(items)]


def _column_datatype(spec: ColSpec) -> str:
    return MLFLOW_TO_V2.get(spec.type, "BYTES")


def _tensor_datatype(dtype: str) -> str:
    try:
        return v2_datatype_of(np.dtype(dtype))
    except TypeError:
        return "BYTES"


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )
