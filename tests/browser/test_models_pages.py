"""The registry's pages: models list, model page with its alias and stage forms and history, version page."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import pytest

from tests.browser.conftest import LINEAGE_TAGS, Seeded

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

MODEL = "churn-classifier"
EVIL_NAME = "evil<script>x"
EVIL_DESCRIPTION = "<script>alert(1)</script> <b>bold?</b>"
MLMODEL = """artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
  sklearn:
    sklearn_version: 1.5.2
signature:
  inputs: '[{"type": "double", "name": "tenure_months", "required": true}, {"type": "string", "name": "plan"}]'
  outputs: '[{"type": "long", "name": "churned", "required": true}]'
"""


@dataclass(frozen=True)
class Models:
    """What this module registered on the suite's server."""

    seeded: Seeded
    run_id: str
    logged_model_id: str

    def url(self, path: str) -> str:
        return self.seeded.url(path)


def _register(client: Any, name: str, source: str, run_id: str, versions: int, **model: Any) -> None:
    client.create_registered_model(name, **model)
    for _ in range(versions):
        client.create_model_version(name, source, run_id=run_id)


@pytest.fixture(scope="module")
def models(seeded: Seeded) -> Models:
    """A logged model from run-alpha, and registered models made from it (one per test that changes things)."""
    from mlflow import MlflowClient
    from mlflow.entities import LoggedModelOutput

    client = MlflowClient(tracking_uri=seeded.server.url)
    run_id = seeded.run_ids["run-alpha"]
    logged = client.create_logged_model(seeded.experiment_id, name="clf", source_run_id=run_id)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "MLmodel").write_text(MLMODEL)
        (Path(folder) / "model.pkl").write_bytes(b"\x80\x04" + b"\x00" * 2046)
        client.log_model_artifacts(logged.model_id, folder)
    client.finalize_logged_model(logged.model_id, "READY")
    client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, 0)])
    source = f"models:/{logged.model_id}"
    _register(client, MODEL, source, run_id, 2, description="Predicts churn.", tags={"team": "growth"})
    client.set_registered_model_alias(MODEL, "challenger", "2")
    for name in ("promote-me", "stage-me", "refuse-me"):
        _register(client, name, source, run_id, 2)
    client.set_registered_model_alias("promote-me", "champion", "1")
    _register(client, EVIL_NAME, source, run_id, 1, description=EVIL_DESCRIPTION)
    return Models(seeded, run_id, logged.model_id)


def _model_url(name: str) -> str:
    return f"/models/{quote(name, safe='')}"


def _version_cells(page: Page, version: int, column: str) -> str:
    return page.locator(f"#versions-table tr[data-version='{version}'] td.{column}").inner_text().strip()


def _newest_event(page: Page) -> dict[str, str]:
    event = page.locator("#history-list li.event").first
    parts = ("who", "what", "from", "to", "reason")
    return {part: event.locator(f".{part}").first.inner_text().strip() for part in parts}


# ---------------------------------------------------------------------------------------------- models list
def test_models_list_shows_a_registered_model(page: Page, models: Models, shot: Callable[[str], Path]) -> None:
    page.goto(models.url("/models"))
    shot("models")
    row = page.locator(f"#models tr[data-model='{MODEL}']")

    assert ("v2", "@challenger → v2") == (
        row.locator("td.latest").inner_text().strip(),
        row.locator("td.aliases").inner_text().strip(),
    )


def test_models_filter_takes_the_filter_grammar(page: Page, models: Models) -> None:
    page.goto(models.url("/models"))
    page.fill("#filter", "tags.team = 'growth'")
    page.click("form.filter button")
    page.wait_for_url("**/models?filter=*")

    assert [MODEL] == page.locator("#models td.model-name").all_inner_texts()


def test_top_navigation_leads_to_the_models(page: Page, models: Models) -> None:
    page.goto(models.url("/"))
    page.click("header.topbar nav >> text=Models")

    assert "Models" == page.locator("h1").inner_text()


# ----------------------------------------------------------------------------------------------- model page
def test_model_page_lists_versions(page: Page, models: Models, shot: Callable[[str], Path]) -> None:
    page.goto(models.url(_model_url(MODEL)))
    shot("model")

    assert (["Version 2", "Version 1"], "@challenger") == (
        page.locator("#versions-table td.version").all_inner_texts(),
        _version_cells(page, 2, "aliases"),
    )


def test_promoting_a_version_by_alias_shows_it_in_versions_and_history(
    page: Page, models: Models, shot: Callable[[str], Path]
) -> None:
    page.goto(models.url(_model_url("promote-me")))
    page.fill("#alias-name", "champion")
    page.select_option("#alias-version", "2")
    page.fill("#alias-reason", "beats v1 on AUC")
    with page.expect_navigation():
        page.click("#alias-form button")
    shot("model-promoted")

    assert (
        "@champion",
        "",
        {
            "who": "web-ui",
            "what": "alias moved champion on version 2",
            "from": "1",
            "to": "2",
            "reason": "beats v1 on AUC",
        },
    ) == (_version_cells(page, 2, "aliases"), _version_cells(page, 1, "aliases"), _newest_event(page))


def test_changing_a_stage_shows_it_in_versions_and_history(page: Page, models: Models) -> None:
    page.goto(models.url(_model_url("stage-me")))
    page.select_option("#stage-version", "1")
    page.select_option("#stage-name", "Staging")
    page.fill("#stage-reason", "ready for shadow traffic")
    with page.expect_navigation():
        page.click("#stage-form button")

    assert (
        "Staging",
        {
            "who": "web-ui",
            "what": "stage changed on version 1",
            "from": "None",
            "to": "Staging",
            "reason": "ready for shadow traffic",
        },
    ) == (_version_cells(page, 1, "stage"), _newest_event(page))


def test_bad_alias_shows_the_error_and_changes_nothing(page: Page, models: Models, shot: Callable[[str], Path]) -> None:
    page.goto(models.url(_model_url("refuse-me")))
    page.fill("#alias-name", "v2")
    page.fill("#alias-reason", "should not happen")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("#alias-form button")
    page.wait_for_selector("#form-error")
    shot("model-bad-alias")

    assert (400, "Version alias name 'v2' is reserved.", "", "v2") == (
        posted.value.status,
        page.locator("#form-error").inner_text().strip(),
        _version_cells(page, 2, "aliases") + _version_cells(page, 1, "aliases"),
        page.locator("#alias-name").input_value(),
    )


def test_unknown_model_shows_the_not_found_page(page: Page, models: Models) -> None:
    response = page.goto(models.url("/models/no-such-model"))

    assert (404, "404 · Not found") == (response.status if response else None, page.locator("h1").inner_text())


# --------------------------------------------------------------------------------------------- version page
@pytest.fixture
def version_page(page: Page, models: Models) -> Page:
    page.goto(models.url(f"{_model_url(MODEL)}/versions/1"))
    return page


def test_version_page_shows_the_lineage_chain(version_page: Page, models: Models, shot: Callable[[str], Path]) -> None:
    shot("model-version")
    kinds = version_page.locator("#lineage-chain li").evaluate_all("items => items.map(i => i.dataset.kind)")

    assert ["dataset", "code", "run", "logged_model", "model_version"] == kinds


def test_lineage_chain_links_to_the_run_page(version_page: Page, models: Models) -> None:
    version_page.click("#lineage-chain li[data-kind='run'] a")
    version_page.wait_for_url(f"**/runs/{models.run_id}")

    assert "run-alpha" in version_page.locator("h1").inner_text()


def test_version_page_shows_the_code_commit_in_the_chain(version_page: Page) -> None:
    code = version_page.locator("#lineage-chain li[data-kind='code'] a").inner_text()

    assert LINEAGE_TAGS["mlflow.source.git.commit"][:12] == code


def test_version_page_shows_the_signature(version_page: Page) -> None:
    rows = version_page.locator("#signature-table tbody tr")
    cells = [row.locator("td").all_inner_texts() for row in rows.all()]

    assert [
        ["inputs", "tenure_months", "double", "yes"],
        ["inputs", "plan", "string", "yes"],
        ["outputs", "churned", "long", "yes"],
    ] == cells


def test_version_page_shows_the_logged_model_and_its_files(version_page: Page, models: Models) -> None:
    files = version_page.locator("#files-table td.key").all_inner_texts()

    assert (models.logged_model_id, ["MLmodel", "model.pkl"]) == (
        version_page.locator("#version-logged-model").inner_text(),
        sorted(files),
    )


def test_version_file_link_serves_the_file(version_page: Page, models: Models) -> None:
    href = version_page.locator("#files-table a", has_text="MLmodel").get_attribute("href") or ""
    response = httpx.get(models.url(href))

    assert (200, MLMODEL) == (response.status_code, response.text)


def test_version_page_renders_the_model_card(version_page: Page) -> None:
    card = version_page.locator("#model-card")

    assert ("Model card: churn-classifier version 1", "iris-sample") == (
        card.locator("h1").inner_text(),
        card.locator("table").first.locator("tbody td").first.inner_text(),
    )


def test_card_form_saves_the_owner_sections(page: Page, models: Models) -> None:
    page.goto(models.url(f"{_model_url(MODEL)}/versions/2"))
    page.fill("#card-intended-use", "Weekly churn scoring of <b>active</b> accounts.")
    page.fill("#card-limitations", "Not for accounts younger than a month.")
    with page.expect_navigation():
        page.click("#card-form button")
    card = page.locator("#model-card").inner_text()

    assert ("Weekly churn scoring of <b>active</b> accounts." in card, "Not for accounts younger" in card) == (
        True,
        True,
    )


def test_run_page_links_to_the_model_version(page: Page, models: Models) -> None:
    page.goto(models.url(f"/runs/{models.run_id}"))
    page.click(f"#run-model-versions a:text-is('{MODEL} version 1')")
    page.wait_for_url(f"**{_model_url(MODEL)}/versions/1")

    assert MODEL in page.locator(".page-head h1").inner_text()


def test_run_page_lists_the_logged_model_with_its_versions(page: Page, models: Models) -> None:
    page.goto(models.url(f"/runs/{models.run_id}"))
    row = page.locator("#run-logged-models tbody tr").first

    assert (models.logged_model_id, "clf", True) == (
        row.locator("td").nth(0).inner_text(),
        row.locator("td").nth(1).inner_text(),
        f"{MODEL} v1" in row.locator("td").nth(3).inner_text(),
    )


# ------------------------------------------------------------------------------------------- plain HTTP
def test_model_name_and_description_are_escaped_on_the_list(models: Models) -> None:
    body = httpx.get(models.url("/models")).text

    assert ("evil&lt;script&gt;x" in body, EVIL_NAME in body, "<script>alert" in body) == (True, False, False)


def test_model_name_and_description_are_escaped_on_the_model_page(models: Models) -> None:
    body = httpx.get(models.url(_model_url(EVIL_NAME))).text

    assert ("&lt;script&gt;alert(1)&lt;/script&gt;" in body, EVIL_NAME in body, "<script>alert" in body) == (
        True,
        False,
        False,
    )


def test_model_card_escapes_the_description(models: Models) -> None:
    body = httpx.get(models.url(f"{_model_url(EVIL_NAME)}/versions/1")).text

    assert ("<script>alert" in body, "<b>bold?</b>" in body) == (False, False)


def test_unknown_version_is_not_found(models: Models) -> None:
    assert 404 == httpx.get(models.url(f"{_model_url(MODEL)}/versions/99")).status_code


def _form_token(client: httpx.Client, models: Models, path: str) -> str:
    """Open a page with ``client`` (which keeps the CSRF cookie it sets); the token the page's forms carry."""
    body = client.get(models.url(path)).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', body)
    assert token is not None, "the page's forms carry no CSRF token"
    return token.group(1)


def test_bad_stage_is_a_bad_request_and_changes_nothing(models: Models) -> None:
    url = models.url(f"{_model_url('refuse-me')}/stage")
    with httpx.Client() as client:
        token = _form_token(client, models, _model_url("refuse-me"))
        response = client.post(url, data={"version": "1", "stage": "Shipped", "csrf_token": token})
    stage = httpx.get(models.url("/api/2.0/mlflow/model-versions/get?name=refuse-me&version=1")).json()

    assert (400, True, "None") == (
        response.status_code,
        "Invalid Model Version stage: Shipped" in response.text,
        stage["model_version"]["current_stage"],
    )


def test_form_posted_from_another_site_is_refused(models: Models) -> None:
    url = models.url(f"{_model_url('refuse-me')}/aliases")
    response = httpx.post(url, data={"alias": "hijacked", "version": "1"}, headers={"Origin": "https://evil.example"})
    aliases = httpx.get(models.url("/api/2.0/mlflow/registered-models/get?name=refuse-me")).json()

    assert (403, []) == (response.status_code, aliases["registered_model"].get("aliases", []))


def test_form_without_its_csrf_token_is_refused(models: Models) -> None:
    url = models.url(f"{_model_url('refuse-me')}/aliases")
    with httpx.Client() as client:
        _form_token(client, models, _model_url("refuse-me"))
        response = client.post(url, data={"alias": "forged", "version": "1"})
    aliases = httpx.get(models.url("/api/2.0/mlflow/registered-models/get?name=refuse-me")).json()

    assert (403, []) == (response.status_code, aliases["registered_model"].get("aliases", []))


def test_form_with_another_browsers_csrf_token_is_refused(models: Models) -> None:
    url = models.url(f"{_model_url('refuse-me')}/aliases")
    with httpx.Client() as theirs, httpx.Client() as mine:
        token = _form_token(theirs, models, _model_url("refuse-me"))
        _form_token(mine, models, _model_url("refuse-me"))
        response = mine.post(url, data={"alias": "forged", "version": "1", "csrf_token": token})

    assert 403 == response.status_code


def test_forms_are_post_only(models: Models) -> None:
    assert 405 == httpx.get(models.url(f"{_model_url(MODEL)}/aliases")).status_code
