"""`shipyard serve --grpc-port` with the real `tritonclient.grpc` client: health, metadata, infer, bad input."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.support.models import COLUMNS, save_linear_model
from tests.support.servers import RunningServer, free_port, serving_server

NAME = "adder"


@dataclass(frozen=True)
class Served:
    server: RunningServer
    grpc_address: str
    model: Any  # the scikit-learn estimator, for expected predictions

    def client(self) -> Any:
        import tritonclient.grpc as triton

        return triton.InferenceServerClient(self.grpc_address)

    def expected(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict(frame), dtype=float)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("serving_grpc")
    model = save_linear_model(root / NAME)
    port = free_port()
    with serving_server(root / NAME, root / "server", extra_args=("--grpc-port", str(port))) as server:
        yield Served(server, f"127.0.0.1:{port}", model)


def _frame(rows: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, 3)), columns=COLUMNS)


def _column_inputs(frame: pd.DataFrame) -> list[Any]:
    import tritonclient.grpc as triton

    inputs = []
    for column in COLUMNS:
        tensor = triton.InferInput(column, [len(frame)], "FP64")
        tensor.set_data_from_numpy(frame[column].to_numpy(dtype=np.float64))
        inputs.append(tensor)
    return inputs


def _only_output(result: Any) -> np.ndarray:
    outputs = result.get_response().outputs
    assert len(outputs) == 1
    return np.asarray(result.as_numpy(outputs[0].name), dtype=float)


def _error_of(call: Any) -> Any:
    from tritonclient.utils import InferenceServerException

    with pytest.raises(InferenceServerException) as info:
        call()
    return info.value


def test_health_and_readiness_through_tritonclient(served: Served) -> None:
    client = served.client()

    assert (True, True, True) == (client.is_server_live(), client.is_server_ready(), client.is_model_ready(NAME))


def test_metadata_lists_the_signature_inputs(served: Served) -> None:
    meta = served.client().get_model_metadata(NAME)

    expected = [(c, "FP64", [-1]) for c in COLUMNS]
    assert expected == [(t.name, t.datatype, list(t.shape)) for t in meta.inputs]
    assert (NAME, ["1"]) == (meta.name, list(meta.versions))


def test_infer_with_one_tensor_per_column(served: Served) -> None:
    frame = _frame(7)

    result = served.client().infer(NAME, _column_inputs(frame))

    np.testing.assert_allclose(served.expected(frame), _only_output(result))


def test_infer_with_one_matrix_tensor(served: Served) -> None:
    import tritonclient.grpc as triton

    frame = _frame(5, seed=2)
    tensor = triton.InferInput("input", [5, 3], "FP64")
    tensor.set_data_from_numpy(frame.to_numpy(dtype=np.float64))

    result = served.client().infer(NAME, [tensor])

    np.testing.assert_allclose(served.expected(frame), _only_output(result))


def test_concurrent_infers_each_get_their_own_rows(served: Served) -> None:
    frames = [_frame(1 + i % 4, seed=100 + i) for i in range(32)]

    def call(frame: pd.DataFrame) -> np.ndarray:
        return _only_output(served.client().infer(NAME, _column_inputs(frame)))

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(call, frames))

    for frame, result in zip(frames, results, strict=True):
        np.testing.assert_allclose(served.expected(frame), result)


def test_an_unknown_input_name_is_invalid_argument_and_the_server_keeps_serving(served: Served) -> None:
    import tritonclient.grpc as triton

    frame = _frame(3)
    inputs = _column_inputs(frame)
    wrong = triton.InferInput("zzz", [3], "FP64")
    wrong.set_data_from_numpy(frame["c"].to_numpy(dtype=np.float64))
    client = served.client()

    error = _error_of(lambda: client.infer(NAME, [*inputs[:2], wrong]))

    assert "StatusCode.INVALID_ARGUMENT" == error.status()
    assert "zzz" in error.message()
    np.testing.assert_allclose(served.expected(frame), _only_output(client.infer(NAME, inputs)))


def test_a_wrong_element_count_is_invalid_argument(served: Served) -> None:
    inputs = _column_inputs(_frame(3))
    inputs[0].set_shape([4])  # 3 values sent for a declared 4

    error = _error_of(lambda: served.client().infer(NAME, inputs))

    assert "StatusCode.INVALID_ARGUMENT" == error.status()
    assert "'a'" in error.message()
    assert "[4]" in error.message()


def test_an_unknown_model_is_not_found(served: Served) -> None:
    client = served.client()

    errors = [
        _error_of(lambda: client.get_model_metadata("nope")),
        _error_of(lambda: client.infer("nope", _column_inputs(_frame(2)))),
    ]

    assert ["StatusCode.NOT_FOUND"] * 2 == [e.status() for e in errors]
    assert all("'nope'" in e.message() for e in errors)


def test_methods_it_does_not_implement_are_unimplemented(served: Served) -> None:
    error = _error_of(lambda: served.client().get_model_config(NAME))

    assert "StatusCode.UNIMPLEMENTED" == error.status()


def test_typed_contents_are_decoded_like_raw_contents(served: Served) -> None:
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    frame = _frame(4, seed=3)
    request = service_pb2.ModelInferRequest(model_name=NAME)
    for column in COLUMNS:
        tensor = request.inputs.add(name=column, datatype="FP64", shape=[len(frame)])
        tensor.contents.fp64_contents.extend(frame[column].tolist())

    with grpc.insecure_channel(served.grpc_address) as channel:
        response = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request)

    output = response.outputs[0]
    actual = np.frombuffer(response.raw_output_contents[0], dtype="<f8").reshape(list(output.shape))
    np.testing.assert_allclose(served.expected(frame), actual)


def test_grpc_calls_are_counted_in_the_shared_metrics(served: Served) -> None:
    import httpx

    served.client().infer(NAME, _column_inputs(_frame(2)))

    text = httpx.get(f"{served.server.url}/metrics").text

    assert 'route="/inference.GRPCInferenceService/ModelInfer",status="200"' in text
