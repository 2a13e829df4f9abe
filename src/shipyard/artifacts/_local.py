"""The local-folder artifact store: streamed, atomic (temp file, fsync, rename), checksummed and confined."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import shutil
import stat
from collections.abc import AsyncIterable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from shipyard.artifacts._base import DEFAULT_CHUNK_BYTES, FileInfo
from shipyard.artifacts._paths import safe_relpath
from shipyard.errors import ArtifactPathError, InvalidParameter, ResourceNotFound

__all__ = ["LocalArtifactStore"]

# In-flight writes and deletes use hidden siblings with this prefix; listings skip them and user paths may not use it.
_TMP_PREFIX = ".shipyard-tmp-"
# Async writes gather small ASGI body chunks up to this size before handing them to a worker thread.
_ASYNC_WRITE_BYTES = 1 << 20
# Flags absent on some platforms (O_NOFOLLOW, O_CLOEXEC on Windows; O_BINARY elsewhere) count as 0.
_OPEN_FLAGS = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
# Linux's limits, used where the file system cannot tell us its own (pathconf is POSIX-only).
_DEFAULT_NAME_MAX = 255
_DEFAULT_PATH_MAX = 4096
_SHOWN_CHARS = 200


class LocalArtifactStore:
    """An `ArtifactStore` in a folder on local disk (the embedded default).

    The root folder is created if missing and resolved once, so the root itself may be a symlink. Symlinks
    inside the root are followed only while they stay inside it: a path that resolves outside the root is
    rejected for every operation, and listings hide entries that point outside.

    Example:
        >>> store = LocalArtifactStore(tmp_dir)  # doctest: +SKIP
        >>> store.write_bytes("1/abc123/artifacts/notes.txt", b"hello")  # doctest: +SKIP
        (5, '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824')
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        """Open (and create if needed) the store rooted at the folder ``root``.

        Args:
            root: the folder holding every artifact; ``~`` is expanded.
        """
        root_path = Path(root).expanduser()
        root_path.mkdir(parents=True, exist_ok=True)
        self._root = root_path.resolve(strict=True)
        self._name_max = _pathconf(self._root, "PC_NAME_MAX", _DEFAULT_NAME_MAX)
        self._path_max = _pathconf(self._root, "PC_PATH_MAX", _DEFAULT_PATH_MAX)

    @property
    def root(self) -> Path:
        """The resolved absolute root folder."""
        return self._root

    def __repr__(self) -> str:
        """Show the root, e.g. ``LocalArtifactStore('/data/artifacts')``."""
        return f"{type(self).__name__}({str(self._root)!r})"

    # Writing

    def write_stream(self, path: str, chunks: Iterable[bytes]) -> tuple[int, str]:
        """Store the concatenated ``chunks`` at ``path`` atomically; see `ArtifactStore.write_stream`."""
        writer = _AtomicWrite(self._write_target(path), path)
        writer.open()
        try:
            for chunk in chunks:
                writer.write(chunk)
            return writer.commit()
        except BaseException:
            writer.abort()
            raise

    async def awrite_stream(self, path: str, chunks: AsyncIterable[bytes]) -> tuple[int, str]:
        """Store an async stream at ``path`` atomically, doing file I/O in worker threads.

        Small chunks are gathered up to about 1 MiB before each write, so memory stays bounded and thread hops
        few. See `ArtifactStore.awrite_stream`.
        """
        from anyio.to_thread import run_sync

        writer = _AtomicWrite(await run_sync(self._write_target, path), path)
        await run_sync(writer.open)
        try:
            pending = bytearray()
            async for chunk in chunks:
                pending += chunk
                if len(pending) >= _ASYNC_WRITE_BYTES:
                    await run_sync(writer.write, pending)
                    pending = bytearray()
            if pending:
                await run_sync(writer.write, pending)
            return await run_sync(writer.commit)
        except BaseException:
            # Synchronous on purpose: once cancelled we cannot await, and closing plus unlinking is quick.
            writer.abort()
            raise

    def write_bytes(self, path: str, data: bytes) -> tuple[int, str]:
        """Store ``data`` at ``path`` atomically; returns ``(size_bytes, sha256_hex)``."""
        return self.write_stream(path, (data,))

    # Reading

    def open_read(self, path: str) -> BinaryIO:
        """Open the file at ``path`` for reading; raises `ResourceNotFound` if it is missing or a directory."""
        return _open_file(self._file_target(path), path)

    def iter_read(self, path: str, chunk_size: int = DEFAULT_CHUNK_BYTES) -> Iterator[bytes]:
        """Yield the file at ``path`` in chunks of at most ``chunk_size`` bytes; the path is checked now."""
        if chunk_size <= 0:
            raise InvalidParameter(f"chunk_size must be a positive number of bytes, got {chunk_size}.")
        # Check eagerly but open lazily, so a generator that is never iterated holds no file handle.
        return _iter_file(self._file_target(path), path, chunk_size)

    def local_path(self, path: str) -> Path:
        """The confined, resolved absolute path of ``path`` (which need not exist)."""
        return self._resolve(path)[1]

    def list_dir(self, path: str = "") -> list[FileInfo]:
        """The direct children of ``path``, sorted by name, with paths relative to the store root."""
        rel, real = self._resolve(path)
        try:
            with os.scandir(real) as entries:
                listed = [info for entry in entries if (info := self._file_info(rel, entry)) is not None]
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(listed, key=lambda info: info.path)

    def exists(self, path: str) -> bool:
        """Whether a file or directory exists at ``path``."""
        return self._resolve(path)[1].exists()

    def size(self, path: str) -> int:
        """The size in bytes of the file at ``path``; raises `ResourceNotFound` if missing or a directory."""
        return self._file_target(path).stat().st_size

    # Deleting

    def delete(self, path: str) -> None:
        """Delete the file or directory tree at ``path``; a missing path is a no-op, the root is refused.

        A directory is first renamed to a hidden sibling and then removed, so readers never see it half-deleted.
        A symlink (which must point inside the root) is removed itself, never its target.
        """
        rel, _ = self._resolve(path)
        if not rel:
            raise ArtifactPathError(f"Invalid artifact path {path!r}: refusing to delete the artifact root.")
        parent_rel, _, name = rel.rpartition("/")
        entry = self._resolve(parent_rel)[1] / name
        try:
            if entry.is_symlink() or not entry.is_dir():
                entry.unlink()
                return
            doomed = entry.with_name(f"{_TMP_PREFIX}{secrets.token_hex(8)}")
            entry.rename(doomed)
        except (FileNotFoundError, NotADirectoryError):
            return  # already gone, possibly deleted concurrently
        shutil.rmtree(doomed)

    # Path confinement

    def _resolve(self, path: str) -> tuple[str, Path]:
        """Normalise ``path`` and resolve it (following symlinks) to a real path that must stay in the root."""
        rel = safe_relpath(path)
        if any(part.startswith(_TMP_PREFIX) for part in rel.split("/")):
            raise ArtifactPathError(
                f"Invalid artifact path {path!r}: names starting with {_TMP_PREFIX!r} are reserved."
            )
        self._check_length(path, rel, self._root / rel)
        try:
            real = (self._root / rel).resolve()
        except RuntimeError as exc:  # Path.resolve's report of a symlink loop
            raise ArtifactPathError(f"Invalid artifact path {path!r}: it runs into a symbolic link loop.") from exc
        if not real.is_relative_to(self._root):
            raise ArtifactPathError(
                f"Invalid artifact path {path!r}: it resolves outside the artifact root through a symbolic link."
            )
        self._check_length(path, rel, real)
        return rel, real

    def _check_length(self, path: str, rel: str, full: Path) -> None:
        """Refuse names and paths the file system would reject with ``ENAMETOOLONG`` (a 400, not a 500)."""
        longest = max((len(os.fsencode(part)) for part in rel.split("/")), default=0)
        if longest > self._name_max:
            raise ArtifactPathError(
                f"Invalid artifact path {_shown(path)}: a name is {longest} bytes long; "
                f"the artifact store allows at most {self._name_max}."
            )
        # Leave room for the temporary sibling's name, which may be longer than the target's.
        if len(os.fsencode(full)) + len(_TMP_PREFIX) + 16 >= self._path_max:
            raise ArtifactPathError(
                f"Invalid artifact path {_shown(path)}: it is too long for the artifact store "
                f"(at most about {self._path_max - len(os.fsencode(self._root))} bytes)."
            )

    def _file_target(self, path: str) -> Path:
        """The resolved path of an existing regular file, or `ResourceNotFound`."""
        real = self._resolve(path)[1]
        if not real.is_file():
            raise _not_found(path)
        return real

    def _write_target(self, path: str) -> Path:
        """The resolved path to write ``path`` to: not the root and not an existing directory."""
        rel, real = self._resolve(path)
        if not rel or real.is_dir():
            raise ArtifactPathError(f"Invalid artifact path {path!r}: it is a directory; expected a file path.")
        return real

    def _file_info(self, rel: str, entry: os.DirEntry[str]) -> FileInfo | None:
        """The listing entry for ``entry``, or ``None`` for in-flight temp files and links leaving the root."""
        if entry.name.startswith(_TMP_PREFIX) or not _is_utf8_name(entry.name):
            return None
        try:
            if entry.is_symlink() and not Path(entry.path).resolve().is_relative_to(self._root):
                return None
            is_dir = entry.is_dir()
            size_bytes = None if is_dir else entry.stat().st_size
        except (OSError, RuntimeError):
            return None  # deleted meanwhile, a dangling link, or a symlink loop: nothing to list
        return FileInfo(path=f"{rel}/{entry.name}" if rel else entry.name, is_dir=is_dir, size_bytes=size_bytes)


class _AtomicWrite:
    """One atomic write: a hidden temporary sibling, hashed as it fills, fsynced, then renamed over the target.

    The steps are plain blocking calls so the sync and async writers share them (the async one runs each step
    in a worker thread).
    """

    def __init__(self, target: Path, path: str) -> None:
        self._target = target
        self._path = path
        self._tmp: Path | None = None
        self._file: BinaryIO | None = None
        self._sha256 = hashlib.sha256()
        self._size_bytes = 0

    def open(self) -> None:
        """Create the parent folders and the temporary file."""
        parent = self._target.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise ArtifactPathError(
                f"Invalid artifact path {self._path!r}: a file stands where one of its folders must be."
            ) from exc
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS
        while True:  # 64 random bits: a clash is possible only in theory, but O_EXCL makes it safe anyway
            tmp = parent / f"{_TMP_PREFIX}{secrets.token_hex(8)}"
            try:
                fd = os.open(tmp, flags, 0o666)  # the umask applies, as for any other file the user creates
            except FileExistsError:
                continue
            break
        self._tmp = tmp
        self._file = os.fdopen(fd, "wb")

    def write(self, chunk: bytes | bytearray) -> None:
        """Append ``chunk`` to the temporary file and the running hash."""
        if self._file is None:
            raise RuntimeError("_AtomicWrite.write called before open")
        self._file.write(chunk)
        self._sha256.update(chunk)
        self._size_bytes += len(chunk)

    def commit(self) -> tuple[int, str]:
        """Flush and fsync the temporary file, rename it over the target, and fsync the folder."""
        if self._file is None or self._tmp is None:
            raise RuntimeError("_AtomicWrite.commit called before open")
        with self._file:
            self._file.flush()
            os.fsync(self._file.fileno())
        try:
            self._tmp.replace(self._target)
        except IsADirectoryError as exc:  # a directory appeared at the target while we were writing
            raise ArtifactPathError(
                f"Invalid artifact path {self._path!r}: it is a directory; expected a file path."
            ) from exc
        self._tmp = None
        _fsync_dir(self._target.parent)
        return self._size_bytes, self._sha256.hexdigest()

    def abort(self) -> None:
        """Close and remove the temporary file; never raises, so the original error propagates."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.unlink(missing_ok=True)
            self._tmp = None


def _pathconf(folder: Path, name: str, default: int) -> int:
    """A file-system limit of ``folder`` (``PC_NAME_MAX``, ``PC_PATH_MAX``), or ``default`` where unknown."""
    try:
        value = os.pathconf(folder, name)
    except (AttributeError, ValueError, OSError):  # no pathconf (Windows), an unknown name, or no limit
        return default
    return value if value > 0 else default


def _shown(path: str) -> str:
    """``path`` quoted for an error message, cut short when it is huge."""
    return repr(path if len(path) <= _SHOWN_CHARS else path[:_SHOWN_CHARS] + "...")


def _is_utf8_name(name: str) -> bool:
    """Whether a name read from disk is valid UTF-8 (one made elsewhere may hold bytes no client can name)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable; best effort, as some platforms cannot fsync a directory."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _open_file(real: Path, path: str) -> BinaryIO:
    """Open the resolved regular file ``real`` for reading, without following a symlink swapped in since."""
    try:
        fd = os.open(real, os.O_RDONLY | _OPEN_FLAGS)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
        raise _not_found(path) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ArtifactPathError(f"Invalid artifact path {path!r}: it changed into a symbolic link.") from exc
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _not_found(path)
    return os.fdopen(fd, "rb")


def _iter_file(real: Path, path: str, chunk_size: int) -> Iterator[bytes]:
    """Yield the file ``real`` in chunks, closing it when done or when the generator is closed."""
    with _open_file(real, path) as file:
        while chunk := file.read(chunk_size):
            yield chunk


def _not_found(path: str) -> ResourceNotFound:
    """The error for a read of something that is not a file."""
    return ResourceNotFound(f"No artifact file at {path!r}.")
