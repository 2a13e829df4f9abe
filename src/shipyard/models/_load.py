"""load_model and LoadedModel: read a model folder (Shipyard's or MLflow's) and predict with signature checks."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from shipyard.errors import UnsafeModelFormat, UnsupportedFlavor
from shipyard.models._checksums import verify_model_files
from shipyard.models._code_risk import code_on_load_reason
from shipyard.models._enforce import enforce_schema
from shipyard.models._entities import ModelMeta, Signature
from shipyard.models._example import read_example
from shipyard.models._mlmodel import PYFUNC, read_model_meta
from shipyard.models._warnings import PickleWarning
from shipyard.models.flavors import FLAVORS, flavor_for_folder
from shipyard.models.flavors._base import NativeModel

__all__ = ["LoadedModel", "load_model"]


class LoadedModel:
    """A model read from a folder, with one ``predict`` whatever its flavor.

    Attributes:
        meta: the parsed MLmodel.
        flavor: the flavor that loaded it (one of ``FLAVORS``).
        native: the library's own model object (an estimator, a Booster, an ``onnx.ModelProto``; for a model
            only MLflow can load, MLflow's ``PyFuncModel``).
        input_example: the saved input example, or None.
        executes_code_on_load: True when loading it ran code from its files.
    """

    def __init__(self, *, loaded: NativeModel, meta: ModelMeta, flavor: str, input_example: Any, path: Path) -> None:
        self._loaded = loaded
        self.meta = meta
        self.flavor = flavor
        self.native = loaded.native
        self.input_example = input_example
        self.executes_code_on_load = loaded.executes_code_on_load
        self.path = path

    @property
    def signature(self) -> Signature | None:
        """The model's signature, or None when it was saved without one."""
        return self.meta.signature

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Check ``data`` against the signature (when there is one), then predict.

        Args:
            data: a DataFrame, dict of columns, list of dicts or numpy array (for a column schema, a 2-D array
                as wide as the schema is given its column names); a numpy array or dict of arrays for a tensor
                schema.
            params: inference parameters, passed to models that accept them.

        Returns:
            The model's prediction (for ONNX: one array, or a dict of output name -> array).

        Raises:
            SchemaMismatch: listing every problem with ``data``.
        """
        return self._loaded.predict(self.check_input(data), params)

    def check_input(self, data: Any) -> Any:
        """``data`` shaped for the model (safe casts applied), or one ``SchemaMismatch`` naming every problem.

        Servers check each request with it before merging requests into a batch, then call
        ``predict_checked`` on the batch, so one caller's bad input never fails another's and no row is
        checked twice.
        """
        return data if self.signature is None else enforce_schema(data, self.signature.inputs)

    def matrix_predictor(self) -> Any:
        """``predict`` on a float64 numpy array of the signature's columns, when the flavor offers one and it gives
        exactly ``predict``'s answer on the input example; else None (then predict on a DataFrame)."""
        import numpy as np

        fast = self._loaded.predict_matrix
        example = self.input_example
        if fast is None or example is None or self.signature is None:
            return None
        try:
            checked = self.check_input(example)
            expected = np.asarray(self._loaded.predict(checked, None))
            got = np.asarray(fast(checked.to_numpy(dtype=np.float64)))
        except Exception:  # a pipeline that selects columns by name, say: it needs the DataFrame
            return None
        same = got.shape == expected.shape and got.dtype == expected.dtype and np.array_equal(got, expected)
        return fast if same else None

    def predict_checked(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Predict on ``data`` already returned by ``check_input`` (no second check)."""
        return self._loaded.predict(data, params)

    def __repr__(self) -> str:
        return f"LoadedModel(flavor={self.flavor!r}, path={str(self.path)!r})"


def load_model(path: str | Path, *, verify: bool = True, allow_code: bool = True) -> LoadedModel:
    """Load a model folder saved by Shipyard or by MLflow.

    Args:
        path: a local model folder (the SDK resolves ``runs:/`` and ``models:/`` URIs to one first).
        verify: check the files against SHA256SUMS first (folders without one, such as MLflow's, are not checked).
        allow_code: False refuses, before any model file is read, a model whose loading would execute code
            from its files (pickle, cloudpickle, python models, MLflow-only loaders).

    Returns:
        The loaded model.

    Raises:
        InvalidParameter: the folder has no readable MLmodel.
        ModelIntegrityError: a file was changed, removed or added since the model was saved.
        UnsafeModelFormat: a skops file holds types Shipyard does not trust, or ``allow_code`` is False and
            loading the model would execute code.
        UnsupportedFlavor: no Shipyard flavor loads it and MLflow cannot either.
        MissingExtra: the flavor's library is not installed.

    Example:
        >>> model = load_model("model")
        >>> model.predict(X_test)
    """
    folder = Path(path)
    if verify:
        verify_model_files(folder)
    meta = read_model_meta(folder)
    if not allow_code and (reason := code_on_load_reason(meta)) is not None:
        raise UnsafeModelFormat(f"Refusing to load the model at {folder.name!r}: {reason}.")
    flavor = flavor_for_folder(meta)
    if flavor is None:
        loaded, name = _load_with_mlflow(folder, meta), "python"
    else:
        loaded, name = flavor.load(folder, meta), flavor.name
    try:
        example = read_example(folder, meta.saved_input_example_info, meta.signature)
    except (OSError, ValueError, TypeError):
        example = None  # a damaged example never stops a model from loading
    return LoadedModel(loaded=loaded, meta=meta, flavor=name, input_example=example, path=folder)


def _load_with_mlflow(folder: Path, meta: ModelMeta) -> NativeModel:
    """Best effort for other pyfunc models (a PythonModel, a transformers pipeline...): let MLflow load them."""
    loader = meta.flavors.get(PYFUNC, {}).get("loader_module")
    if not loader:
        raise UnsupportedFlavor(
            f"The model at {folder} has flavors {', '.join(meta.flavors)}; Shipyard loads {', '.join(FLAVORS)} "
            "and any model with a python_function flavor (through mlflow)."
        )
    try:
        import mlflow.pyfunc
    except ImportError:
        raise UnsupportedFlavor(
            f"The model at {folder} is loaded by {loader}, which needs mlflow: pip install mlflow."
        ) from None
    warnings.warn(
        PickleWarning(
            f"the model at {folder} is loaded by MLflow's {loader}, which may execute code from its files; "
            "load only models you trust"
        ),
        stacklevel=3,
    )
    pyfunc_model = mlflow.pyfunc.load_model(str(folder))

    def predict(data: Any, params: dict[str, Any] | None = None) -> Any:
        return pyfunc_model.predict(data, params=params)

    return NativeModel(native=pyfunc_model, predict=predict, serialization="mlflow", executes_code_on_load=True)
