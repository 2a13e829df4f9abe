"""Run Evidently's DataDriftPreset on two Parquet files and write each column's test, score and decision as JSON.

Run by the Evidently virtualenv's python (``tests/support/evidently_venv.py``), never imported by the tests:

    python evidently_runner.py JOBS.json

``JOBS.json`` lists runs (Evidently takes seconds to import, so one process does them all):
``[{"reference": path, "current": path, "out": path, "numerical": [...] | null, "categorical": [...] | null}]``.
Each run's output: ``{"columns": [{"column", "test", "method", "score", "threshold", "drifted"}],
"drifted_share": float, "dataset_drift": bool}``, where ``test`` is Evidently's registered test name
(``ks``, ``wasserstein``...) and ``method`` its display name as the report shows it.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jobs", type=Path)
    for job in json.loads(parser.parse_args().jobs.read_text()):
        run(
            Path(job["reference"]), Path(job["current"]), Path(job["out"]), job.get("numerical"), job.get("categorical")
        )


def run(
    reference_path: Path, current_path: Path, out: Path, numerical: list[str] | None, categorical: list[str] | None
) -> None:
    """One report: Evidently's per-column results written to ``out``."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests
    from evidently.presets import DataDriftPreset

    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    if numerical is not None or categorical is not None:
        definition = DataDefinition(numerical_columns=numerical or [], categorical_columns=categorical or [])
        current_data: Any = Dataset.from_pandas(current, data_definition=definition)
        reference_data: Any = Dataset.from_pandas(reference, data_definition=definition)
    else:
        current_data, reference_data = current, reference
    snapshot = Report([DataDriftPreset()], include_tests=True).run(current_data, reference_data).dict()

    # the report names each test by its display name ("K-S p_value"); map it back to the registered name ("ks")
    names = {test.display_name: name for name, kinds in _registered_stat_tests.items() for test in kinds.values()}
    drifted = {
        test["metric_config"]["params"]["column"]: test["status"] == "FAIL"
        for test in snapshot["tests"]
        if test["id"] == "drift"
    }
    columns: list[dict[str, Any]] = []
    share = math.nan
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config["type"].endswith("DriftedColumnsCount"):
            share = float(metric["value"]["share"])
        elif config["type"].endswith(":ValueDrift"):
            score = metric["value"]
            columns.append(
                {
                    "column": config["column"],
                    "test": names.get(config["method"], config["method"]),
                    "method": config["method"],
                    "score": None if score is None or score != score else float(score),
                    "threshold": config["threshold"],
                    "drifted": drifted.get(config["column"]),
                }
            )
    out.write_text(json.dumps({"columns": columns, "drifted_share": share, "dataset_drift": share >= 0.5}))


if __name__ == "__main__":
    main()
