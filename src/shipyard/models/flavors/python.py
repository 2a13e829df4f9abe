"""The python flavor: any object with ``predict(data)``, stored with cloudpickle; also MLflow's loader_module.

This module's import path is written into MLmodel files (``loader_module``), so it must not move: MLflow's
``mlflow.pyfunc.load_model`` imports it and calls ``_load_pyfunc(data_path)``.
"""

from __future__ import annotations

import inspect
import pickle
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidParameter, UnsafeModelFormat
from shipyard.models._deps import optional_import
from shipyard.models._entities import ModelMeta
from shipyard.models._mlmodel import PYFUNC, pyfunc_conf
from shipyard.models._warnings import warn_pickle
from shipyard.models.flavors._base import NativeModel, SavedFlavor

__all__ = ["FLAVOR", "LOADER_MODULE", "PythonFlavor", "PythonModelWrapper"]

LOADER_MODULE = "shipyard.models.flavors.python"
_FILE = "python_model.pkl"


class PythonFlavor:
    """Plain Python objects with a callable ``predict``; ``predict(data, params=...)`` is used when accepted."""

    name = "python"

    def owns(self, model: object) -> bool:
        """True for any object with a callable ``predict``."""
        return not isinstance(model, type) and callable(getattr(model, "predict", None))

    def recognises(self, meta: ModelMeta) -> bool:
        """True for a folder whose pyfunc loader is this module."""
        return meta.flavors.get(PYFUNC, {}).get("loader_module") == LOADER_MODULE

    def wrap(self, model: Any) -> NativeModel:
        """The object, predicting with its ``predict``."""
        return NativeModel(native=model, predict=PythonModelWrapper(model).predict)

    def save(self, model: Any, folder: Path, *, serialization: str | None) -> SavedFlavor:
        """Write python_model.pkl with cloudpickle (with a PickleWarning: loading it runs code)."""
        if serialization not in (None, "cloudpickle"):
            raise InvalidParameter(f"A python model is stored with 'cloudpickle', not {serialization!r}.")
        if not self.owns(model):
            raise InvalidParameter(f"A python model needs a callable predict; {type(model).__name__} has none.")
        cloudpickle = optional_import("cloudpickle")
        with (folder / _FILE).open("wb") as stream:
            cloudpickle.dump(model, stream, protocol=pickle.DEFAULT_PROTOCOL)
        warn_pickle(_FILE, "cloudpickle", stacklevel=4)
        conf = pyfunc_conf(LOADER_MODULE, "data", _FILE, cloudpickle_version=cloudpickle.__version__)
        return SavedFlavor(
            mlflow_key=None,
            flavor_conf={},
            pyfunc_conf=conf,
            requirements=["cloudpickle", "numpy", "pandas", "shipyard"],
            serialization="cloudpickle",
            executes_code_on_load=True,
        )

    def load(self, folder: Path, meta: ModelMeta) -> NativeModel:
        """Unpickle the object (with a PickleWarning)."""
        file = meta.flavors[PYFUNC].get("data") or _FILE
        warn_pickle(str(file), "cloudpickle", stacklevel=5)
        model = _unpickle(folder / str(file))
        return NativeModel(
            native=model,
            predict=PythonModelWrapper(model).predict,
            serialization="cloudpickle",
            executes_code_on_load=True,
        )


class PythonModelWrapper:
    """What MLflow's ``PyFuncModel`` calls: ``predict(model_input, params=None)``.

    Args:
        model: the user's object.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        try:
            parameters = inspect.signature(model.predict).parameters
        except (TypeError, ValueError):
            parameters = {}  # type: ignore[assignment]  # builtins without a signature take data only
        self._takes_params = "params" in parameters or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
        )

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        """Call the object's ``predict``, passing ``params`` only when it accepts them."""
        if self._takes_params:
            return self.model.predict(model_input, params=params)
        return self.model.predict(model_input)

    def get_raw_model(self) -> Any:
        """The user's object (MLflow's ``unwrap_python_model`` convention)."""
        return self.model


def _load_pyfunc(data_path: str) -> PythonModelWrapper:
    """MLflow's entry point: ``mlflow.pyfunc.load_model`` calls this with ``<folder>/python_model.pkl``.

    MLflow's own switch against unpickling, ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false``, is honoured.
    """
    try:
        from mlflow.environment_variables import MLFLOW_ALLOW_PICKLE_DESERIALIZATION
    except ImportError:  # called outside MLflow
        allowed = True
    else:
        allowed = bool(MLFLOW_ALLOW_PICKLE_DESERIALIZATION.get())  # type: ignore[no-untyped-call]  # mlflow's env helpers are untyped
    if not allowed:
        raise UnsafeModelFormat(
            f"{Path(data_path).name} is stored with cloudpickle and MLFLOW_ALLOW_PICKLE_DESERIALIZATION is false."
        )
    return PythonModelWrapper(_unpickle(Path(data_path)))


def _unpickle(file: Path) -> Any:
    cloudpickle = optional_import("cloudpickle")
    with file.open("rb") as stream:
        return cloudpickle.load(stream)


FLAVOR = PythonFlavor()
