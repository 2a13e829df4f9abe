"""The local-folder backend: what it leaves on disk, its root, and its filesystem paths."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.artifacts import LocalArtifactStore
from shipyard.errors import ArtifactPathError


class UploadDroppedError(Exception):
    """Raised by a chunk source to simulate a client that disconnects mid-upload."""


def names_in(folder: Path) -> list[str]:
    """Every name in ``folder`` on disk, hidden ones included, sorted."""
    return sorted(entry.name for entry in folder.iterdir())


def test_store_creates_a_missing_root(tmp_path: Path) -> None:
    LocalArtifactStore(tmp_path / "new" / "root")

    assert True is (tmp_path / "new" / "root").is_dir()


def test_root_given_through_a_symlink_is_resolved(tmp_path: Path) -> None:
    (tmp_path / "real_root").mkdir()
    (tmp_path / "link_root").symlink_to(tmp_path / "real_root", target_is_directory=True)
    store = LocalArtifactStore(tmp_path / "link_root")

    store.write_bytes("a.txt", b"x")

    assert b"x" == (tmp_path / "real_root" / "a.txt").read_bytes()


def test_write_stores_the_file_under_the_root(local_store: LocalArtifactStore) -> None:
    local_store.write_bytes("1/abc/artifacts/a.txt", b"content")

    assert b"content" == (local_store.root / "1" / "abc" / "artifacts" / "a.txt").read_bytes()


def test_local_path_is_the_confined_absolute_path(local_store: LocalArtifactStore) -> None:
    assert local_store.root / "1" / "abc" / "MLmodel" == local_store.local_path("1//abc/./MLmodel")


def test_successful_write_leaves_no_temporary_file(local_store: LocalArtifactStore) -> None:
    local_store.write_stream("d/a.bin", iter([b"x" * 1000, b"y" * 1000]))

    assert ["a.bin"] == names_in(local_store.root / "d")


def test_interrupted_upload_leaves_no_temporary_file_on_disk(local_store: LocalArtifactStore) -> None:
    def upload() -> Iterator[bytes]:
        yield b"partial" * 1000
        raise UploadDroppedError

    with pytest.raises(UploadDroppedError):
        local_store.write_stream("d/a.bin", upload())

    assert [] == names_in(local_store.root / "d")


def test_listing_hides_the_temporary_file_of_a_write_in_progress(local_store: LocalArtifactStore) -> None:
    seen: list[tuple[int, list[str]]] = []

    def upload() -> Iterator[bytes]:
        yield b"partial"
        on_disk = names_in(local_store.root / "d")
        seen.append((len(on_disk), [info.path for info in local_store.list_dir("d")]))

    local_store.write_stream("d/a.bin", upload())

    assert [(1, [])] == seen


def test_reserved_temporary_name_is_rejected(local_store: LocalArtifactStore) -> None:
    with pytest.raises(ArtifactPathError):
        local_store.write_bytes("d/.shipyard-tmp-0123456789abcdef", b"x")


def test_new_file_permissions_follow_the_umask(local_store: LocalArtifactStore) -> None:
    previous = os.umask(0o022)
    try:
        local_store.write_bytes("a.txt", b"x")
    finally:
        os.umask(previous)

    assert 0o644 == stat.S_IMODE((local_store.root / "a.txt").stat().st_mode)


def test_delete_of_a_directory_leaves_no_hidden_leftover(local_store: LocalArtifactStore) -> None:
    local_store.write_bytes("d/model/MLmodel", b"x")

    local_store.delete("d/model")

    assert [] == names_in(local_store.root / "d")


def test_repr_shows_the_root(local_store: LocalArtifactStore) -> None:
    assert f"LocalArtifactStore({str(local_store.root)!r})" == repr(local_store)
