"""Artifact storage: the ArtifactStore port, the local-folder and S3 backends, and path confinement."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.artifacts._base import ArtifactStore, FileInfo
from shipyard.artifacts._local import LocalArtifactStore
from shipyard.artifacts._open import open_artifact_store
from shipyard.artifacts._paths import safe_relpath

if TYPE_CHECKING:
    from shipyard.artifacts._s3 import S3ArtifactStore

__all__ = ["ArtifactStore", "FileInfo", "LocalArtifactStore", "S3ArtifactStore", "open_artifact_store", "safe_relpath"]


def __getattr__(name: str) -> Any:
    """Load `S3ArtifactStore` on first use, so importing this package never loads the S3 module."""
    if name == "S3ArtifactStore":
        from shipyard.artifacts._s3 import S3ArtifactStore

        return S3ArtifactStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
