"""MLflow's scoring protocol (``POST /invocations``): parse JSON, CSV and Parquet payloads, and format predictions.

A re-implementation of what ``mlflow.pyfunc.scoring_server`` does (mlflow is never imported), so that clients
written for ``mlflow models serve`` get the same data frames, the same ``{"predictions": ...}`` JSON and the same
400 answers from Shipyard. Pure functions with no I/O.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.errors import BadRequest, UnsupportedContentType
from shipyard.models import ColSpec, Schema, TensorSpec

__all__ = [
    "CONTENT_TYPES",
    "SUPPORTED_FORMATS",
    "ScoringInput",
    "parse_csv_input",
    "parse_invocation",
    "parse_json_input",
    "parse_parquet_input",
    "predictions_to_json",
]

CONTENT_TYPE_CSV = "text/csv"
CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_PARQUET = "application/vnd.apache.parquet"
#: The content types ``/invocations`` accepts, as MLflow lists them.
CONTENT_TYPES = (CONTENT_TYPE_CSV, CONTENT_TYPE_JSON, CONTENT_TYPE_PARQUET)
#: The JSON keys that carry the data; a request has exactly one.
SUPPORTED_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_REQUIRED_INPUT_FORMAT = (
    f"The input must be a JSON dictionary with exactly one of the input fields {set(SUPPORTED_FORMATS)}"
)
_PROTOCOL_CHANGE_INFO = (
    "IMPORTANT: The MLflow Model scoring protocol has changed in MLflow version 2.0: wrap the data in one of "
    "those fields. See https://mlflow.org/docs/latest/models.html#deploy-mlflow-models."
)
# MLflow's pandas type per column type (DataType.to_pandas); strings and binary stay objects
_PANDAS_TYPES: dict[str, Any] = {
    "boolean": np.dtype("bool"),
    "integer": np.dtype("int32"),
    "long": np.dtype("int64"),
    "float": np.dtype("float32"),
    "double": np.dtype("float64"),
    "string": object,
    "binary": object,
    "datetime": np.dtype("datetime64[ns]"),
}
# MLflow's numpy type per column type (DataType.to_numpy), used for `instances` and `inputs`
_NUMPY_TYPES: dict[str, Any] = {
    **_PANDAS_TYPES,
    "string": np.dtype("str"),
    "binary": np.dtype("bytes"),
}


def _invalid_input(message: str) -> BadRequest:
    """MLflow's ``MlflowInvalidInputException``: BAD_REQUEST, message prefixed with "Invalid input."."""
    return BadRequest(f"Invalid input. {message}")


@dataclass(frozen=True)
class ScoringInput:
    """A parsed ``/invocations`` request.

    Attributes:
        data: what MLflow would pass to ``predict``: a pandas DataFrame (``dataframe_*``, CSV, Parquet), or a
            numpy array, a dict of numpy arrays or a list (``instances``, ``inputs``).
        params: the request's ``params``, or None.
    """

    data: Any
    params: dict[str, Any] | None = None


def parse_invocation(body: bytes, content_type: str | None, schema: Schema | None = None) -> ScoringInput:
    """Parse a ``POST /invocations`` body as MLflow's scoring server does.

    Args:
        body: the HTTP body.
        content_type: the ``Content-Type`` header: ``application/json``, ``text/csv`` or
            ``application/vnd.apache.parquet``, with at most a ``charset=utf-8`` parameter.
        schema: the model's input schema; values are cast to its types as MLflow casts them.

    Returns:
        The data for ``predict`` and the request's params.

    Raises:
        UnsupportedContentType: another content type or charset (HTTP 415).
        BadRequest: a payload MLflow rejects (HTTP 400), with MLflow's message.

    Example:
        >>> parse_invocation(b'{"inputs": [[1, 2]]}', "application/json").data
        array([[1, 2]])
    """
    mime_type, charset, unexpected = _split_content_type(content_type)
    if charset != "utf-8":
        raise UnsupportedContentType("The scoring server only supports UTF-8")
    if unexpected:
        raise UnsupportedContentType(
            f"Unrecognized content type parameters: {', '.join(unexpected)}. {_PROTOCOL_CHANGE_INFO}"
        )
    if mime_type == CONTENT_TYPE_JSON:
        return parse_json_input(body, schema)
    if mime_type == CONTENT_TYPE_CSV:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _invalid_input(f"Ensure that input is a valid UTF-8 encoded string. Error: '{exc!r}'") from None
        return ScoringInput(parse_csv_input(text, schema))
    if mime_type == CONTENT_TYPE_PARQUET:
        return ScoringInput(parse_parquet_input(body))
    raise UnsupportedContentType(
        f"This predictor only supports the following content types: Types: {list(CONTENT_TYPES)}. Got '{content_type}'."
    )


def _split_content_type(content_type: str | None) -> tuple[str, str, list[str]]:
    parts = [part.strip() for part in (content_type or "").split(";")]
    parameters = {key.strip().lower(): value.strip() for key, _, value in (p.partition("=") for p in parts[1:])}
    charset = parameters.pop("charset", "utf-8").lower()
    return parts[0].lower(), charset, sorted(parameters)


def parse_json_input(body: bytes | str | dict[str, Any], schema: Schema | None = None) -> ScoringInput:
    """Parse a JSON scoring request: exactly one of ``dataframe_split``, ``dataframe_records``, ``instances`` and
    ``inputs``, and optional ``params``; other keys are ignored, as MLflow ignores them.

    Raises:
        BadRequest: the body is not a JSON object, has none or several of those keys, or its data does not
            parse (MLflow's messages).
    """
    document = _decode_json(body)
    params = document.get("params")
    if params is not None and not isinstance(params, dict):
        raise _invalid_input(f"'params' must be a JSON object, got {type(params).__name__}.")
    formats = [key for key in SUPPORTED_FORMATS if key in document]
    if len(formats) != 1:
        received = [key for key in document if key in SUPPORTED_FORMATS]
        raise BadRequest(
            f"{_REQUIRED_INPUT_FORMAT}. Received dictionary with input fields: {received}. {_PROTOCOL_CHANGE_INFO}"
        )
    (key,) = formats
    if key == "dataframe_split":
        return ScoringInput(_frame_from_split(document[key], schema), params)
    if key == "dataframe_records":
        return ScoringInput(_frame_from_records(document[key], schema), params)
    try:
        if key == "instances":
            return ScoringInput(_parse_instances(document[key], schema), params)
        return ScoringInput(_cast_to_schema(document[key], schema), params)
    except BadRequest:
        raise
    except Exception as exc:  # MLflow turns any other failure of these conversions into a 400
        raise _invalid_input(f"Ensure that the input is a valid JSON-formatted string.\nError: {exc!r}") from None


def _decode_json(body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    try:
        document = json.loads(body)  # the standard library, as MLflow: NaN and Infinity are accepted
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _invalid_input(f"Ensure that input is a valid JSON formatted string. Error: '{exc!r}'") from None
    if isinstance(document, dict):
        return document
    if isinstance(document, list):
        raise _invalid_input(f"{_REQUIRED_INPUT_FORMAT}. Received a list.")
    raise _invalid_input(f"{_REQUIRED_INPUT_FORMAT}. Received unexpected input type '{type(document)}.")


def _frame_from_records(records: Any, schema: Schema | None) -> Any:
    import pandas as pd

    if not isinstance(records, list):
        kind = "dictionary" if isinstance(records, dict) else f"type {type(records)}"
        raise _invalid_input(f"Dataframe records format must be a list of records. Got {kind}.")
    try:
        frame = pd.DataFrame(data=records)
    except Exception as exc:  # pandas raises several types for data it cannot shape
        raise _invalid_input(
            "Provided dataframe_records field is not a valid dataframe representation in 'records' format. "
            f"Error: '{exc}'"
        ) from None
    return _cast_frame(frame, schema)


def _frame_from_split(split: Any, schema: Schema | None) -> Any:
    import pandas as pd

    if not isinstance(split, dict):
        kind = "list" if isinstance(split, list) else f"type {type(split)}"
        raise _invalid_input(f"Dataframe split format must be a dictionary. Got {kind}.")
    keys = set(split)
    if "data" not in keys or keys - {"columns", "data", "index"}:
        raise _invalid_input(
            f"Dataframe split format must have 'data' field and optionally 'columns' and 'index' fields. Got {keys}.'"
        )
    try:
        frame = pd.DataFrame(index=split.get("index"), columns=split.get("columns"), data=split["data"])
    except Exception as exc:  # pandas raises several types for data it cannot shape
        raise _invalid_input(
            f"Provided dataframe_split field is not a valid dataframe representation in 'split' format. Error: '{exc}'"
        ) from None
    return _cast_frame(frame, schema)


def _cast_frame(frame: Any, schema: Schema | None) -> Any:
    """Cast a frame's columns to the schema's types, as MLflow's ``cast_df_types_according_to_schema``."""
    if schema is None or not schema.items:
        return frame
    items: Sequence[ColSpec | TensorSpec] = schema.items
    present = set(frame.columns)
    pairs: list[tuple[Any, ColSpec | TensorSpec]]
    if items[0].name is not None:
        pairs = [(item.name, item) for item in items]
    elif schema.is_tensor and len(items) == 1:
        pairs = [(column, items[0]) for column in frame.columns]
    else:
        pairs = list(zip(frame.columns, items, strict=False))
    for column, spec in pairs:
        if column not in present:
            continue
        try:
            cast = _cast_column(frame[column], spec)
        except Exception as exc:  # whatever the cast raises, MLflow answers 400 naming the column
            raise _invalid_input(
                "Data is not compatible with model signature. "
                f"Failed to convert column {column} to type '{_pandas_type(spec)}'. Error: '{exc!r}'"
            ) from None
        if cast is not None:
            frame[column] = cast
    return frame


def _cast_column(column: Any, spec: ColSpec | TensorSpec) -> Any:
    """One column cast to its spec's type, or None when it stays as it is."""
    import pandas as pd

    target = _pandas_type(spec)
    if isinstance(spec, ColSpec) and spec.type == "binary":
        return column.map(lambda x: base64.decodebytes(bytes(x, "utf8")))
    list_cells = isinstance(spec, TensorSpec) and len(column) > 0 and isinstance(column.iloc[0], list)
    if isinstance(spec, TensorSpec) and target == np.dtype(bytes) and not list_cells:
        return column.map(lambda x: bytes(x, "utf8"))
    if isinstance(spec, ColSpec) and spec.type == "datetime":
        parsed = pd.to_datetime(column)
        return parsed.dt.as_unit("ns") if getattr(parsed.dt, "unit", "ns") != "ns" else parsed
    left_alone = (
        target is None  # MLflow's array, object, map and any types are checked by predict
        or list_cells  # multi-dimensional tensor cells: too
        or (_is_text(target) and isinstance(column.dtype, pd.StringDtype))  # object would undo pandas' str dtype
    )
    return None if left_alone else column.astype(target)


def _pandas_type(spec: ColSpec | TensorSpec) -> Any:
    if isinstance(spec, TensorSpec):
        return np.dtype(spec.dtype)
    return _PANDAS_TYPES.get(spec.type)


def _is_text(target: Any) -> bool:
    return target is object or (isinstance(target, np.dtype) and target.kind == "U")


def _parse_instances(data: Any, schema: Schema | None) -> Any:
    """MLflow's ``parse_instances_data``: records become a dict of column arrays; columns must be as long."""
    if isinstance(data, list) and data and isinstance(data[0], dict):
        specs = _named_specs(schema)
        columns: dict[str, list[Any]] = defaultdict(list)
        for record in data:
            for column, value in record.items():
                columns[column].append(_convert(value, specs.get(column)))
        data = {column: np.array(values) for column, values in columns.items()}
    else:
        data = _cast_to_schema(data, schema)
    if isinstance(data, dict):
        lengths = {key: len(value) for key, value in data.items() if isinstance(value, list | np.ndarray)}
        specs = _named_specs(schema)
        if specs:
            checked = [name for name, spec in specs.items() if _is_required(spec) and name in lengths]
            checked = [name for name in checked if not _is_array_type(specs[name])]
        else:
            checked = list(lengths)
        if len({lengths[name] for name in checked}) > 1:
            raise _invalid_input("The length of values for each input/column name are not the same")
    return data


def _cast_to_schema(data: Any, schema: Schema | None) -> Any:
    """MLflow's ``_cast_schema_type``: the ``inputs`` (and non-record ``instances``) conversion to numpy."""
    specs = _named_specs(schema)
    if schema is not None and schema.items:
        if len(specs) == 1 and isinstance(data, list) and not any(isinstance(x, dict) for x in data):
            data = {next(iter(specs)): data}
        elif not specs and not (isinstance(data, list) or np.isscalar(data)):
            raise _invalid_input(
                "Failed to parse input data. This model contains an un-named  model signature which expects a "
                "single n-dimensional array or a single value as input, however, an input of type "
                f"{type(data)} was found."
            )
    first = schema.items[0] if schema is not None and schema.items else None
    if isinstance(data, dict):
        return {column: _convert(value, specs.get(column)) for column, value in data.items()}
    if isinstance(data, list):
        if all(isinstance(x, dict) for x in data):
            return [{column: _convert(v, specs.get(column)) for column, v in row.items()} for row in data]
        return _convert(data, first)
    try:
        return _convert(data, first)
    except BadRequest:
        raise _invalid_input(
            f"Failed to convert data `{data}` to type `{first}` defined in the model signature."
        ) from None


def _convert(data: Any, spec: ColSpec | TensorSpec | None) -> Any:
    """MLflow's ``convert_data_type``: a value (or list) to the numpy type of its spec."""
    try:
        if spec is None:
            return np.array(data)
        if isinstance(spec, TensorSpec):
            return np.array(data, dtype=np.dtype(spec.dtype))
        target = _NUMPY_TYPES.get(spec.type)
        if target is None:
            return np.array(data) if spec.type == "array" else data  # MLflow's complex types: checked by predict
        if isinstance(data, list | np.ndarray):
            return np.array(data, target)
        return np.array([data], target)[0]
    except Exception as exc:  # numpy raises several types for values it cannot convert
        raise _invalid_input(f"{exc}") from None


def _named_specs(schema: Schema | None) -> dict[str, ColSpec | TensorSpec]:
    if schema is None or not schema.items or schema.items[0].name is None:
        return {}
    items: Sequence[ColSpec | TensorSpec] = schema.items
    return {str(item.name): item for item in items}


def _is_required(spec: ColSpec | TensorSpec) -> bool:
    return spec.required if isinstance(spec, ColSpec) else True


def _is_array_type(spec: ColSpec | TensorSpec) -> bool:
    return isinstance(spec, ColSpec) and spec.type == "array"


def parse_csv_input(text: str, schema: Schema | None = None) -> Any:
    """Parse a CSV body (``DataFrame.to_csv()`` output) with the schema's column types, as MLflow does.

    Where MLflow's own call fails for every request (tensor schemas, datetime and complex column types), Shipyard
    reads the column without a type and leaves the check to ``predict``.

    Raises:
        BadRequest: the text is not CSV pandas can read (empty, ragged rows), or a column does not convert.
    """
    import pandas as pd

    dtypes: dict[Any, Any] | None = None
    dates: list[Any] = []
    if schema is not None and schema.items and not schema.is_tensor:
        specs = [item for item in schema.items if isinstance(item, ColSpec)]
        keys = [spec.name if spec.name is not None else i for i, spec in enumerate(specs)]
        dtypes = {key: _PANDAS_TYPES[s.type] for key, s in zip(keys, specs, strict=True) if s.type in _PANDAS_TYPES}
        dates = [key for key, dtype in dtypes.items() if dtype == np.dtype("datetime64[ns]")]
        dtypes = {key: dtype for key, dtype in dtypes.items() if key not in dates}
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=dtypes)
        for key in dates:
            if key in frame.columns:
                frame[key] = pd.to_datetime(frame[key], format="ISO8601").dt.as_unit("ns")
    except Exception as exc:  # pandas raises several types for unreadable CSV
        raise BadRequest(
            "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid CSV-formatted Pandas "
            f"DataFrame produced using the `pandas.DataFrame.to_csv()` method. Error: '{exc}'"
        ) from None
    return frame


def parse_parquet_input(body: bytes) -> Any:
    """Parse a Parquet body (``DataFrame.to_parquet()`` output) as MLflow does.

    Raises:
        BadRequest: the body is not Parquet pandas can read.
    """
    import pandas as pd

    try:
        return pd.read_parquet(io.BytesIO(body))
    except Exception as exc:  # pandas and pyarrow raise several types for unreadable input
        raise BadRequest(
            "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid Parquet Pandas "
            f"DataFrame produced using the `pandas.DataFrame.to_parquet()` method. Error: '{exc}'"
        ) from None


def predictions_to_json(predictions: Any) -> bytes:
    """``{"predictions": ...}`` exactly as MLflow's scoring server writes it.

    Arrays become (nested) lists, a DataFrame a list of records, a Series a list of one-key records (the key is
    the Series' name, or ``"0"``), and anything else is written as it is, with numpy values, bytes (base64),
    dates (ISO 8601) and NaN (``NaN``) written as MLflow's encoder writes them.

    Example:
        >>> predictions_to_json(np.array([0, 1]))
        b'{"predictions": [0, 1]}'
    """
    return json.dumps({"predictions": _jsonable(predictions)}, default=_encode_default).encode("utf-8")


def _jsonable(data: Any) -> Any:
    import pandas as pd

    if isinstance(data, np.ndarray):
        return data.tolist()
    if isinstance(data, pd.DataFrame):
        return data.to_dict(orient="records")
    if isinstance(data, pd.Series):
        return pd.DataFrame(data).to_dict(orient="records")
    return data


def _encode_default(value: Any) -> Any:
    """MLflow's ``NumpyEncoder.default``: the JSON form of values the standard library cannot write."""
    converted, ok = _convert_for_json(value)
    if ok:
        return converted
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _convert_for_json(value: Any) -> tuple[Any, bool]:
    import pandas as pd

    converted: Any = value
    if isinstance(value, np.ndarray):
        converted = [_convert_for_json(x)[0] for x in value.tolist()] if value.dtype == object else value.tolist()
    elif isinstance(value, np.generic):
        converted = value.item()
    elif isinstance(value, bytes | bytearray):
        converted = base64.encodebytes(value).decode("ascii")
    elif isinstance(value, pd.Timestamp | datetime.date | datetime.datetime | datetime.time):
        converted = value.isoformat()
    elif callable(getattr(value, "model_dump", None)):  # a pydantic model
        converted = value.model_dump()
    else:
        return value, False
    return converted, True
