"""Lazy imports of the heavy model libraries, each failing with the extra that installs it, and pinned versions."""

from __future__ import annotations

import importlib
import importlib.metadata
from types import ModuleType

from shipyard.errors import MissingExtra

__all__ = ["optional_import", "pinned"]

# import name -> (pip distribution, shipyard extra)
_PACKAGES: dict[str, tuple[str, str]] = {
    "numpy": ("numpy", "models"),
    "pandas": ("pandas", "models"),
    "cloudpickle": ("cloudpickle", "models"),
    "scipy": ("scipy", "sklearn"),
    "sklearn": ("scikit-learn", "sklearn"),
    "skops": ("skops", "sklearn"),
    "xgboost": ("xgboost", "xgboost"),
    "lightgbm": ("lightgbm", "lightgbm"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "shipyard": ("shipyard", "models"),
}


def optional_import(name: str) -> ModuleType:
    """Import ``name`` (e.g. ``skops.io``) or raise ``MissingExtra`` naming the extra that installs it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        top = name.split(".", 1)[0]
        package, extra = _PACKAGES.get(top, (top, "models"))
        raise MissingExtra(package, extra) from None


def pinned(module: str) -> str:
    """``dist==version`` for an importable module, e.g. ``pinned("sklearn") == "scikit-learn==1.9.1"``."""
    dist = _PACKAGES.get(module, (module, "models"))[0]
    try:
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        # Installed under another distribution name (xgboost-cpu ships the `xgboost` module).
        version = str(getattr(optional_import(module), "__version__", ""))
    return f"{dist}=={version}" if version else dist
