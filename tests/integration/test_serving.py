"""`shipyard serve` with the real tritonclient: health, metadata, JSON and binary tensors, bad input."""

from __future__ import annotations

import concurrent.futures
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.support.models import COLUMNS, save_linear_model
from tests.support.servers import RunningServer, serving_server

NAME = "adder"


@dataclass(frozen=True)
class Served:
    server: RunningServer
    model: object  # the scikit-learn estimator, for expected predictions

    @property
    def address(self) -> str:
        return self.server.url.removeprefix("http://")

    def expected(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict(frame), dtype=float)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("serving")
    model = save_linear_model(root / NAME)
    with serving_server(root / NAME, root / "server") as server:
        yield Served(server, model)


def _frame(rows: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, 3)), columns=COLUMNS)


def _column_inputs(frame: pd.DataFrame, binary: bool) -> list[object]:
    import tritonclient.http as triton

    inputs = []
    for column in COLUMNS:
        tensor = triton.InferInput(column, [len(frame)], "FP64")
        tensor.set_data_from_numpy(frame[column].to_numpy(dtype=np.float64), binary_data=binary)
        inputs.append(tensor)
    return inputs


def test_health_and_readiness_through_tritonclient(served: Served) -> None:
    import tritonclient.http as triton

    client = triton.InferenceServerClient(served.address)

    assert (True, True, True) == (client.is_server_live(), client.is_server_ready(), client.is_model_ready(NAME))


def test_metadata_lists_the_signature_inputs(served: Served) -> None:
    import tritonclient.http as triton

    meta = triton.InferenceServerClient(served.address).get_model_metadata(NAME)

    assert (NAME, COLUMNS, ["FP64"] * 3) == (
        meta["name"],
        [i["name"] for i in meta["inputs"]],
        [i["datatype"] for i in meta["inputs"]],
    )


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_one_tensor_per_column(served: Served, binary: bool) -> None:
    import tritonclient.http as triton

    frame = _frame(7)
    result = triton.InferenceServerClient(served.address).infer(NAME, _column_inputs(frame, binary))
    output = result.get_response()["outputs"][0]["name"]

    np.testing.assert_allclose(result.as_numpy(output).reshape(-1), served.expected(frame))


def test_one_matrix_tensor(served: Served) -> None:
    import tritonclient.http as triton

    frame = _frame(5, seed=2)
    tensor = triton.InferInput("input", [5, 3], "FP64")
    tensor.set_data_from_numpy(frame.to_numpy(dtype=np.float64))
    result = triton.InferenceServerClient(served.address).infer(NAME, [tensor])
    output = result.get_response()["outputs"][0]["name"]

    np.testing.assert_allclose(result.as_numpy(output).reshape(-1), served.expected(frame))


def test_versioned_route_and_unknown_model(served: Served) -> None:
    body = {"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP64", "data": [1.0, 2.0, 3.0]}]}
    with httpx.Client(base_url=served.server.url, timeout=30) as client:
        versioned = client.post(f"/v2/models/{NAME}/versions/1/infer", json=body)
        unknown = client.post("/v2/models/nope/infer", json=body)
        wrong_version = client.post(f"/v2/models/{NAME}/versions/9/infer", json=body)

    assert (200, 404, 404, True) == (
        versioned.status_code,
        unknown.status_code,
        wrong_version.status_code,
        "nope" in unknown.json()["error"],
    )


def test_concurrent_clients_each_get_their_own_rows(served: Served) -> None:
    import tritonclient.http as triton

    frames = [_frame(1 + i % 5, seed=100 + i) for i in range(48)]

    def call(frame: pd.DataFrame) -> np.ndarray:
        client = triton.InferenceServerClient(served.address)
        result = client.infer(NAME, _column_inputs(frame, True))
        return result.as_numpy(result.get_response()["outputs"][0]["name"]).reshape(-1)

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(call, frames))

    for frame, answer in zip(frames, answers, strict=True):
        np.testing.assert_allclose(answer, served.expected(frame))


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "empty"),
        (b"{not json", "JSON"),
        (b"[1, 2]", "object"),
        (b'{"inputs": [{"name": "a", "shape": [2], "datatype": "FP64", "data": [1.0]}]}', "a"),
        (b'{"inputs": [{"name": "zzz", "shape": [1], "datatype": "FP64", "data": [1.0]}]}', "zzz"),
        (b'{"inputs": [{"name": "a", "shape": [1], "datatype": "BYTES", "data": ["x"]}]}', "a"),
    ],
    ids=["empty", "malformed", "not-object", "short-data", "unknown-input", "wrong-type"],
)
def test_bad_input_is_a_400_that_names_the_problem_and_the_server_keeps_serving(
    served: Served, body: bytes, fragment: str
) -> None:
    with httpx.Client(base_url=served.server.url, timeout=30) as client:
        answer = client.post(f"/v2/models/{NAME}/infer", content=body, headers={"Content-Type": "application/json"})
        alive = client.get("/v2/health/ready").status_code

    assert (400, True, 200) == (answer.status_code, fragment in answer.json()["error"], alive)


def test_a_body_over_the_limit_is_refused(served: Served) -> None:
    with httpx.Client(base_url=served.server.url, timeout=60) as client:
        answer = client.post(f"/v2/models/{NAME}/infer", content=b" " * (65 * 1024 * 1024))

    assert 413 == answer.status_code


def _mlflow_predictions(served: Served, frame: pd.DataFrame) -> list[float]:
    """What mlflow.pyfunc predicts on the same folder: the reference for /invocations."""
    import mlflow

    folder = served.server.root.parent / NAME
    return [float(v) for v in np.asarray(mlflow.pyfunc.load_model(str(folder)).predict(frame)).reshape(-1)]


@pytest.mark.parametrize("payload", ["dataframe_split", "dataframe_records", "instances", "inputs", "csv"])
def test_invocations_answer_as_mlflow_does(served: Served, payload: str) -> None:
    frame = _frame(4, seed=9)
    headers = {"Content-Type": "application/json"}
    if payload == "dataframe_split":
        body = {"dataframe_split": frame.to_dict(orient="split")}
    elif payload == "dataframe_records":
        body = {"dataframe_records": frame.to_dict(orient="records")}
    elif payload == "instances":
        body = {"instances": frame.to_dict(orient="records")}
    elif payload == "inputs":
        body = {"inputs": {c: frame[c].tolist() for c in COLUMNS}}
    with httpx.Client(base_url=served.server.url, timeout=30) as client:
        if payload == "csv":
            answer = client.post(
                "/invocations", content=frame.to_csv(index=False), headers={"Content-Type": "text/csv"}
            )
        else:
            answer = client.post("/invocations", json=body, headers=headers)

    assert 200 == answer.status_code, answer.text
    np.testing.assert_allclose(answer.json()["predictions"], _mlflow_predictions(served, frame))


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"dataframe_split": {}, "instances": []}', "application/json", 400),
        (b'{"unknown": 1}', "application/json", 400),
        (b"{broken", "application/json", 400),
        (b"a,b,c\n1,2", "text/csv", 400),
        (b"x", "application/xml", 415),
    ],
    ids=["two-keys", "no-known-key", "malformed", "ragged-csv", "unsupported-type"],
)
def test_bad_invocations_get_mlflow_style_errors(served: Served, body: bytes, content_type: str, status: int) -> None:
    with httpx.Client(base_url=served.server.url, timeout=30) as client:
        answer = client.post("/invocations", content=body, headers={"Content-Type": content_type})
        alive = client.get("/ping").status_code

    assert (status, True, 200) == (answer.status_code, bool(answer.json().get("message")), alive)


def test_serves_a_registered_model_by_alias(tmp_path: Path) -> None:
    import tritonclient.http as triton
    from sklearn.linear_model import LinearRegression

    home = tmp_path / "home"
    env = {"SHIPYARD_HOME": str(home), "SHIPYARD_TRACKING_URI": "", "MLFLOW_TRACKING_URI": ""}
    frame = _frame(50, seed=3)
    model = LinearRegression().fit(frame, frame["a"] - frame["b"])
    code = (
        "import pandas as pd, pickle, sys, shipyard as sy\n"
        "model, frame = pickle.loads(sys.stdin.buffer.read())\n"
        "with sy.start_run(experiment='serving'):\n"
        "    sy.log_model(model, 'model', input_example=frame.head(2), registered_model_name='minus')\n"
        "sy.set_alias('minus', 'champion', 1)\n"
    )
    # Registered in another process, as a training job would: the server only sees the store.
    subprocess.run(
        [sys.executable, "-c", code],
        input=pickle.dumps((model, frame)),
        env={**os.environ, **env},
        check=True,
        cwd=tmp_path,
    )
    with serving_server("models:/minus@champion", tmp_path / "server", env=env) as server:
        client = triton.InferenceServerClient(server.url.removeprefix("http://"))
        result = client.infer("minus", _column_inputs(frame.head(4), True))
        answer = result.as_numpy(result.get_response()["outputs"][0]["name"]).reshape(-1)

    np.testing.assert_allclose(answer, model.predict(frame.head(4)))
