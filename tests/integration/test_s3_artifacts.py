"""The S3 artifact store against moto's real S3-compatible server: multipart, aborts, listings, errors, end to end."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from shipyard.artifacts import FileInfo, S3ArtifactStore
from shipyard.errors import ArtifactPathError, ResourceNotFound, StoreUnavailable
from tests.support.servers import MotoS3, free_port, moto_s3_server, shipyard_server

pytest.importorskip("moto.server", reason="moto is not installed (pip install 'shipyard[dev]')")

MIB = 1 << 20
PART = 5 * MIB  # S3's (and moto's) smallest multipart part
PREFIX = "team/artifacts"


class UploadDroppedError(Exception):
    """Raised by a chunk source to simulate a client that disconnects mid-upload."""


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    """moto's S3 server for this module."""
    with moto_s3_server() as server:
        yield server


@pytest.fixture
def client(moto: MotoS3) -> Any:
    """A boto3 client for the moto server."""
    return moto.client()


@pytest.fixture
def bucket(client: Any) -> str:
    """A fresh, empty bucket."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def store(client: Any, bucket: str) -> S3ArtifactStore:
    """A store under ``PREFIX`` with the smallest parts, so the multipart path needs only a few MiB."""
    return S3ArtifactStore(bucket, PREFIX, client=client, multipart_threshold_bytes=PART, part_size_bytes=PART)


def _pieces(total_bytes: int, piece_bytes: int = MIB, seed: int = 7) -> Iterator[bytes]:
    """``total_bytes`` of reproducible random data, one piece at a time."""
    rng = random.Random(seed)
    sent = 0
    while sent < total_bytes:
        piece = rng.randbytes(min(piece_bytes, total_bytes - sent))
        sent += len(piece)
        yield piece


def _sha256_of(chunks: Iterator[bytes]) -> tuple[int, str]:
    digest = hashlib.sha256()
    size_bytes = 0
    for chunk in chunks:
        digest.update(chunk)
        size_bytes += len(chunk)
    return size_bytes, digest.hexdigest()


def _dropping_upload(good_bytes: int) -> Iterator[bytes]:
    yield from _pieces(good_bytes)
    raise UploadDroppedError


def _pending_uploads(client: Any, bucket: str) -> list[str]:
    return [upload["Key"] for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def _keys(client: Any, bucket: str) -> list[str]:
    return sorted(obj["Key"] for obj in client.list_objects_v2(Bucket=bucket).get("Contents", []))


# Writing and reading


def test_round_trip_stores_the_object_under_the_prefix(store: S3ArtifactStore, client: Any, bucket: str) -> None:
    written = store.write_bytes("1/run/artifacts/notes.txt", b"hello")

    with store.open_read("1/run/artifacts/notes.txt") as file:
        content = file.read()

    expected = ((5, hashlib.sha256(b"hello").hexdigest()), b"hello", [f"{PREFIX}/1/run/artifacts/notes.txt"])
    assert expected == (written, content, _keys(client, bucket))


def test_small_payload_is_sent_as_one_put(store: S3ArtifactStore, client: Any, bucket: str) -> None:
    store.write_stream("small.bin", _pieces(PART))

    etag = client.head_object(Bucket=bucket, Key=f"{PREFIX}/small.bin")["ETag"]

    assert "-" not in etag


def test_payload_beyond_the_threshold_is_sent_in_parts(store: S3ArtifactStore, client: Any, bucket: str) -> None:
    total_bytes = 2 * PART + 123

    written = store.write_stream("big.bin", _pieces(total_bytes, piece_bytes=300_000))
    etag = client.head_object(Bucket=bucket, Key=f"{PREFIX}/big.bin")["ETag"]

    expected = _sha256_of(_pieces(total_bytes, piece_bytes=300_000))
    assert (expected, expected, True) == (written, _sha256_of(store.iter_read("big.bin")), etag.endswith('-3"'))


def test_async_payload_beyond_the_threshold_round_trips(store: S3ArtifactStore) -> None:
    total_bytes = 2 * PART + 5

    async def body() -> AsyncIterator[bytes]:
        for piece in _pieces(total_bytes, piece_bytes=64 * 1024):
            yield piece

    written = anyio.run(store.awrite_stream, "async.bin", body())

    expected = _sha256_of(_pieces(total_bytes))
    assert (expected, expected) == (written, _sha256_of(store.iter_read("async.bin")))


def test_one_chunk_bigger_than_a_part_is_split_into_parts(store: S3ArtifactStore, client: Any, bucket: str) -> None:
    store.write_bytes("one-chunk.bin", b"x" * (3 * PART))

    etag = client.head_object(Bucket=bucket, Key=f"{PREFIX}/one-chunk.bin")["ETag"]

    assert etag.endswith('-3"')


def test_open_read_streams_in_pieces(store: S3ArtifactStore) -> None:
    store.write_bytes("digits.txt", b"0123456789")

    with store.open_read("digits.txt") as file:
        pieces = [file.read(4), file.read(4), file.read(4), file.read(4)]

    assert [b"0123", b"4567", b"89", b""] == pieces


@pytest.mark.slow
def test_200_mb_artifact_round_trips_with_its_sha256(client: Any, bucket: str) -> None:
    store = S3ArtifactStore(bucket, PREFIX, client=client)  # the default 8 MiB parts
    total_bytes = 200 * MIB

    written = store.write_stream("huge.bin", _pieces(total_bytes, seed=200))
    read_back = _sha256_of(store.iter_read("huge.bin"))

    expected = _sha256_of(_pieces(total_bytes, seed=200))
    assert (expected, expected, total_bytes) == (written, read_back, store.size("huge.bin"))


# Failed and cancelled uploads


def test_failed_multipart_upload_leaves_no_object_and_no_pending_upload(
    store: S3ArtifactStore, client: Any, bucket: str
) -> None:
    with pytest.raises(UploadDroppedError):
        store.write_stream("model.pkl", _dropping_upload(2 * PART + 1))

    assert ([], []) == (_keys(client, bucket), _pending_uploads(client, bucket))


def test_failed_multipart_upload_keeps_the_previous_object(store: S3ArtifactStore) -> None:
    store.write_bytes("model.pkl", b"complete old version")

    with pytest.raises(UploadDroppedError):
        store.write_stream("model.pkl", _dropping_upload(2 * PART + 1))

    assert b"complete old version" == b"".join(store.iter_read("model.pkl"))


def test_failed_async_multipart_upload_leaves_no_pending_upload(
    store: S3ArtifactStore, client: Any, bucket: str
) -> None:
    async def body() -> AsyncIterator[bytes]:
        for piece in _pieces(2 * PART + 1):
            yield piece
        raise UploadDroppedError

    with pytest.raises(UploadDroppedError):
        anyio.run(store.awrite_stream, "model.pkl", body())

    assert ([], []) == (_keys(client, bucket), _pending_uploads(client, bucket))


def test_cancelled_async_multipart_upload_leaves_no_pending_upload(
    store: S3ArtifactStore, client: Any, bucket: str
) -> None:
    parts_sent = anyio.Event()

    async def stalled_body() -> AsyncIterator[bytes]:
        for piece in _pieces(2 * PART + 1):
            yield piece
        parts_sent.set()
        await anyio.sleep_forever()

    async def upload_then_cancel() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(store.awrite_stream, "model.pkl", stalled_body())
            await parts_sent.wait()
            group.cancel_scope.cancel()

    anyio.run(upload_then_cancel)

    assert ([], []) == (_keys(client, bucket), _pending_uploads(client, bucket))


# Listing and deleting


def test_list_dir_shows_nested_directories_and_file_sizes(store: S3ArtifactStore) -> None:
    store.write_bytes("run/artifacts/model/MLmodel", b"flavors: {}")
    store.write_bytes("run/artifacts/model/data/weights.bin", b"w" * 10)
    store.write_bytes("run/artifacts/metrics.json", b"{}")

    listed = (store.list_dir("run/artifacts"), store.list_dir("run/artifacts/model"), store.list_dir(""))

    expected = (
        [FileInfo("run/artifacts/metrics.json", False, 2), FileInfo("run/artifacts/model", True, None)],
        [FileInfo("run/artifacts/model/MLmodel", False, 11), FileInfo("run/artifacts/model/data", True, None)],
        [FileInfo("run", True, None)],
    )
    assert expected == listed


def test_list_dir_pages_through_more_than_a_thousand_keys(store: S3ArtifactStore, client: Any, bucket: str) -> None:
    names = [f"f{index:04d}.txt" for index in range(1005)]
    for name in names:
        client.put_object(Bucket=bucket, Key=f"{PREFIX}/many/{name}", Body=b"")

    assert [f"many/{name}" for name in names] == [info.path for info in store.list_dir("many")]


def test_list_dir_skips_folder_marker_objects(store: S3ArtifactStore, client: Any, bucket: str) -> None:
    client.put_object(Bucket=bucket, Key=f"{PREFIX}/d/", Body=b"")  # what S3 consoles create for "new folder"
    store.write_bytes("d/a.txt", b"a")

    assert [FileInfo("d/a.txt", False, 1)] == store.list_dir("d")


def test_delete_of_a_directory_removes_every_key_under_it(store: S3ArtifactStore, client: Any, bucket: str) -> None:
    for index in range(1005):  # more than one delete_objects batch
        client.put_object(Bucket=bucket, Key=f"{PREFIX}/run/model/part-{index:04d}", Body=b"x")
    store.write_bytes("run/metrics.json", b"{}")

    store.delete("run/model")

    assert [f"{PREFIX}/run/metrics.json"] == _keys(client, bucket)


def test_delete_of_a_directory_leaves_a_sibling_sharing_its_name_prefix(
    store: S3ArtifactStore, client: Any, bucket: str
) -> None:
    store.write_bytes("run/model/MLmodel", b"x")
    store.write_bytes("run/model-v2/MLmodel", b"y")

    store.delete("run/model")

    assert [f"{PREFIX}/run/model-v2/MLmodel"] == _keys(client, bucket)


def test_delete_of_the_root_is_refused_and_deletes_nothing(store: S3ArtifactStore, client: Any, bucket: str) -> None:
    store.write_bytes("keep.txt", b"x")

    with pytest.raises(ArtifactPathError):
        store.delete("")

    assert [f"{PREFIX}/keep.txt"] == _keys(client, bucket)


# Paths and errors


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/passwd", "a/%2e%2e/%2e%2e/b", "a\\b", "a/\x00b"])
def test_unsafe_paths_are_refused_without_touching_the_bucket(
    store: S3ArtifactStore, client: Any, bucket: str, path: str
) -> None:
    with pytest.raises(ArtifactPathError):
        store.write_bytes(path, b"x")

    assert [] == _keys(client, bucket)


@pytest.mark.parametrize("read", ["open_read", "iter_read", "size"])
def test_missing_key_raises_resource_not_found(store: S3ArtifactStore, read: str) -> None:
    with pytest.raises(ResourceNotFound):
        getattr(store, read)("no/such/file.bin")


def test_missing_bucket_raises_store_unavailable(client: Any) -> None:
    store = S3ArtifactStore(f"missing-{uuid.uuid4().hex[:12]}", PREFIX, client=client)

    with pytest.raises(StoreUnavailable):
        store.write_bytes("a.txt", b"x")


def test_unreachable_endpoint_raises_store_unavailable_without_credentials() -> None:
    import boto3
    from botocore.config import Config

    secret = "SECRET-KEY-THAT-MUST-NOT-LEAK"
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        aws_access_key_id="AKIA-TEST",
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2),
    )
    store = S3ArtifactStore("bucket", PREFIX, client=client)

    with pytest.raises(StoreUnavailable) as caught:
        store.write_bytes("a.txt", b"x")

    assert (False, False) == (secret in str(caught.value), "AKIA-TEST" in str(caught.value))


# End to end: the mlflow client through Shipyard's artifact proxy


def test_mlflow_client_uploads_and_downloads_through_the_server(
    moto: MotoS3, client: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    source = tmp_path / "model.bin"
    with source.open("wb") as out:
        for piece in _pieces(2 * PART + 7):
            out.write(piece)
    env = {**moto.env, "SHIPYARD_S3_ENDPOINT_URL": moto.endpoint_url}
    with shipyard_server(tmp_path / "server", artifacts=f"s3://{bucket}/{PREFIX}", env=env) as server:
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
        mlflow.set_tracking_uri(server.url)
        try:
            mlflow.set_experiment(f"s3-{uuid.uuid4().hex[:8]}")
            with mlflow.start_run() as run:
                mlflow.log_artifact(str(source), artifact_path="weights")
            listed = mlflow.MlflowClient().list_artifacts(run.info.run_id, "weights")
            local = mlflow.artifacts.download_artifacts(
                run_id=run.info.run_id, artifact_path="weights/model.bin", dst_path=str(tmp_path / "download")
            )
        finally:
            mlflow.set_tracking_uri(None)

    stored = [key for key in _keys(client, bucket) if key.endswith("/weights/model.bin")]
    expected_size = source.stat().st_size
    assert (
        [("weights/model.bin", False, expected_size)],
        _sha256_of(_pieces(2 * PART + 7)),
        1,
    ) == (
        [(info.path, info.is_dir, info.file_size) for info in listed],
        _sha256_of(iter([Path(local).read_bytes()])),
        len(stored),
    )
