"""The v2 fast path for all-double models: it reads exactly what the codec's general path reads, or steps aside.

Each body goes through what the infer route does twice: with the model's columns (the fast path may read the
tensors straight into the matrix) and without (every tensor decoded on its own, then the signature's frame).
Both must give the same rows, or the same 400 message.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import pytest
from tritonclient.http import InferenceServerClient, InferInput

from shipyard.errors import InvalidParameter
from shipyard.models import ColSpec, Schema, Signature
from shipyard.serving.protocols._matrix import v2_matrix
from shipyard.serving.protocols._v2 import InferRequest, parse_infer_request
from shipyard.serving.protocols._v2_inputs import request_to_model_input

COLS = ("a", "b", "c")
SIGNATURE = Signature(inputs=Schema(tuple(ColSpec("double", name) for name in COLS)))
ROWS = np.array([[1.5, -2.0, 3.25], [4.0, 0.5, -6.125]])


def column(name: str, values: list[Any], **overrides: Any) -> dict[str, Any]:
    return {"name": name, "datatype": "FP64", "shape": [len(values)], "data": values, **overrides}


def columns(rows: np.ndarray = ROWS, order: tuple[str, ...] = COLS) -> list[dict[str, Any]]:
    return [column(name, rows[:, COLS.index(name)].tolist()) for name in order]


def json_body(inputs: list[dict[str, Any]], **extra: Any) -> tuple[bytes, None]:
    return json.dumps({"inputs": inputs, **extra}).encode(), None  # the standard library writes any integer


def binary_body(tensors: list[tuple[dict[str, Any], bytes]], **extra: Any) -> tuple[bytes, int]:
    head = orjson.dumps({"inputs": [t for t, _ in tensors], **extra})
    return head + b"".join(data for _, data in tensors), len(head)


def binary_column(name: str, values: np.ndarray, shape: list[Any] | None = None) -> tuple[dict[str, Any], bytes]:
    raw = values.astype("<f8").tobytes()
    tensor = {"name": name, "datatype": "FP64", "shape": shape or [len(values)]}
    return {**tensor, "parameters": {"binary_data_size": len(raw)}}, raw


def binary_columns(order: tuple[str, ...] = COLS) -> list[tuple[dict[str, Any], bytes]]:
    return [binary_column(name, ROWS[:, COLS.index(name)]) for name in order]


def binary_matrix(rows: np.ndarray = ROWS, name: str = "x") -> list[tuple[dict[str, Any], bytes]]:
    raw = rows.astype("<f8").tobytes()
    tensor = {"name": name, "datatype": "FP64", "shape": list(rows.shape)}
    return [({**tensor, "parameters": {"binary_data_size": len(raw)}}, raw)]


def mixed_body() -> tuple[bytes, int]:
    """Column ``a`` sent as binary data, the others as JSON."""
    tensor, raw = binary_column("a", ROWS[:, 0])
    head = orjson.dumps({"inputs": [tensor, *columns()[1:]]})
    return head + raw, len(head)


def with_bytes_after(body: tuple[bytes, int | None], extra: bytes) -> tuple[bytes, int]:
    """``body`` with ``extra`` bytes after it, its JSON header length given."""
    content, header_length = body
    return content + extra, len(content) if header_length is None else header_length


def triton(*, binary: bool, matrix: bool) -> tuple[bytes, int | None]:
    """What tritonclient sends for ROWS."""
    if matrix:
        tensor = InferInput("input", list(ROWS.shape), "FP64")
        tensor.set_data_from_numpy(ROWS, binary_data=binary)
        inputs = [tensor]
    else:
        inputs = []
        for j, name in enumerate(COLS):
            tensor = InferInput(name, [len(ROWS)], "FP64")
            tensor.set_data_from_numpy(np.ascontiguousarray(ROWS[:, j]), binary_data=binary)
            inputs.append(tensor)
    return InferenceServerClient.generate_request_body(inputs)  # type: ignore[no-any-return]


def route_input(body: bytes, header_length: int | None, *, fast: bool) -> tuple[InferRequest, Any]:
    """The request and the model input, as the infer route gets them (with or without the model's columns)."""
    request = parse_infer_request(body, header_length=header_length, columns=COLS if fast else None)
    if request.matrix is not None:
        return request, request.matrix.values
    matrix = v2_matrix(request.inputs, COLS)
    if matrix is not None:
        return request, matrix.values
    return request, request_to_model_input(request, SIGNATURE)[list(COLS)].to_numpy(dtype=np.float64)


def outcome(body: bytes, header_length: int | None, *, fast: bool) -> tuple[str, Any]:
    try:
        return "rows", route_input(body, header_length, fast=fast)[1].tolist()
    except InvalidParameter as exc:
        return "invalid", f"{exc.http_status}: {exc.message}"


SHUFFLED = ("c", "a", "b")
TAKEN = {
    "json columns": json_body(columns()),
    "json columns, any order": json_body(columns(order=SHUFFLED)),
    "json columns [n, 1]": json_body([{**t, "shape": [2, 1]} for t in columns()]),
    "json columns, one row": json_body(columns(ROWS[:1])),
    "json columns, integers": json_body(
        [column("a", [1, 2**53 + 1]), column("b", [-(2**63), 0.5]), column("c", [0, 7])]
    ),
    "json columns, request parameters": json_body(columns(), parameters={"binary_data_output": True}, id="r-1"),
    "json [n, k] flat": json_body([{"name": "x", "datatype": "FP64", "shape": [2, 3], "data": ROWS.ravel().tolist()}]),
    "json [n, k] nested": json_body([{"name": "x", "datatype": "FP64", "shape": [2, 3], "data": ROWS.tolist()}]),
    "binary columns": binary_body(binary_columns()),
    "binary columns, any order": binary_body(binary_columns(SHUFFLED)),
    "binary columns [n, 1]": binary_body([binary_column(n, ROWS[:, j], [2, 1]) for j, n in enumerate(COLS)]),
    "binary [n, k]": binary_body(binary_matrix()),
    "tritonclient json columns": triton(binary=False, matrix=False),
    "tritonclient binary columns": triton(binary=True, matrix=False),
    "tritonclient json [n, k]": triton(binary=False, matrix=True),
    "tritonclient binary [n, k]": triton(binary=True, matrix=True),
}

STEPS_ASIDE = {
    "FP32 columns": json_body([{**t, "datatype": "FP32"} for t in columns()]),
    "empty tensor parameters": json_body([{**t, "parameters": {}} for t in columns()]),
    "an unknown field": json_body([{**t, "extra": 1} for t in columns()]),
    "nested column data": json_body([{**t, "shape": [2, 1], "data": [[v] for v in t["data"]]} for t in columns()]),
    "a boolean among numbers": json_body([column("a", [True, 1.5]), *columns()[1:]]),
    "an integer past int64": json_body([column("a", [2**63 + 1, 0.5]), *columns()[1:]]),
    "zero rows": json_body([column(name, []) for name in COLS]),
    "binary and json columns": mixed_body(),
}

INVALID = {
    "a column twice": json_body([*columns(), column("a", [1.0, 2.0])]),
    "a column twice, another missing": json_body([*columns()[:2], column("a", [1.0, 2.0])]),
    "a missing column": json_body(columns()[:2]),
    "an unknown column": json_body([*columns()[:2], column("d", [1.0, 2.0])]),
    "rows that disagree": json_body([*columns()[:2], column("c", [1.0, 2.0, 3.0])]),
    "too few values": json_body([*columns()[:2], column("c", [1.0], shape=[2])]),
    "null": json_body([*columns()[:2], column("c", [1.0, None])]),
    "text": json_body([*columns()[:2], column("c", ["1", "2"])]),
    "booleans": json_body([*columns()[:2], column("c", [True, False])]),
    "a shape of booleans": json_body([{**t, "shape": [True]} for t in columns(ROWS[:1])]),
    "a shape of floats": json_body([{**t, "shape": [2.0]} for t in columns()]),
    "one shape of floats": json_body([*columns()[:2], {**columns()[2], "shape": [2.0]}]),
    "one shape of booleans": json_body(
        [{**t, "shape": [True] if t["name"] == "c" else [1]} for t in columns(ROWS[:1])]
    ),
    "one [n, 1] shape of a boolean": json_body(
        [{**t, "shape": [2, True] if t["name"] == "b" else [2, 1]} for t in columns()]
    ),
    "[n, k] of the wrong width": json_body([{"name": "x", "datatype": "FP64", "shape": [3, 2], "data": [0.0] * 6}]),
    "[n, k] ragged": json_body([{"name": "x", "datatype": "FP64", "shape": [2, 3], "data": [[1.0, 2.0, 3.0], [4.0]]}]),
    "a request id that is a number": json_body(columns(), id=5),
    "outputs that are not a list": json_body(columns(), outputs={"name": "y"}),
    "binary data nobody claims": with_bytes_after(json_body(columns()), b"\0" * 8),
    "[n, k] binary data nobody claims": with_bytes_after(TAKEN["json [n, k] flat"], b"\0" * 8),
    "binary data left over": with_bytes_after(binary_body(binary_columns()), b"\0" * 8),
    "binary size off": binary_body(
        [*binary_columns()[:2], ({**binary_column("c", ROWS[:1, 2])[0], "shape": [2]}, ROWS[:1, 2].tobytes())]
    ),
    "binary without the header": (binary_body(binary_columns())[0], None),
    "binary [n, k] truncated": (binary_body(binary_matrix())[0][:-8], binary_body(binary_matrix())[1]),
}


@pytest.mark.parametrize("name", TAKEN)
def test_the_fast_path_reads_what_the_general_path_reads(name: str) -> None:
    body, header_length = TAKEN[name]
    request, values = route_input(body, header_length, fast=True)

    assert request.matrix is not None
    assert outcome(body, header_length, fast=False) == ("rows", values.tolist())


@pytest.mark.parametrize("name", STEPS_ASIDE)
def test_anything_unusual_goes_the_general_way(name: str) -> None:
    body, header_length = STEPS_ASIDE[name]

    assert parse_infer_request(body, header_length=header_length, columns=COLS).matrix is None
    assert outcome(body, header_length, fast=False) == outcome(body, header_length, fast=True)


@pytest.mark.parametrize("name", INVALID)
def test_invalid_requests_get_the_same_message_either_way(name: str) -> None:
    body, header_length = INVALID[name]
    general = outcome(body, header_length, fast=False)

    assert "invalid" == general[0]
    assert general == outcome(body, header_length, fast=True)


@pytest.mark.parametrize("name", ["json columns, any order", "binary columns, any order", "json [n, k] nested"])
def test_fast_inputs_are_the_tensors_the_general_path_decodes(name: str) -> None:
    body, header_length = TAKEN[name]
    fast = parse_infer_request(body, header_length=header_length, columns=COLS)
    general = parse_infer_request(body, header_length=header_length)

    assert len(general.inputs) == len(fast.inputs)
    for mine, theirs in zip(fast.inputs, general.inputs, strict=True):
        assert (theirs.name, theirs.datatype, theirs.shape, theirs.parameters) == (
            mine.name,
            mine.datatype,
            mine.shape,
            mine.parameters,
        )
        np.testing.assert_array_equal(theirs.data, mine.data)


def test_nan_that_tritonclient_writes_reaches_the_matrix() -> None:
    rows = np.array([[np.nan, 1.0, np.inf]])
    tensor = InferInput("input", [1, 3], "FP64")
    tensor.set_data_from_numpy(rows, binary_data=False)
    body, _ = InferenceServerClient.generate_request_body([tensor])
    request = parse_infer_request(body, columns=COLS)

    assert request.matrix is not None
    np.testing.assert_array_equal(rows, request.matrix.values)


def test_the_id_outputs_and_parameters_are_kept_on_the_fast_path() -> None:
    body = orjson.dumps(
        {
            "id": "r-7",
            "inputs": columns(),
            "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
            "parameters": {"binary_data_output": False},
        }
    )
    request = parse_infer_request(body, columns=COLS)

    assert request.matrix is not None
    assert ("r-7", "y", True, False) == (
        request.id,
        request.outputs[0].name if request.outputs else None,
        request.outputs[0].binary if request.outputs else None,
        request.binary_output,
    )
