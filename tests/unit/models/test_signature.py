"""Signature inference and its MLflow JSON form."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import InvalidParameter
from shipyard.models import ColSpec, Schema, Signature, TensorSpec, infer_signature


def test_dataframe_gives_mlflow_column_types() -> None:
    frame = pd.DataFrame(
        {
            "b": [True, False],
            "i": np.array([1, 2], dtype="int32"),
            "l": np.array([1, 2], dtype="int64"),
            "f": np.array([1.0, 2.0], dtype="float32"),
            "d": [1.5, 2.5],
            "s": ["x", "y"],
            "bin": [b"x", b"y"],
            "t": [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)],
        }
    )
    types = [(c.name, c.type) for c in infer_signature(frame).inputs.items if isinstance(c, ColSpec)]
    expected = [("b", "boolean"), ("i", "integer"), ("l", "long"), ("f", "float"), ("d", "double")]
    expected += [("s", "string"), ("bin", "binary"), ("t", "datetime")]
    assert expected == types


def test_column_with_nulls_is_optional() -> None:
    assert (False,) == tuple(c.required for c in infer_signature(pd.DataFrame({"x": [1.0, None]})).inputs.items)


def test_dict_of_columns_gives_column_schema() -> None:
    assert '[{"type": "long", "name": "a", "required": true}]' == infer_signature({"a": [1, 2]}).inputs.to_json()


def test_list_of_dicts_gives_column_schema() -> None:
    schema = infer_signature([{"a": 1.0, "s": "x"}, {"a": 2.0, "s": "y"}]).inputs
    assert [("a", "double"), ("s", "string")] == [(c.name, getattr(c, "type", None)) for c in schema.items]


def test_numpy_array_gives_tensor_with_variable_batch() -> None:
    expected = '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]'
    assert expected == infer_signature(np.zeros((3, 4), dtype="float32")).inputs.to_json()


def test_string_array_dtype_loses_its_size() -> None:
    assert "str" == infer_signature(np.array([["ab"], ["c"]])).inputs.items[0].dtype  # type: ignore[union-attr]


def test_dict_of_2d_arrays_gives_named_tensors() -> None:
    schema = infer_signature({"a": np.zeros((2, 3)), "b": np.zeros((2, 1), dtype="int64")}).inputs
    expected = (TensorSpec("float64", (-1, 3), "a"), TensorSpec("int64", (-1, 1), "b"))
    assert expected == schema.items


def test_output_is_inferred_when_given() -> None:
    signature = infer_signature(pd.DataFrame({"x": [1.0]}), np.array([[0.1, 0.9]]))
    assert Schema((TensorSpec("float64", (-1, 2)),)) == signature.outputs


def test_mlflow_dict_has_json_strings() -> None:
    signature = infer_signature(pd.DataFrame({"x": [1.0]}), pd.Series([1]))
    expected = {
        "inputs": '[{"type": "double", "name": "x", "required": true}]',
        "outputs": '[{"type": "long", "required": true}]',
        "params": None,
    }
    assert expected == signature.to_mlflow_dict()


def test_json_round_trip() -> None:
    signature = infer_signature(np.zeros((2, 3)), pd.Series(["a", "b"]))
    assert signature == Signature.from_json(signature.to_json())


def test_complex_mlflow_column_round_trips() -> None:
    text = '[{"type": "array", "items": {"type": "string"}, "name": "tags", "required": true}]'
    assert text == Schema.from_json(text).to_json()


def test_mlflow_parses_the_json() -> None:
    from mlflow.models.signature import ModelSignature

    signature = infer_signature(pd.DataFrame({"x": [1.0], "s": ["a"]}), np.array([[1.0, 2.0]]))
    parsed = ModelSignature.from_dict(signature.to_mlflow_dict())
    assert signature.to_mlflow_dict() == parsed.to_dict()


def test_uninferable_input_is_invalid_parameter() -> None:
    with pytest.raises(InvalidParameter, match="Cannot infer a schema"):
        infer_signature(object())


def test_malformed_schema_json_is_invalid_parameter() -> None:
    with pytest.raises(InvalidParameter, match="not valid JSON"):
        Schema.from_json("[{")
