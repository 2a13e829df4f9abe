"""Uploaded artifacts are served so that a browser never runs them as the UI's origin (stored XSS).

Attack modelled: anyone who may log an artifact uploads HTML, SVG, XML or JavaScript carrying a script, then
sends a link to its download or raw URL to someone signed in to the UI. Every artifact response must tell
the browser not to sniff the type (``nosniff``), to sandbox the document (``Content-Security-Policy:
sandbox`` with ``default-src 'none'``), and to save, not show, anything that could run (``Content-Disposition:
attachment``, or plain text). The proxy keeps ``application/octet-stream`` and the bytes unchanged, as
MLflow's client expects.
"""

from __future__ import annotations

import pytest

from tests.security.conftest import RawResponse, Target
from tests.security.test_artifact_paths import PROXY, Run, create_run, upload

SCRIPT = b'<html><body><script>fetch("/api/2.0/mlflow/experiments/search")</script></body></html>\n'
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>\n'
# Names a browser would render as a document able to run script, were it shown inline.
ACTIVE_NAMES = [
    "page.html",
    "page.htm",
    "PAGE.HTML",
    "page.xhtml",
    "image.svg",
    "IMAGE.SVG",
    "feed.xml",
    "app.js",
    "module.mjs",
    "doc.pdf",
    "movie.swf",
    "no-extension",
    "page.html.",
]
ALL_NAMES = [*ACTIVE_NAMES, "notes.txt", "metrics.json", "plot.png"]


def _content(name: str) -> bytes:
    return SVG if name.lower().endswith(".svg") else SCRIPT


@pytest.fixture(scope="module")
def run(target: Target) -> Run:
    """One run holding a script-carrying file under each name (and a few harmless ones)."""
    created = create_run(target)
    for name in ALL_NAMES:
        upload(target, f"{created.key}/served/{name}", _content(name))
    return created


def _proxy(target: Target, run: Run, name: str) -> RawResponse:
    return target.raw("GET", f"{PROXY}/{run.key}/served/{name}")


def _ui_raw(target: Target, run: Run, name: str, extra: str = "") -> RawResponse:
    return target.raw("GET", f"/ui/artifacts/{run.run_id}/raw?path=served/{name}{extra}")


def _version_raw(target: Target, run: Run, name: str) -> RawResponse:
    return target.raw("GET", f"/models/{run.model}/versions/{run.version}/raw?path=served/{name}")


def _sandboxed(response: RawResponse) -> tuple[bool, bool]:
    """Whether the response's policy sandboxes the document and forbids loading anything by default."""
    policy = response.headers.get("content-security-policy", "")
    directives = {part.strip() for part in policy.split(";")}
    return "sandbox" in directives, "default-src 'none'" in directives


def _saved_or_plain(response: RawResponse) -> bool:
    """Whether a browser opening the response saves it, or shows it as inert plain text."""
    disposition = response.headers.get("content-disposition", "")
    content_type = response.headers.get("content-type", "")
    return disposition.startswith("attachment") or content_type.startswith("text/plain")


# --- The artifact proxy -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_NAMES)
def test_proxy_download_forbids_sniffing(target: Target, run: Run, name: str) -> None:
    assert "nosniff" == _proxy(target, run, name).headers.get("x-content-type-options")


@pytest.mark.parametrize("name", ALL_NAMES)
def test_proxy_download_is_an_attachment(target: Target, run: Run, name: str) -> None:
    assert _proxy(target, run, name).headers.get("content-disposition", "").startswith("attachment;")


@pytest.mark.parametrize("name", ALL_NAMES)
def test_proxy_download_is_sandboxed(target: Target, run: Run, name: str) -> None:
    assert (True, True) == _sandboxed(_proxy(target, run, name))


@pytest.mark.parametrize("name", ALL_NAMES)
def test_proxy_download_keeps_octet_stream_and_the_bytes(target: Target, run: Run, name: str) -> None:
    response = _proxy(target, run, name)

    assert ("application/octet-stream", _content(name)) == (response.headers.get("content-type"), response.body)


def test_ajax_proxy_download_carries_the_same_protection(target: Target, run: Run) -> None:
    response = target.raw("GET", f"/ajax-api/2.0/mlflow-artifacts/artifacts/{run.key}/served/page.html")

    assert ("nosniff", True, (True, True)) == (
        response.headers.get("x-content-type-options"),
        response.headers.get("content-disposition", "").startswith("attachment;"),
        _sandboxed(response),
    )


# --- The UI's raw routes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", ["", "&download=0", "&download=1"])
@pytest.mark.parametrize("name", ACTIVE_NAMES)
def test_ui_raw_active_artifact_is_saved_or_plain_text(target: Target, run: Run, name: str, extra: str) -> None:
    response = _ui_raw(target, run, name, extra)

    assert (200, True) == (response.status, _saved_or_plain(response))


@pytest.mark.parametrize("name", ACTIVE_NAMES)
def test_ui_version_raw_active_artifact_is_saved_or_plain_text(target: Target, run: Run, name: str) -> None:
    response = _version_raw(target, run, name)

    assert (200, True) == (response.status, _saved_or_plain(response))


@pytest.mark.parametrize("name", ALL_NAMES)
def test_ui_raw_artifact_forbids_sniffing(target: Target, run: Run, name: str) -> None:
    assert "nosniff" == _ui_raw(target, run, name).headers.get("x-content-type-options")


@pytest.mark.parametrize("name", ALL_NAMES)
def test_ui_raw_artifact_is_sandboxed(target: Target, run: Run, name: str) -> None:
    assert (True, True) == _sandboxed(_ui_raw(target, run, name))


@pytest.mark.parametrize("name", ALL_NAMES)
def test_ui_version_raw_artifact_forbids_sniffing(target: Target, run: Run, name: str) -> None:
    assert "nosniff" == _version_raw(target, run, name).headers.get("x-content-type-options")


@pytest.mark.parametrize("name", ALL_NAMES)
def test_ui_version_raw_artifact_is_sandboxed(target: Target, run: Run, name: str) -> None:
    assert (True, True) == _sandboxed(_version_raw(target, run, name))


def test_ui_raw_text_holding_html_is_served_as_plain_text(target: Target, run: Run) -> None:
    response = _ui_raw(target, run, "notes.txt")

    assert ("text/plain; charset=utf-8", SCRIPT) == (response.headers.get("content-type"), response.body)


def test_ui_raw_svg_stays_an_image_for_img_tags(target: Target, run: Run) -> None:
    assert "image/svg+xml" == _ui_raw(target, run, "image.svg").headers.get("content-type")


# --- Names that try to break out of the headers ------------------------------------------------------------


@pytest.fixture(scope="module")
def crlf_name(target: Target, run: Run) -> str:
    """A stored artifact whose name holds a CR, quotes and a header (sent percent-encoded, as a client could).

    (A LF never reaches a route: Starlette's path parameters stop at a newline, so such a name is a 404.)
    """
    name = "evil%0dX-Injected:%20yes%22;%20filename=%22x.html%0dSet-Cookie:%20pwned=1"
    response = target.raw("PUT", f"{PROXY}/{run.key}/served/{name}", body=SCRIPT)
    assert 200 == response.status
    return name


def test_proxy_download_name_cannot_inject_headers(target: Target, run: Run, crlf_name: str) -> None:
    response = _proxy(target, run, crlf_name)

    assert (200, None, False) == (
        response.status,
        response.headers.get("x-injected"),
        "pwned" in response.headers.get("set-cookie", ""),
    )


def test_ui_raw_name_cannot_inject_headers(target: Target, run: Run, crlf_name: str) -> None:
    response = _ui_raw(target, run, crlf_name)

    assert (200, None, False) == (
        response.status,
        response.headers.get("x-injected"),
        "pwned" in response.headers.get("set-cookie", ""),
    )


def test_ui_raw_missing_artifact_page_escapes_the_requested_name(target: Target, run: Run) -> None:
    response = _ui_raw(target, run, "%3Cscript%3Ealert(1)%3C/script%3E.txt")

    assert (404, False) == (response.status, b"<script>alert(1)" in response.body)


# --- Positive controls: harmless types are still shown in place -------------------------------------------------


def test_ui_raw_text_is_shown_inline(target: Target, run: Run) -> None:
    assert _ui_raw(target, run, "notes.txt").headers.get("content-disposition", "").startswith("inline;")


def test_ui_raw_png_is_shown_inline_as_an_image(target: Target, run: Run) -> None:
    response = _ui_raw(target, run, "plot.png")

    assert ("image/png", True) == (
        response.headers.get("content-type"),
        response.headers.get("content-disposition", "").startswith("inline;"),
    )
