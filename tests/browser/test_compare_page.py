"""Comparing runs: differing params highlighted, metric histories overlaid with one line per run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import RUNS, Seeded

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


@pytest.fixture
def compare_page(page: Page, seeded: Seeded) -> Page:
    page.goto(seeded.url("/compare?runs=" + ",".join(seeded.run_ids[name] for name in RUNS)))
    return page


def test_compare_highlights_the_params_that_differ(compare_page: Page, shot: Callable[[str], Path]) -> None:
    shot("compare")
    differing = compare_page.locator("#params-compare tbody tr.diff td.key").all_inner_texts()

    assert ["depth", "model"] == differing


def test_compare_leaves_equal_params_plain(compare_page: Page) -> None:
    assert ["lr"] == compare_page.locator("#params-compare tbody tr.same td.key").all_inner_texts()


def test_compare_shows_latest_metrics_side_by_side(compare_page: Page) -> None:
    row = compare_page.locator("#metrics-compare tbody tr", has_text="acc").locator("td").all_inner_texts()

    assert ["acc", "0.91", "0.75", "0.83"] == row


def test_compare_chart_overlays_one_line_per_run(compare_page: Page) -> None:
    chart = compare_page.locator("#metrics .chart").first

    assert len(RUNS) == chart.locator("svg path.series").count()


def test_compare_chart_legend_names_the_runs(compare_page: Page) -> None:
    legend = compare_page.locator("#metrics .chart").first.locator(".legend li").all_inner_texts()

    assert list(RUNS) == legend


def test_only_differences_hides_equal_rows(compare_page: Page) -> None:
    compare_page.check("#only-diff")

    assert compare_page.locator("#params-compare tr[data-key=lr]").is_hidden()


def test_compare_with_one_run_is_a_bad_request(page: Page, seeded: Seeded) -> None:
    response = page.goto(seeded.url(f"/compare?runs={seeded.run_ids['run-alpha']}"))

    assert (400, "Pick at least two runs") == (
        response.status if response else None,
        page.locator(".error-message").inner_text()[:22],
    )
