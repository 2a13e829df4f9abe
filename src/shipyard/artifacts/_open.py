"""Pick the artifact store backend from a URI: a plain path or ``file://`` (local folder) or ``s3://``."""

from __future__ import annotations

import importlib
import re
from urllib.parse import urlsplit
from urllib.request import url2pathname

from shipyard.artifacts._base import ArtifactStore
from shipyard.artifacts._local import LocalArtifactStore
from shipyard.errors import InvalidParameter, MissingExtra

__all__ = ["open_artifact_store"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def open_artifact_store(uri: str) -> ArtifactStore:
    """Open the artifact store that ``uri`` names.

    Args:
        uri: a folder path (``"./mlruns"``, ``"~/artifacts"``, ``"C:\\data"``), a ``file://`` URI
            (``"file:///data/artifacts"``) or an ``s3://bucket/prefix`` URI.

    Returns:
        The store; a `LocalArtifactStore` for paths and ``file://`` URIs (its folder is created if missing).

    Raises:
        InvalidParameter: the URI is empty, has an unsupported scheme, or is a ``file://`` URI naming a remote host.
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
        return _open_s3(uri)
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


def _open_s3(uri: str) -> ArtifactStore:
    """The S3 store for ``uri``; needs the ``s3`` extra."""
    try:
        # Imported by name because boto3 ships no type hints; it is only needed for s3:// URIs.
        importlib.import_module("boto3")
    except ImportError as exc:
        raise MissingExtra("boto3", "s3") from exc
    raise InvalidParameter(
        f"The artifact store URI {uri!r} uses s3://, which this version of Shipyard cannot serve yet; "
        "use a folder path or a file:// URI."
    )
