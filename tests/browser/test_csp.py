"""Every UI page works under its strict Content-Security-Policy: Chromium reports no violation on any of them.

The policy forbids inline scripts, inline styles and event-handler attributes, so a page that still used one
would lose that behaviour in a real browser; these tests catch it, and show the policy really is enforced.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

from tests.browser.conftest import Seeded

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.browser

# Records every violation the page reports, from before its first script runs.
_RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push(event.violatedDirective + " blocked " + (event.blockedURI || "inline"));
});
"""


@pytest.fixture(scope="module")
def model_name(seeded: Seeded) -> str:
    """A registered model with one version, so the model pages have content and forms."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=seeded.server.url)
    name = f"csp-model-{uuid.uuid4().hex[:6]}"
    run_id = seeded.run_ids["run-alpha"]
    client.create_registered_model(name, description="A model for the CSP check.")
    client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    return name


def _pages(seeded: Seeded, model_name: str) -> dict[str, str]:
    alpha, beta = seeded.run_ids["run-alpha"], seeded.run_ids["run-beta"]
    model = quote(model_name, safe="")
    return {
        "experiments": "/",
        "runs": f"/experiments/{seeded.experiment_id}",
        "run": f"/runs/{alpha}",
        "run-artifact": f"/runs/{alpha}?artifact=plots/curve.png",
        "compare": f"/compare?runs={alpha}&runs={beta}",
        "models": "/models",
        "model": f"/models/{model}",
        "version": f"/models/{model}/versions/1",
        "error": "/experiments/987654",
    }


@pytest.fixture
def watched(page: Page) -> Page:
    """The suite's tab (which fails on console errors), recording CSP violations too."""
    page.add_init_script(_RECORD_VIOLATIONS)
    return page


@pytest.mark.parametrize(
    "name", ["experiments", "runs", "run", "run-artifact", "compare", "models", "model", "version", "error"]
)
def test_page_reports_no_csp_violation(watched: Page, seeded: Seeded, model_name: str, name: str) -> None:
    watched.goto(seeded.url(_pages(seeded, model_name)[name]))
    watched.wait_for_load_state("load")

    assert [] == watched.evaluate("window.__cspViolations")


def test_charts_are_drawn_under_the_policy(watched: Page, seeded: Seeded) -> None:
    watched.goto(seeded.url(f"/runs/{seeded.run_ids['run-alpha']}"))
    watched.wait_for_selector(".chart svg")

    assert (True, []) == (watched.locator(".chart svg").count() > 0, watched.evaluate("window.__cspViolations"))


def test_compare_toggle_works_under_the_policy(watched: Page, seeded: Seeded) -> None:
    alpha, beta = seeded.run_ids["run-alpha"], seeded.run_ids["run-beta"]
    watched.goto(seeded.url(f"/compare?runs={alpha}&runs={beta}"))
    watched.check("#only-diff")

    assert (True, []) == (
        "only-diff" in (watched.locator("body").get_attribute("class") or ""),
        watched.evaluate("window.__cspViolations"),
    )


@pytest.fixture
def bare_tab(browser_context: BrowserContext) -> Iterator[Page]:
    """A tab without the suite's console check: the test below provokes a violation on purpose."""
    tab = browser_context.new_page()
    tab.add_init_script(_RECORD_VIOLATIONS)
    try:
        yield tab
    finally:
        tab.close()


def test_policy_blocks_injected_inline_script_and_style(bare_tab: Page, seeded: Seeded) -> None:
    # The positive control: were escaping ever to fail, the injected markup would still not run.
    bare_tab.goto(seeded.url("/"))
    bare_tab.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.__injected = true;";
          document.body.appendChild(script);
          const img = document.createElement("div");
          img.innerHTML = '<img src="data:," onerror="window.__injected = true">';
          document.body.appendChild(img);
          const styled = document.createElement("p");
          styled.setAttribute("style", "color: red");
          document.body.appendChild(styled);
        }"""
    )
    bare_tab.wait_for_function("window.__cspViolations.length >= 3")

    assert (None, {"script-src-elem", "script-src-attr", "style-src-attr"}) == (
        bare_tab.evaluate("window.__injected"),
        {v.split(" ", 1)[0] for v in bare_tab.evaluate("window.__cspViolations")},
    )
