"""``load_model(allow_code=False)``: models that would execute code when loaded are refused before any file is read
(what `shipyard serve` uses for specs applied over its API, issue 12 item 2)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import yaml
from sklearn.tree import DecisionTreeClassifier

from shipyard.errors import UnsafeModelFormat
from shipyard.models import PickleWarning, load_model, save_model
from tests.unit.models.conftest import SumModel


def _save(model: object, folder: Path, **kwargs: object) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PickleWarning)
        save_model(model, folder, **kwargs)  # type: ignore[arg-type]
    return folder


def test_a_python_model_is_refused(tmp_path: Path) -> None:
    folder = _save(SumModel(), tmp_path / "model")

    with pytest.raises(UnsafeModelFormat, match="executes code"):
        load_model(folder, allow_code=False)


def test_a_pickled_estimator_is_refused_whatever_its_mlmodel_claims(
    tmp_path: Path, tree: DecisionTreeClassifier
) -> None:
    folder = _save(tree, tmp_path / "model", serialization="pickle")
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    mlmodel.setdefault("metadata", {})["shipyard_executes_code_on_load"] = False
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))

    with pytest.raises(UnsafeModelFormat, match="stored with pickle"):
        load_model(folder, verify=False, allow_code=False)


def test_a_skops_estimator_loads(tmp_path: Path, tree: DecisionTreeClassifier) -> None:
    folder = _save(tree, tmp_path / "model")

    assert "sklearn" == load_model(folder, allow_code=False).flavor
