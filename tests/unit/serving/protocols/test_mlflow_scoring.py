"""MLflow's scoring protocol: payloads parse to what mlflow's own scoring server parses, predictions format alike."""

from __future__ import annotations

import datetime
import io
import json
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import scoring_server
from mlflow.types import Schema as MlflowSchema

from shipyard.errors import BadRequest, InvalidParameter, UnsupportedContentType
from shipyard.models import ColSpec, Schema, TensorSpec
from shipyard.serving.protocols._mlflow_scoring import (
    parse_csv_input,
    parse_invocation,
    parse_json_input,
    predictions_to_json,
)

COLUMNS = Schema((ColSpec("long", "x"), ColSpec("double", "y"), ColSpec("string", "s"), ColSpec("boolean", "b")))
NARROW = Schema((ColSpec("integer", "x"), ColSpec("float", "y")))
ONE_COLUMN = Schema((ColSpec("double", "x"),))
TENSOR = Schema((TensorSpec("float32", (-1, 2)),))
NAMED_TENSORS = Schema((TensorSpec("float64", (-1, 2), "a"), TensorSpec("int64", (-1,), "b")))
BINARY_AND_DATES = Schema((ColSpec("binary", "blob"), ColSpec("datetime", "at")))
SCHEMAS = {
    "none": None,
    "columns": COLUMNS,
    "narrow": NARROW,
    "one-column": ONE_COLUMN,
    "tensor": TENSOR,
    "named-tensors": NAMED_TENSORS,
    "binary-and-dates": BINARY_AND_DATES,
}

# The payloads MLflow's documentation shows for /invocations, and their variations, with the schemas they suit.
JSON_PAYLOADS: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "split",
        {"dataframe_split": {"columns": ["x", "y", "s", "b"], "data": [[1, 2.5, "a", True], [2, 3.0, "b", False]]}},
        ["none", "columns"],
    ),
    (
        "split-with-index",
        {"dataframe_split": {"index": [5, 6], "columns": ["x", "y"], "data": [[1, 2.5], [2, 3.5]]}},
        ["none", "narrow"],
    ),
    ("split-nan", {"dataframe_split": {"columns": ["x"], "data": [[float("nan")], [1.5]]}}, ["none", "one-column"]),
    ("split-without-columns", {"dataframe_split": {"data": [[1.0, 2.0], [3.0, 4.0]]}}, ["none", "tensor"]),
    (
        "records",
        {"dataframe_records": [{"x": 1, "y": 2.5, "s": "a", "b": True}, {"x": 2, "y": 3.0, "s": "b", "b": False}]},
        ["none", "columns"],
    ),
    ("records-with-gaps", {"dataframe_records": [{"x": 1, "y": 2.5}, {"x": 2}]}, ["none", "narrow"]),
    ("records-narrowed", {"dataframe_records": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]}, ["narrow"]),
    ("instances-records", {"instances": [{"x": 1, "y": 2.5}, {"x": 2, "y": 3.5}]}, ["none", "narrow"]),
    ("instances-values", {"instances": [1.0, 2.0, 3.0]}, ["none", "one-column"]),
    ("instances-rows", {"instances": [[1, 2], [3, 4]]}, ["none", "tensor"]),
    ("inputs-columns", {"inputs": {"x": [1, 2], "y": [2.5, 3.5]}}, ["none", "narrow"]),
    ("inputs-rows", {"inputs": [[1, 2], [3, 4]]}, ["none", "tensor"]),
    ("inputs-tensors", {"inputs": {"a": [[1, 2], [3, 4]], "b": [1, 0]}}, ["none", "named-tensors"]),
    ("inputs-records", {"inputs": [{"x": 1, "y": 2.0}]}, ["none", "narrow"]),
    ("inputs-scalar", {"inputs": 5}, ["none", "one-column"]),
    ("inputs-strings", {"inputs": {"s": ["a", "b"]}}, ["none", "columns"]),
    (
        "split-binary-and-dates",
        {"dataframe_split": {"columns": ["blob", "at"], "data": [["aGVsbG8=\n", "2024-01-02T03:04:05"]]}},
        ["none", "binary-and-dates"],
    ),
    ("with-params", {"inputs": [[1.0, 2.0]], "params": {"top_k": 3, "mode": "fast"}}, ["none", "tensor"]),
    ("ignored-extra-keys", {"inputs": [[1.0, 2.0]], "other": 1}, ["none", "tensor"]),
]
JSON_CASES = [
    pytest.param(payload, schema, id=f"{name}-{schema}")
    for name, payload, schemas in JSON_PAYLOADS
    for schema in schemas
]


def mlflow_schema(schema: Schema | None) -> MlflowSchema | None:
    return None if schema is None else MlflowSchema.from_json(schema.to_json())


def mlflow_parse_json(payload: dict[str, Any], schema: Schema | None) -> tuple[Any, Any]:
    """What mlflow's scoring server hands to predict for this JSON payload: (data, params)."""
    data, params = scoring_server._split_data_and_params(json.dumps(payload))
    return scoring_server.infer_and_parse_data(data, mlflow_schema(schema)), params


def mlflow_parse_body(body: bytes, schema: Schema | None) -> Any:
    """What mlflow's scoring server hands to predict for this JSON body."""
    data, _ = scoring_server._split_data_and_params(body)
    return scoring_server.infer_and_parse_data(data, mlflow_schema(schema))


def assert_same_data(expected: Any, actual: Any) -> None:
    """Equal values of equal types: frames with equal dtypes, arrays with equal dtypes, dicts key by key."""
    assert type(expected) is type(actual)
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(expected, actual, check_exact=True)
    elif isinstance(expected, np.ndarray):
        assert expected.dtype == actual.dtype
        np.testing.assert_array_equal(expected, actual)
    elif isinstance(expected, dict):
        assert list(expected) == list(actual)
        for key in expected:
            assert_same_data(expected[key], actual[key])
    elif isinstance(expected, list):
        assert len(expected) == len(actual)
        for left, right in zip(expected, actual, strict=True):
            assert_same_data(left, right)
    else:
        assert expected == actual


# --- JSON payloads ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("payload", "schema_name"), JSON_CASES)
def test_json_payload_parses_as_mlflow_parses_it(payload: dict[str, Any], schema_name: str) -> None:
    schema = SCHEMAS[schema_name]
    expected_data, expected_params = mlflow_parse_json(payload, schema)

    parsed = parse_invocation(json.dumps(payload).encode(), "application/json", schema)

    assert_same_data(expected_data, parsed.data)
    assert expected_params == parsed.params


def test_charset_utf8_is_accepted() -> None:
    parsed = parse_invocation(b'{"inputs": [1]}', "application/json; charset=UTF-8")

    assert [1] == parsed.data.tolist()


# --- CSV --------------------------------------------------------------------------------------------------------

CSV_FRAME = pd.DataFrame({"x": [1, 2], "y": [2.5, 3.0], "s": ["a", "b"], "b": [True, False]})


@pytest.mark.parametrize("schema_name", ["none", "columns", "narrow"])
def test_csv_parses_as_mlflow_parses_it(schema_name: str) -> None:
    schema = SCHEMAS[schema_name]
    text = (CSV_FRAME[["x", "y"]] if schema is NARROW else CSV_FRAME).to_csv(index=False)

    expected = scoring_server.parse_csv_input(io.StringIO(text), mlflow_schema(schema))
    parsed = parse_invocation(text.encode(), "text/csv", schema)

    assert_same_data(expected, parsed.data)
    assert parsed.params is None


def test_csv_datetime_column_is_parsed_where_mlflow_fails() -> None:
    text = "blob,at\nabc,2024-01-02 03:04:05\n"

    frame = parse_csv_input(text, BINARY_AND_DATES)

    assert [pd.Timestamp(2024, 1, 2, 3, 4, 5)] == frame["at"].tolist()


def test_parquet_parses_as_mlflow_parses_it() -> None:
    body = CSV_FRAME.to_parquet()

    expected = scoring_server.parse_parquet_input(io.BytesIO(body))
    parsed = parse_invocation(body, "application/vnd.apache.parquet")

    assert_same_data(expected, parsed.data)


# --- predictions ------------------------------------------------------------------------------------------------

PREDICTIONS = {
    "numpy-1d-int": np.array([0, 1, 1]),
    "numpy-1d-float-nan": np.array([0.5, np.nan, np.inf]),
    "numpy-2d": np.array([[0.1, 0.9], [0.75, 0.25]], dtype=np.float32),
    "numpy-strings": np.array(["cat", "dog"]),
    "numpy-objects": np.array(["cat", None, 3], dtype=object),
    "numpy-bool": np.array([True, False]),
    "series-unnamed": pd.Series([1.5, 2.5]),
    "series-named": pd.Series([1, 2], name="label"),
    "series-strings": pd.Series(["a", "b"], name="label"),
    "frame": pd.DataFrame({"label": ["a", "b"], "score": [0.5, np.nan], "n": np.array([1, 2], dtype=np.int32)}),
    "frame-dates": pd.DataFrame({"at": pd.to_datetime(["2024-01-02T00:00:00", "2025-03-04T05:06:07"])}),
    "list": [1, 2.5, "x", None],
    "list-of-numpy-scalars": [np.float32(0.5), np.int64(3), np.bool_(True)],
    "dict-of-arrays": {"a": np.array([1, 2]), "b": np.array([[0.5], [1.5]])},
    "bytes": [b"hello", b"\x00\xff"],
    "dates": [datetime.date(2024, 1, 2), datetime.datetime(2024, 1, 2, 3, 4, 5)],
    "scalar": np.float64(1.25),
    "nested-objects": np.array([np.array([1, 2]), np.array([3])], dtype=object),
}


@pytest.mark.parametrize("prediction", list(PREDICTIONS.values()), ids=list(PREDICTIONS))
def test_predictions_are_written_as_mlflow_writes_them(prediction: Any) -> None:
    expected = io.StringIO()
    scoring_server.predictions_to_json(prediction, expected)

    assert expected.getvalue() == predictions_to_json(prediction).decode()


def test_unserialisable_prediction_raises_type_error() -> None:
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        predictions_to_json([object()])


# --- bad payloads -----------------------------------------------------------------------------------------------

BAD_JSON: list[tuple[str, bytes, Schema | None, str]] = [
    ("two-keys", b'{"inputs": [1], "instances": [1]}', None, "exactly one of the input fields"),
    ("no-known-key", b'{"data": [1]}', None, "exactly one of the input fields"),
    ("only-params", b'{"params": {"a": 1}}', None, "exactly one of the input fields"),
    ("malformed", b'{"inputs": [1,', None, "valid JSON formatted string"),
    ("not-utf8", b'{"inputs": ["\xff"]}', None, "valid JSON formatted string"),
    ("empty", b"", None, "valid JSON formatted string"),
    ("list", b"[1, 2]", None, "Received a list"),
    ("scalar", b"3", None, "Received unexpected input type"),
    ("split-not-dict", b'{"dataframe_split": [[1]]}', None, "split format must be a dictionary. Got list"),
    ("split-no-data", b'{"dataframe_split": {"columns": ["x"]}}', None, "must have 'data' field"),
    ("split-extra-key", b'{"dataframe_split": {"data": [[1]], "rows": 1}}', None, "must have 'data' field"),
    ("split-ragged", b'{"dataframe_split": {"columns": ["x"], "data": [[1, 2]]}}', None, "'split' format"),
    ("records-not-list", b'{"dataframe_records": {"x": 1}}', None, "list of records. Got dictionary"),
    ("instances-ragged", b'{"instances": [{"x": 1, "y": 2}, {"x": 3}]}', None, "length of values"),
    ("inputs-ragged", b'{"inputs": [[1, 2], [3]]}', None, "inhomogeneous"),
    ("instances-columns-ragged", b'{"instances": {"x": [1, 2], "y": [1]}}', NARROW, "length of values"),
    ("wrong-type", b'{"dataframe_split": {"columns": ["x"], "data": [["a"]]}}', NARROW, "Failed to convert column x"),
    ("wrong-input-type", b'{"inputs": {"x": ["a"]}}', NARROW, "invalid literal"),
    ("unnamed-schema-dict", b'{"inputs": {"a": [1]}}', TENSOR, "un-named  model signature"),
]


@pytest.mark.parametrize(("body", "schema", "message"), [pytest.param(b, s, m, id=name) for name, b, s, m in BAD_JSON])
def test_bad_json_payload_is_a_bad_request_as_in_mlflow(body: bytes, schema: Schema | None, message: str) -> None:
    with pytest.raises(MlflowException) as theirs:
        mlflow_parse_body(body, schema)

    with pytest.raises(InvalidParameter) as ours:
        parse_invocation(body, "application/json", schema)

    assert theirs.value.get_http_status_code() == ours.value.http_status == 400
    assert re.search(message, ours.value.message)


def test_inputs_columns_of_different_lengths_pass_without_a_schema_as_in_mlflow() -> None:
    """MLflow accepts `inputs` columns of different lengths when it has no schema; so does Shipyard."""
    parsed = parse_json_input(b'{"inputs": {"x": [1, 2], "y": [1]}}')

    assert [[1, 2], [1]] == [parsed.data["x"].tolist(), parsed.data["y"].tolist()]


BAD_CSV: list[tuple[str, bytes, str]] = [
    ("empty", b"", "No columns to parse"),
    ("ragged-rows", b"a,b\n1,2\n3,4,5,6\n", "Error tokenizing data"),
    ("wrong-type", b"x,y\nabc,1.5\n", "invalid literal|Unable to parse|cannot safely convert|could not convert"),
]


@pytest.mark.parametrize(("body", "message"), [pytest.param(b, m, id=n) for n, b, m in BAD_CSV])
def test_bad_csv_is_a_bad_request_as_in_mlflow(body: bytes, message: str) -> None:
    with pytest.raises(MlflowException) as theirs:
        scoring_server.parse_csv_input(io.StringIO(body.decode()), mlflow_schema(NARROW))

    with pytest.raises(BadRequest) as ours:
        parse_invocation(body, "text/csv", NARROW)

    assert theirs.value.get_http_status_code() == ours.value.http_status == 400
    assert "Failed to parse input as a Pandas DataFrame" in ours.value.message
    assert re.search(message, ours.value.message)


def test_csv_that_is_not_utf8_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="valid UTF-8 encoded string"):
        parse_invocation(b"x\n\xff\n", "text/csv")


def test_parquet_that_is_not_parquet_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="valid Parquet"):
        parse_invocation(b"not parquet", "application/vnd.apache.parquet")


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("text/plain", "only supports the following content types"),
        (None, "only supports the following content types"),
        ("application/json; charset=latin-1", "only supports UTF-8"),
        ("application/json; format=pandas-split", "Unrecognized content type parameters: format"),
    ],
)
def test_unsupported_content_type_is_415(content_type: str | None, message: str) -> None:
    with pytest.raises(UnsupportedContentType, match=message) as caught:
        parse_invocation(b'{"inputs": [1]}', content_type)

    assert 415 == caught.value.http_status


def test_params_that_are_not_an_object_are_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="'params' must be a JSON object"):
        parse_json_input(b'{"inputs": [1], "params": [1]}')


def test_errors_carry_mlflows_error_shape() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_json_input(b'{"data": 1}')

    assert "BAD_REQUEST" == caught.value.to_json()["error_code"]
