"""`shipyard drift` as a user runs it: a subprocess on real Parquet and CSV files; table, JSON, HTML, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROWS = 2000
COLUMNS = ["num_stable", "num_shifted", "cat_stable", "cat_shifted"]
DRIFTED = {"num_shifted", "cat_shifted"}
RESULT_KEYS = {
    "column",
    "kind",
    "test",
    "score",
    "threshold",
    "drifted",
    "score_is_p_value",
    "binning",
    "reference_rows",
    "current_rows",
    "details",
}


@dataclass(frozen=True)
class Files:
    reference: Path
    current: Path
    reference_csv: Path
    current_csv: Path


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str


def drift(*args: str | Path, cwd: Path) -> Outcome:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    command = [sys.executable, "-m", "shipyard", "drift", *map(str, args)]
    done = subprocess.run(command, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    return Outcome(done.returncode, done.stdout, done.stderr)


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame(
        {
            "num_stable": rng.normal(size=ROWS),
            "num_shifted": rng.normal(size=ROWS),
            "cat_stable": rng.choice(["a", "b", "c"], ROWS),
            "cat_shifted": rng.choice(["x", "y", "z"], ROWS, p=[0.6, 0.3, 0.1]),
        }
    )
    current = pd.DataFrame(
        {
            "num_stable": rng.normal(size=ROWS),
            "num_shifted": rng.normal(1.0, size=ROWS),
            "cat_stable": rng.choice(["a", "b", "c"], ROWS),
            "cat_shifted": rng.choice(["x", "y", "z"], ROWS, p=[0.1, 0.3, 0.6]),
        }
    )
    return reference, current


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    root = tmp_path_factory.mktemp("drift-data")
    reference, current = _frames()
    reference.to_parquet(root / "reference.parquet", index=False)
    current.assign(extra=1).to_parquet(root / "current.parquet", index=False)  # a column the reference lacks
    reference.to_csv(root / "reference.csv", index=False)
    current.to_csv(root / "current.csv", index=False)
    return Files(root / "reference.parquet", root / "current.parquet", root / "reference.csv", root / "current.csv")


def test_prints_a_row_per_column_and_the_summary(files: Files, tmp_path: Path) -> None:
    outcome = drift(files.reference, files.current, cwd=tmp_path)

    assert 0 == outcome.code, outcome.stderr
    rows = {line.split()[1]: line for line in outcome.stdout.splitlines() if line.split()[1:2] and "│" in line}
    assert set(COLUMNS) <= set(rows)
    assert all(("yes" in rows[name]) == (name in DRIFTED) for name in COLUMNS)
    assert "2 of 4 columns drifted (share 0.50): dataset drift yes" in outcome.stdout


def test_reads_csv_files(files: Files, tmp_path: Path) -> None:
    outcome = drift(files.reference_csv, files.current_csv, "--json", "out.json", cwd=tmp_path)

    assert 0 == outcome.code, outcome.stderr
    document = json.loads((tmp_path / "out.json").read_text())
    assert DRIFTED == {c["column"] for c in document["columns"] if c["drifted"]}


def test_json_holds_every_column_result(files: Files, tmp_path: Path) -> None:
    outcome = drift(files.reference, files.current, "--json", tmp_path / "out.json", cwd=tmp_path)

    assert 0 == outcome.code, outcome.stderr
    document = json.loads((tmp_path / "out.json").read_text())
    assert {
        "reference",
        "current",
        "preset",
        "drift_share",
        "drifted_count",
        "drifted_share",
        "dataset_drift",
        "reference_rows",
        "current_rows",
        "columns",
        "skipped",
    } <= set(document)
    assert COLUMNS == [c["column"] for c in document["columns"]]
    assert all(RESULT_KEYS <= set(c) for c in document["columns"])
    assert DRIFTED == {c["column"] for c in document["columns"] if c["drifted"]}
    assert (2, 0.5, True) == (document["drifted_count"], document["drifted_share"], document["dataset_drift"])
    assert (ROWS, ROWS) == (document["reference_rows"], document["current_rows"])


def test_writes_a_self_contained_report(files: Files, tmp_path: Path) -> None:
    outcome = drift(files.reference, files.current, "--report", "drift.html", cwd=tmp_path)

    assert 0 == outcome.code, outcome.stderr
    html = (tmp_path / "drift.html").read_text()
    assert 4 == html.count("<svg")
    assert "<script" not in html
    assert "https://" not in html
    assert ["drift.html"] == [p.name for p in tmp_path.iterdir()]


def test_progress_leaves_stderr_clean_when_not_a_terminal(files: Files, tmp_path: Path) -> None:
    outcome = drift(files.reference, files.current, "--report", "drift.html", cwd=tmp_path)

    assert "Wrote drift.html" == outcome.stderr.strip()


def test_drift_exits_0_without_fail_on_drift(files: Files, tmp_path: Path) -> None:
    assert 0 == drift(files.reference, files.current, cwd=tmp_path).code


def test_fail_on_drift_exits_1_when_the_data_set_drifted(files: Files, tmp_path: Path) -> None:
    outcome = drift(files.reference, files.current, "--fail-on-drift", "--json", "out.json", cwd=tmp_path)

    assert 1 == outcome.code
    assert "dataset drift yes" in outcome.stdout
    assert (tmp_path / "out.json").is_file()  # the results are still written for the CI job to keep


def test_fail_on_drift_exits_0_when_the_data_set_did_not_drift(files: Files, tmp_path: Path) -> None:
    outcome = drift(
        files.reference, files.current, "--fail-on-drift", "--columns", "num_stable,cat_stable", cwd=tmp_path
    )

    assert 0 == outcome.code, outcome.stderr
    assert "0 of 2 columns drifted (share 0.00): dataset drift no" in outcome.stdout


def test_drift_share_sets_the_dataset_verdict(files: Files, tmp_path: Path) -> None:
    outcome = drift(files.reference, files.current, "--drift-share", "0.75", "--fail-on-drift", cwd=tmp_path)

    assert 0 == outcome.code, outcome.stderr
    assert "dataset drift no" in outcome.stdout


def test_columns_take_comma_lists_and_repeats(files: Files, tmp_path: Path) -> None:
    outcome = drift(
        files.reference, files.current, "-c", "cat_shifted, num_stable", "--columns", "num_shifted", "--json", "o.json",
        cwd=tmp_path,
    )  # fmt: skip

    assert 0 == outcome.code, outcome.stderr
    document = json.loads((tmp_path / "o.json").read_text())
    assert {"cat_shifted", "num_stable", "num_shifted"} == {c["column"] for c in document["columns"]}


def test_robust_preset_is_recorded(files: Files, tmp_path: Path) -> None:
    outcome = drift(files.reference, files.current, "--preset", "robust", "--json", "o.json", cwd=tmp_path)

    assert 0 == outcome.code, outcome.stderr
    assert "robust" == json.loads((tmp_path / "o.json").read_text())["preset"]


def test_hostile_column_name_prints_as_text(tmp_path: Path) -> None:
    frame = pd.DataFrame({"[bold red]<script>": np.arange(50, dtype="float64")})
    frame.to_parquet(tmp_path / "a.parquet")

    outcome = drift("a.parquet", "a.parquet", "--report", "r.html", cwd=tmp_path)

    assert 0 == outcome.code, outcome.stderr
    assert "[bold red]<script>" in outcome.stdout
    assert "<script>" not in (tmp_path / "r.html").read_text()


def _unreadable(root: Path) -> Path:
    (root / "broken.parquet").write_text("not parquet at all\n")
    return root / "broken.parquet"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("missing.parquet", "{current}"), "Input file 'missing.parquet' does not exist."),
        (("{reference}", "data.xlsx"), "Cannot read 'data.xlsx': expected a .parquet, .pq, .csv file, got .xlsx."),
        (("{reference}", "{current}", "--columns", "num_stable,nope"), "Column(s) 'nope' not in 'reference.parquet'"),
        (("{reference}", "{broken}"), "Cannot read 'broken.parquet' as Parquet:"),
        (("{reference}", "{current}", "--report", "no/such/dir/r.html"), "folder 'no/such/dir' does not exist"),
    ],
    ids=["missing-file", "unknown-extension", "unknown-column", "unreadable-parquet", "missing-output-folder"],
)
def test_bad_input_fails_with_one_line_and_no_output(
    files: Files, tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    (tmp_path / "data.xlsx").write_bytes(b"PK")
    paths = {"reference": files.reference, "current": files.current, "broken": _unreadable(tmp_path)}
    before = sorted(p.name for p in tmp_path.iterdir())

    outcome = drift("--json", "o.json", "--report", "r.html", *(a.format(**paths) for a in args), cwd=tmp_path)

    assert 1 == outcome.code
    assert 1 == len(outcome.stderr.strip().splitlines()), outcome.stderr
    assert outcome.stderr.startswith("error: ")
    assert expected in outcome.stderr
    assert "" == outcome.stdout
    assert before == sorted(p.name for p in tmp_path.iterdir())


def test_named_column_missing_from_current_is_named(files: Files, tmp_path: Path) -> None:
    pd.DataFrame({"num_stable": [1.0, 2.0]}).to_parquet(tmp_path / "narrow.parquet")

    outcome = drift(files.reference, "narrow.parquet", "--columns", "num_stable,num_shifted", cwd=tmp_path)

    assert 1 == outcome.code
    assert "Column(s) 'num_shifted' not in 'narrow.parquet'" in outcome.stderr


def test_column_only_in_current_is_listed_as_not_tested(files: Files, tmp_path: Path) -> None:
    outcome = drift(files.reference, files.current, "--json", "o.json", cwd=tmp_path)

    assert "Not tested: extra (not in the reference data)" in outcome.stdout
    assert {"extra": "not in the reference data"} == json.loads((tmp_path / "o.json").read_text())["skipped"]


def test_error_naming_a_markup_like_column_prints_it_as_text(files: Files, tmp_path: Path) -> None:
    outcome = drift(files.reference, files.current, "--columns", "[/bold]x", cwd=tmp_path)

    assert 1 == outcome.code
    assert "error: Column(s) '[/bold]x' not in 'reference.parquet'" in outcome.stderr


def test_bad_preset_is_a_usage_error(files: Files, tmp_path: Path) -> None:
    assert 2 == drift(files.reference, files.current, "--preset", "fast", cwd=tmp_path).code
