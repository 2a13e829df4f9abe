"""User content comes back inert in every UI page and error page, and every answer carries safe headers.

Attacks modelled: stored XSS (payloads in experiment, run and model names, tags, params, descriptions, dataset
inputs, history reasons, artifact names and model-card Markdown), reflected XSS (payloads in query strings and
paths echoed by error pages), content sniffing and click-jacking.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import quote

import httpx
import pytest
from markupsafe import escape
from mlflow import MlflowClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from shipyard.server._guards import SecurityHeaders
from tests.security.conftest import Target

API = "/api/2.0/mlflow"
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
JS_URL = "javascript:alert(1)"
PAYLOADS = (SCRIPT, IMG)
UI_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
CARD_MARKDOWN = "\n\n".join(
    [
        "[plain](javascript:alert(1))",
        "[mixed case](JaVaScRiPt:alert(1))",
        "[entity](javascript&#58;alert(1))",
        "[spaced](java\tscript:alert(1))",
        "<javascript:alert(1)>",
        "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "[vb](vbscript:msgbox(1))",
        "![image](javascript:alert(1))",
        SCRIPT,
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">raw anchor</a>',
        "[by reference][ref]\n\n[ref]: javascript:alert(1)",
        '[title](https://ok.example "x\\" onmouseover=\\"alert(1)")',
        "[docs](https://example.com/docs)",
    ]
)
_URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background"}


class _InertCheck(HTMLParser):
    """Collects everything in a page that could run script: handlers, script URLs, inline scripts, frames."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.anchors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        for name, value in values.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> event handler")
            scheme = re.sub(r"[\x00-\x20]", "", value).lower().split(":", 1)[0] if ":" in value else ""
            if name in _URL_ATTRIBUTES and scheme in ("javascript", "vbscript", "data") and tag != "img":
                self.problems.append(f"<{tag} {name}={value!r}> script URL")
            if name == "style":
                self.problems.append(f"<{tag} style=…> inline style")
        if tag == "script" and not values.get("src") and values.get("type") != "application/json":
            self.problems.append("inline <script>")
        if tag in ("iframe", "object", "embed", "base", "frame"):
            self.problems.append(f"<{tag}> element")
        if tag == "a" and "href" in values:
            self.anchors.append(values["href"])


def inert_problems(html: str) -> list[str]:
    """What in ``html`` could run script (empty when the page is inert), plus any payload left unescaped."""
    check = _InertCheck()
    check.feed(html)
    check.close()
    return check.problems + [f"raw payload {p!r}" for p in PAYLOADS if p in html]


def anchors(html: str) -> list[str]:
    """The ``href`` of every link in ``html``."""
    check = _InertCheck()
    check.feed(html)
    return check.anchors


def _form_token(client: httpx.Client, page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text)
    return found.group(1) if found else ""


@pytest.mark.parametrize(
    "snippet",
    [
        "<img src=x onerror=alert(1)>",
        "<script>alert(1)</script>",
        '<a href="JaVa&#x09;Script:alert(1)">x</a>',
        '<form action="javascript:alert(1)"></form>',
        '<p style="color: red">x</p>',
        '<iframe src="/"></iframe>',
    ],
)
def test_inert_check_catches_script(snippet: str) -> None:
    # The check behind the page tests must be able to fail.
    assert [] != inert_problems(f"<p>{snippet}</p>")


def test_inert_check_passes_escaped_text() -> None:
    assert [] == inert_problems(f"<p>{escape(SCRIPT)} {escape(IMG)}</p><script src='/ui/static/app.js'></script>")


@dataclass(frozen=True)
class Seeded:
    """What the module logged with hostile values."""

    experiment_id: str
    experiment_name: str
    run_id: str
    other_run_id: str
    model: str
    artifact_name: str


@pytest.fixture(scope="module")
def seeded(target: Target) -> Seeded:
    """An experiment, runs, a registered model and version, each field carrying an XSS payload."""
    uid = uuid.uuid4().hex[:8]
    client = MlflowClient(tracking_uri=target.url)
    experiment_name = f"{SCRIPT} {uid}"
    experiment_id = client.create_experiment(experiment_name, tags={"owner": IMG, "link": JS_URL})
    run = client.create_run(experiment_id, run_name=f"{IMG} run", tags={"t_script": SCRIPT})
    run_id = run.info.run_id
    client.log_param(run_id, "p_script", SCRIPT)
    client.log_param(run_id, "p_url", JS_URL)
    for key, value in {
        "t_img": IMG,
        "mlflow.source.name": SCRIPT,
        "mlflow.source.git.repoURL": JS_URL,
        "mlflow.note.content": SCRIPT,
        "shipyard.lineage.command": IMG,
    }.items():
        client.set_tag(run_id, key, value)
    client.log_metric(run_id, "acc", 0.5)
    artifact_name = f"{IMG}.txt"
    client.log_text(run_id, SCRIPT, f"notes/{artifact_name}")
    client.log_text(run_id, f"<html><body>{SCRIPT}</body></html>", "page.html")
    client.log_text(run_id, f"flavors:\n  python_function: {{loader_module: '{SCRIPT}'}}\n", "model/MLmodel")
    other_run_id = client.create_run(experiment_id, run_name=SCRIPT).info.run_id
    client.log_param(other_run_id, "p_script", IMG)
    with target.client() as http:
        dataset = {"name": SCRIPT, "digest": "d1", "source_type": IMG, "source": JS_URL, "schema": "", "profile": ""}
        tags = [{"key": "mlflow.data.context", "value": IMG}]
        http.post(
            f"{API}/runs/log-inputs", json={"run_id": run_id, "datasets": [{"dataset": dataset, "tags": tags}]}
        ).raise_for_status()
    model = f"{IMG} {uid}"
    client.create_registered_model(model, tags={"t": IMG, "url": JS_URL}, description=SCRIPT)
    client.create_model_version(
        model, source=f"{run.info.artifact_uri}/model", run_id=run_id, tags={"t": SCRIPT}, description=IMG
    )
    client.set_model_version_tag(model, "1", "shipyard.card.intended_use", CARD_MARKDOWN)
    client.set_model_version_tag(model, "1", "shipyard.card.limitations", IMG)
    with target.client() as http:
        http.post(
            f"{API}/model-versions/transition-stage",
            json={"name": model, "version": "1", "stage": "Staging", "comment": IMG},
        ).raise_for_status()
        page = f"/models/{quote(model, safe='')}"
        form = {"alias": "champion", "version": "1", "reason": SCRIPT, "csrf_token": _form_token(http, page)}
        moved = http.post(f"{page}/aliases", data=form, headers={"Origin": target.url})
        assert moved.status_code == 303, moved.text
    return Seeded(experiment_id, experiment_name, run_id, other_run_id, model, artifact_name)


def _pages(s: Seeded) -> dict[str, str]:
    model = quote(s.model, safe="")
    return {
        "experiments": "/",
        "runs": f"/experiments/{s.experiment_id}",
        "runs-filtered": f"/experiments/{s.experiment_id}?filter={quote('params.p_script != ' + repr(SCRIPT))}",
        "run": f"/runs/{s.run_id}",
        "run-artifact": f"/runs/{s.run_id}?artifact={quote('notes/' + s.artifact_name)}",
        "run-mlmodel": f"/runs/{s.run_id}?artifact=model/MLmodel",
        "other-run": f"/runs/{s.other_run_id}",
        "compare": f"/compare?runs={s.run_id}&runs={s.other_run_id}",
        "models": "/models",
        "models-filtered": f"/models?filter={quote('name != ' + repr(SCRIPT))}",
        "model": f"/models/{model}",
        "version": f"/models/{model}/versions/1",
    }


PAGE_NAMES = [
    "experiments",
    "runs",
    "runs-filtered",
    "run",
    "run-artifact",
    "run-mlmodel",
    "other-run",
    "compare",
    "models",
    "models-filtered",
    "model",
    "version",
]


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_ui_page_shows_stored_payloads_inert(target: Target, seeded: Seeded, name: str) -> None:
    with target.client() as client:
        response = client.get(_pages(seeded)[name])

    assert (200, []) == (response.status_code, inert_problems(response.text))


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("experiments", SCRIPT),
        ("experiments", IMG),
        ("runs", IMG),
        ("run", SCRIPT),
        ("run", IMG),
        ("run-artifact", SCRIPT),
        ("compare", IMG),
        ("models", SCRIPT),
        ("model", SCRIPT),
        ("model", IMG),
        ("version", IMG),
        ("version", SCRIPT),
    ],
)
def test_ui_page_shows_the_payload_as_text(target: Target, seeded: Seeded, name: str, payload: str) -> None:
    with target.client() as client:
        body = client.get(_pages(seeded)[name]).text

    assert str(escape(payload)) in body


@pytest.mark.parametrize("name", ["run", "version", "experiments", "model"])
def test_ui_page_never_links_a_script_url(target: Target, seeded: Seeded, name: str) -> None:
    with target.client() as client:
        links = anchors(client.get(_pages(seeded)[name]).text)

    assert [] == [href for href in links if re.sub(r"\s", "", href).lower().startswith(("javascript:", "data:"))]


def test_model_card_renders_markdown_links_but_no_script_links(target: Target, seeded: Seeded) -> None:
    with target.client() as client:
        body = client.get(_pages(seeded)["version"]).text
    card = body[body.index('id="model-card"') : body.index("</article>", body.index('id="model-card"'))]

    assert (True, []) == (
        "https://example.com/docs" in anchors(card),
        [h for h in anchors(card) if not h.startswith(("https://", "http://", "#", "/"))],
    )


def test_model_card_shows_raw_html_as_text(target: Target, seeded: Seeded) -> None:
    with target.client() as client:
        body = client.get(_pages(seeded)["version"]).text

    assert ("&lt;img src=x onerror=alert(1)&gt;" in body, "<img src=x" in body) == (True, False)


def test_model_card_route_answers_json(target: Target, seeded: Seeded) -> None:
    with target.client() as client:
        response = client.get(f"/api/v1/models/{quote(seeded.model, safe='')}/versions/1/card")

    assert ("application/json", True) == (
        response.headers["content-type"],
        "[plain](javascript:alert(1))" in response.json()["markdown"],
    )


# --- reflected input: error pages and JSON errors -------------------------------------------------------


REFLECTED_UI = [
    f"/?view={quote(SCRIPT)}",
    f"/models?filter={quote(SCRIPT)}",
    f"/models?filter={quote(IMG)}",
    f"/models/{quote(IMG, safe='')}",
    "/models/x/versions/" + quote(IMG, safe=""),
    "/runs/" + quote(IMG, safe=""),
    "/experiments/" + quote(IMG, safe=""),
    f"/compare?runs={quote(SCRIPT)}&runs={quote(IMG)}",
    f"/ui/artifacts/{quote(IMG, safe='')}/raw?path={quote(SCRIPT)}",
    f"/login?next={quote(JS_URL)}",
    f"/login?next={quote(IMG)}",
]


@pytest.mark.parametrize("path", REFLECTED_UI)
def test_ui_error_page_echoes_input_inert(target: Target, path: str) -> None:
    with target.client() as client:
        response = client.get(path)

    assert (True, []) == (response.status_code < 500, inert_problems(response.text))


@pytest.mark.parametrize("path", REFLECTED_UI[:8])
def test_ui_error_is_a_page_with_headers(target: Target, path: str) -> None:
    with target.client() as client:
        response = client.get(path)

    assert (True, "text/html; charset=utf-8", UI_POLICY) == (
        400 <= response.status_code < 500,
        response.headers["content-type"],
        response.headers.get("content-security-policy"),
    )


def test_filter_error_quotes_the_filter_escaped(target: Target, seeded: Seeded) -> None:
    with target.client() as client:
        body = client.get(f"/experiments/{seeded.experiment_id}", params={"filter": f"params.x = {IMG}"}).text

    assert (str(escape(IMG)) in body or "&#34;&gt;&lt;img" in body, IMG in body) == (True, False)


REFLECTED_JSON = [
    f"/{quote(SCRIPT, safe='')}",
    f"/api/{quote(SCRIPT, safe='')}?q={quote(IMG)}",
    f"{API}/runs/get?run_id={quote(SCRIPT)}",
    f"{API}/experiments/get-by-name?experiment_name={quote(SCRIPT)}",
    f"{API}/registered-models/get?name={quote(IMG)}",
    f"{API}/runs/search?filter={quote(SCRIPT)}",
    f"/api/v1/models/{quote(IMG, safe='')}/versions/1/card",
    f"/api/v1/models/{quote(IMG, safe='')}/history",
    f"/ui/api/runs/{quote(IMG, safe='')}/metrics/{quote(SCRIPT, safe='')}",
    f"/api/2.0/mlflow-artifacts/artifacts/{quote(SCRIPT, safe='')}",
]


@pytest.mark.parametrize("path", REFLECTED_JSON)
def test_api_error_is_json_not_html(target: Target, path: str) -> None:
    with target.client() as client:
        response = client.get(path)

    assert (True, "application/json", "nosniff", dict) == (
        400 <= response.status_code < 500,
        response.headers["content-type"],
        response.headers.get("x-content-type-options"),
        type(response.json()),
    )


def test_api_error_for_a_post_is_json(target: Target) -> None:
    with target.client() as client:
        response = client.post(f"{API}/experiments/create", json={"name": 5, "x": SCRIPT})

    assert (400, "application/json") == (response.status_code, response.headers["content-type"])


# --- headers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/models",
        "/health",
        "/version",
        "/ui/static/app.js",
        "/ui/static/style.css",
        f"{API}/experiments/search?max_results=1",
        f"{API}/no-such-endpoint",
        "/experiments/abc",
        "/api/openapi.json",
        "/api/docs",
    ],
)
def test_every_answer_says_nosniff(target: Target, path: str) -> None:
    with target.client() as client:
        assert "nosniff" == client.get(path).headers.get("x-content-type-options")


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_ui_page_carries_the_strict_policy(target: Target, seeded: Seeded, name: str) -> None:
    with target.client() as client:
        headers = client.get(_pages(seeded)[name]).headers

    assert (UI_POLICY, "DENY", "same-origin", "nosniff") == (
        headers.get("content-security-policy"),
        headers.get("x-frame-options"),
        headers.get("referrer-policy"),
        headers.get("x-content-type-options"),
    )


def test_api_docs_cannot_be_framed(target: Target) -> None:
    with target.client() as client:
        headers = client.get("/api/docs").headers

    assert ("DENY", True) == (
        headers.get("x-frame-options"),
        "frame-ancestors 'none'" in headers.get("content-security-policy", ""),
    )


def test_refused_host_answer_carries_the_headers(target: Target) -> None:
    response = target.raw("GET", "/", headers={"Host": "evil.example"})

    assert (400, "nosniff", "DENY") == (
        response.status,
        response.headers.get("x-content-type-options"),
        response.headers.get("x-frame-options"),
    )


def test_html_artifact_keeps_its_own_sandbox_policy(target: Target, seeded: Seeded) -> None:
    with target.client() as client:
        response = client.get(f"/ui/artifacts/{seeded.run_id}/raw", params={"path": "page.html"})
    policy = response.headers.get("content-security-policy", "")
    served_as_html = response.headers.get("content-type", "").startswith("text/html")

    assert (200, "nosniff", False) == (
        response.status_code,
        response.headers.get("x-content-type-options"),
        served_as_html and "sandbox" not in policy,
    )


def test_artifact_proxy_download_says_nosniff(target: Target, seeded: Seeded) -> None:
    client = MlflowClient(tracking_uri=target.url)
    artifact_uri = client.get_run(seeded.run_id).info.artifact_uri
    key = artifact_uri.split("mlflow-artifacts:/", 1)[1].lstrip("/")
    with target.client() as http:
        response = http.get(f"/api/2.0/mlflow-artifacts/artifacts/{key}/page.html")

    assert (200, "nosniff", False) == (
        response.status_code,
        response.headers.get("x-content-type-options"),
        response.headers.get("content-type", "").startswith("text/html"),
    )


# --- the header middleware on its own -------------------------------------------------------------------


def _app_answering(content_type: str, headers: dict[str, str]) -> TestClient:
    async def endpoint(_request: Request) -> Response:
        return Response(b"<svg/>", media_type=content_type, headers=headers)

    return TestClient(SecurityHeaders(Starlette(routes=[Route("/", endpoint)])), base_url="http://127.0.0.1")


def test_header_middleware_keeps_a_policy_the_route_set() -> None:
    own = "default-src 'none'; sandbox"
    with _app_answering("text/html", {"Content-Security-Policy": own}) as client:
        headers = client.get("/").headers

    assert (own, "nosniff", "DENY") == (
        headers["content-security-policy"],
        headers["x-content-type-options"],
        headers["x-frame-options"],
    )


def test_header_middleware_sandboxes_an_svg_without_a_policy() -> None:
    with _app_answering("image/svg+xml", {}) as client:
        policy = client.get("/").headers.get("content-security-policy", "")

    assert (True, True) == ("sandbox" in policy, "default-src 'none'" in policy)


def test_header_middleware_leaves_json_without_a_policy() -> None:
    with _app_answering("application/json", {}) as client:
        headers = client.get("/").headers

    assert (None, "nosniff") == (headers.get("content-security-policy"), headers["x-content-type-options"])
