"""Flavor detection picks by the model's type; anything else is refused with the supported list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pytest
import xgboost
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from shipyard.errors import UnsupportedFlavor
from shipyard.models.flavors import detect_flavor, get_flavor
from tests.unit.models.conftest import SumModel

_X = np.arange(40, dtype=float).reshape(20, 2)
_Y = np.arange(20, dtype=float)


def _onnx_model() -> Any:
    from skl2onnx import to_onnx

    return to_onnx(LinearRegression().fit(_X, _Y), _X[:1].astype(np.float32))


def test_sklearn_estimator_is_sklearn() -> None:
    assert "sklearn" == detect_flavor(LinearRegression()).name


def test_sklearn_pipeline_is_sklearn() -> None:
    assert "sklearn" == detect_flavor(make_pipeline(StandardScaler(), LinearRegression())).name


def test_xgboost_sklearn_model_is_xgboost() -> None:
    assert "xgboost" == detect_flavor(xgboost.XGBRegressor()).name


def test_xgboost_booster_is_xgboost() -> None:
    booster = xgboost.train({}, xgboost.DMatrix(_X, label=_Y), num_boost_round=1)
    assert "xgboost" == detect_flavor(booster).name


def test_lightgbm_sklearn_model_is_lightgbm() -> None:
    assert "lightgbm" == detect_flavor(lightgbm.LGBMRegressor()).name


def test_lightgbm_booster_is_lightgbm() -> None:
    params = {"verbose": -1, "min_data_in_leaf": 1}
    booster = lightgbm.train(params, lightgbm.Dataset(_X, label=_Y), num_boost_round=1)
    assert "lightgbm" == detect_flavor(booster).name


def test_onnx_proto_is_onnx() -> None:
    assert "onnx" == detect_flavor(_onnx_model()).name


def test_onnx_bytes_are_onnx() -> None:
    assert "onnx" == detect_flavor(_onnx_model().SerializeToString()).name


def test_onnx_file_path_is_onnx(tmp_path: Path) -> None:
    file = tmp_path / "m.onnx"
    file.write_bytes(_onnx_model().SerializeToString())
    assert "onnx" == detect_flavor(str(file)).name


def test_object_with_predict_is_python() -> None:
    assert "python" == detect_flavor(SumModel()).name


def test_object_without_predict_is_refused() -> None:
    with pytest.raises(UnsupportedFlavor, match="sklearn, xgboost, lightgbm, onnx, python"):
        detect_flavor(object())


def test_unknown_flavor_name_is_refused() -> None:
    with pytest.raises(UnsupportedFlavor, match="Unknown flavor 'keras'"):
        get_flavor("keras")
