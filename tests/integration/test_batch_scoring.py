"""`shipyard predict`: chunked, parallel batch scoring of Parquet and CSV files, with bounded memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app

pytestmark = pytest.mark.filterwarnings("ignore::shipyard.models.PickleWarning")

FEATURES = ["a", "b", "c"]
ROWS = 50_000


class ProbaModel:
    """A python-flavor model returning two columns per row: [p, 1 - p]."""

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        p = 1 / (1 + np.exp(-data["a"].to_numpy()))
        return np.column_stack([p, 1 - p])


class FailsPastRow:
    """A python-flavor model that raises once it sees an id past 30,000 (in the features: column a)."""

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        if (data["a"] > 30_000).any():
            raise ValueError("boom past row 30,000")
        return data["a"].to_numpy() * 2


def _frame(rows: int = ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, 3)), columns=FEATURES)
    frame.insert(0, "id", np.arange(rows, dtype=np.int64)[::-1])  # descending: order must be preserved
    return frame


@pytest.fixture(scope="module")
def sklearn_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    from sklearn.linear_model import LinearRegression

    from shipyard.models import save_model

    root = tmp_path_factory.mktemp("batch")
    train = _frame(500)[FEATURES]
    model = LinearRegression().fit(train, train["a"] * 2 + train["b"] - train["c"] + 1)
    save_model(model, root / "model", input_example=train.head(3))
    return root / "model", model


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path, Path]:
    root = tmp_path_factory.mktemp("data")
    frame = _frame()
    frame.to_parquet(root / "data.parquet", row_group_size=12_345)
    frame.to_csv(root / "data.csv", index=False)
    return frame, root / "data.parquet", root / "data.csv"


def _python_model(model: object, folder: Path) -> Path:
    from shipyard.models import save_model

    save_model(model, folder, input_example=_frame(3)[FEATURES])
    return folder


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["predict", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize("source", [1, 2], ids=["parquet", "csv"])
def test_predictions_match_the_model_on_the_whole_file_in_input_order(
    sklearn_model: tuple[Path, object], data: tuple[pd.DataFrame, Path, Path], tmp_path: Path, source: int
) -> None:
    folder, model = sklearn_model
    frame = data[0]
    out = tmp_path / "out.parquet"

    code, output = invoke(
        str(folder), "--input", str(data[source]), "--output", str(out), "--chunk-rows", "7000", "--workers", "2"
    )
    scored = pd.read_parquet(out)

    assert (0, ["id", "prediction"], frame["id"].tolist()) == (code, list(scored.columns), scored["id"].tolist())
    np.testing.assert_allclose(scored["prediction"], model.predict(frame[FEATURES]))  # type: ignore[attr-defined]
    assert "Scored 50,000 rows" in output


def test_two_dimensional_predictions_become_numbered_columns(
    data: tuple[pd.DataFrame, Path, Path], tmp_path: Path
) -> None:
    folder = _python_model(ProbaModel(), tmp_path / "proba")
    frame = data[0]
    out = tmp_path / "out.parquet"

    code, _ = invoke(
        str(folder), "--input", str(data[1]), "--output", str(out), "--chunk-rows", "9000", "--workers", "1"
    )
    scored = pd.read_parquet(out)

    assert (0, ["id", "prediction_0", "prediction_1"]) == (code, list(scored.columns))
    np.testing.assert_allclose(scored[["prediction_0", "prediction_1"]], ProbaModel().predict(frame))


def test_key_option_chooses_the_columns_copied_to_the_output(
    sklearn_model: tuple[Path, object], data: tuple[pd.DataFrame, Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out.parquet"

    code, _ = invoke(
        str(sklearn_model[0]),
        "--input",
        str(data[1]),
        "--output",
        str(out),
        "--key",
        "id",
        "--key",
        "a",
        "--workers",
        "1",
    )

    assert (0, ["id", "a", "prediction"]) == (code, pq.read_schema(out).names)


def test_missing_feature_column_fails_before_scoring_and_names_it(
    sklearn_model: tuple[Path, object], data: tuple[pd.DataFrame, Path, Path], tmp_path: Path
) -> None:
    source = tmp_path / "no_b.parquet"
    data[0].drop(columns=["b"]).to_parquet(source)
    out = tmp_path / "out.parquet"

    code, output = invoke(str(sklearn_model[0]), "--input", str(source), "--output", str(out))

    assert (1, True, False) == (code, "missing column 'b'" in output, out.exists())


def test_unsupported_extension_is_refused(sklearn_model: tuple[Path, object], tmp_path: Path) -> None:
    source = tmp_path / "data.json"
    source.write_text("{}")

    code, output = invoke(str(sklearn_model[0]), "--input", str(source), "--output", str(tmp_path / "o.parquet"))

    assert (1, True) == (code, "expected a .parquet, .pq, .csv file" in output)


def test_model_failure_midway_leaves_no_output_and_names_the_rows(tmp_path: Path) -> None:
    folder = _python_model(FailsPastRow(), tmp_path / "fails")
    source = tmp_path / "data.parquet"
    pd.DataFrame({"id": np.arange(50_000), "a": np.arange(50_000.0), "b": 0.0, "c": 0.0}).to_parquet(source)
    out = tmp_path / "out.parquet"

    code, output = invoke(
        str(folder), "--input", str(source), "--output", str(out), "--chunk-rows", "7000", "--workers", "2"
    )

    assert (1, True, True, []) == (
        code,
        "rows 28,000-34,999" in output,
        "boom past row 30,000" in output,
        [p.name for p in tmp_path.iterdir() if "out.parquet" in p.name],
    )


def test_score_file_reports_rows_and_progress(sklearn_model: tuple[Path, object], tmp_path: Path) -> None:
    from shipyard.serving.batch import score_file

    source = tmp_path / "data.parquet"
    _frame(10_000).to_parquet(source)
    seen: list[tuple[int, int | None]] = []

    result = score_file(
        sklearn_model[0],
        source,
        tmp_path / "out.parquet",
        chunk_rows=3_000,
        progress=lambda *, rows_done, rows_total, **_: seen.append((rows_done, rows_total)),
    )

    assert (10_000, [0, 3_000, 6_000, 9_000, 10_000], {10_000}) == (
        result.rows,
        [done for done, _ in seen],
        {total for _, total in seen},
    )


_MEMORY_SCRIPT = """
import resource, sys
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
from shipyard.serving.batch import score_file

folder, source, out = sys.argv[1:4]
small = pq.ParquetFile(source).read_row_group(0).slice(0, 40_000)
pq.write_table(small, out + ".small.parquet")
score_file(folder, out + ".small.parquet", out, chunk_rows=20_000, workers=1)  # warm: imports, model, allocator
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
score_file(folder, source, out, chunk_rows=20_000, workers=1)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) // 1024)
"""


@pytest.mark.slow
def test_memory_stays_bounded_on_a_large_file(sklearn_model: tuple[Path, object], tmp_path: Path) -> None:
    rows = 2_000_000
    rng = np.random.default_rng(1)
    source = tmp_path / "big.parquet"
    with pq.ParquetWriter(source, pa.schema([("id", pa.int64())] + [(c, pa.float64()) for c in FEATURES])) as w:
        for start in range(0, rows, 250_000):
            part = {"id": np.arange(start, start + 250_000)} | {c: rng.normal(size=250_000) for c in FEATURES}
            w.write_table(pa.table(part), row_group_size=250_000)
    script = textwrap.dedent(_MEMORY_SCRIPT)

    run = subprocess.run(
        [sys.executable, "-c", script, str(sklearn_model[0]), str(source), str(tmp_path / "out.parquet")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    growth_mb = int(run.stdout.strip().splitlines()[-1])

    # the file's features are 64 MB and its output 32 MB; a bounded reader grows ~25 MB (caching every column
    # chunk read, as pyarrow's pre_buffer does, grows ~70 MB)
    assert (growth_mb < 45, pq.read_metadata(tmp_path / "out.parquet").num_rows) == (True, rows)
