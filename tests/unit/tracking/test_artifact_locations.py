"""check_artifact_uri: which stored locations keep the server inside its artifact root."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import InvalidParameter
from shipyard.registry.validation import check_version_source
from shipyard.tracking.validation import check_artifact_uri


@pytest.mark.parametrize(
    "uri",
    [
        "mlflow-artifacts:/1/abc/artifacts",
        "mlflow-artifacts:///1/abc/artifacts",
        "mlflow-artifacts://tracking.example:5000/1/abc/artifacts",
        "s3://bucket/prefix/model",
        "/data/artifacts/1/abc",
        "//data/artifacts/./1",
        "file:///data/artifacts/1/abc",
        "file://localhost/data/artifacts/1/a%20b",
    ],
)
def test_location_inside_a_local_root_is_accepted(uri: str) -> None:
    assert uri == check_artifact_uri(uri, "/data/artifacts")


@pytest.mark.parametrize(
    "uri",
    [
        "/data/artifacts-other/1",
        "/data",
        "/data/artifacts/../secrets",
        "/data/artifacts/%2e%2e/secrets",
        "file:///data/artifacts/%2e%2e/secrets",
        "file:///data/artifacts/%252e%252e/secrets",
        "file://otherhost/data/artifacts/1",
        "file:data/artifacts/1",
        "data/artifacts/1",
        "mlflow-artifacts:/1/../../x",
        "mlflow-artifacts:/1/%2e%2e/%2e%2e/x",
        "mlflow-artifacts:/1\\..\\..\\x",
        "mlflow-artifacts:/",
        "mlflow-artifacts:1/abc",
        "mlflow-artifacts:/1/abc\x00",
        "s3://bucket/a/../../b",
        "s3:///no-bucket",
        "dbfs:/x",
        "hdfs://nn/x",
        "wasbs://c@a.blob.core.windows.net/x",
        "http://169.254.169.254/latest",
        "",
    ],
)
def test_location_that_could_leave_the_root_is_refused(uri: str) -> None:
    with pytest.raises(InvalidParameter):
        check_artifact_uri(uri, "/data/artifacts")


def test_unknown_root_refuses_every_local_path() -> None:
    with pytest.raises(InvalidParameter):
        check_artifact_uri("/data/artifacts/1", "")


def test_s3_root_refuses_local_paths() -> None:
    with pytest.raises(InvalidParameter):
        check_artifact_uri("/data/artifacts/1", "s3://bucket/prefix")


def test_file_uri_root_accepts_paths_beneath_it() -> None:
    assert "/data/artifacts/1" == check_artifact_uri("/data/artifacts/1", "file:///data/artifacts")


def test_root_behind_a_symlink_accepts_both_spellings(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    root = str(tmp_path / "link")
    accepted = [check_artifact_uri(f"{p}/1", root) for p in (tmp_path / "link", real)]
    assert [f"{tmp_path / 'link'}/1", f"{real}/1"] == accepted


def test_refusal_names_the_field_and_the_accepted_forms() -> None:
    with pytest.raises(InvalidParameter) as caught:
        check_artifact_uri("/etc", "/data/artifacts", field="artifact_location")
    assert caught.value.message.startswith("Invalid artifact_location '/etc': it is a local path outside")


@pytest.mark.parametrize("source", ["runs:/abc123/model", "models:/churn/3", "models:/churn@champion"])
def test_version_source_model_uri_is_accepted(source: str) -> None:
    assert source == check_version_source(source, "/data/artifacts")


@pytest.mark.parametrize(
    "source", ["runs:/abc123/../../etc", "runs:/abc123/%2e%2e/x", "models:/../1", "models:/x/1/../..", "runs:abc"]
)
def test_version_source_model_uri_climbing_out_is_refused(source: str) -> None:
    with pytest.raises(InvalidParameter):
        check_version_source(source, "/data/artifacts")


def test_version_source_refusal_lists_model_uris_as_accepted() -> None:
    with pytest.raises(InvalidParameter) as caught:
        check_version_source("ftp://x/y", "/data/artifacts")
    assert "Accepted: runs:/<run_id>/<path>, models:/" in caught.value.message
