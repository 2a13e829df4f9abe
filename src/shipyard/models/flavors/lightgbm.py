"""The LightGBM flavor: ``Booster`` in LightGBM's text format, scikit-learn wrappers as skops (or pickle)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidParameter
from shipyard.models._deps import optional_import
from shipyard.models._entities import ModelMeta
from shipyard.models._mlmodel import pyfunc_conf
from shipyard.models.flavors._base import NativeModel, SavedFlavor
from shipyard.models.flavors._estimator_io import load_estimator, store_estimator

__all__ = ["FLAVOR", "LightGBMFlavor"]

_BOOSTER_CLASS = "lightgbm.basic.Booster"
_BOOSTER_FILE = "model.lgb"
# MLflow lists these in skops_trusted_types for every LightGBM model, so its loader accepts the file.
_MLFLOW_TRUSTED = ["collections.OrderedDict", _BOOSTER_CLASS, "lightgbm.sklearn.LGBMClassifier"]
_MLFLOW_TRUSTED += ["lightgbm.sklearn.LGBMRegressor"]


class LightGBMFlavor:
    """``lightgbm.Booster`` and ``lightgbm.LGBMModel`` (LGBMClassifier, LGBMRegressor, LGBMRanker)."""

    name = "lightgbm"

    def owns(self, model: object) -> bool:
        """True for a LightGBM Booster or scikit-learn-API model."""
        if "lightgbm" not in sys.modules:
            return False
        import lightgbm

        return isinstance(model, lightgbm.Booster | lightgbm.LGBMModel)

    def recognises(self, meta: ModelMeta) -> bool:
        """True for a folder with MLflow's ``lightgbm`` flavor."""
        return "lightgbm" in meta.flavors

    def wrap(self, model: Any) -> NativeModel:
        """The model, predicting with its ``predict``."""
        return NativeModel(native=model, predict=_predictor(model))

    def save(self, model: Any, folder: Path, *, serialization: str | None) -> SavedFlavor:
        """Write model.lgb for a Booster, model.skops (or model.pkl) for a scikit-learn-API model."""
        lightgbm = optional_import("lightgbm")
        model_class = f"{type(model).__module__}.{type(model).__qualname__}"
        if isinstance(model, lightgbm.Booster):
            if serialization not in (None, "lgb"):
                raise InvalidParameter(f"A LightGBM Booster is stored as 'lgb', not {serialization!r}.")
            model.save_model(str(folder / _BOOSTER_FILE))
            file, stored_as, executes = _BOOSTER_FILE, "lgb", False
            trusted: list[str] | None = sorted(_MLFLOW_TRUSTED)
            requirements = ["lightgbm", "numpy", "scipy"]
            # MLflow writes its default serialization_format even for a Booster (its loader ignores it).
            format_key = "skops"
        else:
            stored = store_estimator(model, folder, serialization, always_trusted=_MLFLOW_TRUSTED)
            file, stored_as, trusted = stored.file, stored.serialization, stored.trusted_types
            executes, format_key = stored.executes_code_on_load, stored.serialization
            extra = ["skops"] if stored_as == "skops" else ["cloudpickle"] if stored_as == "cloudpickle" else []
            requirements = ["lightgbm", "numpy", "scipy", "sklearn", *extra]
        conf = {
            "code": None,
            "data": file,
            "lgb_version": lightgbm.__version__,
            "model_class": model_class,
            "serialization_format": format_key,
            "skops_trusted_types": trusted,
        }
        return SavedFlavor(
            mlflow_key="lightgbm",
            flavor_conf=conf,
            pyfunc_conf=pyfunc_conf("mlflow.lightgbm", "data", file),
            requirements=requirements,
            serialization=stored_as,
            executes_code_on_load=executes,
        )

    def load(self, folder: Path, meta: ModelMeta) -> NativeModel:
        """Read the Booster or the scikit-learn-API model back."""
        lightgbm = optional_import("lightgbm")
        conf = meta.flavors["lightgbm"]
        file = conf.get("data")
        if not isinstance(file, str):
            raise InvalidParameter("MLmodel's lightgbm flavor names no model file ('data').")
        if str(conf.get("model_class") or _BOOSTER_CLASS) == _BOOSTER_CLASS:
            booster = lightgbm.Booster(model_file=str(folder / file))
            return NativeModel(native=booster, predict=_predictor(booster), serialization="lgb")
        serialization = str(conf.get("serialization_format") or "cloudpickle")
        model = load_estimator(folder / file, serialization)
        return NativeModel(
            native=model,
            predict=_predictor(model),
            serialization=serialization,
            executes_code_on_load=serialization != "skops",
        )


def _predictor(model: Any) -> Any:
    def predict(data: Any, params: dict[str, Any] | None = None) -> Any:
        return model.predict(data)

    return predict


FLAVOR = LightGBMFlavor()
