"""Whether loading a model folder would run code from its files, decided from MLmodel before anything is read."""

from __future__ import annotations

from shipyard.models._entities import ModelMeta
from shipyard.models._mlmodel import PYFUNC
from shipyard.models.flavors import flavor_for_folder

__all__ = ["code_on_load_reason"]

# Flavors whose files are data for their library's own reader (XGBoost's UBJ/JSON, ONNX protobuf).
_DATA_ONLY_FLAVORS = frozenset({"xgboost", "onnx"})
_LIGHTGBM_BOOSTER = "lightgbm.basic.Booster"


def code_on_load_reason(meta: ModelMeta) -> str | None:
    """Why loading a folder with this MLmodel would run code from its files, or None when it would not.

    An allow-list, decided by what the loader will actually do (never by the ``shipyard_executes_code_on_load``
    claim, which whoever wrote the folder controls): XGBoost and ONNX files, LightGBM Boosters, and scikit-learn
    or LightGBM estimators stored with skops (whose types are checked against Shipyard's trusted list) are safe;
    pickle, cloudpickle, python models and anything only MLflow can load are not.
    """
    if meta.metadata.get("shipyard_executes_code_on_load") is True:
        return "its MLmodel says loading it executes code"
    flavor = flavor_for_folder(meta)
    if flavor is None:
        loader = meta.flavors.get(PYFUNC, {}).get("loader_module") or "no known loader"
        return f"only MLflow can load it (loader {str(loader)[:100]!r}), which may execute code from its files"
    if flavor.name in _DATA_ONLY_FLAVORS:
        return None
    if flavor.name == "python":
        return "it is a python model stored with cloudpickle, and unpickling executes code from the file"
    return _estimator_reason(flavor.name, meta.flavors.get(flavor.name, {}))


def _estimator_reason(flavor: str, conf: dict[str, object]) -> str | None:
    """scikit-learn and LightGBM: safe as skops (or a LightGBM Booster's own text format), else pickled."""
    if flavor == "lightgbm" and str(conf.get("model_class") or _LIGHTGBM_BOOSTER) == _LIGHTGBM_BOOSTER:
        return None
    serialization = str(conf.get("serialization_format") or "pickle")
    if serialization == "skops":
        return None
    return f"its {flavor} model is stored with {serialization[:40]}, and unpickling executes code from the file"
