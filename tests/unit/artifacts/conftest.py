"""Fixtures for the artifact store tests: one store per backend (a temporary folder, a bucket on moto's S3)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.artifacts import ArtifactStore, LocalArtifactStore
from tests.support.servers import MotoS3, moto_s3_server

OUTSIDE_CONTENT = b"outside the store"


def _local_store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    return LocalArtifactStore(tmp_path / "root")


def _s3_store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    """An S3 store in a fresh bucket of a moto server shared by the session (skips without moto)."""
    from shipyard.artifacts import S3ArtifactStore

    client = request.getfixturevalue("moto_s3_client")
    bucket = f"contract-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=bucket)
    # 5 MiB (S3's smallest part) keeps the multipart path in play for the suite's 20 MiB file.
    return S3ArtifactStore(bucket, "root", client=client, multipart_threshold_bytes=5 << 20, part_size_bytes=5 << 20)


# The contract suite runs against every backend listed here; a new backend joins by adding a factory.
_BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], ArtifactStore]] = {"local": _local_store, "s3": _s3_store}


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """moto's S3 server, started once per session; skips the test when moto is not installed."""
    pytest.importorskip("moto.server", reason="moto is not installed (pip install 'shipyard[dev]')")
    with moto_s3_server() as server:
        yield server


@pytest.fixture(scope="session")
def moto_s3_client(moto_s3: MotoS3) -> Any:
    """One boto3 client for the session: creating one loads botocore's endpoint data (about half a second each)."""
    return moto_s3.client()


@pytest.fixture(params=sorted(_BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    """A fresh, empty store of each backend."""
    return _BACKENDS[request.param](request, tmp_path)


@pytest.fixture
def local_store(tmp_path: Path) -> LocalArtifactStore:
    """A fresh local store rooted at ``tmp_path / "root"``."""
    return LocalArtifactStore(tmp_path / "root")


@pytest.fixture
def outside_file(tmp_path: Path) -> Path:
    """A file next to the store root (``tmp_path / "secret.txt"``) that no store operation may touch."""
    path = tmp_path / "secret.txt"
    path.write_bytes(OUTSIDE_CONTENT)
    return path


async def achunks(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    """An async iterator over ``chunks``, like an ASGI request body."""
    for chunk in chunks:
        yield chunk
