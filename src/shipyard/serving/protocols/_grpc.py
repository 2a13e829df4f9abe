"""The Open Inference Protocol (v2) over gRPC: KServe/Triton's ``inference.GRPCInferenceService`` on ``grpc.aio``.

It runs in the REST app's process and event loop and shares its model, batcher and metrics: a gRPC infer
request is decoded into the same ``InferRequest`` the REST codec builds and goes through the same ``predict``.
The message classes and servicer base are the ones generated in ``tritonclient.grpc`` (the ``grpc`` extra), so
no protos are compiled here.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from shipyard._http_errors import ErrorKind, http_error
from shipyard._version import __version__
from shipyard.errors import InvalidParameter, Overloaded, ResourceNotFound
from shipyard.serving.protocols._v2 import InferRequest, InputTensor, RequestedOutput
from shipyard.serving.protocols._v2_outputs import OutputTensor, prediction_to_outputs
from shipyard.serving.protocols._v2_tensors import (
    V2_TO_NUMPY,
    decode_binary_data,
    decode_json_data,
    element_count,
    encode_binary_data,
)
from shipyard.serving.runtime._metrics import MODEL_ERROR
from shipyard.serving.runtime._runtime import metadata_of

if TYPE_CHECKING:
    from shipyard.serving.runtime._metrics import ServingMetrics
    from shipyard.serving.runtime._runtime import DeploymentRuntime

__all__ = ["GrpcState", "infer_request_from_proto", "start_grpc_server"]

_log = logging.getLogger("shipyard.serving.grpc")
_SERVICE = "/inference.GRPCInferenceService/"
_MODEL_ERROR_MESSAGE = "The model failed to predict; the server log has the details."

# v2 datatype -> the InferTensorContents field that carries it when sent typed (FP16 has none: raw only)
_CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


class GrpcState(Protocol):
    """What the gRPC service needs of the serving app's state: the same object the REST routes use."""

    runtime: DeploymentRuntime
    metrics: ServingMetrics

    @property
    def name(self) -> str:
        """The deployment's name (the model name clients ask for)."""

    @property
    def ready(self) -> bool:
        """Whether the deployment is loaded and warmed."""


def _pb() -> tuple[Any, Any]:
    """``tritonclient.grpc``'s generated messages and service module (imported lazily: the ``grpc`` extra)."""
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    return service_pb2, service_pb2_grpc


def infer_request_from_proto(message: Any) -> InferRequest:
    """The ``InferRequest`` a ``ModelInferRequest`` carries, from ``raw_input_contents`` or typed ``contents``.

    Raises:
        InvalidParameter: a datatype is unknown, raw and typed contents are mixed, or a tensor's data does not
            match its shape.
    """
    raw: Sequence[bytes] = message.raw_input_contents
    if raw and len(raw) != len(message.inputs):
        raise InvalidParameter(
            f"The request has {len(message.inputs)} inputs but {len(raw)} raw_input_contents: send raw contents "
            "for every input or for none."
        )
    inputs: list[InputTensor] = []
    for position, tensor in enumerate(message.inputs):
        name, datatype, shape = tensor.name, tensor.datatype, list(tensor.shape)
        if not name:
            raise InvalidParameter(f"Input {position} needs a 'name' (a non-empty string).")
        if datatype not in V2_TO_NUMPY:
            raise InvalidParameter(
                f"Input {name!r} has datatype {datatype!r}; expected one of {', '.join(V2_TO_NUMPY)}."
            )
        parameters = _parameters(tensor.parameters)
        if "shared_memory_region" in parameters:
            raise InvalidParameter(f"Input {name!r} uses shared memory, which this server does not support.")
        if raw:
            if tensor.HasField("contents"):
                raise InvalidParameter(f"Input {name!r} has both typed contents and raw_input_contents.")
            data = decode_binary_data(name, datatype, shape, memoryview(raw[position]))
        else:
            data = _typed_contents(name, datatype, shape, tensor.contents)
        inputs.append(InputTensor(name, datatype, tuple(data.shape), data, parameters))
    outputs = tuple(RequestedOutput(output.name) for output in message.outputs) or None
    return InferRequest(tuple(inputs), message.id or None, outputs, _parameters(message.parameters))


def _typed_contents(name: str, datatype: str, shape: list[int], contents: Any) -> Any:
    field = _CONTENTS_FIELD.get(datatype)
    if field is None:
        raise InvalidParameter(f"Input {name!r}: {datatype} data can only be sent in raw_input_contents.")
    values = getattr(contents, field)
    if datatype != "BYTES":
        # the same checks as JSON data: kinds, ranges (INT8 in int_contents) and the element count
        return decode_json_data(name, datatype, shape, list(values))
    count = element_count(name, shape)
    if len(values) != count:
        raise InvalidParameter(f"Input {name!r} has {len(values)} values but its shape {shape} needs {count}.")
    array = np.empty(count, dtype=object)
    array[:] = list(values)
    return array.reshape(shape)


def _parameters(parameters: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in parameters.items():
        kind = value.WhichOneof("parameter_choice")
        out[key] = getattr(value, kind) if kind is not None else None
    return out


def _choose(outputs: list[OutputTensor], request: InferRequest) -> list[OutputTensor]:
    if request.outputs is None:
        return outputs
    by_name = {output.name: output for output in outputs}
    unknown = [wanted.name for wanted in request.outputs if wanted.name not in by_name]
    if unknown:
        raise InvalidParameter(
            f"Unknown output {', '.join(map(repr, unknown))}: the model produces {', '.join(map(repr, by_name))}."
        )
    return [by_name[wanted.name] for wanted in request.outputs]


def _check_model(state: GrpcState, name: str, version: str) -> None:
    if name != state.name:
        raise ResourceNotFound(f"No model named {name[:200]!r} here; this server serves {state.name!r}.")
    if version:
        state.runtime.pick(version=version)  # raises ResourceNotFound naming the versions served


def _status_of(exc: Exception) -> tuple[int, str, str | None]:
    """The HTTP-equivalent status (for metrics), the message, and the error kind when the status cannot tell."""
    answer = http_error(exc)
    if answer.kind is ErrorKind.REFUSED:
        return answer.status, answer.message, None
    _log.error("prediction failed", exc_info=exc)
    return 500, _MODEL_ERROR_MESSAGE, MODEL_ERROR


def _grpc_code(status: int) -> Any:
    import grpc

    if status == 404:
        return grpc.StatusCode.NOT_FOUND
    if status == 503:
        return grpc.StatusCode.UNAVAILABLE
    if 400 <= status < 500:
        return grpc.StatusCode.INVALID_ARGUMENT
    return grpc.StatusCode.INTERNAL


class _Service:
    """The implemented methods; ``_servicer`` adds them to the generated base (the rest answer UNIMPLEMENTED)."""

    def __init__(self, state: GrpcState) -> None:
        self._state = state
        self._pb, _ = _pb()

    async def ServerLive(self, _request: Any) -> Any:  # noqa: N802 - the protocol's method name
        return self._pb.ServerLiveResponse(live=True)

    async def ServerReady(self, _request: Any) -> Any:  # noqa: N802 - the protocol's method name
        return self._pb.ServerReadyResponse(ready=self._state.ready)

    async def ModelReady(self, request: Any) -> Any:  # noqa: N802 - the protocol's method name
        _check_model(self._state, request.name, request.version)
        return self._pb.ModelReadyResponse(ready=self._state.ready)

    async def ServerMetadata(self, _request: Any) -> Any:  # noqa: N802 - the protocol's method name
        return self._pb.ServerMetadataResponse(name="shipyard", version=__version__, extensions=[])

    async def ModelMetadata(self, request: Any) -> Any:  # noqa: N802 - the protocol's method name
        state = self._state
        _check_model(state, request.name, request.version)
        _, served = state.runtime.pick(version=request.version or None) if request.version else (None, None)
        meta = metadata_of(state.runtime, served)
        tensor = self._pb.ModelMetadataResponse.TensorMetadata
        return self._pb.ModelMetadataResponse(
            name=meta["name"],
            versions=meta["versions"],
            platform=meta["platform"],
            inputs=[tensor(name=t["name"], datatype=t["datatype"], shape=t["shape"]) for t in meta["inputs"]],
            outputs=[tensor(name=t["name"], datatype=t["datatype"], shape=t["shape"]) for t in meta["outputs"]],
        )

    async def ModelInfer(self, request: Any) -> Any:  # noqa: N802 - the protocol's method name
        state = self._state
        if request.model_name != state.name:
            _check_model(state, request.model_name, "")
        route, served = state.runtime.pick(version=request.model_version or None)
        parsed = infer_request_from_proto(request)
        signature = served.model.signature
        data = served.v2_input(parsed)
        request_id = parsed.id or uuid.uuid4().hex
        prediction = await state.runtime.predict(route, served, data, request_id=request_id)
        outputs = _choose(prediction_to_outputs(prediction, signature.outputs if signature else None), parsed)
        response = self._pb.ModelInferResponse(model_name=state.name, model_version=served.version, id=request_id)
        for output in outputs:
            response.outputs.add(name=output.name, datatype=output.datatype, shape=list(output.data.shape))
            response.raw_output_contents.append(encode_binary_data(output.data, output.datatype))
        return response


_IMPLEMENTED = ("ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer")


def _servicer(state: GrpcState) -> Any:
    """A ``GRPCInferenceServiceServicer`` whose implemented methods are guarded: errors become gRPC statuses."""
    _, pb_grpc = _pb()
    service = _Service(state)
    servicer = pb_grpc.GRPCInferenceServiceServicer()
    for method in _IMPLEMENTED:
        setattr(servicer, method, _guarded(getattr(service, method), state, _SERVICE + method))
    return servicer


def _guarded(
    handler: Callable[[Any], Awaitable[Any]], state: GrpcState, route: str
) -> Callable[[Any, Any], Awaitable[Any]]:
    async def method(request: Any, context: Any) -> Any:
        started_s = time.perf_counter()
        try:
            response = await handler(request)
        except Exception as exc:
            status, message, kind = _status_of(exc)
            state.metrics.observe(route, status, time.perf_counter() - started_s, kind, _version_of(request))
            if isinstance(exc, Overloaded):
                context.set_trailing_metadata((("retry-after", str(exc.retry_after_s)),))
            await context.abort(_grpc_code(status), message)  # raises: the status goes to the client
            raise  # not reached
        state.metrics.observe(route, 200, time.perf_counter() - started_s, None, _version_of(response))
        return response

    return method


def _version_of(message: Any) -> str:
    """The model version a request asked for or a response came from (the metrics' ``version`` label)."""
    return str(getattr(message, "model_version", "") or "")


async def start_grpc_server(state: GrpcState, *, host: str, port: int, max_message_bytes: int) -> Any:
    """Start the ``GRPCInferenceService`` on ``host:port`` in the running event loop; returns the ``grpc.aio`` server.

    Raises:
        OSError: the address cannot be bound.
    """
    import grpc

    _, pb_grpc = _pb()
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 0),
        ]
    )
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(_servicer(state), server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise OSError(f"Cannot serve gRPC on {address}: {exc}") from None
    if bound == 0:
        raise OSError(f"Cannot serve gRPC on {address}.")
    await server.start()
    return server
