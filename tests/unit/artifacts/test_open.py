"""open_artifact_store (choosing a backend from a URI) and the package's public surface."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import shipyard.artifacts
from shipyard.artifacts import ArtifactStore, FileInfo, LocalArtifactStore, S3ArtifactStore, open_artifact_store
from shipyard.config import Settings
from shipyard.errors import InvalidParameter, MissingExtra


def test_public_names_are_exactly_the_sorted_api() -> None:
    expected = [
        "ArtifactStore",
        "FileInfo",
        "LocalArtifactStore",
        "S3ArtifactStore",
        "open_artifact_store",
        "safe_relpath",
    ]

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


def test_s3_uri_opens_an_s3_store_on_the_bucket_and_prefix() -> None:
    store = open_artifact_store("s3://my-bucket/team/artifacts/", s3_endpoint_url="http://127.0.0.1:9")

    assert (S3ArtifactStore, "my-bucket", "team/artifacts") == (type(store), store.bucket, store.prefix)


def test_s3_uri_passes_the_endpoint_url_to_the_client() -> None:
    store = open_artifact_store("s3://my-bucket/prefix", s3_endpoint_url="http://127.0.0.1:9")

    assert "http://127.0.0.1:9" == store._client.meta.endpoint_url  # type: ignore[attr-defined]


def test_s3_store_is_not_on_local_disk() -> None:
    store = open_artifact_store("s3://my-bucket", s3_endpoint_url="http://127.0.0.1:9")

    assert (True, None) == (isinstance(store, ArtifactStore), store.local_path("a/b.txt"))


def test_s3_uri_without_a_bucket_is_rejected() -> None:
    with pytest.raises(InvalidParameter):
        open_artifact_store("s3:///prefix")


def test_s3_uri_with_an_unsafe_prefix_is_rejected() -> None:
    with pytest.raises(InvalidParameter):
        open_artifact_store("s3://my-bucket/a/../b", s3_endpoint_url="http://127.0.0.1:9")


@pytest.mark.parametrize("part_size_bytes", [0, (5 << 20) - 1])
def test_s3_store_refuses_parts_below_five_mib(part_size_bytes: int) -> None:
    with pytest.raises(InvalidParameter):
        S3ArtifactStore("my-bucket", endpoint_url="http://127.0.0.1:9", part_size_bytes=part_size_bytes)


def test_importing_the_package_loads_neither_the_s3_module_nor_boto3() -> None:
    code = (
        "import sys, shipyard.artifacts; "
        "print(sorted(m for m in ('boto3', 'shipyard.artifacts._s3') if m in sys.modules))"
    )

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert "[]" == out.strip()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"SHIPYARD_S3_ENDPOINT_URL": "http://a", "AWS_ENDPOINT_URL_S3": "http://b", "AWS_ENDPOINT_URL": "http://c"},
            "http://a",
        ),
        ({"AWS_ENDPOINT_URL_S3": "http://b", "AWS_ENDPOINT_URL": "http://c"}, "http://b"),
        ({"AWS_ENDPOINT_URL": "http://c"}, "http://c"),
        ({}, ""),
    ],
)
def test_settings_read_the_s3_endpoint_with_aws_fallbacks(env: dict[str, str], expected: str) -> None:
    assert expected == Settings.from_env(env).s3_endpoint_url
