"""Lazy re-exports: a package's ``__getattr__`` that imports a name's module on first use, then caches it.

Packages whose public functions need an optional extra (numpy, pandas...) re-export them this way, so importing
the package (for its light types) stays cheap and works without the extra.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, where: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``where`` maps each lazy name to the module that defines it.

    Example:
        >>> __getattr__ = lazy_exports(__name__, {"data_drift": "shipyard.monitoring.drift"}, globals())
    """

    def attribute(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # later look-ups are plain attribute reads
        return value

    return attribute
