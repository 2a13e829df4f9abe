"""MLmodel is written in MLflow's shape and read back; bad folders fail with a clear InvalidParameter."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from sklearn.tree import DecisionTreeClassifier

from shipyard.errors import InvalidParameter
from shipyard.models import read_model_meta, save_model


@pytest.fixture
def saved(tmp_path: Path, tree: DecisionTreeClassifier, iris: tuple[pd.DataFrame, pd.Series]) -> Path:
    folder = tmp_path / "model"
    save_model(
        tree,
        folder,
        input_example=iris[0].head(2),
        metadata={"team": "risk"},
        run_id="r1",
        artifact_path="model",
        model_id="m-1",
    )
    return folder


def test_ids_round_trip(saved: Path) -> None:
    meta = read_model_meta(saved)
    assert ("r1", "model", "m-1") == (meta.run_id, meta.artifact_path, meta.model_id)


def test_primary_flavor_is_the_native_one(saved: Path) -> None:
    assert "sklearn" == read_model_meta(saved).primary_flavor


def test_pyfunc_flavor_names_mlflow_loader(saved: Path) -> None:
    assert "mlflow.sklearn" == read_model_meta(saved).flavors["python_function"]["loader_module"]


def test_metadata_keeps_user_keys_and_adds_shipyard_ones(saved: Path) -> None:
    metadata = read_model_meta(saved).metadata
    expected = {"team": "risk", "shipyard_flavor": "sklearn", "shipyard_executes_code_on_load": False}
    assert expected == {k: metadata[k] for k in expected}


def test_signature_round_trips(
    tmp_path: Path, tree: DecisionTreeClassifier, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    info = save_model(tree, tmp_path / "m", input_example=iris[0].head(2))
    assert info.signature == read_model_meta(tmp_path / "m").signature


def test_signature_is_stored_as_json_strings(saved: Path) -> None:
    raw = yaml.safe_load((saved / "MLmodel").read_text())
    assert '[{"type": "long", "required": true}]' == raw["signature"]["outputs"]


def test_requirements_are_pinned(saved: Path) -> None:
    requirements = read_model_meta(saved).requirements or []
    assert ["numpy", "scikit-learn", "scipy", "skops"] == [r.split("==")[0] for r in requirements]


def test_example_info_is_recorded(saved: Path) -> None:
    info = read_model_meta(saved).saved_input_example_info
    expected = {"artifact_path": "input_example.json", "pandas_orient": "split"}
    expected |= {"serving_input_path": "serving_input_example.json", "type": "dataframe"}
    assert expected == info


def test_folder_layout(saved: Path) -> None:
    expected = ["MLmodel", "SHA256SUMS", "conda.yaml", "input_example.json", "model.skops", "python_env.yaml"]
    expected += ["requirements.txt", "serving_input_example.json"]
    assert sorted(expected) == sorted(p.name for p in saved.iterdir())


def test_extra_pip_requirements_are_appended(tmp_path: Path, tree: DecisionTreeClassifier) -> None:
    save_model(tree, tmp_path / "m", extra_pip_requirements=["requests==2.0"])
    assert "requests==2.0" == (read_model_meta(tmp_path / "m").requirements or [])[-1]


def test_pip_requirements_replace_the_inferred(tmp_path: Path, tree: DecisionTreeClassifier) -> None:
    save_model(tree, tmp_path / "m", pip_requirements=["scikit-learn"])
    assert ["scikit-learn"] == read_model_meta(tmp_path / "m").requirements


def test_saving_into_non_empty_folder_is_refused(tmp_path: Path, tree: DecisionTreeClassifier) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "x.txt").write_text("x")
    with pytest.raises(InvalidParameter, match="exists and is not an empty folder"):
        save_model(tree, tmp_path / "m")


def test_saving_into_empty_folder_works(tmp_path: Path, tree: DecisionTreeClassifier) -> None:
    (tmp_path / "m").mkdir()
    assert "sklearn" == save_model(tree, tmp_path / "m").flavor


def test_failed_save_leaves_no_folder(tmp_path: Path, tree: DecisionTreeClassifier) -> None:
    with pytest.raises(InvalidParameter):
        save_model(tree, tmp_path / "m", serialization="joblib")
    assert not (tmp_path / "m").exists()


def test_missing_mlmodel_is_invalid_parameter(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="No MLmodel file"):
        read_model_meta(tmp_path)


def test_mlmodel_that_is_not_yaml_is_invalid_parameter(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text("flavors: [unclosed")
    with pytest.raises(InvalidParameter, match="not valid YAML"):
        read_model_meta(tmp_path)


def test_mlmodel_without_flavors_is_invalid_parameter(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text("model_uuid: abc\n")
    with pytest.raises(InvalidParameter, match="needs a 'flavors' mapping"):
        read_model_meta(tmp_path)


def test_mlmodel_that_is_a_list_is_invalid_parameter(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text("- a\n- b\n")
    with pytest.raises(InvalidParameter, match="must be a YAML mapping"):
        read_model_meta(tmp_path)
