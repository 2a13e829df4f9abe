"""The SDK's journal: logging records a server has not confirmed yet, kept on disk in append-only files.

Layout, one folder per tracking URI (its credentials left out), under ``Settings.sdk_journal_dir``::

    <root>/<sha256 of the URI, 16 hex>/TRACKING_URI     the URI, for people and ``shipyard sync --dry-run``
    <root>/<…>/<ms>-<pid>-<random>.journal             one process's records
    <root>/<…>/<ms>-<pid>-<random>.blobs/               copies of artifacts logged while the server was away

A journal is a sequence of lines ``<crc32, 8 hex digits> <JSON>\\n``: a header, records (``{"s": seq, "k": kind,
"r": run id, "b": body}``), acknowledgements (``{"k": "ack", "s": seq}``: every record up to ``seq`` is stored)
and run-id mappings (``{"k": "map", …}``, for a server that ignored the id the SDK proposed). Records appear in
the order of their sequence numbers, which is the order they were logged. A line without its newline (a crash
in the middle of a write) or with a wrong checksum is skipped; a replayer cuts such a tail before appending.

Durability: the file is written with ``os.write`` (no user-space buffer), so a record is in the kernel once the
call returns and survives the process being killed. Spills to disk and the exit write are followed by ``fsync``;
acknowledgements are not (losing one only means a record is sent again, which the server ignores).

Locking: the writing process holds an exclusive ``flock`` on its journal until it exits; a replayer takes the
same lock without waiting, so a journal is replayed by one process at a time, and never while its writer lives.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from shipyard.config import Settings

__all__ = [
    "ARTIFACT",
    "CREATE",
    "INPUTS",
    "METRICS",
    "PARAMS",
    "TAGS",
    "UPDATE",
    "Journal",
    "JournalScan",
    "JournalSummary",
    "Record",
    "journal_directory",
    "leftover_journals",
    "record_points",
    "tracking_label",
]

# Record kinds. Metrics, params and tags are "data" records, which may be sent together; the others go alone.
METRICS = "m"  # body: (timestamp_ms, step, {key: value}, model_id or None)
PARAMS = "p"  # body: ((key, value), …)
TAGS = "t"  # body: ((key, value), …), the last value of a key wins
CREATE = "c"  # body: {experiment_id | experiment_name, run_name, tags, start_time_ms, user_id}
UPDATE = "u"  # body: (status, end_time_ms or None): a run's end, or RUNNING when a run is resumed
ARTIFACT = "a"  # body: (path of the copy in the blobs folder, artifact path in the run)
INPUTS = "i"  # body: (dataset input as MLflow JSON, …)

#: (sequence number, kind, run id as logged, body). Plain tuples: the metric path creates millions of them.
Record = tuple[int, str, str, Any]

_VERSION = 1
_CREDENTIALS = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@")
_SUFFIX = ".journal"
_BLOBS = ".blobs"
_READ_CHUNK = 1 << 22


def tracking_label(settings: Settings) -> str:
    """The tracking URI a journal belongs to, without credentials: the server's URL, or the embedded store's."""
    uri = settings.tracking_uri
    if not uri.startswith(("http://", "https://")):
        uri = settings.embedded_store_uri
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https"):
        netloc = parts.netloc.rsplit("@", 1)[-1]  # user:password@host → host
        return urlunsplit((parts.scheme, netloc.lower(), parts.path.rstrip("/"), "", ""))
    return _CREDENTIALS.sub(r"\1", uri)  # a database URL: only its credentials go (sqlite:////x keeps its slashes)


def journal_directory(settings: Settings) -> Path:
    """The folder of journals for the settings' tracking URI (absolute, so a later ``chdir`` does not move it)."""
    root = settings.sdk_journal_dir or settings.home / "journal"
    key = hashlib.sha256(tracking_label(settings).encode()).hexdigest()[:16]
    return (root / key).absolute()


def leftover_journals(directory: Path, *, exclude: Path | None = None) -> list[Path]:
    """Journals in ``directory``, oldest first (their names start with the creation time), except ``exclude``.

    Blob folders whose journal is gone (a replayer removed the journal but not yet its folder) are deleted.
    """
    if not directory.is_dir():
        return []
    found = sorted(p for p in directory.glob(f"*{_SUFFIX}") if p != exclude)
    for blobs in directory.glob(f"*{_BLOBS}"):
        if not blobs.with_suffix(_SUFFIX).exists():
            shutil.rmtree(blobs, ignore_errors=True)
    return found


def record_points(record: Record) -> int:
    """How much sending a record costs, in metric points (other records count as one)."""
    return len(record[3][2]) if record[1] == METRICS else 1


def _line(obj: dict[str, Any]) -> bytes:
    data = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    return b"%08x %s\n" % (zlib.crc32(data), data)


def _parse(line: bytes) -> dict[str, Any] | None:
    """A line's object, or None when its checksum or JSON is wrong (a torn or damaged write)."""
    if len(line) < 10 or line[8:9] != b" ":
        return None
    data = line[9:]
    try:
        if int(line[:8], 16) != zlib.crc32(data):
            return None
        obj = json.loads(data)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _record(obj: dict[str, Any]) -> Record:
    return (int(obj["s"]), str(obj["k"]), str(obj["r"]), obj["b"])


def _lock(fd: int) -> bool:
    """Take an exclusive lock on the open file without waiting; False when another process holds it."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


@dataclass
class JournalSummary:
    """What a journal still holds: records not acknowledged, by kind, and the runs they belong to."""

    records: int = 0
    points: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    runs: set[str] = field(default_factory=set)
    skipped_lines: int = 0
    tracking_uri: str = ""
    created_ms: int = 0


class Journal:
    """One journal file, open and locked by this process (its writer, or the one replaying it)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.blobs = path.with_suffix(_BLOBS)
        self._fd = fd
        self.header_end = 0

    # ------------------------------------------------------------------------------------------- opening
    @classmethod
    def create(cls, directory: Path, tracking_uri: str) -> Journal:
        """A new, locked journal for this process in ``directory`` (created private to the user if missing)."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        label = directory / "TRACKING_URI"
        if not label.exists():
            with contextlib.suppress(OSError):
                label.write_text(tracking_uri + "\n")
        now_ms = int(time.time() * 1000)
        path = directory / f"{now_ms:013d}-{os.getpid()}-{secrets.token_hex(4)}{_SUFFIX}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        if not _lock(fd):  # a fresh name: nobody else can hold it
            os.close(fd)
            raise OSError(f"cannot lock the new journal {path}")
        journal = cls(path, fd)
        journal._write(_line({"k": "h", "v": _VERSION, "uri": tracking_uri, "pid": os.getpid(), "t": now_ms}))
        journal.header_end = journal.size
        return journal

    @classmethod
    def open_leftover(cls, path: Path) -> Journal | None:
        """Open another process's journal to replay it, or None if a live process holds it (or it is gone).

        A torn last line (its writer died in the middle of it) is cut off, so appended lines start clean.
        """
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            return None
        if not _lock(fd) or os.fstat(fd).st_nlink == 0:  # busy, or removed by a replayer before we locked it
            os.close(fd)
            return None
        journal = cls(path, fd)
        size = journal.size
        if size:
            tail = os.pread(fd, min(size, _READ_CHUNK), max(0, size - _READ_CHUNK))
            if not tail.endswith(b"\n"):
                cut = tail.rfind(b"\n")
                os.ftruncate(fd, max(0, size - len(tail)) + cut + 1 if cut >= 0 else 0)
        return journal

    # ------------------------------------------------------------------------------------------- writing
    @property
    def size(self) -> int:
        """The file's length in bytes."""
        return os.fstat(self._fd).st_size

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def append(self, records: Sequence[Record], *, sync: bool = False) -> None:
        """Append records in one write (``sync``: and fsync them)."""
        if records:
            self._write(b"".join(_line({"s": s, "k": k, "r": r, "b": b}) for s, k, r, b in records))
        if sync:
            os.fsync(self._fd)

    def ack(self, seq: int) -> None:
        """Record that every record up to ``seq`` is stored (or refused for good: it will not be sent again)."""
        self._write(_line({"k": "ack", "s": seq}))

    def add_map(self, logged_id: str, server_id: str) -> None:
        """Record that the server gave run ``logged_id`` the id ``server_id``."""
        self._write(_line({"k": "map", "r": logged_id, "to": server_id}))

    def sync(self) -> None:
        """fsync the file."""
        os.fsync(self._fd)

    def reset(self) -> None:
        """Drop every line after the header (everything in it is acknowledged)."""
        os.ftruncate(self._fd, self.header_end)

    def stash(self, source: Path, *, move: bool) -> Path:
        """Copy (or move) a file into the blobs folder; the copy's path, which an artifact record names."""
        self.blobs.mkdir(exist_ok=True, mode=0o700)
        target = self.blobs / f"{secrets.token_hex(8)}-{source.name}"
        if move:
            shutil.move(source, target)
        else:
            shutil.copyfile(source, target)
        return target

    def close(self) -> None:
        """Close the file, releasing the lock."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def remove(self) -> None:
        """Delete the blobs folder and the journal (still holding the lock), then close it."""
        shutil.rmtree(self.blobs, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.close()

    # ------------------------------------------------------------------------------------------- reading
    def _lines(self, offset: int = 0) -> Iterator[tuple[int, bytes]]:
        """Complete lines from ``offset`` as (offset after the line, line without its newline)."""
        end = self.size
        carry = b""
        while offset < end:
            chunk = os.pread(self._fd, min(_READ_CHUNK, end - offset), offset)
            if not chunk:
                return
            data = carry + chunk
            base = offset - len(carry)
            start = 0
            while True:
                newline = data.find(b"\n", start)
                if newline < 0:
                    break
                yield base + newline + 1, data[start:newline]
                start = newline + 1
            carry = data[start:]
            offset += len(chunk)

    def read_from(self, offset: int, max_points: int) -> tuple[list[Record], int]:
        """Records after byte ``offset``, up to about ``max_points`` points, and the offset after the last one.

        The writing process reads back what it spilled with this.
        """
        out: list[Record] = []
        points = 0
        for after, raw in self._lines(offset):
            offset = after
            obj = _parse(raw)
            if obj is None or "s" not in obj or obj.get("k") == "ack":
                continue
            record = _record(obj)
            out.append(record)
            points += record_points(record)
            if points >= max_points:
                break
        return out, offset

    def _objects(self) -> Iterator[dict[str, Any] | None]:
        for _after, raw in self._lines():
            yield _parse(raw)

    def scan(self) -> JournalScan:
        """Two passes over the file: acknowledgements, run-id mappings and order, then what is still pending."""
        scan = JournalScan()
        previous = 0
        for obj in self._objects():
            if obj is None:
                scan.summary.skipped_lines += 1
                continue
            kind = obj.get("k")
            if kind == "ack":
                scan.acked = max(scan.acked, int(obj["s"]))
            elif kind == "map":
                scan.maps[str(obj["r"])] = str(obj["to"])
            elif kind == "h":
                scan.summary.tracking_uri = str(obj.get("uri", ""))
                scan.summary.created_ms = int(obj.get("t", 0))
            elif "s" in obj:
                scan.ordered = scan.ordered and int(obj["s"]) > previous
                previous = int(obj["s"])
        summary = scan.summary
        for batch in self.pending(scan, max_points=1 << 30):
            for record in batch:
                summary.records += 1
                summary.points += record_points(record) if record[1] == METRICS else 0
                summary.by_kind[record[1]] = summary.by_kind.get(record[1], 0) + 1
                summary.runs.add(scan.maps.get(record[2], record[2]))
        return scan

    def pending(self, scan: JournalScan, max_points: int) -> Iterator[list[Record]]:
        """Records after ``scan.acked`` in sequence order, each once, in batches of about ``max_points`` points.

        Lines are written in sequence order, so this streams; a file out of order (never written so, but cheap
        to guard against) is sorted in memory instead.
        """
        records: Iterator[Record] = (
            _record(obj)
            for obj in self._objects()
            if obj is not None and "s" in obj and obj.get("k") not in ("ack", "map", "h")
        )
        if not scan.ordered:
            records = iter(sorted(records, key=lambda r: r[0]))
        batch: list[Record] = []
        points = 0
        last = scan.acked
        for record in records:
            if record[0] <= last:
                continue
            last = record[0]
            batch.append(record)
            points += record_points(record)
            if points >= max_points:
                yield batch
                batch, points = [], 0
        if batch:
            yield batch


@dataclass
class JournalScan:
    """A journal read once: the highest acknowledged sequence number, run-id mappings, order, and a summary."""

    acked: int = 0
    maps: dict[str, str] = field(default_factory=dict)
    ordered: bool = True
    summary: JournalSummary = field(default_factory=JournalSummary)
