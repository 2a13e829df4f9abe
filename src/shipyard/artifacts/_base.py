"""The ArtifactStore port and the FileInfo entity every backend returns from a listing."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

__all__ = ["DEFAULT_CHUNK_BYTES", "ArtifactStore", "FileInfo"]

DEFAULT_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class FileInfo:
    """One entry of an artifact listing.

    Attributes:
        path: the entry's key relative to the store root, POSIX-style (``"1/abc123/artifacts/model/MLmodel"``).
        is_dir: whether the entry is a directory (a key prefix on object stores).
        size_bytes: the file's size in bytes; ``None`` for a directory.
    """

    path: str
    is_dir: bool
    size_bytes: int | None


@runtime_checkable
class ArtifactStore(Protocol):
    """Where artifact blobs live: a local folder or an object store.

    Every path is a POSIX-style key relative to the store root, such as ``"1/abc123/artifacts/model/MLmodel"``.
    Each backend normalises it with `safe_relpath` and raises `ArtifactPathError` (HTTP 400) for a path that is
    absolute, has a ``..`` component (also once percent-decoded), a backslash or a NUL byte, or would resolve
    outside the root. Writes are atomic: readers see the old file or the whole new one, never a part, and a
    failed write leaves nothing behind. No method holds a whole file in memory.
    """

    def write_stream(self, path: str, chunks: Iterable[bytes]) -> tuple[int, str]:
        """Store the concatenated ``chunks`` at ``path`` atomically, replacing any file there.

        Args:
            path: the key to write.
            chunks: the content, in pieces; an exception raised while iterating aborts the write.

        Returns:
            ``(size_bytes, sha256_hex)`` of what was stored.

        Raises:
            ArtifactPathError: the path is unsafe, names a directory, or has a file where a directory must be.
        """
        ...

    async def awrite_stream(self, path: str, chunks: AsyncIterable[bytes]) -> tuple[int, str]:
        """Like `write_stream`, for an async source such as an ASGI request body; does not block the event loop.

        Args:
            path: the key to write.
            chunks: the content, in pieces; an exception or a cancellation while iterating aborts the write.

        Returns:
            ``(size_bytes, sha256_hex)`` of what was stored.

        Raises:
            ArtifactPathError: as for `write_stream`.
        """
        ...

    def write_bytes(self, path: str, data: bytes) -> tuple[int, str]:
        """Store ``data`` at ``path`` atomically; a convenience over `write_stream` for small payloads.

        Returns:
            ``(size_bytes, sha256_hex)`` of what was stored.
        """
        ...

    def open_read(self, path: str) -> BinaryIO:
        """Open the file at ``path`` for reading; the caller closes it.

        Raises:
            ResourceNotFound: nothing is there, or it is a directory.
        """
        ...

    def iter_read(self, path: str, chunk_size: int = DEFAULT_CHUNK_BYTES) -> Iterator[bytes]:
        """Yield the file at ``path`` in chunks of at most ``chunk_size`` bytes.

        The path is checked when this is called, not when iteration starts.

        Raises:
            ResourceNotFound: nothing is there, or it is a directory.
            InvalidParameter: ``chunk_size`` is not positive.
        """
        ...

    def local_path(self, path: str) -> Path | None:
        """The confined absolute filesystem path of ``path``, or ``None`` if the store is not on local disk.

        The file need not exist. A server uses this to answer with a file response (sendfile).
        """
        ...

    def list_dir(self, path: str = "") -> list[FileInfo]:
        """The direct children of the directory ``path`` (the root by default), sorted by name.

        Each `FileInfo.path` is relative to the store root, as in MLflow's ``list_artifacts``.
        A missing or empty directory, or a file, lists as ``[]``.
        """
        ...

    def exists(self, path: str) -> bool:
        """Whether a file or a directory exists at ``path``."""
        ...

    def delete(self, path: str) -> None:
        """Delete the file or the whole directory at ``path``; deleting nothing is not an error.

        Raises:
            ArtifactPathError: the path is unsafe or names the store root.
        """
        ...

    def size(self, path: str) -> int:
        """The size in bytes of the file at ``path``.

        Raises:
            ResourceNotFound: nothing is there, or it is a directory.
        """
        ...
