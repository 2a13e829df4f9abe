"""Symbolic links inside the artifact root never lead a request out of it, whatever the verb.

Attack modelled: someone with write access to the artifact folder (a shared volume, a restored backup, a
tarball unpacked into it) plants links pointing at files beside the server's data; an HTTP client then reads,
overwrites, deletes or lists through them. Each test plants fresh links in its own folder of a run, then
attacks them through the artifact proxy and the UI's raw routes; the autouse fixture checks the canaries.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.security.conftest import CANARY_TEXT, Target
from tests.security.test_artifact_paths import PROXY, Run, create_run, outcome, tree, upload

# The planted links that lead out of the root (see the ``case`` fixture).
OUTSIDE_LINKS = ["escape", "relative-escape", "passwd", "dangling", "chain"]


@dataclass(frozen=True)
class Case:
    """A folder of a run's artifacts holding freshly planted links; ``rel`` is relative to the run's folder."""

    run: Run
    rel: str
    folder: Path

    @property
    def key(self) -> str:
        """The folder's artifact-store key."""
        return f"{self.run.key}/{self.rel}"


@pytest.fixture(scope="module")
def run(target: Target) -> Run:
    """One run shared by the module's tests."""
    return create_run(target)


@pytest.fixture
def case(target: Target, run: Run) -> Iterator[Case]:
    """A new folder in the run with an honest file, links leading out of the root and links staying inside.

    * ``escape`` -> the canary folder (absolute), ``relative-escape`` -> it by ``../../…``
    * ``passwd`` -> the canary file, ``dangling`` -> a missing file in the canary folder
    * ``chain`` -> ``hop`` (inside) -> the canary folder
    * ``inside`` -> ``real`` (a folder holding ``model.txt``), ``loop_a`` <-> ``loop_b``
    """
    rel = f"links-{uuid.uuid4().hex[:10]}"
    upload(target, f"{run.key}/{rel}/real/model.txt", b"inside the root\n")
    folder = target.artifacts / run.key / rel
    outside = target.canary_dir
    depth = len(folder.relative_to(target.root).parts)
    (folder / "escape").symlink_to(outside, target_is_directory=True)
    (folder / "relative-escape").symlink_to(Path(*[".."] * depth, "outside"), target_is_directory=True)
    (folder / "passwd").symlink_to(outside / "secret.txt")
    (folder / "dangling").symlink_to(outside / "planted.txt")
    (folder / "hop").symlink_to(outside, target_is_directory=True)
    (folder / "chain").symlink_to(folder / "hop", target_is_directory=True)
    (folder / "inside").symlink_to(folder / "real", target_is_directory=True)
    (folder / "loop_a").symlink_to(folder / "loop_b")
    (folder / "loop_b").symlink_to(folder / "loop_a")
    yield Case(run, rel, folder)
    shutil.rmtree(folder, ignore_errors=True)  # removes the links themselves, never what they point at


def _file_through(link: str) -> str:
    """The canary file as reached through ``link`` (a link to the folder, or to the file itself)."""
    return "passwd" if link == "passwd" else ("dangling" if link == "dangling" else f"{link}/secret.txt")


READ_THROUGH = [
    "escape/secret.txt",
    "relative-escape/secret.txt",
    "passwd",
    "chain/secret.txt",
    "escape/nested/keys.txt",
]


# --- Reading ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", READ_THROUGH)
def test_proxy_download_does_not_follow_a_link_out_of_the_root(target: Target, case: Case, path: str) -> None:
    response = target.raw("GET", f"{PROXY}/{case.key}/{path}")

    assert ("4xx", False) == outcome(response)


@pytest.mark.parametrize("path", READ_THROUGH)
def test_ui_raw_artifact_does_not_follow_a_link_out_of_the_root(target: Target, case: Case, path: str) -> None:
    response = target.raw("GET", f"/ui/artifacts/{case.run.run_id}/raw?path={case.rel}/{path}")

    assert ("4xx", False) == outcome(response)


@pytest.mark.parametrize("path", READ_THROUGH)
def test_ui_version_raw_does_not_follow_a_link_out_of_the_root(target: Target, case: Case, path: str) -> None:
    response = target.raw("GET", f"/models/{case.run.model}/versions/{case.run.version}/raw?path={case.rel}/{path}")

    assert ("4xx", False) == outcome(response)


@pytest.mark.parametrize("path", READ_THROUGH)
def test_ui_run_page_does_not_preview_through_a_link_out_of_the_root(target: Target, case: Case, path: str) -> None:
    response = target.raw("GET", f"/runs/{case.run.run_id}?artifact={case.rel}/{path}")

    assert ("4xx", False) == outcome(response)


def test_a_run_folder_that_is_itself_a_link_out_of_the_root_is_not_served(target: Target) -> None:
    linked = create_run(target)
    folder = target.artifacts / linked.key
    folder.parent.mkdir(parents=True, exist_ok=True)
    if folder.is_dir():
        folder.rmdir()  # an empty folder made with the run, if the server makes one
    folder.symlink_to(target.canary_dir, target_is_directory=True)

    response = target.raw("GET", f"/ui/artifacts/{linked.run_id}/raw?path=secret.txt")

    assert ("4xx", False) == outcome(response)


def test_a_symlink_loop_is_refused(target: Target, case: Case) -> None:
    response = target.raw("GET", f"{PROXY}/{case.key}/loop_a/file.txt")

    assert "4xx" == outcome(response)[0]


# --- Writing ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("link", OUTSIDE_LINKS)
def test_proxy_upload_does_not_write_through_a_link_out_of_the_root(target: Target, case: Case, link: str) -> None:
    response = target.raw("PUT", f"{PROXY}/{case.key}/{_file_through(link)}", body=b"pwned")

    assert ("4xx", CANARY_TEXT) == (outcome(response)[0], (target.canary_dir / "secret.txt").read_text())


@pytest.mark.parametrize("link", ["escape", "relative-escape", "chain"])
def test_proxy_upload_does_not_create_folders_through_a_link_out_of_the_root(
    target: Target, case: Case, link: str
) -> None:
    response = target.raw("PUT", f"{PROXY}/{case.key}/{link}/made/by/attacker.txt", body=b"pwned")

    assert ("4xx", False) == (outcome(response)[0], (target.canary_dir / "made").exists())


def test_proxy_upload_over_a_link_leaves_the_link_in_place(target: Target, case: Case) -> None:
    target.raw("PUT", f"{PROXY}/{case.key}/passwd", body=b"pwned")

    assert target.canary_dir / "secret.txt" == (case.folder / "passwd").readlink()


# --- Deleting ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [*OUTSIDE_LINKS, "escape/secret.txt", "chain/secret.txt", "escape/nested"])
def test_proxy_delete_does_not_remove_anything_out_of_the_root(target: Target, case: Case, path: str) -> None:
    response = target.raw("DELETE", f"{PROXY}/{case.key}/{path}")

    assert ("4xx", True, True) == (
        outcome(response)[0],
        (target.canary_dir / "secret.txt").is_file(),
        (target.canary_dir / "nested" / "keys.txt").is_file(),
    )


def test_proxy_delete_of_a_folder_holding_links_removes_the_links_not_their_targets(target: Target, case: Case) -> None:
    response = target.raw("DELETE", f"{PROXY}/{case.key}")

    assert (200, False, CANARY_TEXT) == (
        response.status,
        case.folder.exists(),
        (target.canary_dir / "secret.txt").read_text(),
    )


# --- Listing ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("link", ["escape", "relative-escape", "chain", "escape/nested"])
def test_proxy_listing_does_not_list_through_a_link_out_of_the_root(target: Target, case: Case, link: str) -> None:
    response = target.raw("GET", f"{PROXY}?path={case.key}/{link}")

    assert ("4xx", False, False) == (outcome(response)[0], b"secret.txt" in response.body, b"keys.txt" in response.body)


def test_proxy_listing_hides_links_out_of_the_root(target: Target, case: Case) -> None:
    with target.client() as client:
        listed = client.get(PROXY, params={"path": case.key}).json()

    assert ["inside", "real"] == sorted(entry["path"] for entry in listed["files"])


def test_ui_run_page_does_not_show_files_through_a_link_out_of_the_root(target: Target, case: Case) -> None:
    response = target.raw("GET", f"/runs/{case.run.run_id}")

    assert (200, False) == (response.status, b"keys.txt" in response.body)


# --- Positive controls: links that stay inside the root still work ------------------------------------------


def test_proxy_download_follows_a_link_that_stays_inside(target: Target, case: Case) -> None:
    response = target.raw("GET", f"{PROXY}/{case.key}/inside/model.txt")

    assert (200, b"inside the root\n") == (response.status, response.body)


def test_ui_raw_artifact_follows_a_link_that_stays_inside(target: Target, case: Case) -> None:
    response = target.raw("GET", f"/ui/artifacts/{case.run.run_id}/raw?path={case.rel}/inside/model.txt")

    assert (200, b"inside the root\n") == (response.status, response.body)


def test_proxy_delete_of_a_link_that_stays_inside_keeps_its_target(target: Target, case: Case) -> None:
    response = target.raw("DELETE", f"{PROXY}/{case.key}/inside")

    assert (200, False, True) == (
        response.status,
        (case.folder / "inside").is_symlink(),
        (case.folder / "real" / "model.txt").is_file(),
    )


def test_refused_link_attacks_leave_the_planted_links_as_they_were(target: Target, case: Case) -> None:
    before = tree(case.folder)

    for path in READ_THROUGH:
        target.raw("PUT", f"{PROXY}/{case.key}/{path}", body=b"pwned")
        target.raw("DELETE", f"{PROXY}/{case.key}/{path}")

    assert before == tree(case.folder)
