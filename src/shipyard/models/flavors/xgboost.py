"""The XGBoost flavor: ``Booster`` and the scikit-learn wrappers, stored in XGBoost's own format (ubj or json)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidParameter
from shipyard.models._deps import optional_import
from shipyard.models._entities import ModelMeta
from shipyard.models._mlmodel import pyfunc_conf
from shipyard.models.flavors._base import NativeModel, SavedFlavor

__all__ = ["FLAVOR", "XGBoostFlavor"]

_FORMATS = ("ubj", "json")


class XGBoostFlavor:
    """``xgboost.Booster`` and ``xgboost.XGBModel`` (XGBClassifier, XGBRegressor...)."""

    name = "xgboost"

    def owns(self, model: object) -> bool:
        """True for an XGBoost Booster or scikit-learn-API model."""
        if "xgboost" not in sys.modules:
            return False
        import xgboost

        return isinstance(model, xgboost.Booster | xgboost.XGBModel)

    def recognises(self, meta: ModelMeta) -> bool:
        """True for a folder with MLflow's ``xgboost`` flavor."""
        return "xgboost" in meta.flavors

    def wrap(self, model: Any) -> NativeModel:
        """The model, predicting on DataFrames and arrays."""
        return NativeModel(native=model, predict=_predictor(model))

    def save(self, model: Any, folder: Path, *, serialization: str | None) -> SavedFlavor:
        """Write model.ubj (or model.json)."""
        xgboost = optional_import("xgboost")
        model_format = serialization or "ubj"
        if model_format not in _FORMATS:
            raise InvalidParameter(f"XGBoost serialization must be one of {', '.join(_FORMATS)}, not {model_format!r}.")
        file = f"model.{model_format}"
        model.save_model(str(folder / file))
        conf = {
            "code": None,
            "data": file,
            "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
            "model_format": model_format,
            "xgb_version": xgboost.__version__,
        }
        needs_sklearn = isinstance(model, xgboost.XGBModel)
        return SavedFlavor(
            mlflow_key="xgboost",
            flavor_conf=conf,
            pyfunc_conf=pyfunc_conf("mlflow.xgboost", "data", file),
            requirements=["numpy", "scipy", "xgboost"] + (["sklearn"] if needs_sklearn else []),
            serialization=model_format,
        )

    def load(self, folder: Path, meta: ModelMeta) -> NativeModel:
        """Instantiate the recorded XGBoost class and load the file into it."""
        xgboost = optional_import("xgboost")
        conf = meta.flavors["xgboost"]
        file = conf.get("data")
        if not isinstance(file, str):
            raise InvalidParameter("MLmodel's xgboost flavor names no model file ('data').")
        cls = _xgboost_class(str(conf.get("model_class") or "xgboost.core.Booster"), xgboost)
        model = cls()
        model.load_model(str(folder / file))
        return NativeModel(native=model, predict=_predictor(model), serialization=str(conf.get("model_format", "")))


def _xgboost_class(qualified: str, xgboost: Any) -> Any:
    # The class name comes from the MLmodel file: only XGBoost's own model classes are instantiated.
    module_name, _, class_name = qualified.rpartition(".")
    if module_name.split(".")[0] != "xgboost":
        raise InvalidParameter(f"MLmodel's xgboost model_class {qualified!r} is not an XGBoost class.")
    cls = getattr(importlib.import_module(module_name), class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, xgboost.Booster | xgboost.XGBModel)):
        raise InvalidParameter(f"MLmodel's xgboost model_class {qualified!r} is not an XGBoost model class.")
    return cls


def _predictor(model: Any) -> Any:
    xgboost = optional_import("xgboost")

    def predict(data: Any, params: dict[str, Any] | None = None) -> Any:
        if isinstance(model, xgboost.Booster):
            return model.predict(xgboost.DMatrix(data))
        return model.predict(data)

    return predict


FLAVOR = XGBoostFlavor()
