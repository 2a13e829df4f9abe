"""The S3-compatible artifact store: streamed single or multipart uploads, streamed reads, confined keys."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
from collections.abc import AsyncIterable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from shipyard.artifacts._base import DEFAULT_CHUNK_BYTES, FileInfo
from shipyard.artifacts._paths import safe_relpath
from shipyard.errors import (
    ArtifactPathError,
    InternalError,
    InvalidParameter,
    MissingExtra,
    ResourceNotFound,
    ShipyardError,
    StoreUnavailable,
)

__all__ = ["S3ArtifactStore"]

_MIB = 1 << 20
# S3 refuses multipart parts below 5 MiB (except the last) and uploads of more than 10,000 parts.
_MIN_PART_BYTES = 5 * _MIB
_MAX_PARTS = 10_000
# delete_objects takes at most this many keys per request.
_DELETE_BATCH = 1000
# Error codes S3 (and S3-compatible servers) answer for a missing object.
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
# Error codes that mean "busy or briefly broken, try again": throttling and server-side trouble.
_RETRYABLE_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequests",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "ServiceUnavailable",
        "InternalError",
    }
)


class S3ArtifactStore:
    """An `ArtifactStore` in an S3 bucket, or any S3-compatible server (MinIO, Ceph, moto, R2).

    Every artifact path becomes the key ``prefix/`` + `safe_relpath` ``(path)``; directories are key prefixes.
    Uploads stream: a payload up to ``multipart_threshold_bytes`` is sent with one ``PutObject``, a bigger one
    as a multipart upload of ``part_size_bytes`` parts, so memory stays near two parts per upload whatever the
    file size. S3 makes an object visible only when its upload completes, so readers see the old object or
    the whole new one; a failed or cancelled upload is aborted and leaves nothing behind. Credentials and
    region come from boto3's usual sources (environment, ``~/.aws``, instance roles).

    Example:
        >>> store = S3ArtifactStore("my-bucket", "shipyard/artifacts")  # doctest: +SKIP
        >>> store.write_bytes("1/abc123/artifacts/notes.txt", b"hello")  # doctest: +SKIP
        (5, '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824')
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        client: Any = None,
        multipart_threshold_bytes: int = 8 * _MIB,
        part_size_bytes: int = 8 * _MIB,
    ) -> None:
        """Open the store holding its artifacts under ``prefix`` in ``bucket``.

        Args:
            bucket: the bucket's name; it must exist.
            prefix: the key prefix of the store root (``"shipyard/artifacts"``); empty for the bucket root.
            endpoint_url: an S3-compatible server (``"http://127.0.0.1:9000"``); ``None`` for AWS. A custom
                endpoint is addressed path-style (``endpoint/bucket/key``), which every S3-compatible server
                understands.
            client: a ready boto3 S3 client to use instead of creating one (``endpoint_url`` is then ignored).
            multipart_threshold_bytes: payloads larger than this are sent as multipart uploads.
            part_size_bytes: the size of each multipart part; at least 5 MiB, as S3 requires. With 10,000
                parts at most, this also bounds the largest artifact (8 MiB parts: 78 GiB).

        Raises:
            InvalidParameter: the bucket is empty, the prefix is unsafe, or a size is out of range.
            MissingExtra: boto3 is not installed and no client was given (``pip install 'shipyard[s3]'``).
        """
        if not bucket or "/" in bucket:
            raise InvalidParameter(f"Invalid S3 bucket name {bucket!r}; expected a name such as 'my-bucket'.")
        if multipart_threshold_bytes < 1:
            raise InvalidParameter(
                f"multipart_threshold_bytes must be a positive number of bytes, got {multipart_threshold_bytes}."
            )
        if part_size_bytes < _MIN_PART_BYTES:
            raise InvalidParameter(
                f"part_size_bytes must be at least {_MIN_PART_BYTES} (5 MiB, S3's minimum), got {part_size_bytes}."
            )
        try:
            root = safe_relpath(prefix)
        except ArtifactPathError as exc:
            raise InvalidParameter(f"Invalid S3 key prefix {prefix!r}: {exc.message}") from exc
        self._bucket = bucket
        self._root = root
        self._client = client if client is not None else _make_client(endpoint_url)
        self._threshold_bytes = multipart_threshold_bytes
        self._part_bytes = part_size_bytes

    @property
    def bucket(self) -> str:
        """The bucket's name."""
        return self._bucket

    @property
    def prefix(self) -> str:
        """The normalised key prefix of the store root (``""`` for the bucket root)."""
        return self._root

    def __repr__(self) -> str:
        """Show the location, e.g. ``S3ArtifactStore('s3://bucket/prefix')``; never the endpoint or credentials."""
        return f"{type(self).__name__}({f's3://{self._bucket}/{self._root}'!r})"

    # Writing

    def write_stream(self, path: str, chunks: Iterable[bytes]) -> tuple[int, str]:
        """Store the concatenated ``chunks`` at ``path`` atomically; see `ArtifactStore.write_stream`."""
        upload = _Upload(self, self._write_key(path), path)
        try:
            for chunk in chunks:
                upload.add(chunk)
                if upload.due():
                    upload.send_parts()
            return upload.finish()
        except BaseException:
            upload.abort()
            raise

    async def awrite_stream(self, path: str, chunks: AsyncIterable[bytes]) -> tuple[int, str]:
        """Store an async stream at ``path`` atomically, with every S3 call in a worker thread.

        At most one part of the source is read ahead: while a part uploads, the source is not read. A failure
        or a cancellation aborts the multipart upload. See `ArtifactStore.awrite_stream`.
        """
        from anyio import CancelScope
        from anyio.to_thread import run_sync

        upload = _Upload(self, await run_sync(self._write_key, path), path)
        try:
            async for chunk in chunks:
                upload.add(chunk)
                if upload.due():
                    await run_sync(upload.send_parts)
            return await run_sync(upload.finish)
        except BaseException:
            # Shielded, so a cancelled upload still gets its abort request out instead of leaving parts behind.
            with CancelScope(shield=True):
                await run_sync(upload.abort)
            raise

    def write_bytes(self, path: str, data: bytes) -> tuple[int, str]:
        """Store ``data`` at ``path`` atomically; returns ``(size_bytes, sha256_hex)``."""
        return self.write_stream(path, (data,))

    # Reading

    def open_read(self, path: str) -> BinaryIO:
        """Open the object at ``path`` for streamed reading; raises `ResourceNotFound` if it is missing."""
        body = self._get_body(path)
        return io.BufferedReader(_BodyReader(body, self, path), buffer_size=64 * 1024)

    def iter_read(self, path: str, chunk_size: int = DEFAULT_CHUNK_BYTES) -> Iterator[bytes]:
        """Yield the object at ``path`` in chunks of at most ``chunk_size`` bytes; the object is fetched now."""
        if chunk_size <= 0:
            raise InvalidParameter(f"chunk_size must be a positive number of bytes, got {chunk_size}.")
        return _iter_body(self._get_body(path), chunk_size, self, path)

    def local_path(self, path: str) -> Path | None:
        """Always ``None``: objects are not on local disk (the path is still checked)."""
        safe_relpath(path)
        return None

    def list_dir(self, path: str = "") -> list[FileInfo]:
        """The direct children of ``path``, sorted by name, with paths relative to the store root."""
        rel = safe_relpath(path)
        listed_prefix = self._dir_prefix(rel)
        paginator = self._client.get_paginator("list_objects_v2")
        entries: dict[str, FileInfo] = {}
        with _translated("ListObjectsV2", self, path):
            for page in paginator.paginate(Bucket=self._bucket, Prefix=listed_prefix, Delimiter="/"):
                for common in page.get("CommonPrefixes", []):
                    name = str(common["Prefix"])[len(listed_prefix) :].rstrip("/")
                    if _listable(name):
                        entries[name] = FileInfo(_join(rel, name), True, None)
                for obj in page.get("Contents", []):
                    name = str(obj["Key"])[len(listed_prefix) :]
                    # A name that is also a prefix lists as the directory, as on a file system.
                    if _listable(name) and name not in entries:
                        entries[name] = FileInfo(_join(rel, name), False, int(obj["Size"]))
        return sorted(entries.values(), key=lambda info: info.path)

    def exists(self, path: str) -> bool:
        """Whether an object (a file) or a key prefix (a directory) exists at ``path``."""
        rel = safe_relpath(path)
        if not rel:
            return True  # the root always exists, as a local store's folder does
        return self._is_file(self._key(rel), path) or self._is_dir(rel, path)

    def size(self, path: str) -> int:
        """The size in bytes of the object at ``path``; raises `ResourceNotFound` if it is missing."""
        rel = safe_relpath(path)
        if not rel:
            raise _not_found(path)
        head = self._call("head_object", path, Bucket=self._bucket, Key=self._key(rel))
        return int(head["ContentLength"])

    # Deleting

    def delete(self, path: str) -> None:
        """Delete the object or every key under the prefix at ``path``; a missing path is a no-op.

        Keys are deleted in batches of 1,000. Unlike a local rename, this is not atomic: a reader listing the
        directory meanwhile may see part of it.

        Raises:
            ArtifactPathError: the path is unsafe or names the store root.
        """
        rel = safe_relpath(path)
        if not rel:
            raise ArtifactPathError(f"Invalid artifact path {path!r}: refusing to delete the artifact root.")
        self._call("delete_object", path, Bucket=self._bucket, Key=self._key(rel))
        paginator = self._client.get_paginator("list_objects_v2")
        with _translated("ListObjectsV2", self, path):
            pages = list(paginator.paginate(Bucket=self._bucket, Prefix=self._dir_prefix(rel)))
        keys = [str(obj["Key"]) for page in pages for obj in page.get("Contents", [])]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + _DELETE_BATCH]]
            answer = self._call("delete_objects", path, Bucket=self._bucket, Delete={"Objects": batch, "Quiet": True})
            if answer.get("Errors"):
                codes = sorted({str(error.get("Code", "?")) for error in answer["Errors"]})
                raise StoreUnavailable(
                    f"S3 could not delete {len(answer['Errors'])} keys under artifact path {path!r} "
                    f"({', '.join(codes)}); try again."
                )

    # Keys and S3 calls

    def _key(self, rel: str) -> str:
        """The object key of the normalised relative path ``rel``."""
        if not self._root:
            return rel
        return f"{self._root}/{rel}" if rel else self._root

    def _dir_prefix(self, rel: str) -> str:
        """The key prefix of the directory ``rel`` (ends with ``/``; empty for the root of a bucket-root store)."""
        key = self._key(rel)
        return f"{key}/" if key else ""

    def _write_key(self, path: str) -> str:
        """The key to write ``path`` to: not the root, not a directory, and with no file among its parents."""
        rel = safe_relpath(path)
        if not rel or self._is_dir(rel, path):
            raise ArtifactPathError(f"Invalid artifact path {path!r}: it is a directory; expected a file path.")
        parts = rel.split("/")
        for depth in range(1, len(parts)):
            if self._is_file(self._key("/".join(parts[:depth])), path):
                raise ArtifactPathError(
                    f"Invalid artifact path {path!r}: a file stands where one of its folders must be."
                )
        return self._key(rel)

    def _is_file(self, key: str, path: str) -> bool:
        """Whether an object exists at exactly ``key``."""
        try:
            self._call("head_object", path, Bucket=self._bucket, Key=key)
        except ResourceNotFound:
            return False
        return True

    def _is_dir(self, rel: str, path: str) -> bool:
        """Whether any key lies under the directory ``rel``."""
        answer = self._call("list_objects_v2", path, Bucket=self._bucket, Prefix=self._dir_prefix(rel), MaxKeys=1)
        return int(answer.get("KeyCount", 0)) > 0

    def _get_body(self, path: str) -> Any:
        """The streaming body of the object at ``path`` (a directory or the root is not found)."""
        rel = safe_relpath(path)
        if not rel:
            raise _not_found(path)
        return self._call("get_object", path, Bucket=self._bucket, Key=self._key(rel))["Body"]

    def _call(self, operation: str, path: str, **kwargs: Any) -> Any:
        """Call one boto3 client method, translating its errors into Shipyard's."""
        with _translated(operation, self, path):
            return getattr(self._client, operation)(**kwargs)


class _Upload:
    """One streamed upload: buffered and hashed as it arrives, sent as one PutObject or as multipart parts.

    The steps are plain blocking calls so the sync and async writers share them (the async one runs the S3
    calls in worker threads). The buffer holds at most one part plus the chunk that completed it.
    """

    def __init__(self, store: S3ArtifactStore, key: str, path: str) -> None:
        self._store = store
        self._key = key
        self._path = path
        self._buffer = bytearray()
        self._sha256 = hashlib.sha256()
        self._size_bytes = 0
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def add(self, chunk: bytes | bytearray) -> None:
        """Append ``chunk`` to the buffer and the running hash; sends nothing."""
        self._buffer += chunk
        self._sha256.update(chunk)
        self._size_bytes += len(chunk)

    def due(self) -> bool:
        """Whether the buffer holds enough to start a multipart upload or to send a part."""
        if self._upload_id is None:
            return len(self._buffer) > self._store._threshold_bytes
        return len(self._buffer) >= self._store._part_bytes

    def send_parts(self) -> None:
        """Start the multipart upload if needed, then send every full part in the buffer."""
        if self._upload_id is None:
            created = self._store._call("create_multipart_upload", self._path, Bucket=self._store.bucket, Key=self._key)
            self._upload_id = str(created["UploadId"])
        while len(self._buffer) >= self._store._part_bytes:
            self._send_part(self._store._part_bytes)

    def finish(self) -> tuple[int, str]:
        """Send what is left (one PutObject, or the last part and the completion); returns size and sha256."""
        store = self._store
        if self._upload_id is None:
            body = bytes(self._buffer)
            self._buffer = bytearray()
            store._call("put_object", self._path, Bucket=store.bucket, Key=self._key, Body=body)
        else:
            self.send_parts()
            if self._buffer or not self._parts:
                self._send_part(len(self._buffer))
            store._call(
                "complete_multipart_upload",
                self._path,
                Bucket=store.bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
            self._upload_id = None
        return self._size_bytes, self._sha256.hexdigest()

    def abort(self) -> None:
        """Abort the multipart upload, if one was started; never raises, so the original error propagates."""
        self._buffer = bytearray()
        if self._upload_id is None:
            return
        upload_id, self._upload_id = self._upload_id, None
        # Nothing partial is visible either way; a bucket lifecycle rule reaps upload parts left behind.
        with contextlib.suppress(ShipyardError, OSError):
            self._store._call(
                "abort_multipart_upload", self._path, Bucket=self._store.bucket, Key=self._key, UploadId=upload_id
            )

    def _send_part(self, size_bytes: int) -> None:
        """Send the first ``size_bytes`` of the buffer as the next part and drop them from the buffer."""
        number = len(self._parts) + 1
        if number > _MAX_PARTS:
            raise InvalidParameter(
                f"The artifact {self._path!r} needs more than {_MAX_PARTS} parts of {self._store._part_bytes} "
                "bytes; open the store with a larger part_size_bytes."
            )
        with memoryview(self._buffer) as view, view[:size_bytes] as head:
            body = head.tobytes()
        del self._buffer[:size_bytes]
        answer = self._store._call(
            "upload_part",
            self._path,
            Bucket=self._store.bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
        )
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})


class _BodyReader(io.RawIOBase):
    """A raw, read-only file over a boto3 StreamingBody, translating read errors into Shipyard's."""

    def __init__(self, body: Any, store: S3ArtifactStore, path: str) -> None:
        super().__init__()
        self._body = body
        self._store = store
        self._path = path

    def readable(self) -> bool:
        """Always ``True``."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Read up to ``len(buffer)`` bytes into ``buffer``; 0 at the end."""
        with memoryview(buffer) as view, view.cast("B") as target:
            with _translated("GetObject", self._store, self._path):
                data = self._body.read(len(target))
            target[: len(data)] = data
            return len(data)

    def readall(self) -> bytes:
        """Read the rest of the object in one call."""
        with _translated("GetObject", self._store, self._path):
            return bytes(self._body.read())

    def close(self) -> None:
        """Close the body, releasing its connection."""
        if not self.closed:
            self._body.close()
        super().close()


def _iter_body(body: Any, chunk_size: int, store: S3ArtifactStore, path: str) -> Iterator[bytes]:
    """Yield ``body`` in chunks of exactly ``chunk_size`` bytes (the last may be shorter), then close it."""
    try:
        while True:
            with _translated("GetObject", store, path):
                chunk = bytes(body.read(chunk_size))
                # The HTTP layer may return less than asked before the end; fill up so chunks are regular.
                while chunk and len(chunk) < chunk_size and (more := body.read(chunk_size - len(chunk))):
                    chunk += more
            if not chunk:
                return
            yield chunk
    finally:
        body.close()


@contextlib.contextmanager
def _translated(operation: str, store: S3ArtifactStore, path: str) -> Iterator[None]:
    """Turn botocore errors raised inside the block into Shipyard errors that name no secret."""
    try:
        yield
    except ShipyardError:
        raise
    except Exception as exc:
        translated = _translate(exc, operation, store, path)
        if translated is None:
            raise
        raise translated from exc


def _translate(exc: Exception, operation: str, store: S3ArtifactStore, path: str) -> ShipyardError | None:
    """The Shipyard error for a botocore (or urllib3) error, or ``None`` for anything else.

    Messages name the operation, the bucket, the artifact path and S3's error code, never the endpoint URL
    (which may carry credentials) or botocore's own text.
    """
    boto_errors = importlib.import_module("botocore.exceptions")
    where = f"{operation} on s3://{store.bucket} for artifact path {path!r}"
    if isinstance(exc, boto_errors.ClientError):
        return _translate_client_error(exc.response, where, store, path)
    if isinstance(exc, boto_errors.NoCredentialsError | boto_errors.PartialCredentialsError):
        return InternalError(f"S3 {where} failed: no usable AWS credentials were found.")
    if isinstance(exc, boto_errors.BotoCoreError) or type(exc).__module__.startswith("urllib3."):
        # Connection refused or reset, timeouts, truncated bodies: the store could not be reached properly.
        return StoreUnavailable(f"S3 {where} failed: {type(exc).__name__}; try again.")
    return None


def _translate_client_error(response: Any, where: str, store: S3ArtifactStore, path: str) -> ShipyardError:
    """The Shipyard error for an error answer from S3 (a botocore ``ClientError``'s ``response``)."""
    code = str(response.get("Error", {}).get("Code", "Unknown"))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in _NOT_FOUND_CODES or (status == 404 and code not in {"NoSuchBucket", "NoSuchUpload"}):
        error: ShipyardError = _not_found(path)
    elif code == "NoSuchBucket":
        error = StoreUnavailable(f"S3 {where} failed: the bucket {store.bucket!r} does not exist.")
    elif code in _RETRYABLE_CODES or status in {429, 500, 502, 503, 504}:
        error = StoreUnavailable(f"S3 {where} failed with {code} (HTTP {status}); try again.")
    elif status == 403 or code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
        error = InternalError(f"S3 refused {where}: {code}; check the credentials and the bucket policy.")
    else:
        error = InternalError(f"S3 {where} failed with {code} (HTTP {status}).")
    return error


def _make_client(endpoint_url: str | None) -> Any:
    """A new boto3 S3 client (its own session, so thread-safe), path-style for a custom endpoint."""
    try:
        # Imported by name because boto3 ships no type hints; only s3:// stores need it.
        boto3 = importlib.import_module("boto3")
        botocore_config = importlib.import_module("botocore.config")
    except ImportError as exc:
        raise MissingExtra("boto3", "s3") from exc
    config = botocore_config.Config(s3={"addressing_style": "path"}) if endpoint_url else None
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url or None, config=config)


def _listable(name: str) -> bool:
    """Whether a listed key name is a plain child name (not empty, not a marker, no unsafe component)."""
    return name not in ("", ".", "..") and "/" not in name


def _join(rel: str, name: str) -> str:
    """The store-relative path of the child ``name`` of directory ``rel``."""
    return f"{rel}/{name}" if rel else name


def _not_found(path: str) -> ResourceNotFound:
    """The error for a read of something that is not a file."""
    return ResourceNotFound(f"No artifact file at {path!r}.")
