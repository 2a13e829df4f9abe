"""Reading what a monitor watches: a prediction log per window (with its labels), a Parquet data set with a time
column, and the reference data; column names come out without the log's ``input.`` prefix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidParameter

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.monitoring.monitors._spec import MonitorSpec

__all__ = ["INPUT_PREFIX", "Source", "WindowData", "read_parquet"]

INPUT_PREFIX = "input."


@dataclass(frozen=True)
class WindowData:
    """One window's rows: the tested inputs, the raw log rows (ops), and the labelled rows (model quality)."""

    inputs: pd.DataFrame
    log: pd.DataFrame | None = None
    labelled: pd.DataFrame | None = None


def read_parquet(uri: str, *, s3_endpoint_url: str | None = None) -> pd.DataFrame:
    """A Parquet file or folder (a path, ``file://`` or ``s3://`` URI) as a DataFrame.

    Raises:
        InvalidParameter: it does not exist or is not Parquet.
    """
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
    import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no type information

    from shipyard.artifacts import open_artifact_store
    from shipyard.errors import ResourceNotFound

    try:
        if uri.startswith("s3://"):
            parent, _, name = uri.rstrip("/").rpartition("/")
            store = open_artifact_store(parent, s3_endpoint_url=s3_endpoint_url)
            if name.endswith(".parquet"):
                paths = [name]
            else:
                paths = sorted(f.path for f in store.list_dir(name) if f.path.endswith(".parquet") and not f.is_dir)
            tables = [pq.read_table(pa.BufferReader(b"".join(store.iter_read(p)))) for p in paths]
            if not tables:
                raise InvalidParameter(f"No Parquet files at {uri!r}.")
            frame: pd.DataFrame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
            return frame
        path = uri.removeprefix("file://")
        return pq.read_table(path).to_pandas()
    except (OSError, pa.ArrowException, ResourceNotFound) as exc:
        raise InvalidParameter(f"Cannot read the Parquet data set {uri!r}: {exc}.") from None


def _strip(frame: pd.DataFrame) -> pd.DataFrame:
    renames = {c: c.removeprefix(INPUT_PREFIX) for c in frame.columns if c.startswith(INPUT_PREFIX)}
    return frame.rename(columns=renames) if renames else frame


def _as_ms(values: pd.Series) -> pd.Series:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(values):
        if getattr(values.dt, "tz", None) is None:
            values = values.dt.tz_localize("UTC")
        epoch = pd.Timestamp(0, tz="UTC")
        return ((values.dt.tz_convert("UTC") - epoch) // pd.Timedelta(milliseconds=1)).astype("int64")
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("int64")
    raise InvalidParameter(f"The time column {values.name!r} holds neither timestamps nor integer milliseconds.")


@dataclass
class Source:
    """What one run of a monitor reads, cached for the run: the reference once, a data set once."""

    spec: MonitorSpec
    s3_endpoint_url: str | None = None
    _reference: pd.DataFrame | None = field(default=None, repr=False)
    _dataset: pd.DataFrame | None = field(default=None, repr=False)
    _feedback: Any = field(default=None, repr=False)

    def reference(self) -> pd.DataFrame:
        """The reference data, columns named without ``input.``."""
        if self._reference is None:
            ref = self.spec.reference
            if ref.path is not None:
                self._reference = _strip(read_parquet(ref.path, s3_endpoint_url=self.s3_endpoint_url))
            else:
                assert ref.window is not None
                self._reference = self.window(ref.window.start_ms, ref.window.end_ms, with_labels=False).inputs
        return self._reference

    def window(self, start_ms: int, end_ms: int, *, with_labels: bool = True) -> WindowData:
        """The rows of ``[start_ms, end_ms)``."""
        if self.spec.dataset is not None:
            frame = self._dataset_frame()
            times = frame["__time_ms__"]
            rows = frame[(times >= start_ms) & (times < end_ms)].drop(columns="__time_ms__")
            return WindowData(inputs=_strip(rows.drop(columns=self.spec.dataset.time_column)))
        return self._log_window(start_ms, end_ms, with_labels=with_labels)

    def _dataset_frame(self) -> pd.DataFrame:
        if self._dataset is None:
            dataset = self.spec.dataset
            assert dataset is not None
            frame = read_parquet(dataset.path, s3_endpoint_url=self.s3_endpoint_url)
            if dataset.time_column not in frame.columns:
                raise InvalidParameter(f"The data set {dataset.path!r} has no time column {dataset.time_column!r}.")
            self._dataset = frame.assign(__time_ms__=_as_ms(frame[dataset.time_column]))
        return self._dataset

    def _log_window(self, start_ms: int, end_ms: int, *, with_labels: bool) -> WindowData:
        from shipyard.predlog._writer import join_feedback, read_feedback, read_predictions

        log_spec = self.spec.deployment
        assert log_spec is not None
        table = read_predictions(
            log_spec.uri,
            log_spec.name,
            start_ms=start_ms,
            end_ms=end_ms,
            variant=log_spec.variant,
            s3_endpoint_url=self.s3_endpoint_url,
        )
        log: pd.DataFrame = table.to_pandas()
        served = log if log_spec.include_shadow else log[~log["shadow"].astype(bool)]
        inputs = _strip(served[[c for c in served.columns if c.startswith(INPUT_PREFIX)]]).reset_index(drop=True)
        labelled = None
        if with_labels and not served.empty and "prediction" in served.columns:
            if self._feedback is None:  # labels arrive after their predictions: read them once, up to now
                self._feedback = read_feedback(
                    log_spec.uri, log_spec.name, start_ms=start_ms, s3_endpoint_url=self.s3_endpoint_url
                )
            if self._feedback.num_rows:
                joined = join_feedback(served, self._feedback)
                labelled = joined[joined["label"].notna()]
        return WindowData(inputs=inputs, log=log, labelled=labelled)


def columns_for(spec: MonitorSpec, reference: pd.DataFrame, current: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The columns to test (in the current data's order) and the asked-for ones missing from either side."""
    wanted = spec.columns if spec.columns is not None else list(current.columns)
    present = [c for c in wanted if c in current.columns and c in reference.columns]
    missing = [c for c in wanted if c not in present]
    return present, missing
