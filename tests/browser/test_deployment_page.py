"""The deployment page of `shipyard serve`: routes and their traffic, the shadow, the A/B verdict and the history."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np
import pytest

from tests.support.models import COLUMNS, save_linear_model
from tests.support.servers import RunningServer, serving_server

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Two routes (one model, one that is off by a constant), a shadow, and labelled traffic for both routes."""
    root = tmp_path_factory.mktemp("deployment-page")
    save_linear_model(root / "good", seed=0)
    save_linear_model(root / "other<i>x</i>", seed=1)  # markup in a path must show as text
    spec = root / "page.yaml"
    spec.write_text(
        f"""
name: pricing
routes:
  - {{name: champion, model: "{root / "good"}", weight: 70}}
  - {{name: challenger, model: "{root / "other<i>x</i>"}", weight: 30}}
shadow: {{model: "{root / "other<i>x</i>"}"}}
analysis: {{metric: absolute_error, min_samples: 10}}
"""
    )
    with serving_server(spec, root / "server", extra_args=("--prediction-log", str(root / "log"))) as server:
        rng = np.random.default_rng(3)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for i in range(60):
                row = dict(zip(COLUMNS, rng.normal(size=3).tolist(), strict=True))
                answer = client.post(
                    "/invocations", json={"dataframe_records": [row]}, headers={"X-Request-ID": f"r{i}"}
                )
                assert 200 == answer.status_code
                truth = row["a"] * 2 + row["b"] - row["c"] + 1 + (0.5 if i % 2 else -0.5)
                assert 200 == client.post("/v1/feedback", json={"request_id": f"r{i}", "label": truth}).status_code
        yield server


def test_the_page_shows_routes_shadow_verdict_and_history(
    deployed: RunningServer, page: Page, shot: Callable[[str], Path]
) -> None:
    page.goto(f"{deployed.url}/deployment")

    routes = page.locator("#routes tbody tr")
    assert ["champion", "challenger"] == [routes.nth(i).get_attribute("data-route") for i in range(routes.count())]
    assert re.search(r"70\.0%", routes.nth(0).inner_text())
    assert "ready" == page.locator("#ready").inner_text().strip()
    assert "Shadow:" in page.locator("#shadow").inner_text()
    verdict = page.locator("#verdict").inner_text().strip()
    assert verdict in {"winner", "loser", "no difference yet", "insufficient data"}
    assert page.locator("#verdict-message").inner_text().strip().endswith(".")
    assert 2 == page.locator("#variants tbody tr").count()
    assert "start" in page.locator("#history").inner_text()
    assert shot("deployment").stat().st_size > 0


def test_the_page_escapes_what_it_shows(deployed: RunningServer, page: Page) -> None:
    page.goto(f"{deployed.url}/deployment")

    assert "other<i>x</i>" in page.locator("#routes").inner_text()
    assert 0 == page.locator("#routes i").count()
    assert "pricing" in page.title()
