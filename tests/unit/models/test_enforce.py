"""LoadedModel.predict checks input against the signature and names every problem at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import SchemaMismatch
from shipyard.models import LoadedModel, load_model, save_model
from tests.unit.models.conftest import SumModel

pytestmark = pytest.mark.filterwarnings("ignore::shipyard.models.PickleWarning")


class EchoModel:
    """Returns its input, so tests can see what the signature check handed to the model."""

    def predict(self, data: Any) -> Any:
        return data


@pytest.fixture(scope="module")
def table_model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    example = pd.DataFrame(
        {
            "age": np.array([30, 40], dtype="int64"),
            "score": [0.5, 0.7],
            "small": np.array([1, 2], dtype="int32"),
            "name": ["a", "b"],
        }
    )
    folder = tmp_path_factory.mktemp("m") / "table"
    save_model(EchoModel(), folder, input_example=example, signature=None)
    return load_model(folder)


@pytest.fixture(scope="module")
def tensor_model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    folder = tmp_path_factory.mktemp("m") / "tensor"
    save_model(SumModel(), folder, input_example=np.zeros((2, 3), dtype="float32"))
    return load_model(folder)


def _problems(model: LoadedModel, data: Any) -> list[str]:
    with pytest.raises(SchemaMismatch) as caught:
        model.predict(data)
    return caught.value.problems


def _row(**overrides: Any) -> dict[str, list[Any]]:
    row: dict[str, list[Any]] = {"age": [31], "score": [0.1], "small": [np.int32(3)], "name": ["c"]}
    row.update(overrides)
    return row


def test_all_problems_are_reported_together(table_model: LoadedModel) -> None:
    data = pd.DataFrame({"age": [1.5], "small": [1], "name": ["x"], "extra": [1]}).astype({"small": "int32"})
    expected = ["missing column 'score' (expected double)", "column 'age': expected long, got double"]
    expected.append("unexpected column 'extra' (got long)")
    assert sorted(expected) == sorted(_problems(table_model, data))


def test_missing_column_is_a_problem(table_model: LoadedModel) -> None:
    data = pd.DataFrame(_row()).drop(columns=["score"])
    assert ["missing column 'score' (expected double)"] == _problems(table_model, data)


def test_extra_column_is_a_problem(table_model: LoadedModel) -> None:
    assert ["unexpected column 'z' (got string)"] == _problems(table_model, pd.DataFrame(_row(z=["q"])))


def test_float_for_long_is_a_problem(table_model: LoadedModel) -> None:
    assert ["column 'age': expected long, got double"] == _problems(table_model, pd.DataFrame(_row(age=[1.5])))


def test_string_for_number_is_a_problem(table_model: LoadedModel) -> None:
    assert ["column 'score': expected double, got string"] == _problems(table_model, pd.DataFrame(_row(score=["x"])))


def test_missing_value_in_required_string_is_a_problem(table_model: LoadedModel) -> None:
    data = pd.DataFrame(_row(name=[None]))
    assert ["column 'name': expected string, got missing values"] == _problems(table_model, data)


def test_int_for_double_is_cast_silently(table_model: LoadedModel) -> None:
    assert "float64" == str(table_model.predict(pd.DataFrame(_row(score=[1])))["score"].dtype)


def test_integer_for_long_is_cast_silently(table_model: LoadedModel) -> None:
    data = pd.DataFrame(_row(age=np.array([3], dtype="int32")))
    assert "int64" == str(table_model.predict(data)["age"].dtype)


def test_columns_are_put_in_schema_order(table_model: LoadedModel) -> None:
    data = pd.DataFrame(_row())[["name", "small", "score", "age"]]
    assert ["age", "score", "small", "name"] == list(table_model.predict(data).columns)


def test_dict_of_lists_is_accepted(table_model: LoadedModel) -> None:
    assert (1, 4) == table_model.predict(_row()).shape


def test_list_of_dicts_is_accepted(table_model: LoadedModel) -> None:
    records = [{"age": 1, "score": 0.5, "small": np.int32(1), "name": "a"}]
    assert (1, 4) == table_model.predict(records).shape


def test_2d_array_of_schema_width_gets_column_names(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    save_model(EchoModel(), folder, input_example=pd.DataFrame({"a": [1.0], "b": [2.0]}))
    assert ["a", "b"] == list(load_model(folder).predict(np.array([[1.0, 2.0]])).columns)


def test_unusable_input_kind_is_one_problem(table_model: LoadedModel) -> None:
    assert 1 == len(_problems(table_model, "not a table"))


def test_tensor_wrong_dtype_is_a_problem(tensor_model: LoadedModel) -> None:
    assert ["input: expected dtype float32, got int64"] == _problems(tensor_model, np.zeros((2, 3), dtype="int64"))


def test_tensor_wrong_width_is_a_problem(tensor_model: LoadedModel) -> None:
    assert ["input: expected size 3 on axis 1, got 4"] == _problems(tensor_model, np.zeros((2, 4), dtype="float32"))


def test_tensor_wrong_rank_is_a_problem(tensor_model: LoadedModel) -> None:
    assert ["input: expected shape [-1, 3], got [3]"] == _problems(tensor_model, np.zeros(3, dtype="float32"))


def test_tensor_dtype_and_shape_problems_come_together(tensor_model: LoadedModel) -> None:
    assert 2 == len(_problems(tensor_model, np.zeros((2, 5), dtype="float64")))


def test_tensor_safe_cast_is_applied(tensor_model: LoadedModel) -> None:
    assert [3.0] == tensor_model.predict(np.ones((1, 3), dtype="int8")).tolist()


def test_no_signature_means_no_check(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    save_model(EchoModel(), folder)
    assert "anything" == load_model(folder).predict("anything")


def test_mismatch_message_lists_each_problem(table_model: LoadedModel) -> None:
    with pytest.raises(SchemaMismatch, match=r"\(2 problems\)"):
        table_model.predict(pd.DataFrame(_row(age=[1.5], score=["x"])))
