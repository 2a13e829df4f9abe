"""The ONNX flavor: an ``onnx.ModelProto`` (or its bytes, or a .onnx file) run with onnxruntime."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidParameter
from shipyard.models._deps import optional_import
from shipyard.models._entities import ModelMeta
from shipyard.models._mlmodel import pyfunc_conf
from shipyard.models.flavors._base import NativeModel, SavedFlavor

__all__ = ["FLAVOR", "OnnxFlavor"]

_FILE = "model.onnx"
# What MLflow records by default; onnxruntime uses those of them this machine has.
_PROVIDERS = ["CUDAExecutionProvider", "CPUExecutionProvider"]


class OnnxFlavor:
    """ONNX models. Predictions: one array for a single-output model, else a dict of output name -> array."""

    name = "onnx"

    def owns(self, model: object) -> bool:
        """True for an ``onnx.ModelProto``, the bytes of an ONNX file, or a path to an existing .onnx file."""
        if isinstance(model, str | Path):
            return str(model).endswith(".onnx") and Path(model).is_file()
        if isinstance(model, bytes):
            return _parse(model) is not None
        if "onnx" not in sys.modules:
            return False
        import onnx

        return isinstance(model, onnx.ModelProto)

    def recognises(self, meta: ModelMeta) -> bool:
        """True for a folder with MLflow's ``onnx`` flavor."""
        return "onnx" in meta.flavors

    def wrap(self, model: Any) -> NativeModel:
        """The model with an onnxruntime session on CPU."""
        proto = _as_proto(model)
        ort = optional_import("onnxruntime")
        session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        return NativeModel(native=proto, predict=_predictor(session))

    def save(self, model: Any, folder: Path, *, serialization: str | None) -> SavedFlavor:
        """Write model.onnx."""
        if serialization not in (None, "onnx"):
            raise InvalidParameter(f"An ONNX model is stored as 'onnx', not {serialization!r}.")
        onnx = optional_import("onnx")
        onnx.save_model(_as_proto(model), str(folder / _FILE))
        conf = {
            "code": None,
            "data": _FILE,
            "onnx_session_options": None,
            "onnx_version": onnx.__version__,
            "providers": list(_PROVIDERS),
        }
        return SavedFlavor(
            mlflow_key="onnx",
            flavor_conf=conf,
            pyfunc_conf=pyfunc_conf("mlflow.onnx", "data", _FILE),
            requirements=["numpy", "onnx", "onnxruntime"],
            serialization="onnx",
        )

    def load(self, folder: Path, meta: ModelMeta) -> NativeModel:
        """Check and read the ONNX file and open an onnxruntime session with the providers available here."""
        onnx = optional_import("onnx")
        ort = optional_import("onnxruntime")
        conf = meta.flavors["onnx"]
        file = folder / str(conf.get("data") or _FILE)
        onnx.checker.check_model(str(file))
        proto = onnx.load(str(file))
        declared = conf.get("providers") or _PROVIDERS
        declared = [declared] if isinstance(declared, str) else declared
        available = set(ort.get_available_providers())
        providers = [p for p in declared if isinstance(p, str) and p in available] or ["CPUExecutionProvider"]
        session = ort.InferenceSession(str(file), providers=providers)
        return NativeModel(native=proto, predict=_predictor(session), serialization="onnx")


def _parse(data: bytes) -> Any:
    try:
        onnx = optional_import("onnx")
        proto = onnx.load_model_from_string(data)
    except Exception:  # not an ONNX file (or onnx is missing): not this flavor's model
        return None
    return proto if len(proto.graph.node) or len(proto.graph.input) else None


def _as_proto(model: Any) -> Any:
    onnx = optional_import("onnx")
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, bytes):
        proto = _parse(model)
        if proto is None:
            raise InvalidParameter("These bytes are not an ONNX model.")
        return proto
    if isinstance(model, str | Path):
        return onnx.load(str(model))
    raise InvalidParameter(f"Expected an ONNX model, got {type(model).__name__}.")


def _predictor(session: Any) -> Any:
    np = optional_import("numpy")
    pd = optional_import("pandas")
    inputs = [(i.name, i.type) for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]

    def predict(data: Any, params: dict[str, Any] | None = None) -> Any:
        if isinstance(data, dict):
            feeds = {k: np.asarray(v) for k, v in data.items()}
        elif isinstance(data, pd.DataFrame):
            if len(inputs) == 1:
                feeds = {inputs[0][0]: data.to_numpy()}
            else:
                feeds = {name: data[name].to_numpy() for name, _ in inputs}
        else:
            if len(inputs) != 1:
                raise InvalidParameter(f"This ONNX model takes {len(inputs)} inputs: pass a dict of arrays.")
            feeds = {inputs[0][0]: np.asarray(data)}
        for name, kind in inputs:  # onnxruntime wants float32 where the graph says tensor(float)
            if kind == "tensor(float)" and name in feeds and feeds[name].dtype == np.float64:
                feeds[name] = feeds[name].astype(np.float32)
        results = session.run(outputs, feeds)
        return results[0] if len(results) == 1 else dict(zip(outputs, results, strict=True))

    return predict


FLAVOR = OnnxFlavor()
