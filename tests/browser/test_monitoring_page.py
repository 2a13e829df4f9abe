"""The monitoring pages: the monitors list, a monitor's drift chart, heatmap, quality, operations and alerts, and a
column's drill-down, on a store seeded by running a monitor over a prediction log with drifted days."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from shipyard.db import open_database
from shipyard.monitoring.monitors import MonitorService, parse_spec
from tests.integration.test_monitors import DAY_MS, DAYS, T0_MS, spec_of, write_log
from tests.support.servers import RunningServer, shipyard_server

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

MONITOR = "churn-drift"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose store holds one monitor with six daily windows (days 3 and 4 drifted) and its alerts."""
    root = tmp_path_factory.mktemp("monitoring-ui")
    log = str(root / "predlog")
    write_log(log)
    database = open_database(f"sqlite:///{root / 'shipyard.db'}")
    try:
        monitors = MonitorService(database)
        monitors.create(parse_spec(spec_of(log, name=MONITOR)), actor="alice")
        monitors.run(MONITOR, now_ms=T0_MS + DAYS * DAY_MS)
    finally:
        database.dispose()
    with shipyard_server(root) as running:
        yield running


def test_the_list_links_each_monitor(page: Page, server: RunningServer) -> None:
    page.goto(server.url + "/monitoring")

    row = page.locator(f"#monitors tr[data-monitor='{MONITOR}']")
    assert "deployment churn" in row.inner_text()
    row.get_by_role("link", name=MONITOR).click()
    page.wait_for_url(f"**/monitoring/{MONITOR}")


def test_the_heatmap_marks_the_drifted_windows_of_each_column(
    page: Page, server: RunningServer, shot: Callable[[str], Path]
) -> None:
    page.goto(f"{server.url}/monitoring/{MONITOR}")

    cells = page.locator("#heatmap-table tr[data-column='x'] td.cell")
    classes = [cells.nth(i).get_attribute("class") or "" for i in range(cells.count())]
    drifted = [("heat-3" in c or "heat-4" in c) for c in classes]
    assert [False, False, True, True, False] == drifted
    assert "robust_psi" in (cells.nth(2).get_attribute("title") or "")
    assert page.locator("#drift-share-chart circle").count() == DAYS - 1
    shot("monitoring-monitor")


def test_the_alerts_list_shows_each_rule_fired_and_resolved(page: Page, server: RunningServer) -> None:
    page.goto(f"{server.url}/monitoring/{MONITOR}")

    rows = page.locator("#alerts-table tbody tr")
    rules = sorted(rows.nth(i).locator("td").nth(1).inner_text() for i in range(rows.count()))
    assert ["accuracy", "dataset", "many-columns", "slow", "x-drift"] == rules
    assert {"RESOLVED"} == {rows.nth(i).get_attribute("data-state") for i in range(rows.count())}


def test_quality_and_operations_are_charted(page: Page, server: RunningServer) -> None:
    page.goto(f"{server.url}/monitoring/{MONITOR}")

    captions = page.locator("#quality figcaption").all_inner_texts()
    assert "model.accuracy" in captions
    assert page.locator("#latency-chart polyline").count() == 1
    assert {"1", "2"} <= set(page.locator("#ops-table tbody tr td:nth-child(2)").all_inner_texts())


def test_a_column_drills_down_to_its_scores_and_histograms(
    page: Page, server: RunningServer, shot: Callable[[str], Path]
) -> None:
    page.goto(f"{server.url}/monitoring/{MONITOR}")
    page.locator("#heatmap-table tr[data-column='x'] a").click()
    page.wait_for_url(f"**/monitoring/{MONITOR}/columns/x")

    newest_window = page.locator("#chosen-window").inner_text()
    page.locator("#column-windows-table a", has_text="2026-01-04").click()

    assert newest_window.startswith("2026-01-06")
    assert page.locator("#chosen-window").inner_text().startswith("2026-01-04")
    assert "drifted" in page.locator("#verdict").inner_text()
    assert page.locator("#histogram rect.bar-reference").count() == page.locator("#histogram rect.bar-current").count()
    assert page.locator("#score-chart circle").count() == DAYS - 1
    shot("monitoring-column")


def test_an_unknown_monitor_is_a_404_page(page: Page, server: RunningServer) -> None:
    answer = page.goto(f"{server.url}/monitoring/nope")

    assert answer is not None
    assert 404 == answer.status
