"""SHA256SUMS is written on save and any change to the folder is refused on load."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd
import pytest
from sklearn.tree import DecisionTreeClassifier

from shipyard.errors import ModelIntegrityError
from shipyard.models import load_model, save_model, verify_model_files


@pytest.fixture
def saved(tmp_path: Path, tree: DecisionTreeClassifier, iris: tuple[pd.DataFrame, pd.Series]) -> Path:
    folder = tmp_path / "model"
    save_model(tree, folder, input_example=iris[0].head(2))
    return folder


def test_sums_file_lists_every_other_file_sorted(saved: Path) -> None:
    listed = [line.split("  ", 1)[1] for line in (saved / "SHA256SUMS").read_text().splitlines()]
    on_disk = sorted(p.name for p in saved.iterdir() if p.name != "SHA256SUMS")
    assert on_disk == listed


def test_sums_file_uses_sha256sum_format(saved: Path) -> None:
    first = (saved / "SHA256SUMS").read_text().splitlines()[0]
    digest, name = first.split("  ", 1)
    assert hashlib.sha256((saved / name).read_bytes()).hexdigest() == digest


def test_model_info_files_match_sums_file(tmp_path: Path, tree: DecisionTreeClassifier) -> None:
    info = save_model(tree, tmp_path / "m")
    lines = (tmp_path / "m" / "SHA256SUMS").read_text().splitlines()
    assert [f"{d}  {p}" for p, d in info.files.items()] == lines


def test_untouched_folder_verifies(saved: Path) -> None:
    assert verify_model_files(saved) is None


def test_changed_byte_in_model_file_is_refused(saved: Path) -> None:
    data = bytearray((saved / "model.skops").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (saved / "model.skops").write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=re.escape("changed: model.skops")):
        load_model(saved)


def test_removed_file_is_refused(saved: Path) -> None:
    (saved / "input_example.json").unlink()
    with pytest.raises(ModelIntegrityError, match=re.escape("missing: input_example.json")):
        load_model(saved)


def test_added_file_is_refused(saved: Path) -> None:
    (saved / "extra.py").write_text("print('hi')")
    with pytest.raises(ModelIntegrityError, match=re.escape("added: extra.py")):
        load_model(saved)


def test_edited_mlmodel_is_refused(saved: Path) -> None:
    mlmodel = saved / "MLmodel"
    mlmodel.write_text(mlmodel.read_text().replace("serialization_format: skops", "serialization_format: pickle"))
    with pytest.raises(ModelIntegrityError, match=re.escape("changed: MLmodel")):
        load_model(saved)


def test_every_problem_is_named(saved: Path) -> None:
    (saved / "conda.yaml").unlink()
    (saved / "new.txt").write_text("x")
    with pytest.raises(ModelIntegrityError, match=re.escape("missing: conda.yaml; added: new.txt")):
        verify_model_files(saved)


def test_verify_false_skips_the_check(saved: Path) -> None:
    (saved / "extra.txt").write_text("x")
    assert "sklearn" == load_model(saved, verify=False).flavor


def test_folder_without_sums_loads(saved: Path) -> None:
    (saved / "SHA256SUMS").unlink()
    assert "sklearn" == load_model(saved).flavor


def test_malformed_sums_line_is_refused(saved: Path) -> None:
    (saved / "SHA256SUMS").write_text("nonsense\n")
    with pytest.raises(ModelIntegrityError, match="line 1"):
        verify_model_files(saved)
