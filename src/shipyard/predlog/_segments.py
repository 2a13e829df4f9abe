"""The segment writer both serving logs share: a bounded queue, a writer thread, Parquet segments rolled and stored."""

from __future__ import annotations

import atexit
import bisect
import collections
import itertools
import logging
import math
import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Self, TypeVar

from shipyard.artifacts import ArtifactStore, open_artifact_store
from shipyard.errors import InvalidParameter, MissingExtra, ShipyardError

__all__ = ["NAME", "Part", "PredictionLogConfig", "SegmentLog", "day", "require_arrow", "time_type"]

_log = logging.getLogger("shipyard.serving")
_LINGER_S = 0.2  # how long the writer waits for more records before converting what it has
_LINGER_ITEMS = 1024  # ... or until this many are queued

#: The names a deployment may have (as in deployment specs); a log's folder is named after it.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")

_MIB = 1 << 20
_WARN_EVERY_S = 10.0  # at most one warning per interval about records that cannot be logged
_SEGMENT_SEQ = itertools.count()  # process-wide, so two logs on one store never pick the same segment name
_T = TypeVar("_T")


@dataclass(frozen=True)
class PredictionLogConfig:
    """Where and how the prediction and feedback logs write their segments.

    Attributes:
        uri: the artifact store holding the segments: a folder path, a ``file://`` URI or an ``s3://`` URI.
        max_segment_rows: a segment is written once it holds this many log rows (one per predicted row).
        max_segment_bytes: ... or once its Arrow buffers reach this many bytes (an estimate of the memory it
            holds, not of the compressed file).
        max_segment_age_s: ... or once its first record has waited this long, so a quiet log still lands.
        max_queued_records: records (requests) waiting for the writer thread; past this, `append` drops.
        enabled: False keeps nothing: no thread, no store, and `append` returns False without counting.
        s3_endpoint_url: an S3-compatible server for ``s3://`` URIs (MinIO); ``None`` for AWS.

    Example:
        >>> PredictionLogConfig(uri="s3://bucket/predlog", max_segment_age_s=30.0).max_segment_rows
        50000
    """

    uri: str
    max_segment_rows: int = 50_000
    max_segment_bytes: int = 32 * _MIB
    max_segment_age_s: float = 60.0
    max_queued_records: int = 10_000
    enabled: bool = True
    s3_endpoint_url: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.uri, str) or not self.uri:
            raise InvalidParameter("The prediction log uri is empty; expected a folder path, file:// or s3:// URI.")
        for name in ("max_segment_rows", "max_segment_bytes", "max_queued_records"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameter(f"{name} must be a whole number of at least 1, got {value!r}.")
        age = self.max_segment_age_s
        if isinstance(age, bool) or not isinstance(age, int | float) or not (age > 0 and math.isfinite(age)):
            raise InvalidParameter(f"max_segment_age_s must be a finite number of seconds > 0, got {age!r}.")


@dataclass
class Part:
    """Converted records bound for one (deployment, day): an Arrow table and where each record's rows end.

    Attributes:
        ends: the cumulative row count after each record, so a segment is only ever cut between records.
    """

    deployment: str
    day: str
    table: Any
    ends: list[int]


@dataclass
class _Segment:
    """The open segment of one (deployment, day): tables of one schema, not yet written."""

    schema: Any
    opened_s: float  # monotonic, for the age limit
    start_ms: int  # the first record's time, for the file name
    tables: list[Any] = field(default_factory=list)
    rows: int = 0
    nbytes: int = 0
    records: int = 0


class SegmentLog(Generic[_T]):
    """A log of queued items written as Parquet segments by a daemon thread.

    The request path only calls `_put`: a lock, a length check and an append. The thread converts what is
    queued (`_convert`, given by the subclass), keeps one open segment per (deployment, day) and writes it to
    ``{kind}/{deployment}/date={day}/{start_ms}-{pid}-{seq}.parquet`` when it reaches the row or byte limit,
    grows old, meets a record of another schema, or is flushed. The store writes atomically, so readers see
    whole files only.
    """

    kind = ""

    def __init__(self, config: PredictionLogConfig, *, store: ArtifactStore | None = None) -> None:
        self._config = config
        self._cond = threading.Condition(threading.Lock())
        self._queue: collections.deque[_T] = collections.deque()
        self._dropped = 0
        self._failed = 0
        self._written_records = 0
        self._written_rows = 0
        self._segments = 0
        self._flush_wanted = 0
        self._flush_done = 0
        self._closing = not config.enabled
        self._open: dict[tuple[str, str], _Segment] = {}
        self._warned_s = -math.inf
        self._unwarned = 0
        self._thread: threading.Thread | None = None
        if not config.enabled:
            return
        require_arrow()
        if store is None:
            store = open_artifact_store(config.uri, s3_endpoint_url=config.s3_endpoint_url)
        self._store = store
        self._thread = threading.Thread(target=self._run, name=f"shipyard-{self.kind}-log", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # Counters, for /metrics

    @property
    def dropped(self) -> int:
        """Records refused by `append` because the queue was full or the log closed; it only ever grows."""
        return self._dropped

    @property
    def failed(self) -> int:
        """Records accepted but lost: they could not be converted, or their segment could not be written."""
        return self._failed

    @property
    def written_records(self) -> int:
        """Records in the segments written so far."""
        return self._written_records

    @property
    def written_rows(self) -> int:
        """Log rows in the segments written so far."""
        return self._written_rows

    @property
    def segments(self) -> int:
        """Segment files written so far."""
        return self._segments

    @property
    def queued(self) -> int:
        """Records waiting for the writer thread now."""
        return len(self._queue)

    # Control

    def flush(self, timeout_s: float | None = 10.0) -> bool:
        """Write everything queued or buffered before this call, and wait until it is written.

        Args:
            timeout_s: the longest to wait; ``None`` waits for as long as it takes.

        Returns:
            True once written (or when nothing could be pending), False when ``timeout_s`` passed first.
        """
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                return True
            self._flush_wanted += 1
            wanted = self._flush_wanted
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._flush_done >= wanted, timeout=timeout_s)

    def close(self, timeout_s: float = 10.0) -> bool:
        """Refuse new records, write everything queued and buffered, and stop the thread; safe to call again.

        Args:
            timeout_s: the longest to wait for the last segments.

        Returns:
            True when the thread has finished, False when ``timeout_s`` passed first (it goes on writing).
        """
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        atexit.unregister(self.close)
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            _log.warning("The %s log did not finish writing within %.1f s of close.", self.kind, timeout_s)
            return False
        return True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # The request path

    def _put(self, item: _T, records: int) -> bool:
        """Queue ``item`` (worth ``records`` records) unless the queue is full or closed; never waits."""
        with self._cond:
            if self._closing or len(self._queue) >= self._config.max_queued_records:
                if self._config.enabled:
                    self._dropped += records
                return False
            self._queue.append(item)
            if len(self._queue) in (1, _LINGER_ITEMS):  # the thread waits for a first item, then for a group
                self._cond.notify()
        return True

    # The writer thread

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(self._has_work, timeout=self._sleep_s())
                # Linger a moment so records are converted in groups, not one by one: far less CPU (and GIL)
                # per record under a steady trickle. Flushes and closes do not wait.
                self._cond.wait_for(self._batch_ready, timeout=_LINGER_S)
                items = list(self._queue)
                self._queue.clear()
                flush_to = self._flush_wanted
                closing = self._closing
            try:
                self._absorb(items)
                self._write_due(everything=closing or flush_to > self._flush_done)
            except Exception:  # a bug must not stop the log: count what was in hand as lost and go on
                _log.exception("The %s log lost up to %d queued items to an unexpected error.", self.kind, len(items))
                self._failed += sum(self._count(item) for item in items)
            with self._cond:
                self._flush_done = flush_to
                self._cond.notify_all()
                if closing and not self._queue:
                    return

    def _batch_ready(self) -> bool:
        return len(self._queue) >= _LINGER_ITEMS or self._closing or self._flush_wanted > self._flush_done

    def _has_work(self) -> bool:
        if self._queue or self._closing or self._flush_wanted > self._flush_done:
            return True
        now_s = time.monotonic()
        return any(self._age_due(segment, now_s) for segment in self._open.values())

    def _sleep_s(self) -> float | None:
        """Seconds until the oldest open segment is due, so a quiet log still writes it; None if none is open."""
        if not self._open:
            return None
        oldest_s = min(segment.opened_s for segment in self._open.values())
        return max(0.0, oldest_s + self._config.max_segment_age_s - time.monotonic())

    def _age_due(self, segment: _Segment, now_s: float) -> bool:
        return now_s - segment.opened_s >= self._config.max_segment_age_s

    def _absorb(self, items: list[_T]) -> None:
        """Convert ``items`` and add them to the open segments, writing each one that fills up."""
        for part in self._convert(items):
            if NAME.match(part.deployment):
                self._add(part)
            else:
                self._lose(len(part.ends), f"{part.deployment[:80]!r} is not a valid deployment name")

    def _add(self, part: Part) -> None:
        """Add ``part`` to its open segment, cut between records so no segment passes the row or byte limit
        (unless one record alone does: it then gets a segment of its own)."""
        key = (part.deployment, part.day)
        bytes_per_row = part.table.nbytes / max(part.table.num_rows, 1)
        start = 0  # the first record of `part` not yet placed
        while start < len(part.ends):
            segment = self._open.get(key)
            if segment is not None and not segment.schema.equals(part.table.schema):
                self._write(key)
                segment = None
            if segment is None:
                segment = self._open[key] = _Segment(part.table.schema, time.monotonic(), _time_at(part, start))
            base = part.ends[start - 1] if start else 0
            fit_rows = self._config.max_segment_rows - segment.rows
            if bytes_per_row:
                fit_rows = min(fit_rows, int((self._config.max_segment_bytes - segment.nbytes) // bytes_per_row))
            stop = bisect.bisect_right(part.ends, base + fit_rows, lo=start)
            if stop == start:
                if segment.records:
                    self._write(key)
                    continue
                stop = start + 1
            rows = part.ends[stop - 1] - base
            segment.tables.append(part.table.slice(base, rows))
            segment.rows += rows
            segment.nbytes += math.ceil(rows * bytes_per_row)
            segment.records += stop - start
            start = stop
            if segment.rows >= self._config.max_segment_rows or segment.nbytes >= self._config.max_segment_bytes:
                self._write(key)

    def _write_due(self, *, everything: bool) -> None:
        now_s = time.monotonic()
        for key in [key for key, segment in self._open.items() if everything or self._age_due(segment, now_s)]:
            self._write(key)

    def _write(self, key: tuple[str, str]) -> None:
        """Write the open segment of ``key`` and forget it; a failure is logged and its records counted as lost."""
        segment = self._open.pop(key)
        if not segment.rows:  # requests of no rows leave nothing to write
            self._written_records += segment.records
            return
        deployment, day_ = key
        path = f"{self.kind}/{deployment}/date={day_}/{segment.start_ms}-{os.getpid()}-{next(_SEGMENT_SEQ)}.parquet"
        try:
            self._store.write_bytes(path, _parquet_bytes(segment.tables))
        except Exception as exc:  # disk full, permissions, a store that is down: go on with the next segment
            _log.error(
                "The %s log could not write %s; %d records (%d rows) are lost: %s",
                self.kind,
                path,
                segment.records,
                segment.rows,
                exc,
                exc_info=not isinstance(exc, OSError | ShipyardError),  # a traceback only for the unexpected
            )
            self._failed += segment.records
            return
        self._segments += 1
        self._written_records += segment.records
        self._written_rows += segment.rows

    def _lose(self, records: int, why: str) -> None:
        """Count ``records`` that cannot be logged, warning at most once per `_WARN_EVERY_S`."""
        self._failed += records
        self._unwarned += records
        now_s = time.monotonic()
        if now_s - self._warned_s >= _WARN_EVERY_S:
            _log.warning("The %s log skipped %d record(s); the last because %s.", self.kind, self._unwarned, why)
            self._warned_s, self._unwarned = now_s, 0

    # For subclasses

    def _count(self, item: _T) -> int:
        """The records ``item`` stands for in the counters."""
        raise NotImplementedError  # pragma: no cover

    def _convert(self, items: list[_T]) -> Iterable[Part]:
        """The Arrow tables of ``items``; an item that cannot be converted goes to `_lose` instead."""
        raise NotImplementedError  # pragma: no cover


def day(time_ms: int) -> str:
    """The UTC date of ``time_ms``, as segment folders name it (``"2025-03-14"``)."""
    return time.strftime("%Y-%m-%d", time.gmtime(time_ms / 1000))


def time_type() -> Any:
    """The Arrow type of every ``time`` column: UTC milliseconds."""
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

    return pa.timestamp("ms", tz="UTC")


def require_arrow() -> None:
    """Raise `MissingExtra` unless pyarrow, numpy and pandas (the ``serving`` extra) are installed."""
    try:
        import numpy  # noqa: F401
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise MissingExtra(exc.name or "pyarrow", "serving") from exc


def _time_at(part: Part, record: int) -> int:
    """The time of ``part``'s ``record``-th record (a segment's name), or now for a record without rows."""
    row = part.ends[record - 1] if record else 0
    if row < part.table.num_rows:
        return int(part.table.column("time")[row].value)
    return int(time.time() * 1000)


def _parquet_bytes(tables: list[Any]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no type information

    sink = pa.BufferOutputStream()
    pq.write_table(pa.concat_tables(tables), sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())
