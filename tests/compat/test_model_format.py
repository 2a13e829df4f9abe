"""The model format against real MLflow 3: each side loads what the other saved and predicts the same.

These tests need no tracking server: they work on local folders only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm
import mlflow.lightgbm
import mlflow.onnx
import mlflow.pyfunc
import mlflow.sklearn
import mlflow.xgboost
import numpy as np
import pandas as pd
import pytest
import xgboost
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from shipyard.models import PickleWarning, load_model, save_model

pytestmark = pytest.mark.compat


@pytest.fixture(autouse=True)
def _no_active_run_left() -> None:
    """Overrides the package's fixture of this name: these tests start no tracking server and no run."""


class ThresholdModel:
    """A plain Python model: no base class, just predict."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def predict(self, data: Any) -> Any:
        return (np.asarray(data, dtype=float).sum(axis=1) > self.threshold).astype("int64")


class MlflowPythonModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]  # mlflow is untyped
    """An MLflow custom pyfunc model, which Shipyard loads by delegating to mlflow."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        return model_input.sum(axis=1).to_numpy()


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    features, target = load_iris(return_X_y=True, as_frame=True)
    return features, target


@pytest.fixture(scope="module")
def diabetes() -> tuple[np.ndarray, np.ndarray]:
    features, target = load_diabetes(return_X_y=True)
    return features, target


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, pd.Series]:
    features, target = load_breast_cancer(return_X_y=True, as_frame=True)
    return features, target


@pytest.fixture(scope="module")
def onnx_regressor(diabetes: tuple[np.ndarray, np.ndarray]) -> Any:
    from skl2onnx import to_onnx

    features, target = diabetes
    return to_onnx(Ridge().fit(features, target), features[:1].astype(np.float32))


# Given requirements, MLflow skips inferring them (which loads the model in a subprocess: seconds per save).
_REQS = {"pip_requirements": ["mlflow"]}


def _equal(expected: Any, actual: Any) -> bool:
    return bool(np.allclose(np.asarray(expected, dtype=float), np.asarray(actual, dtype=float), rtol=1e-5))


# --- Shipyard saves, MLflow loads -----------------------------------------------------------------


def test_mlflow_pyfunc_loads_shipyard_sklearn_classifier(tmp_path: Path, iris: Any) -> None:
    features, target = iris
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(features, target)
    save_model(model, tmp_path / "m", input_example=features.head(5))
    assert _equal(model.predict(features), mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(features))


def test_mlflow_sklearn_loads_shipyard_sklearn_regressor(tmp_path: Path, diabetes: Any) -> None:
    features, target = diabetes
    model = make_pipeline(StandardScaler(), Ridge()).fit(features, target)
    save_model(model, tmp_path / "m", input_example=features[:5])
    assert _equal(model.predict(features), mlflow.sklearn.load_model(str(tmp_path / "m")).predict(features))


def test_mlflow_pyfunc_loads_shipyard_xgboost_classifier(tmp_path: Path, cancer: Any) -> None:
    features, target = cancer
    model = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(features, target)
    save_model(model, tmp_path / "m", input_example=features.head(5))
    assert _equal(model.predict(features), mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(features))


def test_mlflow_xgboost_loads_shipyard_booster(tmp_path: Path, diabetes: Any) -> None:
    features, target = diabetes
    booster = xgboost.train({"max_depth": 2}, xgboost.DMatrix(features, label=target), num_boost_round=5)
    save_model(booster, tmp_path / "m", input_example=features[:5])
    loaded = mlflow.xgboost.load_model(str(tmp_path / "m"))
    assert _equal(booster.predict(xgboost.DMatrix(features)), loaded.predict(xgboost.DMatrix(features)))


def test_mlflow_pyfunc_loads_shipyard_lightgbm_classifier(tmp_path: Path, iris: Any) -> None:
    features, target = iris
    model = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(features, target)
    save_model(model, tmp_path / "m", input_example=features.head(5))
    assert _equal(model.predict(features), mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(features))


def test_mlflow_lightgbm_loads_shipyard_booster(tmp_path: Path, diabetes: Any) -> None:
    features, target = diabetes
    booster = lightgbm.train({"verbose": -1}, lightgbm.Dataset(features, label=target), num_boost_round=5)
    save_model(booster, tmp_path / "m", input_example=features[:5])
    assert _equal(booster.predict(features), mlflow.lightgbm.load_model(str(tmp_path / "m")).predict(features))


def test_mlflow_pyfunc_loads_shipyard_onnx(tmp_path: Path, diabetes: Any, onnx_regressor: Any) -> None:
    features = diabetes[0].astype(np.float32)
    save_model(onnx_regressor, tmp_path / "m", input_example=features[:5])
    expected = load_model(tmp_path / "m").predict(features)
    actual = mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(features)
    assert _equal(expected, actual["variable"])


def test_mlflow_onnx_loads_shipyard_onnx(tmp_path: Path, diabetes: Any, onnx_regressor: Any) -> None:
    save_model(onnx_regressor, tmp_path / "m")
    assert onnx_regressor == mlflow.onnx.load_model(str(tmp_path / "m"))


def test_mlflow_pyfunc_loads_shipyard_python_model(tmp_path: Path, diabetes: Any) -> None:
    features = diabetes[0]
    model = ThresholdModel(0.0)
    with pytest.warns(PickleWarning):
        save_model(model, tmp_path / "m", input_example=features[:5])
    assert _equal(model.predict(features), mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(features))


def test_mlflow_enforces_shipyard_signature(tmp_path: Path, iris: Any) -> None:
    features, target = iris
    model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(features, target)
    save_model(model, tmp_path / "m", input_example=features.head(5))
    with pytest.raises(mlflow.exceptions.MlflowException, match="petal width"):
        mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(features.drop(columns=["petal width (cm)"]))


# --- MLflow saves, Shipyard loads -----------------------------------------------------------------


def test_shipyard_loads_mlflow_sklearn_skops(tmp_path: Path, iris: Any) -> None:
    features, target = iris
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(features, target)
    trusted = ["sklearn.tree._tree.Tree"]
    mlflow.sklearn.save_model(
        model, str(tmp_path / "m"), input_example=features.head(5), skops_trusted_types=trusted, **_REQS
    )
    assert _equal(model.predict(features), load_model(tmp_path / "m").predict(features))


@pytest.mark.parametrize("serialization", ["cloudpickle", "pickle"])
def test_shipyard_loads_mlflow_sklearn_pickle_with_warning(tmp_path: Path, diabetes: Any, serialization: str) -> None:
    features, target = diabetes
    model = Ridge().fit(features, target)
    mlflow.sklearn.save_model(
        model, str(tmp_path / "m"), input_example=features[:5], serialization_format=serialization, **_REQS
    )
    with pytest.warns(PickleWarning, match=f"model.pkl is stored with {serialization}"):
        loaded = load_model(tmp_path / "m")
    assert _equal(model.predict(features), loaded.predict(features))


def test_shipyard_loads_mlflow_xgboost(tmp_path: Path, cancer: Any) -> None:
    features, target = cancer
    model = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(features, target)
    mlflow.xgboost.save_model(model, str(tmp_path / "m"), input_example=features.head(5), **_REQS)
    assert _equal(model.predict(features), load_model(tmp_path / "m").predict(features))


def test_shipyard_loads_mlflow_lightgbm_sklearn_model(tmp_path: Path, diabetes: Any) -> None:
    features, target = diabetes
    model = lightgbm.LGBMRegressor(n_estimators=5, verbose=-1).fit(features, target)
    mlflow.lightgbm.save_model(model, str(tmp_path / "m"), input_example=features[:5], **_REQS)
    assert _equal(model.predict(features), load_model(tmp_path / "m").predict(features))


def test_shipyard_loads_mlflow_lightgbm_booster(tmp_path: Path, iris: Any) -> None:
    features, target = iris
    params = {"objective": "multiclass", "num_class": 3, "verbose": -1}
    booster = lightgbm.train(params, lightgbm.Dataset(features, label=target), num_boost_round=5)
    mlflow.lightgbm.save_model(booster, str(tmp_path / "m"), input_example=features.head(5), **_REQS)
    assert _equal(booster.predict(features), load_model(tmp_path / "m").predict(features))


def test_shipyard_loads_mlflow_onnx(tmp_path: Path, diabetes: Any, onnx_regressor: Any) -> None:
    features = diabetes[0].astype(np.float32)
    mlflow.onnx.save_model(onnx_regressor, str(tmp_path / "m"), input_example=features[:5], **_REQS)
    expected = mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(features)["variable"]
    assert _equal(expected, load_model(tmp_path / "m").predict(features))


def test_shipyard_loads_mlflow_python_model_through_mlflow(tmp_path: Path, diabetes: Any) -> None:
    features = pd.DataFrame(diabetes[0][:20])
    mlflow.pyfunc.save_model(str(tmp_path / "m"), python_model=MlflowPythonModel(), **_REQS)
    with pytest.warns(PickleWarning, match="loaded by MLflow's mlflow.pyfunc.model"):
        loaded = load_model(tmp_path / "m")
    assert _equal(features.sum(axis=1), loaded.predict(features))


def test_shipyard_reads_mlflow_signature(tmp_path: Path, iris: Any) -> None:
    features, target = iris
    model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(features, target)
    trusted = ["sklearn.tree._tree.Tree"]
    mlflow.sklearn.save_model(
        model, str(tmp_path / "m"), input_example=features.head(5), skops_trusted_types=trusted, **_REQS
    )
    expected = mlflow.models.Model.load(str(tmp_path / "m")).signature.to_dict()
    assert expected == load_model(tmp_path / "m").signature.to_mlflow_dict()  # type: ignore[union-attr]
