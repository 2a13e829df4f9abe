"""The Open Inference Protocol (v2) REST codec, responses: predictions as infer responses, and model metadata."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from shipyard.errors import InvalidParameter
from shipyard.models import ColSpec, Schema, Signature, TensorSpec
from shipyard.serving.protocols._v2 import HEADER_LENGTH, InferRequest, column_datatype, tensor_names
from shipyard.serving.protocols._v2_tensors import (
    as_output_array,
    encode_binary_data,
    encode_json_data,
    v2_datatype_of,
)

__all__ = ["OutputTensor", "encode_infer_response", "model_metadata", "prediction_to_outputs"]


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


def prediction_to_outputs(prediction: Any, schema: Schema | None = None) -> list[OutputTensor]:
    """Split a prediction into named output tensors.

    A dict gives one output per key; a DataFrame one per column; a 2-D array as wide as a named column output
    schema one per column; anything else one output. Names come from the output schema when it names them
    (``output-0`` for an unnamed one), else from the DataFrame's columns or the Series' name.
    """
    names = tensor_names(schema, "output") if schema is not None else []
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
    for name, item in zip(tensor_names(schema, prefix), items, strict=True):
        if isinstance(item, TensorSpec):
            out.append({"name": name, "datatype": _tensor_datatype(item.dtype), "shape": list(item.shape)})
        else:
            out.append({"name": name, "datatype": column_datatype(item), "shape": [-1]})
    return out


def _tensor_datatype(dtype: str) -> str:
    try:
        return v2_datatype_of(np.dtype(dtype))
    except TypeError:
        return "BYTES"
