"""Artifact storage: the ArtifactStore port, the local-folder backend, and path confinement."""

from __future__ import annotations

from shipyard.artifacts._base import ArtifactStore, FileInfo
from shipyard.artifacts._local import LocalArtifactStore
from shipyard.artifacts._open import open_artifact_store
from shipyard.artifacts._paths import safe_relpath

__all__ = ["ArtifactStore", "FileInfo", "LocalArtifactStore", "open_artifact_store", "safe_relpath"]
