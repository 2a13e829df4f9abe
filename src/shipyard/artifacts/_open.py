"""Pick the artifact store backend from a URI: a plain path or ``file://`` (local folder) or ``s3://``."""

from __future__ import annotations

import re
from urllib.parse import urlsplit
from urllib.request import url2pathname

from shipyard.artifacts._base import ArtifactStore
from shipyard.artifacts._local import LocalArtifactStore
from shipyard.errors import InvalidParameter

__all__ = ["open_artifact_store"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def open_artifact_store(uri: str, *, s3_endpoint_url: str | None = None) -> ArtifactStore:
    """Open the artifact store that ``uri`` names.

    Args:
        uri: a folder path (``"./mlruns"``, ``"~/artifacts"``, ``"C:\\data"``), a ``file://`` URI
            (``"file:///data/artifacts"``) or an ``s3://bucket/prefix`` URI.
        s3_endpoint_url: for ``s3://`` URIs, an S3-compatible server such as MinIO (``"http://127.0.0.1:9000"``);
            ``None`` or empty for AWS itself. Credentials and region come from boto3's usual sources.

    Returns:
        The store; a `LocalArtifactStore` for paths and ``file://`` URIs (its folder is created if missing), an
        `S3ArtifactStore` for ``s3://`` URIs.

    Raises:
        InvalidParameter: the URI is empty, has an unsupported scheme, is a ``file://`` URI naming a remote host,
            or is an ``s3://`` URI without a bucket or with an unsafe prefix.
        MissingExtra: an ``s3://`` URI without boto3 installed (``pip install 'shipyard[s3]'``).

    Example:
        >>> store = open_artifact_store("file:///tmp/shipyard-artifacts")  # doctest: +SKIP
        >>> store.list_dir("")  # doctest: +SKIP
        []
    """
    if not uri:
        raise InvalidParameter("The artifact store URI is empty; expected a folder path, file:// or s3:// URI.")
    match = _SCHEME.match(uri)
    if match is None:
        return LocalArtifactStore(uri)
    scheme = match.group(1).lower()
    if scheme == "file":
        return LocalArtifactStore(_file_uri_to_path(uri))
    if scheme == "s3":
        return _open_s3(uri, s3_endpoint_url or None)
    raise InvalidParameter(
        f"Unsupported artifact store URI scheme {scheme!r} in {uri!r}; expected a folder path, file:// or s3://."
    )


def _file_uri_to_path(uri: str) -> str:
    """The local path of a ``file://`` URI, percent-decoded."""
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise InvalidParameter(
            f"The artifact store URI {uri!r} names the host {parts.netloc!r}; a file:// URI must be local "
            "(file:///path or file://localhost/path)."
        )
    if not parts.path:
        raise InvalidParameter(f"The artifact store URI {uri!r} has no path; expected file:///path/to/folder.")
    return url2pathname(parts.path)


def _open_s3(uri: str, endpoint_url: str | None) -> ArtifactStore:
    """The S3 store for ``s3://bucket/prefix``; needs the ``s3`` extra."""
    parts = urlsplit(uri)
    if not parts.netloc:
        raise InvalidParameter(f"The artifact store URI {uri!r} names no bucket; expected s3://bucket/prefix.")
    # Imported here so that opening a local store never loads the S3 module (which loads boto3 lazily anyway).
    from shipyard.artifacts._s3 import S3ArtifactStore

    return S3ArtifactStore(parts.netloc, parts.path.lstrip("/"), endpoint_url=endpoint_url)
