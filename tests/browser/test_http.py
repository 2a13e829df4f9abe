"""What the UI answers over plain HTTP: status codes, content types and headers that keep user content inert."""

from __future__ import annotations

import httpx
import pytest

from tests.browser.conftest import STEPS, Seeded


@pytest.fixture
def alpha(seeded: Seeded) -> str:
    return seeded.run_ids["run-alpha"]


def test_svg_artifact_is_served_as_an_image(seeded: Seeded, alpha: str) -> None:
    response = httpx.get(seeded.url(f"/ui/artifacts/{alpha}/raw"), params={"path": "plots/diagram.svg"})

    assert (200, "image/svg+xml") == (response.status_code, response.headers["content-type"])


def test_svg_artifact_cannot_run_scripts(seeded: Seeded, alpha: str) -> None:
    response = httpx.get(seeded.url(f"/ui/artifacts/{alpha}/raw"), params={"path": "plots/diagram.svg"})

    assert "sandbox" in response.headers["content-security-policy"]


def test_text_artifact_is_served_as_plain_text(seeded: Seeded, alpha: str) -> None:
    response = httpx.get(seeded.url(f"/ui/artifacts/{alpha}/raw"), params={"path": "notes/readme.txt"})

    assert "text/plain; charset=utf-8" == response.headers["content-type"]


def test_download_flag_makes_an_attachment(seeded: Seeded, alpha: str) -> None:
    response = httpx.get(seeded.url(f"/ui/artifacts/{alpha}/raw"), params={"path": "plots/curve.png", "download": "1"})

    assert response.headers["content-disposition"].startswith("attachment;")


def test_artifact_path_leaving_the_run_is_a_bad_request(seeded: Seeded, alpha: str) -> None:
    response = httpx.get(seeded.url(f"/ui/artifacts/{alpha}/raw"), params={"path": "../../../shipyard.db"})

    assert (400, "text/html; charset=utf-8") == (response.status_code, response.headers["content-type"])


def test_missing_artifact_is_not_found(seeded: Seeded, alpha: str) -> None:
    response = httpx.get(seeded.url(f"/ui/artifacts/{alpha}/raw"), params={"path": "nope.txt"})

    assert 404 == response.status_code


def test_unknown_view_is_a_bad_request(seeded: Seeded) -> None:
    assert 400 == httpx.get(seeded.url("/"), params={"view": "archived"}).status_code


def test_non_numeric_experiment_id_is_a_bad_request(seeded: Seeded) -> None:
    assert 400 == httpx.get(seeded.url("/experiments/abc")).status_code


def test_missing_experiment_is_not_found(seeded: Seeded) -> None:
    assert 404 == httpx.get(seeded.url("/experiments/987654")).status_code


def test_bad_sort_order_is_a_bad_request(seeded: Seeded) -> None:
    response = httpx.get(seeded.url(f"/experiments/{seeded.experiment_id}"), params={"order": "metrics.acc SIDEWAYS"})

    assert (400, True) == (response.status_code, "expected ASC or DESC" in response.text)


def test_user_content_is_escaped(seeded: Seeded) -> None:
    body = httpx.get(seeded.url("/")).text

    assert ("&lt;alice&gt;" in body, "<alice>" in body) == (True, False)


def test_pages_carry_a_content_security_policy(seeded: Seeded) -> None:
    policy = httpx.get(seeded.url("/")).headers["content-security-policy"]

    assert "script-src 'self'" in policy


def test_metric_history_endpoint_returns_every_step(seeded: Seeded, alpha: str) -> None:
    points = httpx.get(seeded.url(f"/ui/api/runs/{alpha}/metrics/acc")).json()["points"]

    assert list(range(STEPS)) == [p["step"] for p in points]
