"""The Open Inference Protocol (v2) codec, spoken to by the real tritonclient's own encoder and decoder."""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from tritonclient.http import InferenceServerClient, InferInput, InferRequestedOutput, InferResult

from shipyard.errors import InvalidParameter
from shipyard.models import ColSpec, Schema, Signature, TensorSpec, load_model, save_model
from shipyard.serving.protocols._v2 import HEADER_LENGTH, InferRequest, parse_infer_request
from shipyard.serving.protocols._v2_inputs import request_to_model_input
from shipyard.serving.protocols._v2_outputs import encode_infer_response, model_metadata

DATATYPES = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32, "BOOL": np.bool_}

TABLE = Signature(
    inputs=Schema(
        (
            ColSpec("float", "height"),
            ColSpec("long", "age"),
            ColSpec("boolean", "member"),
            ColSpec("string", "city"),
        )
    ),
    outputs=Schema((ColSpec("double"),)),
)
NUMERIC = Signature(
    inputs=Schema((ColSpec("double", "a"), ColSpec("double", "b"), ColSpec("double", "c"))),
    outputs=Schema((ColSpec("double"),)),
)
TABLE_FRAME = pd.DataFrame(
    {
        "height": np.array([1.5, 1.75, 2.0], dtype=np.float32),
        "age": np.array([30, 41, 52], dtype=np.int64),
        "member": np.array([True, False, True]),
        "city": ["Paris", "Zürich", ""],
    }
)


def triton_input(name: str, array: Any, datatype: str, *, binary: bool) -> InferInput:
    tensor = InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def encode(inputs: list[InferInput], **kwargs: Any) -> InferRequest:
    """What tritonclient sends for these inputs, decoded by the codec (the header length as the HTTP header)."""
    body, header_length = InferenceServerClient.generate_request_body(inputs, **kwargs)
    return parse_infer_request(body, header_length=None if header_length is None else str(header_length))


def table_inputs(*, binary: bool, rows_as_matrix: bool = False) -> list[InferInput]:
    shape: tuple[int, ...] = (3, 1) if rows_as_matrix else (3,)
    return [
        triton_input("height", TABLE_FRAME["height"].to_numpy().reshape(shape), "FP32", binary=binary),
        triton_input("age", TABLE_FRAME["age"].to_numpy().reshape(shape), "INT64", binary=binary),
        triton_input("member", TABLE_FRAME["member"].to_numpy().reshape(shape), "BOOL", binary=binary),
        triton_input("city", np.array(list(TABLE_FRAME["city"]), dtype=object).reshape(shape), "BYTES", binary=binary),
    ]


def decode_response(body: bytes, headers: dict[str, str]) -> InferResult:
    length = headers.get(HEADER_LENGTH)
    return InferResult.from_response_body(body, header_length=None if length is None else int(length))


def invalid(body: bytes | dict[str, Any], header_length: int | None = None) -> str:
    """The message of the InvalidParameter that decoding ``body`` raises."""
    raw = orjson.dumps(body) if isinstance(body, dict) else body
    with pytest.raises(InvalidParameter) as caught:
        parse_infer_request(raw, header_length=header_length)
    assert caught.value.http_status == 400
    return caught.value.message


# --- requests from tritonclient ---------------------------------------------------------------------------------


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_one_tensor_per_column_decodes_to_the_signature_frame(binary: bool) -> None:
    frame = request_to_model_input(encode(table_inputs(binary=binary)), TABLE)

    pd.testing.assert_frame_equal(TABLE_FRAME, frame, check_dtype=False)
    assert ["float32", "int64", "bool"] == [str(frame[c].dtype) for c in ("height", "age", "member")]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_columns_of_shape_n_by_1_decode_like_columns_of_shape_n(binary: bool) -> None:
    frame = request_to_model_input(encode(table_inputs(binary=binary, rows_as_matrix=True)), TABLE)

    pd.testing.assert_frame_equal(TABLE_FRAME, frame, check_dtype=False)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_columns_may_come_in_any_order(binary: bool) -> None:
    frame = request_to_model_input(encode(list(reversed(table_inputs(binary=binary)))), TABLE)

    assert ["height", "age", "member", "city"] == list(frame.columns)


@pytest.mark.parametrize("datatype", ["FP32", "FP64", "INT64", "INT32"])
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_one_n_by_k_tensor_decodes_to_columns_in_signature_order(datatype: str, binary: bool) -> None:
    matrix = np.arange(12).reshape(4, 3).astype(DATATYPES[datatype])

    frame = request_to_model_input(encode([triton_input("features", matrix, datatype, binary=binary)]), NUMERIC)

    expected = pd.DataFrame(matrix.astype(np.float64), columns=["a", "b", "c"])
    pd.testing.assert_frame_equal(expected, frame, check_dtype=False)


def test_an_n_by_k_float_tensor_fills_integer_columns_when_no_value_changes() -> None:
    signature = Signature(Schema((ColSpec("long", "count"), ColSpec("double", "score"))))
    matrix = np.array([[1.0, 0.5], [2.0, 0.25]])

    frame = request_to_model_input(encode([triton_input("x", matrix, "FP64", binary=True)]), signature)

    assert "int64" == str(frame["count"].dtype)
    assert [1, 2] == frame["count"].tolist()


def test_an_int64_tensor_for_an_integer_column_is_narrowed_when_no_value_changes() -> None:
    signature = Signature(Schema((ColSpec("integer", "n"),)))

    frame = request_to_model_input(encode([triton_input("n", np.array([1, 2]), "INT64", binary=True)]), signature)

    assert "int32" == str(frame["n"].dtype)


def test_binary_bytes_tensor_keeps_non_utf8_bytes_for_a_binary_column() -> None:
    signature = Signature(Schema((ColSpec("binary", "blob"),)))
    blobs = np.array([b"\xff\x00\x01", b""], dtype=object)

    frame = request_to_model_input(encode([triton_input("blob", blobs, "BYTES", binary=True)]), signature)

    assert [b"\xff\x00\x01", b""] == frame["blob"].tolist()


def test_bytes_tensor_of_iso_dates_fills_a_datetime_column() -> None:
    signature = Signature(Schema((ColSpec("datetime", "at"),)))
    dates = np.array([b"2024-01-02T03:04:05", b"2025-06-07"], dtype=object)

    frame = request_to_model_input(encode([triton_input("at", dates, "BYTES", binary=True)]), signature)

    assert [pd.Timestamp(2024, 1, 2, 3, 4, 5), pd.Timestamp(2025, 6, 7)] == frame["at"].tolist()


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_request_id_and_parameters_are_kept(binary: bool) -> None:
    request = encode(table_inputs(binary=binary), request_id="req-7", parameters={"tenant": "a"})

    assert "req-7" == request.id
    assert "a" == request.parameters["tenant"]


def test_tritonclient_without_outputs_asks_for_binary_outputs() -> None:
    assert encode(table_inputs(binary=False)).binary_output


def test_requested_outputs_keep_their_binary_flag() -> None:
    outputs = [InferRequestedOutput("a", binary_data=False), InferRequestedOutput("b")]

    request = encode(table_inputs(binary=True), outputs=outputs)

    assert [("a", False), ("b", True)] == [(o.name, o.binary) for o in request.outputs or ()]


def test_nan_sent_as_json_by_tritonclient_is_read() -> None:
    request = encode([triton_input("a", np.array([np.nan, 1.0]), "FP64", binary=False)])

    assert np.isnan(request.inputs[0].data[0])


def test_nested_json_data_is_read_row_major() -> None:
    body = {"inputs": [{"name": "x", "datatype": "INT64", "shape": [2, 3], "data": [[1, 2, 3], [4, 5, 6]]}]}

    request = parse_infer_request(orjson.dumps(body))

    np.testing.assert_array_equal(np.arange(1, 7).reshape(2, 3), request.inputs[0].data)


# --- model input for other signatures --------------------------------------------------------------------------


def test_an_unnamed_tensor_signature_gets_the_one_array() -> None:
    signature = Signature(Schema((TensorSpec("float32", (-1, 4)),)))
    array = np.arange(8, dtype=np.float32).reshape(2, 4)

    got = request_to_model_input(encode([triton_input("input-0", array, "FP32", binary=True)]), signature)

    np.testing.assert_array_equal(array, got)


def test_named_tensor_signature_gets_a_dict_of_arrays() -> None:
    signature = Signature(Schema((TensorSpec("float64", (-1, 2), "x"), TensorSpec("int64", (-1,), "mask"))))
    x, mask = np.ones((3, 2)), np.array([1, 0, 1])

    got = request_to_model_input(
        encode([triton_input("x", x, "FP64", binary=True), triton_input("mask", mask, "INT64", binary=False)]),
        signature,
    )

    assert ["x", "mask"] == list(got)
    np.testing.assert_array_equal(mask, got["mask"])


def test_without_a_signature_several_columns_make_a_frame() -> None:
    inputs = [triton_input("a", np.array([1.0, 2.0]), "FP64", binary=True)]
    inputs.append(triton_input("b", np.array([b"x", b"y"], dtype=object), "BYTES", binary=True))

    frame = request_to_model_input(encode(inputs), None)

    pd.testing.assert_frame_equal(pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}), frame, check_dtype=False)


def test_decoded_frame_predicts_with_a_saved_model(tmp_path: Path) -> None:
    train = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0], "c": [2.0, 2.0, 3.0, 3.0]})
    estimator = LinearRegression().fit(train, train["a"] * 2 + train["c"])
    save_model(estimator, tmp_path / "m", input_example=train.head(2))
    model = load_model(tmp_path / "m")
    request = encode([triton_input("rows", train.to_numpy(), "FP64", binary=True)])

    prediction = model.predict(request_to_model_input(request, model.signature))

    body, headers = encode_infer_response(prediction, request=request, model_name="m", model_version="1")
    np.testing.assert_allclose(estimator.predict(train), decode_response(body, headers).as_numpy("output-0"))


# --- responses decoded by tritonclient --------------------------------------------------------------------------

PREDICTIONS = {
    "FP32": np.array([0.5, -1.25, 3.0], dtype=np.float32),
    "FP64": np.array([[0.5, 1.5], [2.5, 1e300], [0.0, -0.0]]),
    "INT64": np.array([1, -2, 3], dtype=np.int64),
    "BOOL": np.array([True, False, True]),
    "BYTES": np.array(["yes", "nö", ""], dtype=object),
}


@pytest.mark.parametrize("datatype", list(PREDICTIONS))
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_response_decodes_with_tritonclient(datatype: str, binary: bool) -> None:
    request = encode(table_inputs(binary=True), outputs=[InferRequestedOutput("output-0", binary_data=binary)])
    prediction = PREDICTIONS[datatype]

    body, headers = encode_infer_response(prediction, request=request, model_name="m", model_version="2")

    result = decode_response(body, headers)
    expected = prediction
    if datatype == "BYTES" and binary:  # tritonclient hands binary BYTES back as bytes, JSON ones as str
        expected = np.array([s.encode() for s in prediction], dtype=object)
    assert datatype == result.get_output("output-0")["datatype"]
    np.testing.assert_array_equal(expected, result.as_numpy("output-0"))
    assert (HEADER_LENGTH in headers) is binary


def test_non_finite_values_are_null_in_json_and_exact_in_binary() -> None:
    prediction = np.array([np.nan, np.inf, 1.0])
    as_json = encode(table_inputs(binary=True), outputs=[InferRequestedOutput("output-0", binary_data=False)])
    as_binary = encode(table_inputs(binary=True))

    json_body, _ = encode_infer_response(prediction, request=as_json, model_name="m", model_version="1")
    binary_body, headers = encode_infer_response(prediction, request=as_binary, model_name="m", model_version="1")

    assert [None, None, 1.0] == orjson.loads(json_body)["outputs"][0]["data"]
    np.testing.assert_array_equal(prediction, decode_response(binary_body, headers).as_numpy("output-0"))


def test_response_echoes_model_name_version_and_id() -> None:
    request = encode(table_inputs(binary=True), request_id="abc")

    body, headers = encode_infer_response(np.array([1.0]), request=request, model_name="churn", model_version="3")

    response = decode_response(body, headers).get_response()
    assert ("churn", "3", "abc") == (response["model_name"], response["model_version"], response["id"])


def test_binary_data_output_sends_every_output_as_binary() -> None:
    request = encode(table_inputs(binary=True))  # tritonclient's default: no outputs, binary_data_output true

    body, headers = encode_infer_response(
        pd.DataFrame({"label": ["a", "b"], "score": [0.5, 0.25]}), request=request, model_name="m", model_version="1"
    )

    result = decode_response(body, headers)
    assert "application/octet-stream" == headers["Content-Type"]
    assert [b"a", b"b"] == result.as_numpy("label").tolist()
    np.testing.assert_array_equal(np.array([0.5, 0.25]), result.as_numpy("score"))


def test_json_request_without_binary_asks_gets_a_json_response() -> None:
    body = orjson.dumps({"inputs": [{"name": "a", "datatype": "FP64", "shape": [1], "data": [1.0]}]})
    request = parse_infer_request(body)

    response, headers = encode_infer_response(np.array([2.0]), request=request, model_name="m", model_version="1")

    assert {"Content-Type": "application/json"} == headers
    assert [2.0] == orjson.loads(response)["outputs"][0]["data"]


def test_only_requested_outputs_are_returned_in_requested_order() -> None:
    outputs = [InferRequestedOutput("score", binary_data=False), InferRequestedOutput("label")]
    request = encode(table_inputs(binary=True), outputs=outputs)
    prediction = {"label": np.array(["a"], dtype=object), "extra": np.array([1]), "score": np.array([0.5])}

    body, headers = encode_infer_response(prediction, request=request, model_name="m", model_version="1")

    result = decode_response(body, headers)
    assert ["score", "label"] == [o["name"] for o in result.get_response()["outputs"]]
    assert "data" in result.get_output("score")
    assert "data" not in result.get_output("label")


def test_a_two_d_prediction_splits_into_the_output_schema_columns() -> None:
    signature = Signature(TABLE.inputs, Schema((ColSpec("double", "low"), ColSpec("double", "high"))))
    request = encode(table_inputs(binary=True))

    body, headers = encode_infer_response(
        np.array([[1.0, 2.0], [3.0, 4.0]]), request=request, model_name="m", model_version="1", signature=signature
    )

    np.testing.assert_array_equal(np.array([2.0, 4.0]), decode_response(body, headers).as_numpy("high"))


def test_series_output_takes_the_output_schema_name() -> None:
    signature = Signature(TABLE.inputs, Schema((ColSpec("double", "churn"),)))
    request = encode(table_inputs(binary=True))

    body, headers = encode_infer_response(
        pd.Series([0.5], name="ignored"), request=request, model_name="m", model_version="1", signature=signature
    )

    assert ["churn"] == [o["name"] for o in decode_response(body, headers).get_response()["outputs"]]


def test_unnamed_column_signature_takes_an_n_by_k_tensor() -> None:
    signature = Signature(Schema((ColSpec("double"), ColSpec("double"))))
    matrix = np.array([[1.0, 2.0], [3.0, 4.0]])

    frame = request_to_model_input(encode([triton_input("input-0", matrix, "FP64", binary=True)]), signature)

    pd.testing.assert_frame_equal(pd.DataFrame(matrix), frame)


def test_unknown_requested_output_is_invalid() -> None:
    request = encode(table_inputs(binary=True), outputs=[InferRequestedOutput("nope")])

    with pytest.raises(InvalidParameter, match=r"'nope'.*'output-0'"):
        encode_infer_response(np.array([1.0]), request=request, model_name="m", model_version="1")


# --- model metadata ---------------------------------------------------------------------------------------------


def test_metadata_lists_one_batch_tensor_per_column() -> None:
    metadata = model_metadata("churn", versions=["1", "2"], platform="shipyard-sklearn", signature=TABLE)

    assert {
        "name": "churn",
        "versions": ["1", "2"],
        "platform": "shipyard-sklearn",
        "inputs": [
            {"name": "height", "datatype": "FP32", "shape": [-1]},
            {"name": "age", "datatype": "INT64", "shape": [-1]},
            {"name": "member", "datatype": "BOOL", "shape": [-1]},
            {"name": "city", "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [{"name": "output-0", "datatype": "FP64", "shape": [-1]}],
    } == metadata


def test_metadata_of_a_tensor_signature_keeps_its_shapes() -> None:
    signature = Signature(
        Schema((TensorSpec("float32", (-1, 28, 28), "image"),)), Schema((TensorSpec("int64", (-1,)),))
    )

    metadata = model_metadata("mnist", versions=["1"], platform="onnx", signature=signature)

    assert [{"name": "image", "datatype": "FP32", "shape": [-1, 28, 28]}] == metadata["inputs"]
    assert [{"name": "output-0", "datatype": "INT64", "shape": [-1]}] == metadata["outputs"]


def test_metadata_of_a_model_without_signature_lists_no_tensors() -> None:
    metadata = model_metadata("m", versions=["1"], platform="python", signature=None)

    assert ([], []) == (metadata["inputs"], metadata["outputs"])


# --- malformed requests -----------------------------------------------------------------------------------------


def tensor(**overrides: Any) -> dict[str, Any]:
    return {"name": "a", "datatype": "FP64", "shape": [2], "data": [1.0, 2.0], **overrides}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object.*got a list"),
        ({"inputs": []}, "needs 'inputs'"),
        ({"outputs": []}, "needs 'inputs'"),
        ({"inputs": ["a"]}, "Input 0 must be a JSON object"),
        ({"inputs": [tensor(name="")]}, "Input 0 needs a 'name'"),
        ({"inputs": [tensor(datatype="FLOAT")]}, "datatype 'FLOAT'; expected one of BOOL"),
        ({"inputs": [tensor(shape=[3])]}, "'a' has 2 values but its shape \\[3\\] needs 3"),
        ({"inputs": [tensor(shape="2")]}, "'shape' must be a list of non-negative integers"),
        ({"inputs": [tensor(shape=[-2])]}, "'shape' must be a list of non-negative integers"),
        ({"inputs": [tensor(datatype="INT64", data=[1.5, 2])]}, "declared INT64 but its data holds numbers with a"),
        ({"inputs": [tensor(datatype="FP32", data=["1", "2"])]}, "declared FP32 but its data holds strings"),
        ({"inputs": [tensor(datatype="BOOL", data=[1, 0])]}, "declared BOOL but its data holds integers"),
        ({"inputs": [tensor(datatype="BYTES", data=["x", 2])]}, "declared BYTES but its data holds int"),
        ({"inputs": [tensor(datatype="FP64", data=[1.0, None])]}, "declared FP64 but its data holds nulls"),
        ({"inputs": [tensor(datatype="INT8", data=[1, 300])]}, "out of the range of INT8"),
        ({"inputs": [tensor(datatype="UINT8", data=[1, -1])]}, "out of the range of UINT8"),
        ({"inputs": [tensor(shape=[2, 2], data=[[1.0, 2.0], [3.0]])]}, "ragged"),
        ({"inputs": [tensor(data=5)]}, "'data' must be a list"),
        ({"inputs": [tensor(data=None)]}, "'data' must be a list"),
        ({"inputs": [{k: v for k, v in tensor().items() if k != "data"}]}, "neither 'data' nor a binary_data_size"),
        ({"inputs": [tensor(), tensor()]}, "'a' appears twice"),
        ({"inputs": [tensor(parameters=[1])]}, "'parameters' of input 'a' must be a JSON object"),
        ({"inputs": [tensor(parameters={"shared_memory_region": "r"})]}, "shared memory"),
        ({"inputs": [tensor(parameters={"binary_data_size": 16})]}, "both 'data' and a binary_data_size"),
        ({"inputs": [tensor()], "id": 5}, "'id' must be a string"),
        ({"inputs": [tensor()], "outputs": [{"x": 1}]}, "Requested output 0 needs a 'name'"),
        ({"inputs": [tensor()], "outputs": [{"name": "y", "parameters": {"classification": 2}}]}, "classification"),
        ({"inputs": [tensor()], "outputs": [{"name": "y", "parameters": {"binary_data": "yes"}}]}, "true or false"),
    ],
)
def test_malformed_json_request_is_invalid(body: bytes | dict[str, Any], expected: str) -> None:
    assert re.search(expected, invalid(body))


def binary_request(inputs: list[dict[str, Any]], data: bytes) -> tuple[bytes, int]:
    head = orjson.dumps({"inputs": inputs})
    return head + data, len(head)


def binary_tensor(name: str, datatype: str, shape: list[int], size: int) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape, "parameters": {"binary_data_size": size}}


def test_binary_size_that_does_not_match_the_shape_is_invalid() -> None:
    body, length = binary_request([binary_tensor("a", "FP32", [3], 8)], np.zeros(2, np.float32).tobytes())

    assert "binary_data_size is 8 bytes, but shape [3] of FP32 needs 12" in invalid(body, length)


def test_truncated_binary_data_is_invalid() -> None:
    body, length = binary_request([binary_tensor("a", "FP64", [2], 16)], b"\x00" * 10)

    assert "only 10 bytes of binary data remain: the body is truncated" in invalid(body, length)


def test_binary_data_nobody_claims_is_invalid() -> None:
    body, length = binary_request([binary_tensor("a", "FP64", [1], 8)], b"\x00" * 12)

    assert "12 bytes of binary data after its JSON header, but its inputs' binary_data_size" in invalid(body, length)


def test_header_length_larger_than_the_body_is_invalid() -> None:
    body, length = binary_request([binary_tensor("a", "FP64", [1], 8)], b"\x00" * 8)

    assert f"{HEADER_LENGTH} is {len(body) + 1}, but the body has {len(body)} bytes" in invalid(body, len(body) + 1)
    assert length < len(body)


@pytest.mark.parametrize("header", ["abc", "-1"])
def test_header_length_that_is_not_a_length_is_invalid(header: str) -> None:
    with pytest.raises(InvalidParameter, match=HEADER_LENGTH):
        parse_infer_request(b"{}", header_length=header)


def test_header_length_that_cuts_the_json_is_invalid() -> None:
    body, length = binary_request([binary_tensor("a", "FP64", [1], 8)], b"\x00" * 8)

    assert "not valid JSON" in invalid(body, length - 3)


def test_binary_input_without_the_header_is_invalid() -> None:
    body = orjson.dumps({"inputs": [binary_tensor("a", "FP64", [1], 8)]})

    assert f"no {HEADER_LENGTH} header" in invalid(body)


def test_bytes_element_longer_than_its_buffer_is_invalid() -> None:
    data = struct.pack("<I", 10) + b"abc"
    body, length = binary_request([binary_tensor("s", "BYTES", [1], len(data))], data)

    assert "BYTES element 0 declares 10 bytes but only 3 remain" in invalid(body, length)


def test_bytes_length_prefix_cut_short_is_invalid() -> None:
    data = struct.pack("<I", 1) + b"a" + b"\x02\x00"
    body, length = binary_request([binary_tensor("s", "BYTES", [2], len(data))], data)

    assert "truncated inside the length of element 1" in invalid(body, length)


def test_bytes_element_count_that_does_not_match_the_shape_is_invalid() -> None:
    data = struct.pack("<I", 1) + b"a"
    body, length = binary_request([binary_tensor("s", "BYTES", [2], len(data))], data)

    assert "holds 1 BYTES elements but its shape needs 2" in invalid(body, length)


def test_unknown_input_name_is_invalid() -> None:
    request = encode([triton_input("heigth", np.array([1.0], np.float32), "FP32", binary=True)])

    with pytest.raises(InvalidParameter, match="Unknown input 'heigth': expected one tensor per column named 'height'"):
        request_to_model_input(request, TABLE)


def test_missing_column_tensor_is_invalid() -> None:
    request = encode(table_inputs(binary=True)[:2])

    with pytest.raises(InvalidParameter, match=r"Missing input 'member' \(BOOL\), 'city' \(BYTES\)"):
        request_to_model_input(request, TABLE)


def test_column_tensors_with_different_row_counts_are_invalid() -> None:
    inputs = [triton_input(c, np.zeros(n), "FP64", binary=True) for c, n in (("a", 2), ("b", 3), ("c", 2))]

    with pytest.raises(InvalidParameter, match="'b' has 3 rows but input 'a' has 2"):
        request_to_model_input(encode(inputs), NUMERIC)


def test_column_tensor_of_two_columns_is_invalid() -> None:
    inputs = [triton_input(c, np.zeros((2, 2)), "FP64", binary=True) for c in ("a", "b", "c")]

    with pytest.raises(InvalidParameter, match=r"'a' has shape \[2, 2\]; one tensor per column needs shape \[n\]"):
        request_to_model_input(encode(inputs), NUMERIC)


def test_n_by_k_tensor_of_the_wrong_width_is_invalid() -> None:
    request = encode([triton_input("x", np.zeros((2, 4)), "FP64", binary=True)])

    with pytest.raises(InvalidParameter, match=r"shape \[2, 4\]; a single \[n, k\] tensor needs k = 3"):
        request_to_model_input(request, NUMERIC)


def test_non_utf8_bytes_for_a_text_column_are_invalid() -> None:
    signature = Signature(Schema((ColSpec("string", "s"),)))
    request = encode([triton_input("s", np.array([b"\xff"], dtype=object), "BYTES", binary=True)])

    with pytest.raises(InvalidParameter, match="'s' holds bytes that are not UTF-8 text"):
        request_to_model_input(request, signature)


def test_unnamed_tensor_signature_rejects_two_tensors() -> None:
    signature = Signature(Schema((TensorSpec("float64", (-1, 2)),)))
    inputs = [triton_input(n, np.zeros((1, 2)), "FP64", binary=True) for n in ("a", "b")]

    with pytest.raises(InvalidParameter, match="one input tensor, got 2"):
        request_to_model_input(encode(inputs), signature)
