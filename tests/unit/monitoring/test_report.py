"""The drift report's HTML: self-contained, escaped, drifted columns first, one compact plot per column."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard.monitoring.drift import data_drift
from shipyard.monitoring.entities import ColumnDrift, DriftReport
from shipyard.monitoring.report import TOP_CATEGORIES, render_drift_report, write_drift_report

ROWS = 3000
HOSTILE = '<script>alert("x")</script>'
HOSTILE_ATTRIBUTE = '"><img src=x onerror=alert(1)>'


def _result(column: str, kind: str = "numerical", *, drifted: bool = False, **fields: object) -> ColumnDrift:
    values: dict[str, object] = {
        "test": "wasserstein" if kind == "numerical" else "jensenshannon",
        "score": 0.3 if drifted else 0.01,
        "threshold": 0.1,
        "score_is_p_value": False,
        "binning": "none" if kind == "numerical" else "per_value",
        "reference_rows": ROWS,
        "current_rows": ROWS,
        **fields,
    }
    return ColumnDrift(column=column, kind=kind, drifted=drifted, **values)  # type: ignore[arg-type]


def _report(*columns: ColumnDrift) -> DriftReport:
    return DriftReport(columns=columns, reference_rows=ROWS, current_rows=ROWS)


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    reference = pd.DataFrame(
        {
            "stable": rng.normal(size=ROWS),
            "shifted": rng.normal(size=ROWS),
            "colour": rng.choice(["red", "green", "blue"], ROWS),
            HOSTILE: rng.choice(["a", "b"], ROWS),
            HOSTILE_ATTRIBUTE: rng.normal(size=ROWS),
            "many": rng.choice([f"c{i:02d}" for i in range(30)], ROWS),
            "counts": rng.integers(0, 4, ROWS),
            "gappy": np.where(rng.random(ROWS) < 0.25, np.nan, rng.normal(size=ROWS)),
        }
    )
    current = reference.copy()
    current["shifted"] = rng.normal(1.0, size=ROWS)
    current["colour"] = rng.choice(["red", "green", "<b>bold</b>"], ROWS)
    return reference, current


def _sections(html: str) -> list[str]:
    """The column sections of the page, in page order."""
    return re.findall(r'<section class="column-section".*?</section>', html, flags=re.DOTALL)


def _path(section: str, series: str) -> str:
    found = re.search(rf'<path class="{series}" d="([^"]*)"', section)
    assert found is not None
    return found.group(1)


def test_report_holds_no_script(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    report = _report(_result(HOSTILE, "categorical", drifted=True), _result("stable"))

    html = render_drift_report(report, *frames)

    assert "<script" not in html.lower()


def test_report_loads_no_external_resource(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    html = render_drift_report(_report(_result("stable"), _result("colour", "categorical")), *frames)

    for marker in ("http://", "https://", "<link", "@import", "url(", "src="):
        assert marker not in html


def test_report_draws_one_svg_per_tested_column(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    report = _report(
        _result("stable"),
        _result("shifted", drifted=True),
        _result("colour", "categorical", drifted=True),
        _result("counts", binning="per_value"),
    )

    html = render_drift_report(report, *frames)

    assert 4 == html.count("<svg")


def test_hostile_column_names_are_escaped(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    report = _report(_result(HOSTILE, "categorical", drifted=True), _result(HOSTILE_ATTRIBUTE))

    html = render_drift_report(report, *frames)

    assert HOSTILE not in html
    assert HOSTILE_ATTRIBUTE not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html


def test_hostile_categories_and_details_are_escaped(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    report = _report(_result("colour", "categorical", drifted=True, details={"new_categories": ["<b>bold</b>"]}))

    html = render_drift_report(report, *frames)

    assert "<b>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_hostile_title_is_escaped(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    html = render_drift_report(_report(_result("stable")), *frames, title=HOSTILE)

    assert HOSTILE not in html


def test_drifted_columns_come_first_in_table_and_sections(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    report = _report(
        _result("stable"),
        _result("shifted", drifted=True),
        _result("counts", binning="per_value"),
        _result("colour", "categorical", drifted=True),
    )

    html = render_drift_report(report, *frames)

    table_order = re.findall(r'<a href="#column-\d+">([^<]*)</a>', html)
    section_order = [re.search(r"<h2>(\S+)", s).group(1) for s in _sections(html)]  # type: ignore[union-attr]
    assert ["shifted", "colour", "stable", "counts"] == table_order
    assert ["shifted", "colour", "stable", "counts"] == section_order


def test_summary_states_the_share_and_the_verdict(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    report = _report(_result("stable"), _result("shifted", drifted=True), _result("colour", "categorical"))

    html = render_drift_report(report, *frames)

    assert "1 of 3 columns drifted" in html
    assert re.search(r'id="dataset-drift">no</span>', html)


def test_summary_lists_skipped_columns(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    report = DriftReport(columns=(_result("stable"),), skipped={"notes": "text column"})

    html = render_drift_report(report, *frames)

    assert "notes (text column)" in html


def test_numerical_histogram_uses_sturges_bins_over_the_pooled_range(
    frames: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    reference, current = frames
    pooled = np.concatenate([reference["shifted"].to_numpy(), current["shifted"].to_numpy()])
    bins = len(np.histogram_bin_edges(pooled, bins="sturges")) - 1

    html = render_drift_report(_report(_result("shifted", drifted=True, binning="pooled_sturges")), *frames)

    section = _sections(html)[0]
    assert bins == _path(section, "ref").count("H")
    assert bins == _path(section, "cur").count("H")


def test_numerical_histogram_uses_stored_reference_bins(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    result = _result("stable", binning="reference_bins", details={"bin_edges": [-3.0, -1.0, 0.0, 1.0, 3.0]})

    html = render_drift_report(_report(result), *frames)

    assert 4 == _path(_sections(html)[0], "ref").count("H")


def test_numerical_histogram_uses_the_robust_presets_reference_quantile_bins(
    frames: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    result = _result("shifted", drifted=True, test="robust_psi", binning="reference_bins", details={"bins": 10})

    html = render_drift_report(_report(result), *frames)

    assert 10 == _path(_sections(html)[0], "ref").count("H")
    assert "reference-quantile bins" in html


def test_numerical_column_tested_per_value_by_chisquare_is_drawn_as_bars(
    frames: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    result = _result("counts", test="chisquare", score=0.5, threshold=0.05, score_is_p_value=True)

    html = render_drift_report(_report(result), *frames)

    assert 4 == _path(_sections(html)[0], "ref").count("Z")


def test_report_of_a_data_drift_result_plots_every_tested_column(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    report = data_drift(*frames, preset="robust")

    html = render_drift_report(report, *frames)

    assert len(report.columns) == html.count("<svg")
    assert len(report.columns) >= 6


def test_per_value_numerical_column_is_drawn_as_bars(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    html = render_drift_report(_report(_result("counts", test="jensenshannon", binning="per_value")), *frames)

    section = _sections(html)[0]
    assert 4 == _path(section, "ref").count("Z")
    assert ">0</text>" in section
    assert ">3</text>" in section


def test_categorical_plot_keeps_the_top_categories_and_other(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    html = render_drift_report(_report(_result("many", "categorical")), *frames)

    section = _sections(html)[0]
    assert TOP_CATEGORIES + 1 == _path(section, "ref").count("Z")
    assert "other (10)" in section


def test_new_category_has_a_bar_in_current_only(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    html = render_drift_report(_report(_result("colour", "categorical", drifted=True)), *frames)

    section = _sections(html)[0]
    assert "&lt;b&gt;bold&lt;/b&gt;" in section
    assert 4 == _path(section, "cur").count("Z")


def test_missing_shares_are_shown(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    html = render_drift_report(_report(_result("gappy")), *frames)

    assert re.search(r"<th>Missing</th><td>reference 2\d%, current 2\d%</td>", html)


def test_nan_score_reads_not_available(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    result = _result("colour", "categorical", test="chisquare", score=float("nan"), score_is_p_value=True)

    html = render_drift_report(_report(result), *frames)

    assert '<td class="num">n/a</td>' in html


def test_column_without_values_still_gets_its_plot() -> None:
    empty = pd.DataFrame({"x": [np.nan, np.inf]})

    html = render_drift_report(_report(_result("x")), empty, empty)

    assert 1 == html.count("<svg")
    assert "no finite values" in html


def test_report_stays_small_for_many_columns() -> None:
    rng = np.random.default_rng(1)
    reference = pd.DataFrame(rng.normal(size=(10_000, 150)), columns=[f"num_{i}" for i in range(150)])
    current = reference * 1.1
    reference["cat"] = rng.choice([f"level {i}" for i in range(50)], 10_000)
    current["cat"] = reference["cat"]
    report = _report(*(_result(name, "numerical") for name in reference.columns[:-1]), _result("cat", "categorical"))

    html = render_drift_report(report, reference, current)

    assert 151 == html.count("<svg")
    assert len(html.encode()) < 151 * 6_000


def test_write_drift_report_writes_the_page_and_no_temporary_file(
    tmp_path: Path, frames: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    report = _report(_result("stable"))
    target = tmp_path / "drift.html"
    target.write_text("old")

    written = write_drift_report(target, report, *frames)

    assert target == written
    assert render_drift_report(report, *frames) == target.read_text()
    assert ["drift.html"] == [p.name for p in tmp_path.iterdir()]


def test_write_drift_report_leaves_the_old_file_when_rendering_fails(tmp_path: Path) -> None:
    target = tmp_path / "drift.html"
    target.write_text("old")

    with pytest.raises(AttributeError):
        write_drift_report(target, _report(_result("stable")), pd.DataFrame({"stable": [1.0]}), None)

    assert "old" == target.read_text()
    assert ["drift.html"] == [p.name for p in tmp_path.iterdir()]
