"""``data_drift`` agrees with the real Evidently 0.7.23, column by column: same test, same decision, same score.

Evidently needs pandas < 3, so it runs in its own virtualenv (``tests/support/evidently_venv.py``) on Parquet
copies of the data generated here.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.monitoring.drift import data_drift
from tests.support.evidently_venv import EvidentlyUnavailable, evidently_python

pytestmark = pytest.mark.slow

RUNNER = Path(__file__).resolve().parents[1] / "support" / "evidently_runner.py"
RELATIVE_TOLERANCE = 1e-6
NUMERICAL = ["num_normal_shifted", "num_binary_flag", "num_float_5_values", "num_int_15_values"]
CATEGORICAL = ["cat_shifted", "num_float_2_values", "cat_new_category"]


@pytest.fixture(scope="module")
def evidently() -> Path:
    try:
        return evidently_python()
    except EvidentlyUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI requires the Evidently virtualenv: {exc}")
        pytest.skip(f"Evidently virtualenv unavailable (offline?): {exc}")


def _frames(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current data: stable and drifted columns of every shape the default rules tell apart."""
    rng = np.random.default_rng(seed)

    def side(drift: bool) -> pd.DataFrame:
        shift = 1.0 if drift else 0.0
        missing = rng.normal(size=rows)
        missing[rng.random(rows) < (0.3 if drift else 0.1)] = np.nan
        missing[:3] = np.inf
        cat_p = [0.4, 0.3, 0.2, 0.1] if not drift else [0.25, 0.25, 0.25, 0.25]
        new = rng.choice(["a", "b", "c"], rows).astype(object)
        if drift:
            new[rng.random(rows) < 0.02] = "new"
        high = rng.integers(0, 500, rows).astype(str)
        return pd.DataFrame(
            {
                "num_normal_stable": rng.normal(size=rows),
                "num_normal_shifted": rng.normal(0.3 * shift, 1.0, rows),
                "num_scaled": rng.normal(0, 1 + 0.5 * shift, rows),
                "num_pareto_stable": rng.pareto(1.5, rows),
                "num_int_15_values": np.minimum(rng.poisson(4 + shift, rows), 14),
                "num_binary_flag": rng.integers(0, 2, rows),
                "num_float_5_values": rng.integers(0, 5, rows) * 0.5 + 0.1 * shift * (rng.random(rows) < 0.5),
                "num_float_2_values": rng.choice([0.0, 1.5], rows, p=[0.5 - 0.1 * shift, 0.5 + 0.1 * shift]),
                "num_missing": missing,
                "num_constant": np.full(rows, 2.5),
                "num_int_wide": rng.integers(0, 40, rows) + int(3 * shift),
                "cat_stable": rng.choice(["a", "b", "c", "d"], rows, p=[0.4, 0.3, 0.2, 0.1]),
                "cat_shifted": rng.choice(["a", "b", "c", "d"], rows, p=cat_p),
                "cat_new_category": new,
                "cat_high_stable": high,
                "cat_binary": rng.choice(["no", "yes"], rows, p=[0.7 - 0.1 * shift, 0.3 + 0.1 * shift]),
                "cat_bool": rng.random(rows) < 0.5,
            }
        )

    return side(False), side(True)


CASES: dict[str, tuple[int, int, list[str] | None, list[str] | None]] = {
    # name: (rows, seed, explicit numerical columns, explicit categorical columns)
    "inferred-1k": (1000, 1, None, None),
    "inferred-10k": (10_000, 2, None, None),
    "inferred-100k": (100_000, 3, None, None),
    "explicit-600": (600, 4, NUMERICAL, CATEGORICAL),
    "explicit-5k": (5000, 5, NUMERICAL, CATEGORICAL),
}


def _case_frames(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, seed, numerical, categorical = CASES[name]
    reference, current = _frames(rows, seed)
    if numerical is not None and categorical is not None:
        return reference[numerical + categorical], current[numerical + categorical]
    return reference, current


@pytest.fixture(scope="module")
def evidently_results(evidently: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every case through Evidently in one process (importing Evidently alone takes seconds)."""
    folder = tmp_path_factory.mktemp("evidently")
    jobs = []
    for name, (_, _, numerical, categorical) in CASES.items():
        reference, current = _case_frames(name)
        reference.to_parquet(folder / f"{name}-reference.parquet")
        current.to_parquet(folder / f"{name}-current.parquet")
        jobs.append(
            {
                "reference": str(folder / f"{name}-reference.parquet"),
                "current": str(folder / f"{name}-current.parquet"),
                "out": str(folder / f"{name}.json"),
                "numerical": numerical,
                "categorical": categorical,
            }
        )
    (folder / "jobs.json").write_text(json.dumps(jobs))
    subprocess.run([str(evidently), str(RUNNER), str(folder / "jobs.json")], check=True, timeout=300)
    return {name: json.loads((folder / f"{name}.json").read_text()) for name in CASES}


def _assert_agrees(expected: Any, report: Any) -> float:
    """Every column: same test, same decision, same score; returns the largest relative score difference."""
    assert sorted(c["column"] for c in expected["columns"]) == sorted(c.column for c in report.columns)
    largest = 0.0
    for theirs in expected["columns"]:
        ours = report.column(theirs["column"])
        assert (theirs["column"], theirs["test"]) == (ours.column, ours.test)
        assert (theirs["column"], theirs["drifted"]) == (ours.column, ours.drifted)
        if theirs["score"] is None:
            assert math.isnan(ours.score), theirs
            continue
        difference = abs(ours.score - theirs["score"]) / max(abs(theirs["score"]), 1e-300)
        if theirs["score"] == 0.0:
            difference = abs(ours.score)
        assert difference <= RELATIVE_TOLERANCE, (theirs, ours.score)
        largest = max(largest, difference)
    assert (expected["dataset_drift"], expected["drifted_share"]) == (report.dataset_drift, report.drifted_share)
    return largest


@pytest.mark.parametrize("case", list(CASES))
def test_default_preset_agrees_with_evidently(evidently_results: dict[str, Any], case: str) -> None:
    reference, current = _case_frames(case)
    _, _, numerical, categorical = CASES[case]
    report = data_drift(reference, current, numerical_columns=numerical, categorical_columns=categorical)
    largest = _assert_agrees(evidently_results[case], report)
    print(f"{case}: largest relative score difference {largest:.2e}")
