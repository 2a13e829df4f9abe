"""shipyard.models exposes a deliberate surface and imports nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import shipyard.models


def _isort_key(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions, each alphabetical.
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted() -> None:
    assert sorted(shipyard.models.__all__, key=_isort_key) == shipyard.models.__all__


def test_all_names_resolve() -> None:
    assert [] == [n for n in shipyard.models.__all__ if not hasattr(shipyard.models, n)]


def test_flavors_are_the_five() -> None:
    assert ("sklearn", "xgboost", "lightgbm", "onnx", "python") == shipyard.models.FLAVORS


def test_import_loads_no_heavy_library() -> None:
    heavy = ("numpy", "pandas", "sklearn", "skops", "xgboost", "lightgbm", "onnx", "onnxruntime", "cloudpickle")
    code = f"import sys, shipyard.models; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert "[]" == out
