"""The experiments list: what a person sees on Shipyard's home page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import Seeded

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


def test_home_page_lists_the_experiment(page: Page, seeded: Seeded, shot: Callable[[str], Path]) -> None:
    page.goto(seeded.url("/"))
    shot("experiments")

    assert seeded.experiment_name in page.locator("#experiments tbody").inner_text()


def test_experiment_name_links_to_its_runs(page: Page, seeded: Seeded) -> None:
    page.goto(seeded.url("/"))
    page.get_by_role("link", name=seeded.experiment_name, exact=True).click()

    assert seeded.url(f"/experiments/{seeded.experiment_id}") == page.url


def test_deleted_view_lists_only_deleted_experiments(page: Page, seeded: Seeded) -> None:
    page.goto(seeded.url("/"))
    page.get_by_role("link", name="Deleted", exact=True).click()
    names = page.locator("#experiments tbody tr td:first-child").all_inner_texts()

    assert ["browser-old"] == names


def test_header_shows_the_product_name(page: Page, seeded: Seeded) -> None:
    page.goto(seeded.url("/"))

    assert "Shipyard" == page.locator("header .brand").inner_text()
