"""A run's artifacts for the UI: the tree, inline previews, and raw responses that cannot run scripts."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote

from starlette.responses import FileResponse, Response, StreamingResponse

from shipyard.artifacts import ArtifactStore
from shipyard.errors import InvalidParameter, ResourceNotFound
from shipyard.tracking.entities import Run
from shipyard.tracking.lineage import PACKAGES_ARTIFACT
from shipyard.tracking.service import artifact_key

__all__ = [
    "Node",
    "Preview",
    "artifact_root",
    "artifact_tree",
    "preview",
    "raw_response",
    "read_requirements",
]

PREVIEW_BYTES = 100 * 1024
MAX_TREE_ENTRIES = 500
MAX_TREE_DEPTH = 8
TEXT_EXTENSIONS = frozenset(
    {".txt", ".json", ".yaml", ".yml", ".md", ".csv", ".tsv", ".log", ".py", ".toml", ".ini", ".cfg"}
)
TEXT_NAMES = frozenset({"MLmodel", "Dockerfile", "LICENSE", "README"})
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}
# Raster images a browser shows inline without running anything. SVG is XML that may carry script: it is still
# typed as an image (so <img> shows it, where script never runs) but opened directly it is saved, not shown.
INLINE_IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp"})
# Raw artifacts are user content: never let one run script or load anything, even when opened directly.
RAW_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "private, max-age=60",
}

Kind = Literal["text", "image", "binary"]


def kind_of(path: str) -> Kind:
    """How the UI shows a file: previewed as text, shown as an image, or offered for download."""
    name = posixpath.basename(path)
    ext = posixpath.splitext(name)[1].lower()
    if ext in IMAGE_TYPES:
        return "image"
    if ext in TEXT_EXTENSIONS or name in TEXT_NAMES:
        return "text"
    return "binary"


def artifact_root(run: Run) -> str | None:
    """The store key of the run's artifact folder, or None when its artifacts live elsewhere."""
    try:
        return artifact_key(run.artifact_uri)
    except InvalidParameter:
        return None


def _join(root: str, rel: str) -> str:
    return f"{root}/{rel}" if rel else root


@dataclass
class Node:
    """One entry of the artifact tree; ``path`` is relative to the run's artifact folder."""

    name: str
    path: str
    is_dir: bool
    size_bytes: int | None
    kind: Kind
    children: list[Node] = field(default_factory=list)


def artifact_tree(store: ArtifactStore, root: str) -> tuple[list[Node], bool]:
    """The run's artifact tree (breadth-first, capped) and whether the cap cut it short."""
    top: list[Node] = []
    queue: list[tuple[str, list[Node], int]] = [("", top, 0)]
    count = 0
    while queue:
        rel, into, depth = queue.pop(0)
        for info in store.list_dir(_join(root, rel)):
            if count >= MAX_TREE_ENTRIES:
                return top, True
            count += 1
            child_rel = info.path[len(root) :].lstrip("/") if info.path.startswith(root) else info.path
            node = Node(posixpath.basename(child_rel), child_rel, info.is_dir, info.size_bytes, kind_of(child_rel))
            into.append(node)
            if info.is_dir and depth + 1 < MAX_TREE_DEPTH:
                queue.append((child_rel, node.children, depth + 1))
    return top, False


@dataclass(frozen=True)
class Preview:
    """What the run page shows for a selected artifact."""

    path: str
    kind: Kind
    size_bytes: int
    text: str = ""
    truncated: bool = False


def _read_head(store: ArtifactStore, key: str, limit: int) -> bytes:
    with store.open_read(key) as handle:
        return handle.read(limit)


def preview(store: ArtifactStore, root: str, rel: str) -> Preview:
    """The preview of one artifact: its first 100 KB of text, an image, or just its size.

    Raises:
        ResourceNotFound: no file is there.
    """
    key = _join(root, rel)
    size = store.size(key)
    kind = kind_of(rel)
    if kind != "text":
        return Preview(rel, kind, size)
    head = _read_head(store, key, PREVIEW_BYTES)
    if b"\x00" in head:
        return Preview(rel, "binary", size)
    return Preview(rel, "text", size, head.decode("utf-8", errors="replace"), size > PREVIEW_BYTES)


def read_requirements(store: ArtifactStore, root: str) -> list[str] | None:
    """The installed packages recorded with the run (``shipyard/requirements.txt``), or None."""
    try:
        head = _read_head(store, _join(root, PACKAGES_ARTIFACT), 4 * PREVIEW_BYTES)
    except ResourceNotFound:
        return None
    lines = head.decode("utf-8", errors="replace").splitlines()
    return [line for line in (raw.strip() for raw in lines) if line and not line.startswith("#")]


def _inline_safe(rel: str, kind: Kind) -> bool:
    """Whether a browser may show the file in place: plain text (served as text/plain) or a raster image."""
    return kind == "text" or posixpath.splitext(rel)[1].lower() in INLINE_IMAGE_EXTENSIONS


def raw_response(store: ArtifactStore, root: str, rel: str, *, download: bool) -> Response:
    """The file itself, typed for inline viewing when safe, else as a download.

    Only plain text and raster images are ever inline; HTML, SVG, XML, JavaScript and every other type are
    attachments, and the sandboxing ``RAW_HEADERS`` come with every answer, so no artifact runs as the UI.

    Raises:
        ResourceNotFound: no file is there (or it is a folder).
    """
    if not rel:
        raise InvalidParameter("Pass the artifact's path, e.g. ?path=model/MLmodel.")
    key = _join(root, rel)
    size = store.size(key)
    kind = kind_of(rel)
    name = posixpath.basename(rel)
    if kind == "image":
        media_type = IMAGE_TYPES[posixpath.splitext(name)[1].lower()]
    elif kind == "text":
        media_type = "text/plain; charset=utf-8"
    else:
        media_type = "application/octet-stream"
    disposition = "inline" if not download and _inline_safe(rel, kind) else "attachment"
    headers = {**RAW_HEADERS, "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(name, safe='')}"}
    local = store.local_path(key)
    if local is not None:
        return FileResponse(local, media_type=media_type, headers=headers)
    headers["Content-Length"] = str(size)
    return StreamingResponse(store.iter_read(key), media_type=media_type, headers=headers)
