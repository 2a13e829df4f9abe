"""The skops allow-list: exact class names, classes only, and broad enough for the models people save."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
import pytest
import xgboost
from sklearn.calibration import CalibratedClassifierCV
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    StackingClassifier,
    VotingClassifier,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC, SVR

from shipyard.errors import UnsafeModelFormat
from shipyard.models import export_model, load_model, save_model
from shipyard.models._checksums import write_sums
from shipyard.models.flavors._skops_trust import refused_types, trusted_class_names

Data = tuple[pd.DataFrame, pd.Series]


def _mixed(iris: Data) -> pd.DataFrame:
    features = iris[0].copy()
    features["size"] = np.where(features.iloc[:, 0] > 5.8, "large", "small")
    return features


def _column_pipeline(iris: Data) -> tuple[Any, Any]:
    numeric = list(iris[0].columns)
    columns = ColumnTransformer(
        [("num", StandardScaler(), numeric), ("cat", OneHotEncoder(handle_unknown="ignore"), ["size"])]
    )
    model = Pipeline([("columns", columns), ("model", LogisticRegression(max_iter=500))])
    return model.fit(_mixed(iris), iris[1]), _mixed(iris)


def _selector_pipeline(iris: Data) -> tuple[Any, Any]:
    columns = ColumnTransformer(
        [
            ("num", StandardScaler(), make_column_selector(dtype_include=np.number)),
            ("cat", OneHotEncoder(), make_column_selector(dtype_include=object)),
        ]
    )
    return make_pipeline(columns, RandomForestClassifier(n_estimators=3, random_state=0)).fit(
        _mixed(iris), iris[1]
    ), _mixed(iris)


def _text(_: Data) -> tuple[Any, Any]:
    docs = pd.Series(["red apple", "green apple", "red cherry", "green pear"] * 5)
    labels = [0, 1, 0, 1] * 5
    return make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(docs, labels), docs


def _plain(factory: Callable[[], Any]) -> Callable[[Data], tuple[Any, Any]]:
    def fit(iris: Data) -> tuple[Any, Any]:
        return factory().fit(*iris), iris[0]

    return fit


def _unsupervised(factory: Callable[[], Any]) -> Callable[[Data], tuple[Any, Any]]:
    def fit(iris: Data) -> tuple[Any, Any]:
        return factory().fit(iris[0]), iris[0]

    return fit


MODELS: dict[str, Callable[[Data], tuple[Any, Any]]] = {
    "LogisticRegression": _plain(lambda: LogisticRegression(max_iter=500)),
    "RandomForest": _plain(lambda: RandomForestClassifier(n_estimators=5, random_state=0)),
    "RandomForest+RandomState": _plain(
        lambda: RandomForestClassifier(n_estimators=2, random_state=np.random.RandomState(0))
    ),
    "GradientBoosting": _plain(lambda: GradientBoostingClassifier(n_estimators=5, random_state=0)),
    "GradientBoostingRegressor(huber)": _plain(lambda: GradientBoostingRegressor(n_estimators=5, loss="huber")),
    "HistGradientBoosting": _plain(lambda: HistGradientBoostingClassifier(max_iter=5)),
    "HistGradientBoostingRegressor": _plain(lambda: HistGradientBoostingRegressor(max_iter=5)),
    "Pipeline+ColumnTransformer+StandardScaler+OneHotEncoder": _column_pipeline,
    "ColumnTransformer+make_column_selector": _selector_pipeline,
    "StandardScaler+SGDClassifier": _plain(lambda: make_pipeline(StandardScaler(), SGDClassifier(loss="log_loss"))),
    "MLPClassifier": _plain(lambda: MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0)),
    "SVC": _plain(lambda: SVC(probability=True, random_state=0)),
    "SVR": _plain(SVR),
    "KMeans": _unsupervised(lambda: KMeans(n_clusters=3, n_init=2, random_state=0)),
    "IsolationForest": _unsupervised(lambda: IsolationForest(n_estimators=5, random_state=0)),
    "KNeighbors": _plain(KNeighborsClassifier),
    "SimpleImputer+Ridge": _plain(lambda: make_pipeline(SimpleImputer(), Ridge())),
    "Voting": _plain(lambda: VotingClassifier([("lr", LogisticRegression(max_iter=500)), ("nb", GaussianNB())])),
    "Stacking": _plain(lambda: StackingClassifier([("lr", LogisticRegression(max_iter=500)), ("nb", GaussianNB())])),
    "CalibratedClassifierCV": _plain(lambda: CalibratedClassifierCV(GaussianNB())),
    "GridSearchCV": _plain(lambda: GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.5, 1.0]}, cv=2)),
    "Tfidf+LogisticRegression": _text,
    "StandardScaler+XGBClassifier": _plain(
        lambda: make_pipeline(StandardScaler(), xgboost.XGBClassifier(n_estimators=3))
    ),
    "LGBMClassifier": _plain(lambda: lightgbm.LGBMClassifier(n_estimators=3, verbose=-1)),
    "LGBMRegressor": _plain(lambda: lightgbm.LGBMRegressor(n_estimators=3, verbose=-1)),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_common_model_round_trips_through_skops(tmp_path: Path, iris: Data, name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tiny fits on purpose
        model, data = MODELS[name](iris)
    info = save_model(model, tmp_path / "m")  # a PickleWarning (a refused type) would fail: warnings are errors
    loaded = load_model(tmp_path / "m")
    assert ("skops", False, False) == (info.serialization, info.executes_code_on_load, loaded.executes_code_on_load)
    np.testing.assert_array_equal(model.predict(data), loaded.native.predict(data))


def test_every_trusted_name_resolves_to_that_class() -> None:
    for name in sorted(trusted_class_names()):
        module, _, attribute = name.rpartition(".")
        try:
            obj = getattr(importlib.import_module(module), attribute)
        except ImportError:
            continue  # an optional library that is not installed
        assert inspect.isclass(obj), name


def test_functions_in_trusted_modules_are_refused() -> None:
    names = ["sklearn.utils.all_estimators", "numpy.load", "scipy.io.loadmat", "lightgbm.train", "xgboost.train"]
    assert sorted(names) == refused_types(names)


def test_untrusted_class_in_trusted_module_is_refused() -> None:
    assert ["numpy.memmap"] == refused_types(["numpy.memmap", "numpy.ndarray"])


def test_method_of_trusted_class_is_refused() -> None:
    name = "sklearn.linear_model._logistic.LogisticRegression.fit"
    assert [name] == refused_types([name])


def test_function_wrapping_distance_metric_is_refused() -> None:
    name = "sklearn.metrics._dist_metrics.PyFuncDistance64"
    assert [name] == refused_types([name])


def test_bundle_predict_py_trusts_only_the_types_checked_at_export(tmp_path: Path, iris: Data) -> None:
    """A bundle's model.skops swapped for one naming a function (SHA256SUMS redone) is refused by predict.py."""
    features, target = iris
    save_model(RandomForestClassifier(n_estimators=2, random_state=0).fit(features, target), tmp_path / "m")
    export_model(tmp_path / "m", tmp_path / "out", format="bundle")
    bundle = tmp_path / "out" / "model"
    hostile = _skops_naming(tmp_path, "numpy.testing._private.utils.runstring")
    (bundle / "model.skops").write_bytes(hostile)
    write_sums(bundle)
    entry = _import(tmp_path / "out" / "predict.py")
    with pytest.raises(SystemExit, match=re.escape("numpy.testing._private.utils.runstring")):
        entry.load()


def test_export_refuses_a_skops_file_naming_a_function(tmp_path: Path, iris: Data) -> None:
    features, target = iris
    save_model(LogisticRegression(max_iter=500).fit(features, target), tmp_path / "m")
    (tmp_path / "m" / "model.skops").write_bytes(_skops_naming(tmp_path, "numpy.fromfile"))
    write_sums(tmp_path / "m")
    with pytest.raises(UnsafeModelFormat, match=re.escape("numpy.fromfile")):
        export_model(tmp_path / "m", tmp_path / "out", format="bundle")


def _skops_naming(tmp_path: Path, function: str) -> bytes:
    """A skops file whose only object is ``function`` (referenced, never called)."""
    import io
    import json
    import zipfile

    module, _, name = function.rpartition(".")
    schema = {"__class__": name, "__module__": module, "__loader__": "FunctionNode", "__id__": 1}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", json.dumps(schema | {"protocol": 2}))
    return buffer.getvalue()


def _import(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("_bundle_predict", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
