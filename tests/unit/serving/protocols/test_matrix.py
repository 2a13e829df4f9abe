"""The fast path for all-double models: it parses exactly what the general path would, or steps aside."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from shipyard.models import load_model
from shipyard.serving.protocols._matrix import RowMatrix, invocation_matrix, matrix_columns, v2_matrix
from shipyard.serving.protocols._mlflow_scoring import parse_invocation
from shipyard.serving.protocols._v2 import InputTensor, parse_infer_request
from shipyard.serving.protocols._v2_inputs import request_to_model_input
from tests.support.models import COLUMNS, save_linear_model

JSON = "application/json"
COLS = tuple(COLUMNS)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> object:
    folder = tmp_path_factory.mktemp("matrix") / "adder"
    save_linear_model(folder)
    return load_model(folder)


FAST_BODIES = [
    {"dataframe_records": [{"a": 1.0, "b": 2, "c": 3.5}, {"c": 0.0, "b": -1.0, "a": 4}]},
    {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1.0, 2, 3.5], [4, -1.0, 0.0]]}},
    {"dataframe_split": {"columns": ["c", "a", "b"], "data": [[3.5, 1.0, 2], [0.0, 4, -1.0]]}},
    {"inputs": [{"a": 1.0, "b": 2, "c": 3.5}, {"a": 4, "b": -1.0, "c": 0.0}]},
    {"instances": [{"a": 1.0, "b": 2, "c": 3.5}, {"a": 4, "b": -1.0, "c": 0.0}]},
    {"inputs": {"a": [1.0, 4], "b": [2, -1.0], "c": [3.5, 0.0]}},
]


@pytest.mark.parametrize("body", FAST_BODIES, ids=lambda b: next(iter(b)))
def test_the_fast_path_parses_what_the_general_path_parses(model: object, body: dict[str, object]) -> None:
    raw = orjson.dumps(body)
    fast = invocation_matrix(raw, JSON, COLS)
    general = parse_invocation(raw, JSON, model.signature.inputs).data  # type: ignore[attr-defined]
    as_the_model_sees_it = model.check_input(general)  # type: ignore[attr-defined]

    assert fast is not None
    np.testing.assert_array_equal(as_the_model_sees_it[list(COLS)].to_numpy(dtype=float), fast.values)
    np.testing.assert_array_equal(
        model.predict(general),  # type: ignore[attr-defined]
        model.matrix_predictor()(fast.values),  # type: ignore[attr-defined]
    )


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b'{"dataframe_records": [{"a": 1, "b": 2}]}', JSON),  # a column missing: the general path names it
        (b'{"dataframe_records": [{"a": 1, "b": 2, "c": 3, "d": 4}]}', JSON),  # an extra column
        (b'{"dataframe_records": [{"a": null, "b": 2, "c": 3}]}', JSON),  # null
        (b'{"dataframe_records": [{"a": "1", "b": 2, "c": 3}]}', JSON),  # text
        (b'{"dataframe_records": [{"a": true, "b": 2, "c": 3}]}', JSON),  # a boolean is not a number here
        (b'{"dataframe_records": [{"a": NaN, "b": 2, "c": 3}]}', JSON),  # NaN: MLflow accepts it, orjson not
        (b'{"dataframe_records": []}', JSON),
        (b'{"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2]]}}', JSON),  # a short row
        (b'{"dataframe_split": {"columns": ["a", "b", "c"], "index": [7], "data": [[1, 2, 3]]}}', JSON),
        (b'{"dataframe_records": [{"a": 1, "b": 2, "c": 3}], "params": {"x": 1}}', JSON),  # params
        (b'{"dataframe_records": [{"a": 1, "b": 2, "c": 3}]}', "text/csv"),
        (b'{"dataframe_records": [{"a": 1, "b": 2, "c": 3}]}', "application/json; charset=latin-1"),
        (b"not json", JSON),
        (b"[1, 2, 3]", JSON),
        (b'{"inputs": {"a": [1, 2], "b": [3], "c": [4, 5]}}', JSON),  # ragged columns
    ],
)
def test_anything_unusual_goes_the_general_way(raw: bytes, content_type: str) -> None:
    assert invocation_matrix(raw, content_type, COLS) is None


def test_only_required_named_double_columns_get_the_fast_path(model: object) -> None:
    from shipyard.models import ColSpec, Schema, Signature

    def signature(*specs: ColSpec) -> Signature:
        return Signature(inputs=Schema(specs))

    assert COLS == matrix_columns(model.signature)  # type: ignore[attr-defined]
    assert matrix_columns(signature(ColSpec("double", "a"), ColSpec("long", "b"))) is None
    assert matrix_columns(signature(ColSpec("double", "a", required=False))) is None
    assert matrix_columns(signature(ColSpec("double"))) is None
    assert matrix_columns(None) is None


def test_v2_tensors_per_column_and_as_one_matrix_give_the_same_rows(model: object) -> None:
    per_column = orjson.dumps(
        {
            "inputs": [
                {"name": name, "shape": [2], "datatype": "FP64", "data": [float(i), float(i) + 10]}
                for i, name in enumerate(COLUMNS)
            ]
        }
    )
    matrix = orjson.dumps(
        {"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP64", "data": [0, 1, 2, 10, 11, 12]}]}
    )
    fast = [v2_matrix(parse_infer_request(body).inputs, COLS) for body in (per_column, matrix)]
    general = request_to_model_input(parse_infer_request(per_column), model.signature)  # type: ignore[attr-defined]

    assert all(isinstance(item, RowMatrix) for item in fast)
    for item in fast:
        np.testing.assert_array_equal(general.to_numpy(dtype=float), item.values)  # type: ignore[union-attr]


def test_v2_tensors_of_another_type_go_the_general_way() -> None:
    as_float32 = [InputTensor(name, "FP32", (1,), np.zeros(1, dtype=np.float32)) for name in COLUMNS]
    missing = [InputTensor(name, "FP64", (1,), np.zeros(1)) for name in COLUMNS[:2]]

    assert (None, None) == (v2_matrix(as_float32, COLS), v2_matrix(missing, COLS))


def test_a_pipeline_that_needs_column_names_gets_no_numpy_predictor(tmp_path: Path) -> None:
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from shipyard.models import save_model

    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(50, 3)), columns=COLUMNS)
    pipeline = make_pipeline(ColumnTransformer([("scale", StandardScaler(), ["c", "a"])]), LinearRegression())
    pipeline.fit(frame, frame["a"])
    save_model(pipeline, tmp_path / "pipeline", input_example=frame.head(3))

    assert load_model(tmp_path / "pipeline").matrix_predictor() is None
