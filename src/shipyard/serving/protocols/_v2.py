"""The Open Inference Protocol (v2, KServe/Triton) REST codec, requests: infer requests decoded from their body.

Pure functions over bytes and parsed objects, with no I/O. Requests may be plain JSON or a JSON header followed by
binary tensor data (the binary tensor data extension, tritonclient's default), whose header length arrives in the
``Inference-Header-Content-Length`` HTTP header. What the tensors become for the model is `_v2_inputs`; responses
and model metadata are `_v2_outputs`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import orjson

from shipyard.errors import InvalidParameter
from shipyard.models import ColSpec, Schema, TensorSpec
from shipyard.serving.protocols._matrix import RowMatrix, V2Rows, v2_request_matrix
from shipyard.serving.protocols._v2_tensors import MLFLOW_TO_V2, V2_TO_NUMPY, decode_binary_data, decode_json_data

__all__ = [
    "HEADER_LENGTH",
    "InferRequest",
    "InputTensor",
    "RequestedOutput",
    "column_datatype",
    "parse_infer_request",
    "tensor_names",
]

#: The HTTP header that carries the JSON header's length when binary tensor data follows it.
HEADER_LENGTH = "Inference-Header-Content-Length"


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


def tensor_names(schema: Schema, prefix: str) -> list[str]:
    """Tensor names for a schema's items: their own, or ``input-0``, ``output-1``... for unnamed ones."""
    items: Sequence[ColSpec | TensorSpec] = schema.items
    return [item.name if item.name is not None else f"{prefix}-{i}" for i, item in enumerate(items)]


def column_datatype(spec: ColSpec) -> str:
    """The v2 datatype of an MLflow column type (``BYTES`` for text, binary and the rest)."""
    return MLFLOW_TO_V2.get(spec.type, "BYTES")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )
