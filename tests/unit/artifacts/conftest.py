"""Fixtures for the artifact store tests: one store per backend, each in a real temporary folder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from shipyard.artifacts import ArtifactStore, LocalArtifactStore

OUTSIDE_CONTENT = b"outside the store"


def _local_store(tmp_path: Path) -> ArtifactStore:
    return LocalArtifactStore(tmp_path / "root")


# The contract suite runs against every backend listed here; a new backend joins by adding a factory.
_BACKENDS = {"local": _local_store}


@pytest.fixture(params=sorted(_BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    """A fresh, empty store of each backend."""
    return _BACKENDS[request.param](tmp_path)


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
