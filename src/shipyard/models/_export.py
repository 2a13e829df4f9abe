"""export_model: turn a model folder into a self-contained ONNX or native folder for edge and embedded use."""

from __future__ import annotations

import copy
import importlib.util
import json
import pprint
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from shipyard.errors import InternalError, InvalidParameter, MissingExtra, ShipyardError, UnsupportedFlavor
from shipyard.models import _export_templates as _templates
from shipyard.models._checksums import verify_model_files, write_sums
from shipyard.models._deps import optional_import, pinned
from shipyard.models._enforce import enforce_schema
from shipyard.models._entities import ColSpec, ModelMeta, Signature, TensorSpec
from shipyard.models._example import EXAMPLE_FILE, normalise_example
from shipyard.models._infer import infer_signature
from shipyard.models._load import LoadedModel, load_model
from shipyard.models._mlmodel import PYFUNC, read_model_meta
from shipyard.models.flavors import flavor_for_folder
from shipyard.models.flavors._estimator_io import audit_skops

__all__ = ["EXPORT_FORMATS", "ExportResult", "export_model"]

EXPORT_FORMATS: tuple[str, ...] = ("onnx", "bundle")
_ONNX_FILE = "model.onnx"
_SIGNATURE_FILE = "signature.json"
_ENTRY_FILE = "predict.py"
_BUNDLE_MODEL_DIR = "model"
_NUMERIC = frozenset({"double", "float", "long", "integer", "boolean"})
# The Python modules each flavor's bundle imports, for a model folder without requirements.txt.
_FLAVOR_MODULES = {
    "sklearn": ["numpy", "scipy", "sklearn", "skops", "cloudpickle"],
    "xgboost": ["numpy", "scipy", "xgboost"],
    "lightgbm": ["numpy", "scipy", "lightgbm", "sklearn", "skops", "cloudpickle"],
    "onnx": ["numpy", "onnxruntime"],
    "python": ["numpy", "pandas", "cloudpickle"],
}


@dataclass(frozen=True)
class ExportResult:
    """What ``export_model`` wrote.

    Attributes:
        path: the export folder.
        format: ``onnx`` or ``bundle``.
        files: relative posix path -> sha256 hex digest, for every file except SHA256SUMS.
        checked: True when the exported predict.py was run on the input example and matched the original model.
        max_abs_diff: the largest absolute difference found by that check (0.0 for labels), None when unchecked.
    """

    path: str
    format: str
    files: dict[str, str]
    checked: bool
    max_abs_diff: float | None


def export_model(
    src: str | Path,
    out: str | Path,
    *,
    format: str,
    input_example: Any = None,
    rtol: float = 1e-4,
    atol: float = 1e-5,
) -> ExportResult:
    """Export a model folder to ``out`` for running without Shipyard.

    ``format="onnx"`` converts the model to ONNX (scikit-learn through skl2onnx, XGBoost and LightGBM through
    onnxmltools, ONNX models as they are) and writes model.onnx, a predict.py that needs only onnxruntime and
    numpy, signature.json, requirements.txt, input_example.json, README.md and SHA256SUMS. The export is then
    checked: predict.py runs on the input example and must reproduce the original model's predictions.

    ``format="bundle"`` copies the model folder unchanged into ``out/model`` and adds a predict.py that loads it
    with the flavor's own library (no Shipyard), requirements.txt, README.md and SHA256SUMS; it is checked the
    same way when an input example is available.

    Args:
        src: the model folder (verified against its SHA256SUMS first).
        out: the folder to create; it may exist only if it is empty. Nothing is left in it on failure.
        format: ``onnx`` or ``bundle``.
        input_example: rows to check the export with; the model's saved example when None.
        rtol: relative tolerance for numeric predictions (ONNX runs in float32).
        atol: absolute tolerance for numeric predictions.

    Returns:
        What was written, with every file's sha256 and the check's result.

    Raises:
        InvalidParameter: ``out`` is not empty, ``format`` is unknown, ONNX export has no input example, or the
            export does not reproduce the original predictions.
        ModelIntegrityError: the model folder does not match its SHA256SUMS.
        UnsupportedFlavor: the model cannot be converted to ONNX (or, for a model only MLflow loads, bundled).
        MissingExtra: a converter or the flavor's library is not installed.

    Example:
        >>> result = export_model("model", "edge", format="onnx")
        >>> result.checked, sorted(result.files)[:2]
        (True, ['README.md', 'input_example.json'])
    """
    if format not in EXPORT_FORMATS:
        raise InvalidParameter(f"Unknown export format {format!r}: expected one of {', '.join(EXPORT_FORMATS)}.")
    source, target = Path(src), Path(out)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidParameter(f"Cannot export to {target}: it exists and is not an empty folder.")
    verify_model_files(source)
    meta = read_model_meta(source)
    flavor = _flavor_name(meta, source)
    if format == "onnx" and flavor == "python":
        raise UnsupportedFlavor(
            f"The model at {source} is a python-flavor model (arbitrary Python code in a pickle), which cannot be "
            "converted to ONNX. Export it with --format bundle instead."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    # Everything is written beside the target and moved in at the end, so a failure leaves `out` untouched.
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", suffix=".partial", dir=target.parent))
    try:
        export = _export_onnx if format == "onnx" else _export_bundle
        diff = export(source, meta, flavor, staging, input_example, (rtol, atol))
        files = write_sums(staging)
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportResult(path=str(target), format=format, files=files, checked=diff is not None, max_abs_diff=diff)


def _flavor_name(meta: ModelMeta, source: Path) -> str:
    flavor = flavor_for_folder(meta)
    if flavor is None:
        raise UnsupportedFlavor(
            f"The model at {source} is loaded by {meta.flavors.get(PYFUNC, {}).get('loader_module')}, which only "
            "MLflow can load: it can be neither converted to ONNX nor bundled without MLflow."
        )
    return flavor.name


# ---------------------------------------------------------------------------------------------------- ONNX


def _export_onnx(
    source: Path, meta: ModelMeta, flavor: str, staging: Path, example: Any, tolerance: tuple[float, float]
) -> float:
    predict_fn = str(meta.flavors.get(PYFUNC, {}).get("predict_fn") or "predict")
    if predict_fn not in ("predict", "predict_proba"):
        raise UnsupportedFlavor(
            f"A model predicting with {predict_fn} cannot be exported to ONNX; use --format bundle."
        )
    loaded = load_model(source, verify=False)  # export_model verified the files already
    example = normalise_example(example) if example is not None else loaded.input_example
    if example is None:
        raise InvalidParameter(
            f"Exporting to ONNX needs an input example to check the converted model against the original, and the "
            f"model at {source} has none: pass input_example (a few rows of input)."
        )
    signature = loaded.signature or infer_signature(example)
    expected = _original_prediction(loaded, example)
    if flavor == "onnx":
        shutil.copyfile(source / str(meta.flavors["onnx"].get("data") or _ONNX_FILE), staging / _ONNX_FILE)
        proto = loaded.native
        feeds: list[list[Any]] = _onnx_feeds(proto, signature)
    else:
        proto, feeds = _convert(loaded, signature)
        (staging / _ONNX_FILE).write_bytes(proto.SerializeToString())
    outputs, check_proba = _pick_outputs(loaded, proto, expected, predict_fn)
    config = {"model_dir": ".", "file": _ONNX_FILE, "verify_only": [_ONNX_FILE, _SIGNATURE_FILE], "feeds": feeds}
    _write_entry(staging, {**config, **outputs}, _templates.ONNX_RUNNER)
    _write_signature(staging, signature)
    _write_example(staging, example)
    (staging / "requirements.txt").write_text(f"{pinned('onnxruntime')}\n{pinned('numpy')}\n", encoding="utf-8")
    (staging / "README.md").write_text(_readme("onnx", flavor, meta), encoding="utf-8")
    write_sums(staging)  # predict.py checks model.onnx against it, also during the check below
    entry, session = _open_entry(staging)
    data, predictions = _run_entry(entry, session, staging)
    diff = _difference(expected, predictions, tolerance, "predictions")
    if check_proba:
        wanted = loaded.native.predict_proba(enforce_schema(example, signature.inputs))
        got = entry.outputs(session, data)["probabilities"]
        diff = max(diff, _difference(wanted, got, tolerance, "probabilities"))
    return diff


def _convert(loaded: LoadedModel, signature: Signature) -> tuple[Any, list[list[Any]]]:
    """The ONNX ModelProto of a scikit-learn, XGBoost or LightGBM model, and how predict.py feeds its inputs."""
    layout = _input_layout(signature, per_column_allowed=loaded.flavor == "sklearn")
    model = loaded.native
    try:
        with warnings.catch_warnings():
            # The converters warn about their own internals (opset choices, deprecated helpers): noise here.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            if loaded.flavor == "sklearn":
                proto = _sklearn_to_onnx(model, layout)
            elif loaded.flavor == "xgboost":
                proto = _xgboost_to_onnx(model, layout)
            else:
                onnxmltools = _converter("onnxmltools")
                proto = onnxmltools.convert_lightgbm(model, initial_types=_types(layout, "onnxmltools"), zipmap=False)
    except ShipyardError:
        raise
    except Exception as exc:  # the converters raise many kinds of error for what they do not support
        raise UnsupportedFlavor(
            f"This {type(model).__name__} could not be converted to ONNX ({type(exc).__name__}: {exc}). "
            "Export it with --format bundle instead."
        ) from exc
    names = _graph_inputs(proto)
    feeds = [[name, None if source is None else list(source)] for name, (*_, source) in zip(names, layout, strict=True)]
    return proto, feeds


def _input_layout(signature: Signature, *, per_column_allowed: bool) -> list[tuple[str, str, list[Any], Any]]:
    """(name, element kind, shape, source columns or None for the whole input) for each ONNX input."""
    items = signature.inputs.items
    if signature.inputs.is_tensor:
        tensor = items[0]
        if len(items) != 1 or not isinstance(tensor, TensorSpec) or len(tensor.shape) != 2:
            raise UnsupportedFlavor("Only a single 2-D input tensor can be converted to ONNX; use --format bundle.")
        return [("input", "float", [None, tensor.shape[1]], None)]
    columns = [c for c in items if isinstance(c, ColSpec)]
    keys = [c.name if c.name is not None else i for i, c in enumerate(columns)]
    if all(c.type in _NUMERIC for c in columns):
        return [("input", "float", [None, len(columns)], None)]
    odd = [f"{k!r} ({c.type})" for k, c in zip(keys, columns, strict=True) if c.type not in (*_NUMERIC, "string")]
    if not per_column_allowed or odd:
        what = ", ".join(odd) or "non-numeric columns"
        raise UnsupportedFlavor(f"Cannot feed {what} to an ONNX model of this flavor; use --format bundle.")
    kinds = {"long": "int64", "integer": "int64", "string": "string"}
    return [(str(k), kinds.get(c.type, "float"), [None, 1], [k]) for k, c in zip(keys, columns, strict=True)]


def _types(layout: list[tuple[str, str, list[Any], Any]], library: str) -> list[tuple[str, Any]]:
    module = _converter(
        "skl2onnx.common.data_types" if library == "skl2onnx" else "onnxmltools.convert.common.data_types"
    )
    classes = {"float": "FloatTensorType", "int64": "Int64TensorType", "string": "StringTensorType"}
    return [(name, getattr(module, classes[kind])(shape)) for name, kind, shape, _ in layout]


def _sklearn_to_onnx(model: Any, layout: list[tuple[str, str, list[Any], Any]]) -> Any:
    skl2onnx = _converter("skl2onnx")
    from sklearn.base import is_classifier

    # zipmap off: a classifier's probabilities come out as a plain array, not a list of dicts
    options = {id(model): {"zipmap": False}} if is_classifier(model) else None
    return skl2onnx.to_onnx(model, initial_types=_types(layout, "skl2onnx"), options=options)


def _xgboost_to_onnx(model: Any, layout: list[tuple[str, str, list[Any], Any]]) -> Any:
    onnxmltools = _converter("onnxmltools")
    xgboost = optional_import("xgboost")
    # onnxmltools reads features as f0, f1...: a copy without the column names converts, in signature order.
    if isinstance(model, xgboost.Booster):
        clone = model.copy()
        clone.feature_names = None
    else:
        clone = copy.deepcopy(model)
        clone.get_booster().feature_names = None
    return onnxmltools.convert_xgboost(clone, initial_types=_types(layout, "onnxmltools"))


def _converter(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise MissingExtra(name.split(".", 1)[0], "onnx") from None


def _graph_inputs(proto: Any) -> list[str]:
    initialisers = {i.name for i in proto.graph.initializer}
    return [i.name for i in proto.graph.input if i.name not in initialisers]


def _onnx_feeds(proto: Any, signature: Signature | None) -> list[list[Any]]:
    """For an ONNX model as it is: one input takes the whole input, several are matched by name."""
    names = _graph_inputs(proto)
    if len(names) == 1:
        return [[names[0], None]]
    if signature is not None and not signature.inputs.is_tensor:
        return [[name, [name]] for name in names]
    return [[name, name] for name in names]


def _pick_outputs(loaded: LoadedModel, proto: Any, expected: Any, predict_fn: str) -> tuple[dict[str, Any], bool]:
    """Which ONNX outputs predict.py prints so that they match the original ``predict``; and whether to check
    probabilities too (a classifier whose predict gives labels)."""
    np = optional_import("numpy")
    names = [o.name for o in proto.graph.output]
    if loaded.flavor == "onnx":
        return {"outputs": names, "column": None, "flatten": False}, False
    if {"label", "probabilities"} <= set(names):
        if predict_fn == "predict" and not _is_booster(loaded.native):
            return {"outputs": ["label"], "column": None, "flatten": False}, hasattr(loaded.native, "predict_proba")
        # predict_proba, or a Booster whose predict gives probabilities (only the positive class' when binary)
        column = 1 if np.ndim(expected) == 1 else None
        return {"outputs": ["probabilities"], "column": column, "flatten": False}, False
    return {"outputs": names[:1], "column": None, "flatten": np.ndim(expected) == 1}, False


def _is_booster(model: Any) -> bool:
    """An XGBoost or LightGBM Booster: its predict gives probabilities, not labels."""
    return type(model).__name__ == "Booster" and type(model).__module__.split(".")[0] in ("xgboost", "lightgbm")


# -------------------------------------------------------------------------------------------------- bundle


def _export_bundle(
    source: Path, meta: ModelMeta, flavor: str, staging: Path, example: Any, tolerance: tuple[float, float]
) -> float | None:
    shutil.copytree(source, staging / _BUNDLE_MODEL_DIR)
    signature = meta.signature
    loaded = None
    if example is not None or meta.saved_input_example_info:
        loaded = load_model(source, verify=False)
        example = normalise_example(example) if example is not None else loaded.input_example
        if example is not None and signature is None:
            signature = infer_signature(example)
    config = {"model_dir": _BUNDLE_MODEL_DIR, "verify_only": None, **_native_config(source, meta, flavor, signature)}
    _write_entry(
        staging,
        config,
        _templates.ONNX_RUNNER if flavor == "onnx" else _templates.NATIVE_RUNNER + _templates.LOADERS[flavor],
    )
    if signature is not None:
        _write_signature(staging, signature)
    if example is not None:
        _write_example(staging, example)
    requirements = meta.requirements or [pinned(m) for m in _FLAVOR_MODULES[flavor]]
    # The python flavor lists shipyard only because MLflow's loader for it lives there; predict.py does not need it.
    requirements = [line for line in requirements if line.split("==")[0].strip().lower() != "shipyard"]
    tabular = signature is None or not signature.inputs.is_tensor
    if tabular and flavor != "onnx" and not any(line.startswith("pandas") for line in requirements):
        requirements = [*requirements, pinned("pandas")]  # predict.py hands tables to the model as DataFrames
    (staging / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
    (staging / "README.md").write_text(_readme("bundle", flavor, meta), encoding="utf-8")
    if loaded is None or example is None:
        return None
    expected = _original_prediction(loaded, example)
    entry, model = _open_entry(staging)
    _, predictions = _run_entry(entry, model, staging)
    return _difference(expected, predictions, tolerance, "predictions")


def _native_config(source: Path, meta: ModelMeta, flavor: str, signature: Signature | None) -> dict[str, Any]:
    """What the bundle's predict.py needs from MLmodel (it cannot read YAML with the standard library)."""
    conf = meta.flavors.get(flavor, {})
    pyfunc = meta.flavors.get(PYFUNC, {})
    if flavor == "sklearn":
        file = conf.get("pickled_model") or pyfunc.get("model_path")
        serialization = str(conf.get("serialization_format") or "pickle")
        return {
            "flavor": flavor,
            "file": file,
            "serialization": serialization,
            "predict_fn": str(pyfunc.get("predict_fn") or "predict"),
            "skops_types": _skops_types(source, file, serialization),
        }
    if flavor == "xgboost":
        return {"flavor": flavor, "file": conf.get("data"), "model_class": conf.get("model_class") or "xgboost.Booster"}
    if flavor == "lightgbm":
        booster = str(conf.get("model_class") or "lightgbm.basic.Booster") == "lightgbm.basic.Booster"
        serialization = str(conf.get("serialization_format") or "cloudpickle")
        file = conf.get("data")
        skops_types = None if booster else _skops_types(source, file, serialization)
        config = {"flavor": flavor, "file": file, "booster": booster, "serialization": serialization}
        return config | {"skops_types": skops_types}
    if flavor == "onnx":
        file = str(conf.get("data") or _ONNX_FILE)
        proto = optional_import("onnx").load(str(source / file))
        names = [o.name for o in proto.graph.output]
        feeds = _onnx_feeds(proto, signature)
        return {"file": file, "feeds": feeds, "outputs": names, "column": None, "flatten": False}
    return {"flavor": flavor, "file": pyfunc.get("data") or "python_model.pkl"}


def _skops_types(source: Path, file: Any, serialization: str) -> list[str] | None:
    """The exact types the bundle's predict.py may let skops build: the file's own, checked by Shipyard's list."""
    if serialization != "skops" or not isinstance(file, str):
        return None
    return audit_skops((source / file).read_bytes(), file)


# ------------------------------------------------------------------------------------------ shared helpers


def _original_prediction(loaded: LoadedModel, example: Any) -> Any:
    try:
        return loaded.predict(example)
    except ShipyardError:
        raise
    except Exception as exc:
        raise InvalidParameter(f"The model failed to predict on the input example: {exc}") from exc


def _open_entry(staging: Path) -> tuple[Any, Any]:
    """Import the written predict.py and load the model with it, so the check runs exactly what ships."""
    spec = importlib.util.spec_from_file_location("_shipyard_export_check", staging / _ENTRY_FILE)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py path always has a loader
        raise InternalError(f"Cannot import {staging / _ENTRY_FILE}.")
    module: ModuleType = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        return module, module.load()
    except SystemExit as exc:  # predict.py stops with a message on a damaged or untrusted model file
        raise InvalidParameter(f"The exported {_ENTRY_FILE} cannot load the model: {exc}") from None


def _run_entry(entry: Any, model: Any, staging: Path) -> tuple[Any, Any]:
    """predict.py's parsed input and printed predictions for the written input_example.json."""
    try:
        data = entry.read_input((staging / EXAMPLE_FILE).read_text(encoding="utf-8"))
        return data, entry.jsonable(entry.predict(model, data))
    except SystemExit as exc:  # predict.py stops with a message on input it cannot use
        raise InvalidParameter(f"The exported {_ENTRY_FILE} failed on the input example: {exc}") from None
    except Exception as exc:
        raise InvalidParameter(
            f"The exported {_ENTRY_FILE} failed on the input example: {type(exc).__name__}: {exc}"
        ) from exc


def _difference(expected: Any, actual: Any, tolerance: tuple[float, float], what: str) -> float:
    """The largest absolute difference between two predictions; raises when they do not match."""
    np = optional_import("numpy")
    rtol, atol = tolerance
    want, got = _plain(expected), _plain(actual)
    if isinstance(want, dict) or isinstance(got, dict):
        if not (isinstance(want, dict) and isinstance(got, dict)) or set(want) != set(got):
            raise _mismatch(f"{what}: the outputs differ in structure", rtol, atol)
        return max((_difference(want[k], got[k], tolerance, f"{what}[{k!r}]") for k in want), default=0.0)
    if want.shape != got.shape:
        raise _mismatch(f"{what}: shape {list(got.shape)} instead of {list(want.shape)}", rtol, atol)
    if want.dtype.kind in "biufc" and got.dtype.kind in "biufc" and "f" in want.dtype.kind + got.dtype.kind:
        delta = np.abs(want.astype("float64") - got.astype("float64"))
        largest = float(np.max(delta[~np.isnan(delta)], initial=0.0))
        if not np.allclose(got.astype("float64"), want.astype("float64"), rtol=rtol, atol=atol, equal_nan=True):
            raise _mismatch(f"{what}: max abs difference {largest:.3g}", rtol, atol)
        return largest
    differing = sum(a != b for a, b in zip(want.ravel().tolist(), got.ravel().tolist(), strict=True))
    if differing:
        raise _mismatch(f"{what}: {differing} of {want.size} labels differ", rtol, atol)
    return 0.0


def _plain(value: Any) -> Any:
    np = optional_import("numpy")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "columns") and hasattr(value, "to_dict"):  # a DataFrame, as predict.py prints it
        return {str(c): np.asarray(value[c]) for c in value.columns}
    return np.asarray(value)


def _mismatch(detail: str, rtol: float, atol: float) -> InvalidParameter:
    return InvalidParameter(
        f"The exported model does not reproduce the original model's predictions on the input example "
        f"({detail}; rtol={rtol}, atol={atol}); nothing was exported."
    )


def _write_entry(folder: Path, config: dict[str, Any], runner: str) -> None:
    text = (
        _templates.HEAD.replace("__CONFIG__", pprint.pformat(config, sort_dicts=False, width=100))
        + runner
        + _templates.MAIN
    )
    (folder / _ENTRY_FILE).write_text(text, encoding="utf-8")


def _write_signature(folder: Path, signature: Signature) -> None:
    body = {
        "inputs": json.loads(signature.inputs.to_json()),
        "outputs": json.loads(signature.outputs.to_json()) if signature.outputs is not None else None,
    }
    (folder / _SIGNATURE_FILE).write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")


def _write_example(folder: Path, example: Any) -> None:
    """input_example.json in the shape predict.py reads: records for a table, nested lists for tensors."""
    pd = optional_import("pandas")
    if isinstance(example, pd.DataFrame):
        body: Any = example.astype(object).where(example.notna(), None).to_dict(orient="records")
    elif isinstance(example, dict):
        body = {k: v.tolist() for k, v in example.items()}
    else:
        body = example.tolist()
    (folder / EXAMPLE_FILE).write_text(json.dumps(body, default=_jsonable, indent=1) + "\n", encoding="utf-8")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _readme(kind: str, flavor: str, meta: ModelMeta) -> str:
    what = (
        f"The {flavor} model converted to ONNX (`model.onnx`), run with onnxruntime."
        if kind == "onnx"
        else f"The {flavor} model folder as it was saved (`model/`), loaded with the {flavor} flavor's own library."
    )
    return f"""# Exported model

{what} Exported by Shipyard from model {meta.model_uuid or "(no uuid)"}; Shipyard is not needed to run it.

## Run

```sh
python -m venv .venv && .venv/bin/pip install -r requirements.txt
.venv/bin/python predict.py input_example.json   # a JSON file: records, {{"columns", "data"}} or rows
.venv/bin/python predict.py rows.csv             # a CSV file with a header row
cat rows.json | .venv/bin/python predict.py      # standard input
```

Columns are matched by name and ordered as in `signature.json`; extra columns are ignored. The predictions are
printed as one JSON value.

## Check the files

`sha256sum -c SHA256SUMS` checks every file; `predict.py` itself refuses to load model files that do not match.
"""
