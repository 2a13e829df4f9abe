"""export_model writes ONNX or native folders whose predict.py reproduces the original model without Shipyard."""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
import pytest
import xgboost
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeClassifier

from shipyard.errors import InvalidParameter, ModelIntegrityError, UnsupportedFlavor
from shipyard.models import PickleWarning, save_model
from shipyard.models._export import ExportResult, export_model
from tests.unit.models.conftest import SumModel

MODELS = ("sklearn_classifier", "sklearn_regressor", "xgboost", "lightgbm")
CLASSIFIERS = ("sklearn_classifier", "xgboost")


def _fit(name: str, features: pd.DataFrame, target: pd.Series) -> Any:
    if name == "sklearn_classifier":
        return DecisionTreeClassifier(max_depth=3, random_state=0).fit(features, target)
    if name == "sklearn_regressor":
        return LinearRegression().fit(features, target)
    if name == "xgboost":
        return xgboost.XGBClassifier(n_estimators=8, max_depth=2).fit(features, target)
    return lightgbm.LGBMRegressor(n_estimators=8, verbose=-1).fit(features, target)


@pytest.fixture(scope="module")
def fitted(iris: tuple[pd.DataFrame, pd.Series]) -> dict[str, Any]:
    features, target = iris
    return {name: _fit(name, features, target) for name in MODELS}


@pytest.fixture(scope="module")
def saved(
    tmp_path_factory: pytest.TempPathFactory, fitted: dict[str, Any], iris: tuple[pd.DataFrame, pd.Series]
) -> Path:
    root = tmp_path_factory.mktemp("saved")
    for name, model in fitted.items():
        save_model(model, root / name, input_example=iris[0].sample(10, random_state=1))
    return root


class Exports:
    """Each (model, format) export, made once per module and only when a test asks for it."""

    def __init__(self, saved: Path, root: Path) -> None:
        self.saved, self.root = saved, root
        self.done: dict[tuple[str, str], ExportResult] = {}

    def __getitem__(self, key: tuple[str, str]) -> ExportResult:
        if key not in self.done:
            name, fmt = key
            self.done[key] = export_model(self.saved / name, self.root / f"{name}-{fmt}", format=fmt)
        return self.done[key]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, saved: Path) -> Exports:
    return Exports(saved, tmp_path_factory.mktemp("exported"))


@pytest.fixture(scope="module")
def rows(iris: tuple[pd.DataFrame, pd.Series]) -> pd.DataFrame:
    return iris[0].iloc[::15]  # rows of every class, not the saved example


def _run_predict(folder: str | Path, *args: str, stdin: str | None = None) -> Any:
    done = subprocess.run(
        [sys.executable, "predict.py", *args],
        check=False,
        cwd=folder,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert 0 == done.returncode, done.stderr
    return json.loads(done.stdout)


def _assert_same(name: str, expected: Any, actual: Any) -> None:
    if name in CLASSIFIERS:
        assert np.asarray(expected).tolist() == actual
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fmt", ["onnx", "bundle"])
@pytest.mark.parametrize("name", MODELS)
def test_predict_py_reproduces_original_predictions(
    name: str, fmt: str, exported: Exports, fitted: dict[str, Any], rows: pd.DataFrame
) -> None:
    folder = Path(exported[name, fmt].path)
    (folder.parent / f"{name}-{fmt}.json").write_text(rows.to_json(orient="records"), encoding="utf-8")
    predictions = _run_predict(folder, str(folder.parent / f"{name}-{fmt}.json"))
    _assert_same(name, fitted[name].predict(rows), predictions)


@pytest.mark.parametrize("name", MODELS)
def test_onnx_export_passes_its_check(name: str, exported: Exports) -> None:
    result = exported[name, "onnx"]
    assert (True, True) == (result.checked, result.max_abs_diff is not None and result.max_abs_diff < 1e-4)


def test_onnx_export_writes_the_documented_files(exported: Exports) -> None:
    expected = ["README.md", "input_example.json", "model.onnx", "predict.py", "requirements.txt", "signature.json"]
    assert expected == sorted(exported["sklearn_classifier", "onnx"].files)


def test_result_files_match_sha256sums(exported: Exports) -> None:
    result = exported["lightgbm", "onnx"]
    lines = (Path(result.path) / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    assert [f"{d}  {p}" for p, d in result.files.items()] == lines


def test_result_digests_are_the_files_sha256(exported: Exports) -> None:
    result = exported["sklearn_regressor", "onnx"]
    digest = hashlib.sha256((Path(result.path) / "model.onnx").read_bytes()).hexdigest()
    assert digest == result.files["model.onnx"]


def test_onnx_predict_py_imports_only_onnxruntime_numpy_and_stdlib(
    exported: Exports,
) -> None:
    tree = ast.parse((Path(exported["xgboost", "onnx"].path) / "predict.py").read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {str(n.module).split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert set() == imported - set(sys.stdlib_module_names) - {"numpy", "onnxruntime"}


def test_onnx_requirements_pin_onnxruntime_and_numpy(exported: Exports) -> None:
    lines = (Path(exported["lightgbm", "onnx"].path) / "requirements.txt").read_text(encoding="utf-8").split()
    assert ["numpy", "onnxruntime"] == sorted(line.split("==")[0] for line in lines)


def test_onnx_predict_py_reads_csv_from_stdin(exported: Exports, fitted: dict[str, Any], rows: pd.DataFrame) -> None:
    predictions = _run_predict(exported["sklearn_classifier", "onnx"].path, stdin=rows.to_csv(index=False))
    assert fitted["sklearn_classifier"].predict(rows).tolist() == predictions


def test_bundle_holds_the_model_folder_unchanged(exported: Exports, saved: Path) -> None:
    folder = Path(exported["xgboost", "bundle"].path) / "model"
    original = sorted(p.relative_to(saved / "xgboost") for p in (saved / "xgboost").rglob("*"))
    assert original == sorted(p.relative_to(folder) for p in folder.rglob("*"))
    assert (saved / "xgboost" / "SHA256SUMS").read_bytes() == (folder / "SHA256SUMS").read_bytes()


def test_bundle_requirements_start_with_the_models(exported: Exports, saved: Path) -> None:
    model_lines = (saved / "sklearn_classifier" / "requirements.txt").read_text(encoding="utf-8").split()
    lines = (Path(exported["sklearn_classifier", "bundle"].path) / "requirements.txt").read_text(encoding="utf-8")
    assert model_lines == lines.split()[: len(model_lines)]


def test_python_flavor_cannot_be_exported_to_onnx(tmp_path: Path, iris: tuple[pd.DataFrame, pd.Series]) -> None:
    with pytest.warns(PickleWarning):
        save_model(SumModel(), tmp_path / "m", input_example=iris[0].head(3))
    with pytest.raises(UnsupportedFlavor, match="--format bundle"):
        export_model(tmp_path / "m", tmp_path / "out", format="onnx")


def test_mismatch_beyond_tolerance_is_refused_and_leaves_nothing(tmp_path: Path, saved: Path) -> None:
    # ONNX runs in float32: with no tolerance at all the regressor's predictions cannot match exactly.
    with pytest.raises(InvalidParameter, match="max abs difference"):
        export_model(saved / "sklearn_regressor", tmp_path / "out", format="onnx", rtol=0.0, atol=0.0)
    assert [] == list(tmp_path.iterdir())


def test_onnx_export_without_example_is_refused(tmp_path: Path, fitted: dict[str, Any]) -> None:
    save_model(fitted["sklearn_classifier"], tmp_path / "m")
    with pytest.raises(InvalidParameter, match="input example"):
        export_model(tmp_path / "m", tmp_path / "out", format="onnx")


def test_given_example_replaces_the_missing_one(
    tmp_path: Path, fitted: dict[str, Any], iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    save_model(fitted["sklearn_classifier"], tmp_path / "m")
    result = export_model(tmp_path / "m", tmp_path / "out", format="onnx", input_example=iris[0].head(5))
    assert True is result.checked


def test_corrupted_model_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    model = tmp_path / "m"
    save_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), model, input_example=np.array([[0.5]]))
    (model / "input_example.json").write_text("[[2.5]]", encoding="utf-8")
    with pytest.raises(ModelIntegrityError, match=r"changed: input_example\.json"):
        export_model(model, tmp_path / "out", format="bundle")
    assert not (tmp_path / "out").exists()


def test_non_empty_out_is_refused(tmp_path: Path, saved: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InvalidParameter, match="not an empty folder"):
        export_model(saved / "sklearn_classifier", tmp_path / "out", format="bundle")
    assert ["keep.txt"] == [p.name for p in (tmp_path / "out").iterdir()]


def test_unknown_format_is_refused(tmp_path: Path, saved: Path) -> None:
    with pytest.raises(InvalidParameter, match="onnx, bundle"):
        export_model(saved / "sklearn_classifier", tmp_path / "out", format="tflite")


def test_python_flavor_bundle_reproduces_predictions(tmp_path: Path, iris: tuple[pd.DataFrame, pd.Series]) -> None:
    class Doubler:  # defined here so that cloudpickle stores it by value, as it does for a user's script
        def predict(self, data: pd.DataFrame) -> Any:
            return data.to_numpy().sum(axis=1) * 2

    with pytest.warns(PickleWarning):
        save_model(Doubler(), tmp_path / "m", input_example=iris[0].head(4))
    with pytest.warns(PickleWarning):  # the check loads the model to compare predictions
        result = export_model(tmp_path / "m", tmp_path / "out", format="bundle")
    assert (iris[0].head(4).to_numpy().sum(axis=1) * 2).tolist() == _run_predict(result.path, "input_example.json")


def test_onnx_model_is_exported_unchanged(
    tmp_path: Path, exported: Exports, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    onnx_bytes = (Path(exported["sklearn_regressor", "onnx"].path) / "model.onnx").read_bytes()
    save_model(onnx_bytes, tmp_path / "m", input_example=iris[0].to_numpy(dtype=np.float32)[:5])
    result = export_model(tmp_path / "m", tmp_path / "out", format="onnx")
    assert onnx_bytes == (Path(result.path) / "model.onnx").read_bytes()


def test_bundle_predict_py_refuses_a_changed_model_file(tmp_path: Path, exported: Exports) -> None:
    folder = Path(shutil.copytree(exported["lightgbm", "bundle"].path, tmp_path / "bundle"))
    (folder / "model" / "model.skops").write_bytes(b"not the model")
    done = subprocess.run(
        [sys.executable, "predict.py", "input_example.json"], check=False, cwd=folder, capture_output=True, text=True
    )
    assert "does not match SHA256SUMS" in done.stderr
