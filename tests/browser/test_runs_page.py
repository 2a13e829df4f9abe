"""An experiment's runs table: columns, sorting, filtering, paging and picking runs to compare."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import Seeded

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


def _run_names(page: Page) -> list[str]:
    return page.locator("#runs tbody td.run-name").all_inner_texts()


def _headers(page: Page, cls: str) -> list[str]:
    return [text.strip(" ▲▼") for text in page.locator(f"#runs thead tr:last-child th.{cls}").all_inner_texts()]


@pytest.fixture
def runs_page(page: Page, seeded: Seeded) -> Page:
    page.goto(seeded.url(f"/experiments/{seeded.experiment_id}"))
    return page


def test_runs_table_has_a_column_per_param(runs_page: Page, shot: Callable[[str], Path]) -> None:
    shot("runs")

    assert ["depth", "lr", "model"] == _headers(runs_page, "param-col")


def test_runs_table_has_a_column_per_metric(runs_page: Page) -> None:
    assert ["acc", "loss"] == _headers(runs_page, "metric-col")


def test_runs_table_shows_latest_metric_values(runs_page: Page, seeded: Seeded) -> None:
    row = runs_page.locator("#runs tbody tr", has_text="run-alpha")

    assert "0.91" == row.locator("td.metric-col").first.inner_text()


def test_runs_are_newest_first_by_default(runs_page: Page) -> None:
    assert ["run-gamma", "run-beta", "run-alpha"] == _run_names(runs_page)


def test_clicking_a_metric_header_sorts_by_it_largest_first(runs_page: Page) -> None:
    runs_page.locator("#runs thead th.metric-col a", has_text="acc").click()

    assert ["run-alpha", "run-gamma", "run-beta"] == _run_names(runs_page)


def test_clicking_a_sorted_metric_header_again_reverses_the_order(runs_page: Page) -> None:
    runs_page.locator("#runs thead th.metric-col a", has_text="acc").click()
    runs_page.locator("#runs thead th.metric-col a", has_text="acc").click()

    assert ["run-beta", "run-gamma", "run-alpha"] == _run_names(runs_page)


def test_filter_box_narrows_the_rows(runs_page: Page) -> None:
    runs_page.fill("#filter", "params.model = 'rf' and metrics.acc > 0.8")
    runs_page.press("#filter", "Enter")
    runs_page.wait_for_url("**filter=*")

    assert ["run-gamma", "run-alpha"] == _run_names(runs_page)


def test_bad_filter_shows_the_grammar_error(runs_page: Page, shot: Callable[[str], Path]) -> None:
    runs_page.fill("#filter", "metrics.acc >")
    runs_page.press("#filter", "Enter")
    runs_page.wait_for_selector("#filter-error")
    shot("runs-bad-filter")

    assert "expected a quoted string or a number" in runs_page.locator("#filter-error").inner_text()


def test_bad_filter_keeps_what_was_typed(runs_page: Page) -> None:
    runs_page.fill("#filter", "metrics.acc >")
    runs_page.press("#filter", "Enter")
    runs_page.wait_for_selector("#filter-error")

    assert "metrics.acc >" == runs_page.input_value("#filter")


def test_compare_button_waits_for_two_runs(runs_page: Page) -> None:
    runs_page.locator("#runs tbody tr", has_text="run-alpha").locator("input[type=checkbox]").check()

    assert runs_page.locator("#compare-button").is_disabled()


def test_compare_button_opens_the_ticked_runs_side_by_side(runs_page: Page) -> None:
    for name in ("run-alpha", "run-beta"):
        runs_page.locator("#runs tbody tr", has_text=name).locator("input[type=checkbox]").check()
    runs_page.click("#compare-button")
    runs_page.wait_for_url("**/compare?*")

    assert ["run-alpha", "run-beta"] == sorted(runs_page.locator("#compare-runs thead th").all_inner_texts()[1:])


def test_next_page_link_shows_the_remaining_runs(page: Page, seeded: Seeded) -> None:
    page.goto(seeded.url(f"/experiments/{seeded.experiment_id}?max=2"))
    first = _run_names(page)
    page.click("#next-page")

    assert (["run-gamma", "run-beta"], ["run-alpha"]) == (first, _run_names(page))
