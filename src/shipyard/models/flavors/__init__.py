"""The table of flavors: one module each, imported only when a model of that kind is saved or loaded."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from shipyard.errors import UnsupportedFlavor

if TYPE_CHECKING:
    from shipyard.models._entities import ModelMeta
    from shipyard.models.flavors._base import Flavor

__all__ = ["DETECTION_ORDER", "FLAVORS", "detect_flavor", "flavor_for_folder", "get_flavor"]

#: Every flavor Shipyard saves and loads, by name -> the module that implements it.
_TABLE: dict[str, str] = {
    "sklearn": "shipyard.models.flavors.sklearn",
    "xgboost": "shipyard.models.flavors.xgboost",
    "lightgbm": "shipyard.models.flavors.lightgbm",
    "onnx": "shipyard.models.flavors.onnx",
    "python": "shipyard.models.flavors.python",
}
FLAVORS: tuple[str, ...] = tuple(_TABLE)
#: XGBoost and LightGBM models are scikit-learn estimators too, so they are asked first; python catches the rest.
DETECTION_ORDER: tuple[str, ...] = ("xgboost", "lightgbm", "sklearn", "onnx", "python")


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name``.

    Raises:
        UnsupportedFlavor: no flavor has this name.
    """
    if name not in _TABLE:
        raise UnsupportedFlavor(f"Unknown flavor {name!r}: supported flavors are {', '.join(FLAVORS)}.")
    flavor: Flavor = importlib.import_module(_TABLE[name]).FLAVOR
    return flavor


def detect_flavor(model: object) -> Flavor:
    """The flavor that saves ``model``, chosen by its type.

    Raises:
        UnsupportedFlavor: no flavor recognises it.
    """
    for name in DETECTION_ORDER:
        flavor = get_flavor(name)
        if flavor.owns(model):
            return flavor
    raise UnsupportedFlavor(
        f"Cannot save a {type(model).__module__}.{type(model).__qualname__}: supported flavors are "
        f"{', '.join(FLAVORS)} (scikit-learn estimators, XGBoost and LightGBM models, ONNX models, or any object "
        "with a callable predict method)."
    )


def flavor_for_folder(meta: ModelMeta) -> Flavor | None:
    """The flavor that loads a folder with this MLmodel, or None when none of Shipyard's does."""
    for name in DETECTION_ORDER:
        flavor = get_flavor(name)
        if flavor.recognises(meta):
            return flavor
    return None
