"""One run's page: params, lineage, inputs, metric charts and the artifact browser."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import LINEAGE_TAGS, NOTES_TEXT, STEPS, Seeded

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


@pytest.fixture
def run_page(page: Page, seeded: Seeded) -> Page:
    page.goto(seeded.url(f"/runs/{seeded.run_ids['run-alpha']}"))
    return page


def _table(page: Page, selector: str) -> dict[str, str]:
    rows = page.locator(f"{selector} tbody tr")
    return {row.locator("td").nth(0).inner_text(): row.locator("td").nth(1).inner_text() for row in rows.all()}


def test_run_page_shows_params(run_page: Page, shot: Callable[[str], Path]) -> None:
    shot("run")

    assert {"depth": "4", "lr": "0.1", "model": "rf"} == _table(run_page, "#params")


def test_run_page_shows_the_status_and_duration(run_page: Page) -> None:
    labels = run_page.locator("#overview dt").all_inner_texts()
    facts = dict(zip(labels, run_page.locator("#overview dd").all_inner_texts(), strict=True))

    assert ("FINISHED", "1m 35s") == (facts["Status"], facts["Duration"])


def test_run_page_shows_lineage_facts(run_page: Page) -> None:
    lineage = _table(run_page, "#lineage")

    assert (LINEAGE_TAGS["mlflow.source.git.commit"], "true", "python train.py --depth 4") == (
        lineage["Git commit"],
        lineage["Uncommitted changes"],
        lineage["Command"],
    )


def test_installed_packages_unfold(run_page: Page) -> None:
    run_page.click("#lineage details.packages summary")

    assert "scikit-learn==1.5.2" in run_page.locator("#lineage details.packages pre").inner_text()


def test_run_page_shows_the_dataset_input(run_page: Page) -> None:
    row = run_page.locator("#inputs tbody tr").first.locator("td").all_inner_texts()

    assert ("iris-sample", "training") == (row[0], row[4])


def test_run_page_shows_every_tag(run_page: Page) -> None:
    tags = _table(run_page, "#tags")

    assert ("red", "run-alpha") == (tags["team"], tags["mlflow.runName"])


def test_metric_chart_draws_a_line_over_every_step(run_page: Page) -> None:
    path = run_page.locator("#metrics .chart svg path.series").first
    segments = path.get_attribute("d") or ""

    assert STEPS - 1 == segments.count("L")


def test_text_artifact_is_previewed_escaped(run_page: Page, shot: Callable[[str], Path]) -> None:
    run_page.get_by_role("link", name="readme.txt").click()
    run_page.wait_for_selector("#artifact-preview")
    shot("run-artifact-text")

    assert NOTES_TEXT.strip() == run_page.locator("#artifact-preview").inner_text().strip()


def test_image_artifact_is_shown(run_page: Page, shot: Callable[[str], Path]) -> None:
    run_page.get_by_role("link", name="curve.png").click()
    run_page.wait_for_selector("#artifact-image")
    run_page.wait_for_load_state("load")  # the load event waits for the image too
    shot("run-artifact-image")

    assert run_page.locator("#artifact-image").evaluate("image => image.naturalWidth") > 0


def test_missing_run_shows_a_friendly_404_page(page: Page, seeded: Seeded, shot: Callable[[str], Path]) -> None:
    response = page.goto(seeded.url("/runs/0000000000000000000000000000dead"))
    shot("not-found")

    assert (404, "404 · Not found") == (response.status if response else None, page.locator("h1").inner_text())
