"""Every package states its public surface: an ``__all__`` whose names are unique and resolve.

The top level has its own, stricter test (test_public_api.py). This one walks every package under ``shipyard``,
so a new subpackage cannot land without saying what it offers.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import shipyard

# Folders that are not packages of code users or other packages import: Alembic's scripts.
_NOT_SURFACES = ("shipyard.db.migrations",)


def _packages() -> list[str]:
    root = Path(shipyard.__file__).parent
    names = ["shipyard"]
    for info in pkgutil.walk_packages([str(root)], prefix="shipyard."):
        if info.ispkg and not info.name.startswith(_NOT_SURFACES):
            names.append(info.name)
    return sorted(names)


def test_the_walk_finds_the_subpackages() -> None:
    found = set(_packages())
    assert {"shipyard.serving.runtime", "shipyard.monitoring.monitors", "shipyard.predlog"} <= found


@pytest.mark.parametrize("name", _packages())
def test_package_states_its_public_names_once_and_each_resolves(name: str) -> None:
    module = importlib.import_module(name)
    names = list(getattr(module, "__all__", None) or [])
    unresolved = [n for n in names if not hasattr(module, n)]
    assert (bool(names), len(names) == len(set(names)), unresolved) == (True, True, [])
