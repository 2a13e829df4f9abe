"""Path confinement: no store operation may reach outside the root, by traversal, encoding or symlink."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from shipyard.artifacts import ArtifactStore, FileInfo, LocalArtifactStore
from shipyard.errors import ArtifactPathError
from tests.unit.artifacts.conftest import OUTSIDE_CONTENT, achunks
from tests.unit.artifacts.test_paths import UNSAFE_PATHS

Operation = Callable[[ArtifactStore, str], object]

# Every operation that takes a path, run with a default payload where one is needed.
OPERATIONS: dict[str, Operation] = {
    "open_read": lambda store, path: store.open_read(path),
    "iter_read": lambda store, path: store.iter_read(path),
    "write_bytes": lambda store, path: store.write_bytes(path, b"pwned"),
    "write_stream": lambda store, path: store.write_stream(path, iter([b"pwned"])),
    "awrite_stream": lambda store, path: anyio.run(store.awrite_stream, path, achunks([b"pwned"])),
    "list_dir": lambda store, path: store.list_dir(path),
    "delete": lambda store, path: store.delete(path),
    "exists": lambda store, path: store.exists(path),
    "size": lambda store, path: store.size(path),
    "local_path": lambda store, path: store.local_path(path),
}

TRAVERSALS = ["../secret.txt", "a/../../secret.txt", "%2e%2e/secret.txt", "%252e%252e/secret.txt"]


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("path", UNSAFE_PATHS)
def test_unsafe_path_is_rejected(store: ArtifactStore, operation: str, path: str) -> None:
    with pytest.raises(ArtifactPathError):
        OPERATIONS[operation](store, path)


@pytest.mark.parametrize("path", TRAVERSALS)
def test_rejected_write_leaves_the_outside_file_untouched(store: ArtifactStore, outside_file: Path, path: str) -> None:
    with pytest.raises(ArtifactPathError):
        store.write_bytes(path, b"pwned")

    assert OUTSIDE_CONTENT == outside_file.read_bytes()


@pytest.mark.parametrize("path", TRAVERSALS)
def test_rejected_delete_leaves_the_outside_file_in_place(store: ArtifactStore, outside_file: Path, path: str) -> None:
    with pytest.raises(ArtifactPathError):
        store.delete(path)

    assert OUTSIDE_CONTENT == outside_file.read_bytes()


# Symlinks placed inside the root


@pytest.fixture
def outside_dir(tmp_path: Path) -> Path:
    """A folder outside the store root holding ``secret.txt``."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_bytes(OUTSIDE_CONTENT)
    return folder


@pytest.fixture
def linked_store(local_store: LocalArtifactStore, outside_dir: Path) -> LocalArtifactStore:
    """A store whose root holds ``escape`` (a link to the outside folder) and ``passwd`` (to the outside file)."""
    (local_store.root / "escape").symlink_to(outside_dir, target_is_directory=True)
    (local_store.root / "passwd").symlink_to(outside_dir / "secret.txt")
    return local_store


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("path", ["escape", "escape/secret.txt", "escape/new/file.txt", "passwd"])
def test_path_through_a_symlink_leaving_the_root_is_rejected(
    linked_store: LocalArtifactStore, operation: str, path: str
) -> None:
    with pytest.raises(ArtifactPathError):
        OPERATIONS[operation](linked_store, path)


def test_write_through_a_symlinked_folder_creates_nothing_outside(
    linked_store: LocalArtifactStore, outside_dir: Path
) -> None:
    with pytest.raises(ArtifactPathError):
        linked_store.write_bytes("escape/new/file.txt", b"pwned")

    assert ["secret.txt"] == sorted(p.name for p in outside_dir.iterdir())


def test_write_over_a_symlinked_file_leaves_its_target_untouched(
    linked_store: LocalArtifactStore, outside_dir: Path
) -> None:
    with pytest.raises(ArtifactPathError):
        linked_store.write_bytes("passwd", b"pwned")

    assert OUTSIDE_CONTENT == (outside_dir / "secret.txt").read_bytes()


def test_delete_through_a_symlinked_folder_leaves_its_target_in_place(
    linked_store: LocalArtifactStore, outside_dir: Path
) -> None:
    with pytest.raises(ArtifactPathError):
        linked_store.delete("escape")

    assert OUTSIDE_CONTENT == (outside_dir / "secret.txt").read_bytes()


def test_listing_hides_symlinks_leaving_the_root(linked_store: LocalArtifactStore) -> None:
    linked_store.write_bytes("kept.txt", b"abc")

    assert [FileInfo("kept.txt", False, 3)] == linked_store.list_dir("")


def test_relative_symlink_climbing_out_of_the_root_is_rejected(
    local_store: LocalArtifactStore, outside_dir: Path
) -> None:
    (local_store.root / "a").mkdir()
    (local_store.root / "a" / "up").symlink_to(Path("..") / ".." / outside_dir.name, target_is_directory=True)

    with pytest.raises(ArtifactPathError):
        local_store.open_read("a/up/secret.txt")


def test_dangling_symlink_pointing_outside_is_not_writable(local_store: LocalArtifactStore, tmp_path: Path) -> None:
    (local_store.root / "dangling").symlink_to(tmp_path / "nowhere" / "file.txt")

    with pytest.raises(ArtifactPathError):
        local_store.write_bytes("dangling", b"pwned")

    assert False is (tmp_path / "nowhere").exists()


def test_symlink_loop_is_rejected(local_store: LocalArtifactStore) -> None:
    (local_store.root / "loop_a").symlink_to(local_store.root / "loop_b")
    (local_store.root / "loop_b").symlink_to(local_store.root / "loop_a")

    with pytest.raises(ArtifactPathError):
        local_store.open_read("loop_a/file.txt")


def test_symlink_staying_inside_the_root_is_followed(local_store: LocalArtifactStore) -> None:
    local_store.write_bytes("real/MLmodel", b"flavors: {}")
    (local_store.root / "alias").symlink_to(local_store.root / "real", target_is_directory=True)

    with local_store.open_read("alias/MLmodel") as file:
        assert b"flavors: {}" == file.read()


def test_listing_through_an_inside_symlink_keeps_the_requested_prefix(local_store: LocalArtifactStore) -> None:
    local_store.write_bytes("real/MLmodel", b"x")
    (local_store.root / "alias").symlink_to(local_store.root / "real", target_is_directory=True)

    assert [FileInfo("alias/MLmodel", False, 1)] == local_store.list_dir("alias")


def test_delete_of_an_inside_symlink_removes_the_link_not_its_target(local_store: LocalArtifactStore) -> None:
    local_store.write_bytes("real/MLmodel", b"x")
    (local_store.root / "alias").symlink_to(local_store.root / "real", target_is_directory=True)

    local_store.delete("alias")

    assert (False, True) == (local_store.exists("alias"), local_store.exists("real/MLmodel"))


# Names the file system cannot hold: a 400, never an OSError (a 500)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("path", ["a" * 300, "folder/" + "b" * 300 + "/c.txt", "d/" * 3000 + "e.txt"])
def test_path_too_long_for_the_file_system_is_rejected(
    local_store: LocalArtifactStore, operation: str, path: str
) -> None:
    with pytest.raises(ArtifactPathError):
        OPERATIONS[operation](local_store, path)


def test_name_of_the_longest_allowed_length_is_stored(local_store: LocalArtifactStore) -> None:
    local_store.write_bytes("n" * 255, b"x")

    assert True is local_store.exists("n" * 255)


def test_listing_skips_a_name_that_is_not_utf8(local_store: LocalArtifactStore) -> None:
    local_store.write_bytes("kept.txt", b"abc")
    (local_store.root / os.fsdecode(b"bad-\xff.txt")).write_bytes(b"x")

    assert [FileInfo("kept.txt", False, 3)] == local_store.list_dir("")
