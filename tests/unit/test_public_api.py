"""The public surface is deliberate, and importing it stays cheap."""

from __future__ import annotations

import subprocess
import sys

import shipyard
import shipyard.errors


def test_sdk_all_is_sorted_and_resolvable() -> None:
    names = [n for n in shipyard.__all__ if n != "__version__"]
    assert (names, all(callable(getattr(shipyard, n)) for n in names)) == (sorted(names), True)


def test_errors_all_is_sorted() -> None:
    assert sorted(shipyard.errors.__all__) == shipyard.errors.__all__


def test_import_shipyard_loads_no_heavy_library() -> None:
    code = (
        "import sys, shipyard; "
        "print(sorted(m for m in ('sqlalchemy', 'fastapi', 'numpy', 'pandas', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert "[]" == out


def test_error_codes_match_mlflow() -> None:
    pairs = {
        cls.__name__: (cls.error_code, cls.http_status)
        for cls in (
            shipyard.errors.InvalidParameter,
            shipyard.errors.ResourceNotFound,
            shipyard.errors.ResourceAlreadyExists,
            shipyard.errors.ParamConflict,
        )
    }
    assert {
        "InvalidParameter": ("INVALID_PARAMETER_VALUE", 400),
        "ResourceNotFound": ("RESOURCE_DOES_NOT_EXIST", 404),
        "ResourceAlreadyExists": ("RESOURCE_ALREADY_EXISTS", 400),
        "ParamConflict": ("INVALID_PARAMETER_VALUE", 400),
    } == pairs
