"""The predict.py templates an export writes: standard library, numpy and the flavor's own library only."""

__all__ = ["HEAD", "LOADERS", "MAIN", "NATIVE_RUNNER", "ONNX_RUNNER"]


HEAD = '''"""Predict with the exported model: python predict.py [FILE]

FILE is a CSV file with a header row or a JSON file (records, {"columns": [...], "data": [...]} or a list of rows);
standard input is read when it is omitted or "-". The predictions are printed as JSON. Written by Shipyard.
"""

import csv
import hashlib
import io
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CONFIG = __CONFIG__
MODEL_DIR = HERE / CONFIG["model_dir"]
SIGNATURE_FILE = HERE / "signature.json"
SIGNATURE = json.loads(SIGNATURE_FILE.read_text(encoding="utf-8")) if SIGNATURE_FILE.is_file() else None
SPECS = SIGNATURE["inputs"] if SIGNATURE else None
TENSORS = bool(SPECS) and all(spec.get("type") == "tensor" for spec in SPECS)
NUMPY_TYPES = {"boolean": "bool", "integer": "int32", "long": "int64", "float": "float32", "double": "float64"}


def verify(folder, only=None):
    """Stop when a model file no longer matches its line in SHA256SUMS."""
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        return
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        if name and (only is None or name in only):
            file = folder / name
            actual = hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else "missing"
            if actual != digest:
                raise SystemExit(f"{file} does not match SHA256SUMS: the model files were changed or damaged.")


def read_input(text):
    """The model input: columns (name -> array, in signature order), or an array (or dict of arrays) of tensors."""
    body = text.strip()
    is_csv = not body.startswith(("[", "{"))
    if is_csv:
        data = [row for row in csv.reader(io.StringIO(body)) if row]
    else:
        data = json.loads(body)
        for key in ("dataframe_split", "dataframe_records", "inputs", "instances"):
            if isinstance(data, dict) and key in data:
                data = data[key]
    return tensors(data, is_csv) if TENSORS else table(data, is_csv)


def table(data, is_csv):
    if is_csv:
        names, rows = data[0], data[1:]
    elif isinstance(data, dict) and "data" in data:
        names, rows = data.get("columns"), data["data"]
    elif isinstance(data, dict):  # a dict of columns, or one row as a dict of values
        names = list(data)
        rows = list(zip(*[value if isinstance(value, list) else [value] for value in data.values()]))
    elif data and all(isinstance(row, dict) for row in data):
        names = list(dict.fromkeys(key for row in data for key in row))
        rows = [[row.get(name) for name in names] for row in data]
    else:
        names, rows = None, data
    specs = SPECS or [{"name": name, "type": None} for name in names or range(len(rows[0]) if rows else 0)]
    keys = [spec["name"] if spec.get("name") is not None else i for i, spec in enumerate(specs)]
    position = {name: i for i, name in enumerate(keys if names is None else names)}
    columns = {}
    for key, spec in zip(keys, specs):
        if key in position:
            columns[key] = typed([row[position[key]] for row in rows], spec.get("type"))
        elif spec.get("required", True):
            raise SystemExit(f"The input has no column {key!r}; expected columns {keys}.")
        else:
            columns[key] = typed([None] * len(rows), spec.get("type"))
    return columns


def typed(values, kind):
    if kind == "boolean":
        values = [str(value).strip().lower() in ("1", "true", "yes") for value in values]
    elif kind in ("integer", "long"):
        values = [int(float(value)) if isinstance(value, str) else value for value in values]
    elif kind in ("float", "double", None):
        values = [np.nan if value is None or value == "" else value for value in values]
    if kind in NUMPY_TYPES:
        return np.asarray(values, dtype=NUMPY_TYPES[kind])
    if kind is None:
        try:
            return np.asarray(values, dtype="float64")
        except (TypeError, ValueError):
            pass
    return np.asarray(values, dtype=object)


def tensors(data, is_csv):
    def dtype(spec):
        name = spec["tensor-spec"]["dtype"]
        return object if name in ("str", "bytes", "object") else name

    if isinstance(data, dict) and "data" in data:
        data = data["data"]
    if is_csv and data and not all(cell.strip().lstrip("-+").replace(".", "", 1).isdigit() for cell in data[0]):
        data = data[1:]  # a header row
    if isinstance(data, dict):
        return {spec["name"]: np.asarray(data[spec["name"]], dtype=dtype(spec)) for spec in SPECS}
    return np.asarray(data, dtype=dtype(SPECS[0]))


def jsonable(value):
    """Predictions as plain lists and dicts for json.dumps."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if hasattr(value, "columns") and hasattr(value, "to_dict"):  # a pandas DataFrame
        return {str(column): jsonable(value[column]) for column in value.columns}
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    return value
'''

ONNX_RUNNER = '''

ONNX_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(bool)": "bool",
    "tensor(string)": object,
}


def load():
    """An onnxruntime session on CPU, after checking the model file."""
    import onnxruntime

    verify(MODEL_DIR, CONFIG["verify_only"])
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # onnxruntime's notes about declared output shapes are noise here
    return onnxruntime.InferenceSession(str(MODEL_DIR / CONFIG["file"]), options, providers=["CPUExecutionProvider"])


def outputs(session, data):
    """Every output of the ONNX model, by name."""
    inputs = {item.name: item for item in session.get_inputs()}
    feeds = {}
    for name, source in CONFIG["feeds"]:
        if source is None and isinstance(data, dict):
            value = next(iter(data.values())) if TENSORS else np.stack(list(data.values()), axis=1)
        elif source is None:
            value = data
        elif isinstance(source, list):
            value = np.stack([data[column] for column in source], axis=1)
        else:
            value = data[source]
        value = np.asarray(value, dtype=ONNX_TYPES.get(inputs[name].type))
        if value.ndim == 1 and len(inputs[name].shape or []) == 2:
            value = value.reshape(-1, 1)
        feeds[name] = value
    names = [item.name for item in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


def predict(session, data):
    """The outputs that match the original model's predict."""
    results = outputs(session, data)
    picked = {}
    for name in CONFIG["outputs"]:
        value = results[name]
        if CONFIG["column"] is not None:
            value = value[:, CONFIG["column"]]
        elif CONFIG["flatten"] and value.ndim == 2 and value.shape[1] == 1:
            value = value[:, 0]
        picked[name] = value
    return picked[CONFIG["outputs"][0]] if len(picked) == 1 else picked
'''

NATIVE_RUNNER = '''

# The exact classes Shipyard checked in the skops file when it exported it; pickle and cloudpickle files run
# code: use only models you trust.
SKOPS_TYPES = frozenset(CONFIG.get("skops_types") or ())


def native_input(data):
    """Tables go to the model as a pandas DataFrame when pandas is installed (pipelines select columns by name)."""
    if TENSORS or not isinstance(data, dict):
        return data
    try:
        import pandas
    except ImportError:
        return np.stack(list(data.values()), axis=1)
    return pandas.DataFrame(data)


def load_estimator(file, serialization):
    if serialization == "skops":
        import skops.io

        data = file.read_bytes()  # check and load the same bytes
        untrusted = skops.io.get_untrusted_types(data=data)
        refused = sorted(name for name in untrusted if name not in SKOPS_TYPES)
        if refused:
            raise SystemExit(f"{file.name} holds types that are not trusted: {', '.join(refused)}")
        return skops.io.loads(data, trusted=untrusted)
    if serialization == "cloudpickle":
        import cloudpickle as library
    else:
        import pickle as library
    with file.open("rb") as stream:
        return library.load(stream)


def predict(model, data):
    """The original model's predictions."""
    return model(native_input(data))
'''

LOADERS = {
    "sklearn": '''

def load():
    """The estimator's prediction method, after checking the model files."""
    verify(MODEL_DIR, CONFIG["verify_only"])
    model = load_estimator(MODEL_DIR / CONFIG["file"], CONFIG["serialization"])
    return getattr(model, CONFIG["predict_fn"])
''',
    "lightgbm": '''

def load():
    """The model's predict method, after checking the model files."""
    verify(MODEL_DIR, CONFIG["verify_only"])
    if CONFIG["booster"]:
        import lightgbm

        return lightgbm.Booster(model_file=str(MODEL_DIR / CONFIG["file"])).predict
    return load_estimator(MODEL_DIR / CONFIG["file"], CONFIG["serialization"]).predict
''',
    "xgboost": '''

def load():
    """The model's predict method, after checking the model files."""
    import importlib

    import xgboost

    verify(MODEL_DIR, CONFIG["verify_only"])
    module, _, name = CONFIG["model_class"].rpartition(".")
    cls = getattr(importlib.import_module(module), name) if module.split(".")[0] == "xgboost" else None
    if not (isinstance(cls, type) and issubclass(cls, (xgboost.Booster, xgboost.XGBModel))):
        raise SystemExit(f"{CONFIG['model_class']} is not an XGBoost model class.")
    model = cls()
    model.load_model(str(MODEL_DIR / CONFIG["file"]))
    if isinstance(model, xgboost.Booster):
        return lambda data: model.predict(xgboost.DMatrix(data))
    return model.predict
''',
    "python": '''

def load():
    """The object's predict method (unpickling runs code from the file: use only models you trust)."""
    import inspect

    import cloudpickle

    verify(MODEL_DIR, CONFIG["verify_only"])
    with (MODEL_DIR / CONFIG["file"]).open("rb") as stream:
        model = cloudpickle.load(stream)
    try:
        parameters = inspect.signature(model.predict).parameters
    except (TypeError, ValueError):
        parameters = {}
    if "params" in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return lambda data: model.predict(data, params=None)
    return model.predict
''',
}

MAIN = '''

def run(text, model=None):
    """The predictions for CSV or JSON ``text``, ready for json.dumps."""
    return jsonable(predict(load() if model is None else model, read_input(text)))


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1] in ("-h", "--help")):
        raise SystemExit(__doc__)
    text = Path(argv[1]).read_text(encoding="utf-8") if len(argv) == 2 and argv[1] != "-" else sys.stdin.read()
    print(json.dumps(run(text)))


if __name__ == "__main__":
    main(sys.argv)
'''
