"""open_artifact_store (choosing a backend from a URI) and the package's public surface."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import shipyard.artifacts
from shipyard.artifacts import ArtifactStore, FileInfo, LocalArtifactStore, open_artifact_store
from shipyard.errors import InvalidParameter, MissingExtra


def test_public_names_are_exactly_the_sorted_api() -> None:
    expected = ["ArtifactStore", "FileInfo", "LocalArtifactStore", "open_artifact_store", "safe_relpath"]

    assert expected == shipyard.artifacts.__all__


def test_file_info_is_frozen() -> None:
    info = FileInfo("a.txt", False, 1)

    with pytest.raises(AttributeError):
        info.path = "b.txt"  # type: ignore[misc]


def test_local_store_satisfies_the_protocol(tmp_path: Path) -> None:
    assert True is isinstance(LocalArtifactStore(tmp_path), ArtifactStore)


def test_plain_path_opens_a_local_store(tmp_path: Path) -> None:
    store = open_artifact_store(str(tmp_path / "artifacts"))

    assert (LocalArtifactStore, tmp_path / "artifacts") == (type(store), store.local_path(""))


def test_file_uri_opens_a_local_store(tmp_path: Path) -> None:
    store = open_artifact_store((tmp_path / "artifacts").as_uri())

    assert (LocalArtifactStore, tmp_path / "artifacts") == (type(store), store.local_path(""))


def test_file_uri_is_percent_decoded(tmp_path: Path) -> None:
    store = open_artifact_store((tmp_path / "my artifacts").as_uri())

    assert tmp_path / "my artifacts" == store.local_path("")


def test_file_uri_with_localhost_opens_a_local_store(tmp_path: Path) -> None:
    store = open_artifact_store(f"file://localhost{tmp_path}/artifacts")

    assert tmp_path / "artifacts" == store.local_path("")


def test_file_uri_naming_a_remote_host_is_rejected() -> None:
    with pytest.raises(InvalidParameter):
        open_artifact_store("file://fileserver/share/artifacts")


def test_empty_uri_is_rejected() -> None:
    with pytest.raises(InvalidParameter):
        open_artifact_store("")


def test_unsupported_scheme_is_rejected() -> None:
    with pytest.raises(InvalidParameter) as caught:
        open_artifact_store("gs://bucket/prefix")

    assert "'gs'" in str(caught.value)


def test_s3_without_boto3_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # makes `import boto3` fail even where it is installed

    with pytest.raises(MissingExtra) as caught:
        open_artifact_store("s3://bucket/prefix")

    assert "pip install 'shipyard[s3]'" in str(caught.value)
