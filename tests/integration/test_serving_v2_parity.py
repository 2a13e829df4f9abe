"""The v2 infer route and ``/invocations`` on one served all-double model: same predictions for every request
layout (a tensor per column or one ``[n, k]`` tensor, JSON or binary), and 400 answers that say what is wrong."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from shipyard.models import load_model
from shipyard.serving import ServingConfig, create_serving_app
from tests.support.models import COLUMNS, save_linear_model

NAME = "adder"
INFER = f"/v2/models/{NAME}/infer"
HEADER_LENGTH = "Inference-Header-Content-Length"
FRAME = pd.DataFrame(np.random.default_rng(3).normal(size=(5, 3)), columns=COLUMNS)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder: Path = tmp_path_factory.mktemp("v2-parity") / NAME
    save_linear_model(folder)
    app = create_serving_app(load_model(folder), ServingConfig(NAME))
    # The guards answer loopback host names only (not TestClient's default "testserver").
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


def _json(inputs: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
    return json.dumps({"inputs": inputs}).encode(), {"Content-Type": "application/json"}


def _binary(tensors: list[tuple[str, np.ndarray]]) -> tuple[bytes, dict[str, str]]:
    inputs, chunks = [], []
    for name, values in tensors:
        raw = np.ascontiguousarray(values, dtype="<f8").tobytes()
        inputs.append(
            {
                "name": name,
                "datatype": "FP64",
                "shape": list(values.shape),
                "parameters": {"binary_data_size": len(raw)},
            }
        )
        chunks.append(raw)
    head = json.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}}).encode()
    return head + b"".join(chunks), {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(head))}


BODIES = {
    "json, a tensor per column": lambda f: _json(
        [{"name": c, "datatype": "FP64", "shape": [len(f)], "data": f[c].tolist()} for c in reversed(COLUMNS)]
    ),
    "json, one [n, k] tensor": lambda f: _json(
        [{"name": "x", "datatype": "FP64", "shape": list(f.shape), "data": f.to_numpy().ravel().tolist()}]
    ),
    "binary, a tensor per column": lambda f: _binary([(c, f[c].to_numpy()) for c in reversed(COLUMNS)]),
    "binary, one [n, k] tensor": lambda f: _binary([("x", f.to_numpy())]),
}


def _answer(response: Any) -> list[float]:
    length = response.headers.get(HEADER_LENGTH)
    if length is None:
        return list(response.json()["outputs"][0]["data"])
    head = json.loads(response.content[: int(length)])
    output = head["outputs"][0]
    assert ("FP64", [len(FRAME)]) == (output["datatype"], output["shape"])
    return list(np.frombuffer(response.content[int(length) :], dtype="<f8").tolist())


@pytest.mark.parametrize("layout", BODIES)
def test_v2_infer_answers_what_invocations_answers(client: TestClient, layout: str) -> None:
    content, headers = BODIES[layout](FRAME)
    split = {"columns": COLUMNS, "data": FRAME.to_numpy().tolist()}
    invocations = client.post("/invocations", json={"dataframe_split": split})
    infer = client.post(INFER, content=content, headers=headers)

    assert (200, 200) == (invocations.status_code, infer.status_code)
    assert invocations.json()["predictions"] == _answer(infer)


def test_a_binary_answer_carries_its_header_length(client: TestClient) -> None:
    content, headers = BODIES["binary, a tensor per column"](FRAME)
    infer = client.post(INFER, content=content, headers=headers)
    length = int(infer.headers[HEADER_LENGTH])

    assert "application/octet-stream" == infer.headers["content-type"]
    assert len(FRAME) * 8 == len(infer.content) - length
    assert {"model_name": NAME, "model_version": "1"}.items() <= json.loads(infer.content[:length]).items()


def _column(name: str, **overrides: Any) -> dict[str, Any]:
    return {"name": name, "datatype": "FP64", "shape": [2], "data": [1.0, 2.0], **overrides}


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ([_column("a"), _column("b"), _column("c", shape=[3])], "Input 'c' has 2 values but its shape [3] needs 3."),
        ([_column("a"), _column("b"), _column("c", data=["1", "2"])], "declared FP64 but its data holds strings"),
        ([_column("a"), _column("b"), _column("c", datatype="FLOAT")], "datatype 'FLOAT'; expected one of BOOL"),
        ([_column("a"), _column("b")], "Missing input 'c' (FP64)"),
        ([_column("a"), _column("b"), _column("d")], "Unknown input 'd'"),
        ([_column("a"), _column("b"), _column("c", shape=[1], data=[1.0])], "Input 'c' has 1 rows but input 'b' has 2"),
        (
            [{"name": "x", "datatype": "FP64", "shape": [2, 2], "data": [1.0, 2.0, 3.0, 4.0]}],
            "a single [n, k] tensor needs k = 3",
        ),
    ],
)
def test_a_wrong_shape_or_datatype_is_a_400_that_says_so(
    client: TestClient, inputs: list[dict[str, Any]], expected: str
) -> None:
    answer = client.post(INFER, json={"inputs": inputs})

    assert 400 == answer.status_code
    assert expected in answer.json()["error"]


def test_binary_data_that_does_not_match_its_shape_is_a_400(client: TestClient) -> None:
    content, headers = _binary([(c, FRAME[c].to_numpy()) for c in COLUMNS])
    head = json.loads(content[: int(headers[HEADER_LENGTH])])
    head["inputs"][2]["shape"] = [len(FRAME) + 1]
    new_head = json.dumps(head).encode()
    body = new_head + content[int(headers[HEADER_LENGTH]) :]
    answer = client.post(INFER, content=body, headers={**headers, HEADER_LENGTH: str(len(new_head))})

    assert 400 == answer.status_code
    assert "Input 'c': binary_data_size is 40 bytes, but shape [6] of FP64 needs 48" in answer.json()["error"]
