"""The small protocol every flavor implements, and the records flavors hand back to the format code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from shipyard.models._entities import ModelMeta

__all__ = ["Flavor", "NativeModel", "Predict", "SavedFlavor"]

#: ``predict(data, params)`` on data that already passed the signature check.
Predict = Callable[[Any, "dict[str, Any] | None"], Any]


@dataclass(frozen=True)
class SavedFlavor:
    """What a flavor wrote into the model folder.

    Attributes:
        mlflow_key: the native flavor's key in MLmodel (``sklearn``...), or None when there is only pyfunc.
        flavor_conf: that flavor's MLmodel configuration.
        pyfunc_conf: the ``python_function`` configuration (the loader module MLflow imports).
        requirements: import names whose pinned versions go to requirements.txt.
        serialization: how the model file is stored.
        executes_code_on_load: True when loading the file runs code from it (pickle, cloudpickle).
    """

    mlflow_key: str | None
    flavor_conf: dict[str, Any]
    pyfunc_conf: dict[str, Any]
    requirements: list[str]
    serialization: str
    executes_code_on_load: bool = False


@dataclass(frozen=True)
class NativeModel:
    """A model object in memory, ready to predict.

    Attributes:
        native: the library's own object (an estimator, a Booster, an ``onnx.ModelProto``...).
        predict: the prediction function used by ``LoadedModel.predict``.
        serialization: how it was stored, when it was loaded from a folder.
        executes_code_on_load: True when loading it ran code from the model file.
        predict_matrix: see the attribute.
    """

    native: Any
    predict: Predict
    serialization: str = ""
    executes_code_on_load: bool = False
    predict_matrix: Callable[[Any], Any] | None = None
    """Optional: predict on a float64 ``(n, k)`` numpy array whose columns are the signature's, in order, without
    building a DataFrame (servers use it only after checking it agrees with ``predict`` on the input example)."""


class Flavor(Protocol):
    """One kind of model: how to recognise it, write it in MLflow's layout and read it back."""

    name: str

    def owns(self, model: object) -> bool:
        """True when this flavor can save ``model`` (checked without importing libraries not yet loaded)."""
        ...

    def recognises(self, meta: ModelMeta) -> bool:
        """True when this flavor can load a folder with this MLmodel."""
        ...

    def wrap(self, model: Any) -> NativeModel:
        """The in-memory ``model`` ready to predict (used to infer the output schema at save time)."""
        ...

    def save(self, model: Any, folder: Path, *, serialization: str | None) -> SavedFlavor:
        """Write the model's files into ``folder`` (which exists and is empty of model files)."""
        ...

    def load(self, folder: Path, meta: ModelMeta) -> NativeModel:
        """Read the model back from ``folder``."""
        ...
