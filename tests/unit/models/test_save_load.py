"""Saving picks a safe serialisation, says plainly when it cannot, and loading refuses untrusted skops files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.base import BaseEstimator
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeClassifier

from shipyard.errors import InvalidParameter, UnsafeModelFormat, UnsupportedFlavor
from shipyard.models import PickleWarning, load_model, read_model_meta, save_model
from tests.unit.models.conftest import SumModel


def _double(x: Any) -> Any:
    return x * 2


class CustomEstimator(BaseEstimator):  # type: ignore[misc]  # sklearn is untyped
    """An estimator from outside scikit-learn: skops would have to trust this module's code."""

    def fit(self, x: Any, y: Any) -> CustomEstimator:
        return self

    def predict(self, x: Any) -> Any:
        return np.zeros(len(x))


def test_sklearn_defaults_to_skops(tmp_path: Path, tree: DecisionTreeClassifier) -> None:
    info = save_model(tree, tmp_path / "m")
    assert ("skops", False) == (info.serialization, info.executes_code_on_load)


def test_skops_trusted_types_are_recorded_for_mlflow(tmp_path: Path, tree: DecisionTreeClassifier) -> None:
    save_model(tree, tmp_path / "m")
    assert ["sklearn.tree._tree.Tree"] == read_model_meta(tmp_path / "m").flavors["sklearn"]["skops_trusted_types"]


def test_untrusted_types_fall_back_to_cloudpickle_with_warning(tmp_path: Path) -> None:
    model = CustomEstimator().fit([[1]], [1])
    with pytest.warns(PickleWarning, match="model.pkl is stored with cloudpickle: loading it executes code"):
        info = save_model(model, tmp_path / "m", flavor="sklearn")
    assert ("cloudpickle", True) == (info.serialization, info.executes_code_on_load)


def test_fallback_is_recorded_in_mlmodel(tmp_path: Path) -> None:
    model = make_pipeline(FunctionTransformer(_double), LinearRegression()).fit(np.array([[1.0], [2.0]]), [1.0, 2.0])
    with pytest.warns(PickleWarning):
        save_model(model, tmp_path / "m")
    assert True is read_model_meta(tmp_path / "m").metadata["shipyard_executes_code_on_load"]


def test_insisting_on_skops_with_untrusted_types_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeModelFormat, match="CustomEstimator"):
        save_model(CustomEstimator(), tmp_path / "m", serialization="skops")


def test_loading_a_pickle_model_warns(tmp_path: Path, linear: LinearRegression) -> None:
    with pytest.warns(PickleWarning):
        save_model(linear, tmp_path / "m", serialization="pickle")
    with pytest.warns(PickleWarning, match="model.pkl is stored with pickle"):
        loaded = load_model(tmp_path / "m")
    assert True is loaded.executes_code_on_load


def test_skops_file_with_untrusted_type_is_refused(tmp_path: Path, linear: LinearRegression) -> None:
    save_model(linear, tmp_path / "m")
    skops.io.dump(CustomEstimator(), tmp_path / "m" / "model.skops")
    with pytest.raises(UnsafeModelFormat, match=re.escape("test_save_load.CustomEstimator")):
        load_model(tmp_path / "m", verify=False)


def test_python_model_round_trips(tmp_path: Path) -> None:
    data = np.arange(6.0).reshape(2, 3)
    with pytest.warns(PickleWarning):
        save_model(SumModel(), tmp_path / "m", input_example=data)
    with pytest.warns(PickleWarning):
        assert [3.0, 12.0] == load_model(tmp_path / "m").predict(data).tolist()


def test_input_example_is_loaded_back(tmp_path: Path, tree: DecisionTreeClassifier, iris: Any) -> None:
    save_model(tree, tmp_path / "m", input_example=iris[0].head(2))
    pd.testing.assert_frame_equal(iris[0].head(2), load_model(tmp_path / "m").input_example)


def test_dict_example_is_stored_as_a_table(tmp_path: Path) -> None:
    with pytest.warns(PickleWarning):
        save_model(SumModel(), tmp_path / "m", input_example={"a": [1.0, 2.0], "b": [3.0, 4.0]})
    assert "dataframe" == (read_model_meta(tmp_path / "m").saved_input_example_info or {})["type"]


def test_explicit_flavor_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFlavor, match="The xgboost flavor cannot save a SumModel"):
        save_model(SumModel(), tmp_path / "m", flavor="xgboost")


def test_model_failing_on_example_is_invalid_parameter(tmp_path: Path, linear: LinearRegression) -> None:
    with pytest.raises(InvalidParameter, match="failed to predict on input_example"):
        save_model(linear, tmp_path / "m", input_example=np.zeros((1, 2)))


def test_size_bytes_is_the_sum_of_files(tmp_path: Path, linear: LinearRegression) -> None:
    info = save_model(linear, tmp_path / "m")
    assert sum((tmp_path / "m" / f).stat().st_size for f in info.files) == info.size_bytes
