"""The scikit-learn flavor: estimators and pipelines, stored as MLflow's ``sklearn`` flavor."""

from __future__ import annotations

import sys
import threading
import warnings
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
            predict_matrix=_matrix_predictor(model, predict_fn, meta),
        )


def _predictor(model: Any, method: str) -> Any:
    function = getattr(model, method)

    def predict(data: Any, params: dict[str, Any] | None = None) -> Any:
        return function(data)

    return predict


_FEATURE_NAMES_WARNING = "X does not have valid feature names"
_warnings_lock = threading.Lock()  # catch_warnings swaps a process-wide list: one thread at a time


def _matrix_predictor(model: Any, method: str, meta: ModelMeta) -> Any:
    """``predict`` on a numpy array, for an estimator fitted on exactly the signature's columns, in order.

    scikit-learn validates a DataFrame's columns and dtypes on every call (about 0.7 ms for one row); with the
    columns already checked against the signature, the array gives the same answer without that cost. The one
    warning it then raises (fitted with feature names, given none) is silenced for that call only.
    """
    signature = meta.signature
    if signature is None or signature.inputs.is_tensor:
        return None
    names = [getattr(spec, "name", None) for spec in signature.inputs.items]
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is not None and [str(name) for name in fitted] != names:
        return None
    function = getattr(model, method)

    def predict_matrix(values: Any) -> Any:
        with _warnings_lock, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_FEATURE_NAMES_WARNING, category=UserWarning)
            return function(values)

    return predict_matrix


FLAVOR = SklearnFlavor()
