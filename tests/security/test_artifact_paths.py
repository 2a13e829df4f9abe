"""Path traversal through every artifact route of a running server: no spelling of "outside" gets out.

Attacks modelled (MLflow's CVE history, e.g. CVE-2023-1177, CVE-2023-2356, CVE-2023-2780 for backslashes,
CVE-2023-6831 and its double-decoding bypass CVE-2024-1560 for deletes): ``..`` and every encoding of it
(percent, double and many-times percent, overlong UTF-8, fullwidth), backslashes, ``..;`` path parameters,
NUL bytes, absolute paths, ``file:`` URIs and Windows drives, sent to the artifact proxy (download, upload,
delete, list), to MLflow's multipart routes (which Shipyard does not offer) and to the UI's raw-artifact
routes and run page. Each spelling names the canary folder beside the data folder, so a request that got out
would read, overwrite or delete a canary; the autouse fixture checks them after every test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.security.conftest import CANARY_TEXT, RawResponse, Target

API = "/api/2.0/mlflow"
PROXY = "/api/2.0/mlflow-artifacts/artifacts"
PROXY_PREFIXES = ("/api", "/ajax-api")
CANARY = CANARY_TEXT.encode()

# An escape spelling: (steps up to the server's data folder's parent, absolute canary folder) -> the path.
Spelling = Callable[[int, str], str]


def _climb(up: str, sep: str = "/") -> Spelling:
    """Climb ``depth`` folders with ``up`` (``..`` in some disguise), then name the canary folder."""
    return lambda depth, _outside: sep.join([up] * depth + ["outside"])


def _absolute(template: str) -> Spelling:
    """Name the canary folder by its absolute path: ``{outside}`` is ``/tmp/…/outside``, ``{bare}`` lacks the ``/``."""
    return lambda _depth, outside: template.format(outside=outside, bare=outside.lstrip("/"))


def _encoded(text: str, times: int) -> str:
    """``text`` percent-encoded ``times`` times over (``..`` once is ``%2e%2e``, twice ``%252e%252e``)."""
    encoded = "".join(f"%{ord(char):02x}" for char in text)
    for _ in range(times - 1):
        encoded = encoded.replace("%", "%25")
    return encoded


ESCAPES: dict[str, Spelling] = {
    "dotdot": _climb(".."),
    "dotdot-dot-segments": _climb("./../."),
    "encoded": _climb(_encoded("..", 1)),
    "encoded-upper-case": _climb("%2E%2E"),
    "encoded-slash": _climb("..", "%2f"),
    "double-encoded": _climb(_encoded("..", 2)),
    "double-encoded-slash": _climb(_encoded("..", 2), _encoded("/", 2)),
    "triple-encoded": _climb(_encoded("..", 3)),
    "encoded-six-times": _climb(_encoded("..", 6)),
    "backslash": _climb("..", "\\"),
    "encoded-backslash": _climb("..", "%5c"),
    "double-encoded-backslash": _climb(_encoded("..", 2), _encoded("\\", 2)),
    "semicolon": _climb("..;"),
    "semicolon-parameter": _climb("..;jsessionid=x"),
    "encoded-semicolon": _climb("%2e%2e%3b"),
    "trailing-space": _climb("..%20"),
    "overlong-2-byte-dot": _climb("%c0%ae%c0%ae"),
    "overlong-3-byte-dot": _climb("%e0%80%ae%e0%80%ae"),
    "overlong-4-byte-dot": _climb("%f0%80%80%ae%f0%80%80%ae"),
    "overlong-slash": _climb("..", "%c0%af"),
    "overlong-backslash": _climb("..", "%c1%9c"),
    "double-encoded-overlong-dot": _climb("%25c0%25ae%25c0%25ae"),
    "fullwidth-dots": _climb("%ef%bc%8e%ef%bc%8e"),
    "fullwidth-slash": _climb("..", "%ef%bc%8f"),
    "nul-after-dots": _climb("..%00"),
    "absolute": _absolute("{outside}"),
    "absolute-double-slash": _absolute("/{outside}"),
    "absolute-encoded-slash": _absolute("%2f{bare}"),
    "absolute-slash-then-encoded": _absolute("/%2f{bare}"),
    "absolute-double-encoded": _absolute("%252f{bare}"),
    "file-uri": _absolute("file://{outside}"),
    "file-uri-one-slash": _absolute("file:{outside}"),
    "file-uri-localhost": _absolute("file://localhost{outside}"),
    "file-uri-upper-case": _absolute("FILE://{outside}"),
    "file-uri-encoded-colon": _absolute("file%3a//{outside}"),
    "windows-drive": _absolute("C:/Windows/win.ini"),
    "windows-drive-backslash": _absolute("C:%5cWindows%5cwin.ini"),
    "windows-drive-relative": _absolute("C:..%5c..%5coutside"),
    "windows-unc": _absolute("%5c%5cserver%5cshare%5coutside"),
    "windows-device": _absolute("%5c%5c%3f%5cC:%5coutside"),
}


@dataclass(frozen=True)
class Run:
    """A run on the target, its artifact-store key, and a registered version whose files are the run's."""

    run_id: str
    key: str
    model: str
    version: str

    @property
    def depth(self) -> int:
        """How many ``..`` climb from the run's artifact folder to the folder holding ``data`` and ``outside``."""
        return len(self.key.split("/")) + 2  # the key's folders, then ``artifacts`` and ``data``


def create_run(target: Target) -> Run:
    """A fresh experiment and run on the target, with a model version registered from the run's folder."""
    suffix = uuid.uuid4().hex[:10]
    with target.client() as client:
        experiment = client.post(f"{API}/experiments/create", json={"name": f"security-{suffix}"})
        created = client.post(f"{API}/runs/create", json={"experiment_id": experiment.json()["experiment_id"]})
        info = created.json()["run"]["info"]
        key = info["artifact_uri"].split(":", 1)[1].strip("/")
        model = f"security-model-{suffix}"
        client.post(f"{API}/registered-models/create", json={"name": model}).raise_for_status()
        version = client.post(
            f"{API}/model-versions/create", json={"name": model, "source": f"mlflow-artifacts:/{key}"}
        )
    return Run(info["run_id"], key, model, version.json()["model_version"]["version"])


def upload(target: Target, key: str, content: bytes) -> None:
    """Store ``content`` at the artifact-store ``key`` through the proxy."""
    with target.client() as client:
        client.put(f"{PROXY}/{key}", content=content).raise_for_status()


def outcome(response: RawResponse) -> tuple[str, bool]:
    """The status class and whether the canary's text came back: ``("4xx", False)`` for a refused attack."""
    return f"{response.status // 100}xx", CANARY in response.body


def tree(folder: Path) -> list[str]:
    """Every entry under ``folder`` (links not followed), relative to it, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        found += [(Path(dirpath) / name).relative_to(folder).as_posix() for name in dirnames + filenames]
    return sorted(found)


@pytest.fixture(scope="module")
def run(target: Target) -> Run:
    """One run holding ``notes.txt``, shared by the module's tests."""
    created = create_run(target)
    upload(target, f"{created.key}/notes.txt", b"legitimate notes\n")
    return created


def _escape(target: Target, name: str, depth: int) -> str:
    return ESCAPES[name](depth, target.canary_dir.as_posix())


# --- The artifact proxy -------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PROXY_PREFIXES)
@pytest.mark.parametrize("escape", sorted(ESCAPES))
def test_proxy_download_cannot_read_outside_the_root(target: Target, escape: str, prefix: str) -> None:
    path = _escape(target, escape, 2) + "/secret.txt"

    response = target.raw("GET", f"{prefix}/2.0/mlflow-artifacts/artifacts/{path}")

    assert ("4xx", False) == outcome(response)


@pytest.mark.parametrize("prefix", PROXY_PREFIXES)
@pytest.mark.parametrize("escape", sorted(ESCAPES))
def test_proxy_upload_cannot_write_outside_the_root(target: Target, escape: str, prefix: str) -> None:
    path = _escape(target, escape, 2) + "/secret.txt"
    before = tree(target.artifacts)

    response = target.raw("PUT", f"{prefix}/2.0/mlflow-artifacts/artifacts/{path}", body=b"pwned")

    assert ("4xx", before) == (outcome(response)[0], tree(target.artifacts))


@pytest.mark.parametrize("prefix", PROXY_PREFIXES)
@pytest.mark.parametrize("escape", sorted(ESCAPES))
def test_proxy_delete_cannot_remove_outside_the_root(target: Target, escape: str, prefix: str) -> None:
    path = _escape(target, escape, 2) + "/secret.txt"
    before = tree(target.artifacts)

    response = target.raw("DELETE", f"{prefix}/2.0/mlflow-artifacts/artifacts/{path}")

    assert ("4xx", before) == (outcome(response)[0], tree(target.artifacts))


@pytest.mark.parametrize("prefix", PROXY_PREFIXES)
@pytest.mark.parametrize("escape", sorted(ESCAPES))
def test_proxy_listing_cannot_list_outside_the_root(target: Target, escape: str, prefix: str) -> None:
    path = _escape(target, escape, 2)

    response = target.raw("GET", f"{prefix}/2.0/mlflow-artifacts/artifacts?path={path}")

    assert ("4xx", False) == (outcome(response)[0], b"secret.txt" in response.body)


@pytest.mark.parametrize("escape", ["dotdot", "encoded", "double-encoded", "semicolon", "overlong-2-byte-dot"])
def test_proxy_traversal_stopped_inside_a_run_folder_is_refused(target: Target, run: Run, escape: str) -> None:
    path = f"{run.key}/" + _escape(target, escape, run.depth) + "/secret.txt"

    response = target.raw("GET", f"{PROXY}/{path}")

    assert ("4xx", False) == outcome(response)


def test_proxy_refuses_a_file_uri_with_a_message_naming_the_problem(target: Target) -> None:
    response = target.raw("GET", f"{PROXY}/file://{target.canary_dir.as_posix()}/secret.txt")

    assert (400, True) == (response.status, b"it is a URI" in response.body)


def test_proxy_refuses_parent_components_with_a_message_naming_them(target: Target) -> None:
    response = target.raw("GET", f"{PROXY}/../../outside/secret.txt")

    assert (400, True) == (response.status, b"'..' component" in response.body)


def test_proxy_refuses_a_name_longer_than_the_file_system_allows(target: Target, run: Run) -> None:
    response = target.raw("PUT", f"{PROXY}/{run.key}/{'a' * 300}.txt", body=b"x")

    assert (400, True) == (response.status, b"bytes long" in response.body)


def test_proxy_refuses_a_path_longer_than_the_file_system_allows(target: Target, run: Run) -> None:
    response = target.raw("PUT", f"{PROXY}/{run.key}/{'d/' * 3000}x.txt", body=b"x")

    assert (400, True) == (response.status, b"too long" in response.body)


@pytest.mark.parametrize("root", ["", ".", "%2e", "./", "/", "%2f", ".%2f.", "./."])
def test_proxy_delete_of_the_artifact_root_is_refused(target: Target, run: Run, root: str) -> None:
    before = tree(target.artifacts)

    response = target.raw("DELETE", f"{PROXY}/{root}")

    assert ("4xx", before) == (outcome(response)[0], tree(target.artifacts))


# --- MLflow's multipart routes, which Shipyard does not offer -------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "GET", "DELETE"])
@pytest.mark.parametrize("action", ["create", "complete", "abort"])
@pytest.mark.parametrize("escape", ["dotdot", "encoded", "double-encoded", "absolute-double-slash", "file-uri"])
def test_multipart_routes_answer_4xx_and_touch_nothing(target: Target, escape: str, action: str, method: str) -> None:
    path = _escape(target, escape, 2) + "/secret.txt"
    body = b'{"path": "x", "num_parts": 1, "upload_id": "u", "parts": []}'
    before = tree(target.artifacts)

    response = target.raw(
        method,
        f"/api/2.0/mlflow-artifacts/mpu/{action}/{path}",
        body=body,
        headers={"Content-Type": "application/json"},
    )

    assert ("4xx", before) == (outcome(response)[0], tree(target.artifacts))


@pytest.mark.parametrize("action", ["create", "complete", "abort"])
def test_multipart_routes_are_not_found_for_an_honest_path(target: Target, run: Run, action: str) -> None:
    before = tree(target.artifacts)

    response = target.raw(
        "POST",
        f"/api/2.0/mlflow-artifacts/mpu/{action}/{run.key}/big.bin",
        body=b"{}",
        headers={"Content-Type": "application/json"},
    )

    assert (404, before) == (response.status, tree(target.artifacts))


# --- The UI ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("download", ["", "&download=1"])
@pytest.mark.parametrize("escape", sorted(ESCAPES))
def test_ui_raw_artifact_cannot_read_outside_the_root(target: Target, run: Run, escape: str, download: str) -> None:
    path = _escape(target, escape, run.depth) + "/secret.txt"

    response = target.raw("GET", f"/ui/artifacts/{run.run_id}/raw?path={path}{download}")

    assert ("4xx", False) == outcome(response)


@pytest.mark.parametrize("escape", sorted(ESCAPES))
def test_ui_version_raw_cannot_read_outside_the_root(target: Target, run: Run, escape: str) -> None:
    path = _escape(target, escape, run.depth) + "/secret.txt"

    response = target.raw("GET", f"/models/{run.model}/versions/{run.version}/raw?path={path}")

    assert ("4xx", False) == outcome(response)


@pytest.mark.parametrize("escape", sorted(ESCAPES))
def test_ui_run_page_cannot_preview_outside_the_root(target: Target, run: Run, escape: str) -> None:
    path = _escape(target, escape, run.depth) + "/secret.txt"

    response = target.raw("GET", f"/runs/{run.run_id}?artifact={path}")

    assert ("4xx", False) == outcome(response)


# --- Positive controls: honest requests still work -------------------------------------------------------------


@pytest.mark.parametrize("name", ["report.txt", "v1..2.txt", "...", "notes:v1.txt", "donn%C3%A9es.txt", "a%2520b.txt"])
def test_proxy_round_trip_of_an_honest_name(target: Target, run: Run, name: str) -> None:
    put = target.raw("PUT", f"{PROXY}/{run.key}/honest/{name}", body=b"honest bytes")

    got = target.raw("GET", f"{PROXY}/{run.key}/honest/{name}")

    assert (200, 200, b"honest bytes") == (put.status, got.status, got.body)


def test_proxy_listing_shows_an_uploaded_file(target: Target, run: Run) -> None:
    upload(target, f"{run.key}/listed/kept.txt", b"12345")

    with target.client() as client:
        listed = client.get(PROXY, params={"path": f"{run.key}/listed"}).json()

    assert {"files": [{"path": "kept.txt", "is_dir": False, "file_size": 5}]} == listed


def test_proxy_delete_removes_an_uploaded_file(target: Target, run: Run) -> None:
    upload(target, f"{run.key}/doomed/gone.txt", b"bye")

    with target.client() as client:
        deleted = client.delete(f"{PROXY}/{run.key}/doomed/gone.txt")
        after = client.get(f"{PROXY}/{run.key}/doomed/gone.txt")

    assert (200, 404) == (deleted.status_code, after.status_code)


def test_ui_raw_artifact_serves_a_file_of_the_run(target: Target, run: Run) -> None:
    response = target.raw("GET", f"/ui/artifacts/{run.run_id}/raw?path=notes.txt")

    assert (200, b"legitimate notes\n") == (response.status, response.body)


def test_ui_version_raw_serves_a_file_of_the_version(target: Target, run: Run) -> None:
    response = target.raw("GET", f"/models/{run.model}/versions/{run.version}/raw?path=notes.txt")

    assert (200, b"legitimate notes\n") == (response.status, response.body)


def test_ui_run_page_previews_a_file_of_the_run(target: Target, run: Run) -> None:
    response = target.raw("GET", f"/runs/{run.run_id}?artifact=notes.txt")

    assert (200, True) == (response.status, b"legitimate notes" in response.body)
