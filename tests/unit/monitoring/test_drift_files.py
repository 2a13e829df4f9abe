"""data_drift_files: the report data_drift gives on the same files read by pandas, a column at a time."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from shipyard.errors import InvalidParameter
from shipyard.monitoring.drift import data_drift, data_drift_files

ROWS = 5000


def _table(rng: np.random.Generator, *, current: bool) -> pa.Table:
    def missing(share: float) -> np.ndarray:
        return rng.random(ROWS) < share

    columns: dict[str, pa.Array] = {
        "float_missing": pa.array(rng.normal(0.2 if current else 0.0, 1.0, ROWS), mask=missing(0.05)),
        "float32": pa.array(rng.normal(0.0, 1.0, ROWS).astype(np.float32)),
        "few_floats": pa.array(rng.choice([1.0, 2.0, 3.0, -0.0, 0.0, np.inf], ROWS)),
        "int_few": pa.array(rng.integers(0, 6 if current else 5, ROWS)),
        "int_many": pa.array(rng.poisson(21.0 if current else 20.0, ROWS)),
        "int_missing": pa.array(rng.integers(0, 5, ROWS), mask=missing(0.1)),
        "uint_ids": pa.array(rng.integers(0, 10**9, ROWS).astype(np.uint64)),
        "strings": pa.array(rng.choice(["a", "b", "c", "d", *(["new"] if current else [])], ROWS), mask=missing(0.1)),
        "text": pa.array([f"t{i}" for i in rng.integers(0, 10**6, ROWS)]),
        "flags": pa.array(rng.random(ROWS) < (0.4 if current else 0.3)),
        "flags_missing": pa.array(rng.random(ROWS) < 0.3, mask=missing(0.1)),
        "times": pa.array(np.arange(ROWS).astype("datetime64[s]")),
        "dictionary": pa.array(rng.choice(["x", "y"], ROWS)).dictionary_encode(),
        "all_missing": pa.array([None] * ROWS, type=pa.float64()),
    }
    if current:
        columns["only_current"] = pa.array(rng.normal(size=ROWS))
    return pa.table(columns)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("drift-files")
    rng = np.random.default_rng(11)
    reference, current = folder / "reference.parquet", folder / "current.parquet"
    pq.write_table(_table(rng, current=False), reference)
    pq.write_table(_table(rng, current=True), current)
    return reference, current


OPTIONS: list[dict[str, Any]] = [
    {},
    {"preset": "robust"},
    {"categorical_columns": ["float_missing", "int_missing", "flags", "uint_ids", "few_floats"]},
    {"numerical_columns": ["int_few", "flags"]},
    {"method": "psi"},
    {"num_method": "ks", "cat_method": "chisquare", "columns": ["float_missing", "int_few", "strings", "flags"]},
]


@pytest.mark.parametrize("options", OPTIONS, ids=[str(sorted(o)) for o in OPTIONS])
def test_report_equals_data_drift_on_the_files_read_by_pandas(
    files: tuple[Path, Path], options: dict[str, Any]
) -> None:
    reference, current = files
    expected = data_drift(pd.read_parquet(reference), pd.read_parquet(current), **options)

    assert expected == data_drift_files(reference, current, **options)


def test_every_kind_of_column_is_covered(files: tuple[Path, Path]) -> None:
    report = data_drift_files(*files)

    assert {"only_current", "text", "flags_missing", "times", "all_missing"} == set(report.skipped)
    assert {"float_missing", "float32", "few_floats", "int_few", "int_many", "int_missing", "uint_ids"} <= {
        c.column for c in report.columns
    }
    assert {
        "strings": "categorical",
        "flags": "categorical",
        "dictionary": "categorical",
        "int_few": "categorical",
    } == {c.column: c.kind for c in report.columns if c.column in {"strings", "flags", "dictionary", "int_few"}}


def test_pandas_metadata_dtypes_are_kept(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    frames = [
        pd.DataFrame(
            {
                "nullable": pd.array([*rng.integers(0, 30, 999), None], dtype="Int64"),
                "category": pd.Categorical(rng.choice(["u", "v"], 1000)),
                "plain": rng.normal(size=1000),
            },
            index=pd.Index(np.arange(1000) + 7, name="row"),
        )
        for _ in range(2)
    ]
    paths = [tmp_path / "reference.parquet", tmp_path / "current.parquet"]
    for frame, path in zip(frames, paths, strict=True):
        frame.to_parquet(path)

    expected = data_drift(pd.read_parquet(paths[0]), pd.read_parquet(paths[1]))

    assert expected == data_drift_files(*paths)


def test_csv_files_are_read_as_pyarrow_reads_them(files: tuple[Path, Path], tmp_path: Path) -> None:
    paths = []
    for path in files:
        table = pq.read_table(path, columns=["float_missing", "int_many", "strings"])
        paths.append(tmp_path / f"{path.stem}.csv")
        pa_csv.write_csv(table, paths[-1])

    frames = [pa_csv.read_csv(path).to_pandas() for path in paths]

    assert data_drift(*frames) == data_drift_files(*paths)


def test_progress_is_called_once_per_tested_column(files: tuple[Path, Path]) -> None:
    calls: list[dict[str, Any]] = []

    report = data_drift_files(*files, progress=lambda **kwargs: calls.append(kwargs))

    assert len(report.columns) + len(report.skipped) - 1 == len(calls)  # "only_current" is never read
    assert list(range(1, len(calls) + 1)) == [call["done"] for call in calls]


@pytest.mark.parametrize("name", ["data.json", "missing.parquet"])
def test_unreadable_input_is_an_invalid_parameter(files: tuple[Path, Path], tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidParameter, match=name):
        data_drift_files(files[0], tmp_path / name)


def test_a_file_that_is_not_parquet_names_the_file(files: tuple[Path, Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")

    with pytest.raises(InvalidParameter, match=re.escape("Cannot read 'broken.parquet' as Parquet")):
        data_drift_files(files[0], broken)
