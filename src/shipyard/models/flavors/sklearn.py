"""The scikit-learn flavor: estimators and pipelines, stored as MLflow's ``sklearn`` flavor."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidParameter, UnsupportedFlavor
from shipyard.models._deps import optional_import
from shipyard.models._entities import ModelMeta
from shipyard.models._mlmodel import PYFUNC, pyfunc_conf
from shipyard.models.flavors._base import NativeModel, SavedFlavor
from shipyard.models.flavors._estimator_io import load_estimator, store_estimator

__all__ = ["FLAVOR", "SklearnFlavor"]

# The methods MLflow's pyfunc may be told to call instead of predict.
_PREDICT_FNS = ("predict", "predict_proba", "predict_log_proba", "predict_joint_log_proba", "score")


class SklearnFlavor:
    """scikit-learn estimators (``BaseEstimator``, including ``Pipeline``) with a ``predict`` method."""

    name = "sklearn"

    def owns(self, model: object) -> bool:
        """True for a scikit-learn estimator."""
        if "sklearn" not in sys.modules:
            return False
        from sklearn.base import BaseEstimator

        return isinstance(model, BaseEstimator)

    def recognises(self, meta: ModelMeta) -> bool:
        """True for a folder with MLflow's ``sklearn`` flavor."""
        return "sklearn" in meta.flavors

    def wrap(self, model: Any) -> NativeModel:
        """The estimator, predicting with its ``predict``."""
        return NativeModel(native=model, predict=_predictor(model, "predict"))

    def save(self, model: Any, folder: Path, *, serialization: str | None) -> SavedFlavor:
        """Write model.skops (or model.pkl when skops cannot be trusted with it)."""
        if not callable(getattr(model, "predict", None)):
            raise UnsupportedFlavor(f"{type(model).__name__} has no predict method; only predictors can be saved.")
        sklearn = optional_import("sklearn")
        stored = store_estimator(model, folder, serialization, always_trusted=[])
        conf = {
            "code": None,
            "pickled_model": stored.file,
            "serialization_format": stored.serialization,
            "sklearn_version": sklearn.__version__,
            "skops_trusted_types": stored.trusted_types,
        }
        extra = "skops" if stored.serialization == "skops" else "cloudpickle"
        return SavedFlavor(
            mlflow_key="sklearn",
            flavor_conf=conf,
            pyfunc_conf=pyfunc_conf("mlflow.sklearn", "model_path", stored.file, predict_fn="predict"),
            requirements=["numpy", "scipy", "sklearn"] + ([extra] if stored.serialization != "pickle" else []),
            serialization=stored.serialization,
            executes_code_on_load=stored.executes_code_on_load,
        )

    def load(self, folder: Path, meta: ModelMeta) -> NativeModel:
        """Read the estimator back, honouring MLflow's ``predict_fn``."""
        conf = meta.flavors["sklearn"]
        file = conf.get("pickled_model") or meta.flavors.get(PYFUNC, {}).get("model_path")
        if not isinstance(file, str):
            raise InvalidParameter("MLmodel's sklearn flavor names no model file ('pickled_model').")
        serialization = str(conf.get("serialization_format") or "pickle")
        model = load_estimator(folder / file, serialization)
        predict_fn = str(meta.flavors.get(PYFUNC, {}).get("predict_fn") or "predict")
        if predict_fn not in _PREDICT_FNS:
            raise InvalidParameter(f"MLmodel's predict_fn {predict_fn!r} is not one of {', '.join(_PREDICT_FNS)}.")
        return NativeModel(
            native=model,
            predict=_predictor(model, predict_fn),
            serialization=serialization,
            executes_code_on_load=serialization != "skops",
        )


def _predictor(model: Any, method: str) -> Any:
    function = getattr(model, method)

    def predict(data: Any, params: dict[str, Any] | None = None) -> Any:
        return function(data)

    return predict


FLAVOR = SklearnFlavor()
