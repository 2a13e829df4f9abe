"""Background logging: the training loop only appends to a queue; a thread sends it, and a journal keeps it.

One queue in logging order holds every kind of record (run start, params, tags, metric points, artifacts, run
end), so a run's records reach the server in the order they were logged. The queue lives in memory up to a
bound; past it, the oldest records spill to this process's journal on disk (``_journal.py``) and are read back
in order. A server that is away is retried with back-off and nothing is dropped; at exit, what could not be sent
is left in the journal for the next process using the same tracking URI, or for ``shipyard sync``.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import sys
import threading
import time
import weakref
from collections import deque
from pathlib import Path
from typing import Any

from shipyard._retry import RetryPolicy
from shipyard.client._backend import Backend
from shipyard.client._journal import (
    ARTIFACT,
    METRICS,
    PARAMS,
    TAGS,
    Journal,
    Record,
    leftover_journals,
    record_points,
)
from shipyard.client._sender import Sender, is_transient, replay
from shipyard.errors import ShipyardError
from shipyard.tracking.entities import Run

__all__ = ["BackgroundLogger"]

_log = logging.getLogger("shipyard.client")
# The queue retries for as long as it runs (nothing is dropped), so the policy counts no attempts.
_BACKOFF = RetryPolicy(first_s=0.2, max_s=10.0, retries=None)
_HEALTHY_WITHIN_S = 5.0  # a backend that stored nothing queued for longer may hang: do not call it directly
_WAITED_BACKOFF_S = 0.5  # the longest back-off while a caller waits (at exit, say) for the server to return
# Memory a queued record takes, measured with tracemalloc: a metric record is ~430 bytes plus ~40 per value.
_RECORD_BYTES = 430
_VALUE_BYTES = 40
_CHECK_EVERY = 1024  # records between two checks of the bound (a check samples _SAMPLE records: a few µs)
_SAMPLE = 32
_BIG_BATCH = 20_000  # queued records that wake the sender before its timer


def _record_bytes(record: Record) -> int:
    kind, body = record[1], record[3]
    if kind == METRICS:
        return _RECORD_BYTES + _VALUE_BYTES * len(body[2])
    if kind in (PARAMS, TAGS):
        return _RECORD_BYTES + sum(120 + len(k) + len(v) for k, v in body)
    return _RECORD_BYTES * 4


class BackgroundLogger:
    """Queues logging records and sends them from a daemon thread, in order; spills to a journal past a bound.

    Records are sent on a timer, when a caller waits (``flush``, ``wait_for``), and at interpreter exit. A
    transient failure (server away, store busy) is retried with exponential back-off, keeping the records; each
    kind of record is idempotent on the server (see ``_sender.py``), so a record sent twice is stored once. A
    permanent failure (bad data, deleted run) drops the records concerned and is raised by the next ``flush()``.

    Args:
        backend: where records go. For a server, a client without retries of its own (``fail_fast``).
        flush_interval_s: the timer.
        journal_dir: this tracking URI's journal folder; None keeps everything in memory (no bound, no journal).
        tracking_label: the tracking URI as shown to people (journal header and the message at exit).
        max_queue_bytes: about how much memory the queue may take before it spills to the journal.
        exit_timeout_s: at exit, how long to keep sending without progress before keeping the rest.
        replay_leftovers: send, in a second thread, journals that earlier processes left in ``journal_dir``.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        flush_interval_s: float = 1.0,
        journal_dir: Path | None = None,
        tracking_label: str = "",
        max_queue_bytes: int = 64 << 20,
        exit_timeout_s: float = 10.0,
        replay_leftovers: bool = True,
    ) -> None:
        self._backend = backend
        self._interval = flush_interval_s
        self.journal_dir = journal_dir
        self.tracking_label = tracking_label
        self.exit_timeout_s = exit_timeout_s
        self._max_bytes = max_queue_bytes if journal_dir is not None else sys.maxsize
        self._pid = os.getpid()
        self._queue: deque[Record] = deque()
        self._seq = itertools.count(1)
        self._last_seq = 0
        # The queue's length at which a producer next checks the bound: every _CHECK_EVERY records, or every
        # eighth of what the bound holds if that is fewer, so the check costs little and the bound holds.
        self._check_step = 16  # until the first check has measured the records
        self._check_at = 16
        self._lock = threading.Lock()  # the queue's head, the records in flight and the journal
        self._inflight: list[Record] = []
        self._inflight_journaled = False  # the records in flight are in the journal too
        self._journal: Journal | None = None
        self._journal_broken = False
        self._journal_offset = 0  # where reading back spilled records resumes
        self._journal_unread = 0  # records spilled and not yet read back
        self._journal_last = 0  # highest sequence number written to the journal
        self._journal_base = 0  # the journal's size with nothing to send in it (header and run-id mappings)
        self._cond = threading.Condition()  # progress: the fields below
        self._done_seq = 0
        self._progress_at = time.monotonic()
        self._failures = 0
        self._offline_since: float | None = None
        self._waiters = 0  # callers in wait_for: the back-off is kept short while someone waits
        self._errors: list[ShipyardError] = []
        self._artifacts_queued: dict[str, int] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._closed = False
        self._sender = Sender(backend, on_map=self._journal_map)
        self._replayed = threading.Event()  # set once earlier processes' journals are sent (or given up on)
        self._thread = threading.Thread(target=self._run, name="shipyard-logger", daemon=True)
        self._thread.start()
        if replay_leftovers and journal_dir is not None:
            threading.Thread(target=self._replay_leftovers, name="shipyard-journal-replay", daemon=True).start()
        else:
            self._replayed.set()
        _LOGGERS.add(self)

    # ------------------------------------------------------------------------------------------ producers
    def add(
        self, run_id: str, timestamp_ms: int, step: int, values: dict[str, float], model_id: str | None = None
    ) -> None:
        """Queue the points of one logging call (cheap: one append; ``values`` must not be changed after)."""
        seq = next(self._seq)
        queue = self._queue
        queue.append((seq, METRICS, run_id, (timestamp_ms, step, values, model_id)))
        self._last_seq = seq
        if len(queue) >= self._check_at:
            self._check_bound()

    def add_record(self, kind: str, run_id: str, body: Any) -> int:
        """Queue one record of another kind (see ``_journal.py``); its sequence number, for ``wait_for``."""
        seq = next(self._seq)
        record = (seq, kind, run_id, body)
        if kind == ARTIFACT:
            with self._cond:
                self._artifacts_queued[run_id] = self._artifacts_queued.get(run_id, 0) + 1
        self._queue.append(record)
        self._last_seq = seq
        if len(self._queue) >= self._check_at:
            self._check_bound()
        self._wake.set()
        return seq

    def stash(self, path: Path, *, move: bool = False) -> Path:
        """Keep a copy of a file to upload later (in this process's journal blobs); the copy's path.

        Raises:
            OSError: the journal folder cannot be written (then the caller has no safe place for the file).
        """
        with self._lock:
            return self._open_journal().stash(path, move=move)

    def _check_bound(self) -> None:
        """Every few thousand records: wake the sender for a big batch, and keep the queue within its bound.

        The sender thread spills (the loop pays nothing); past twice the bound the producer does it itself, for a
        sender stuck in a long request.
        """
        size = len(self._queue)
        queued = self.queued_bytes()
        if queued:
            fits = self._max_bytes * size // queued
            self._check_step = max(16, min(_CHECK_EVERY, fits // 8))
        self._check_at = size + self._check_step
        if self._offline_since is None and size >= _BIG_BATCH:
            self._wake.set()
        if queued > self._max_bytes:
            self._wake.set()
            if queued > 2 * self._max_bytes:
                self._spill()

    def queued_bytes(self) -> int:
        """About how much memory the queue takes: its length times the size of its newest records."""
        queue = self._queue
        size = len(queue)
        if not size:
            return 0
        sample = [queue[-i] for i in range(1, min(size, _SAMPLE) + 1)]  # deque indexing is cheap near the ends
        return size * sum(map(_record_bytes, sample)) // len(sample)

    # ---------------------------------------------------------------------------------------------- state
    @property
    def pending(self) -> int:
        """Records queued (in memory, in flight or spilled) and not yet confirmed by the backend."""
        with self._cond:
            done = self._done_seq
        return len(self._queue) + self._journal_unread + sum(1 for r in self._inflight if r[0] > done)

    @property
    def last_seq(self) -> int:
        """The sequence number of the last record queued."""
        return self._last_seq

    def report_unreachable(self, exc: BaseException) -> None:
        """Note that a call made outside the queue found the backend unreachable (``reachable`` turns False)."""
        self._failed(exc, 0)

    @property
    def reachable(self) -> bool:
        """False while the backend fails (from the first failed attempt until one succeeds)."""
        return self._offline_since is None

    @property
    def healthy(self) -> bool:
        """Reachable, and either idle or storing records lately: a call made now should not hang."""
        if self._offline_since is not None:
            return False
        return not self.pending or time.monotonic() - self._progress_at < self._interval + _HEALTHY_WITHIN_S

    @property
    def journal_path(self) -> Path | None:
        """This process's journal, if it has one."""
        return self._journal.path if self._journal is not None else None

    def created_run(self, run_id: str) -> Run | None:
        """The run the server made for a queued creation, once it answered."""
        return self._sender.created.get(run_id)

    def refused(self, run_id: str) -> ShipyardError | None:
        """Why the server refused to create a queued run, if it did."""
        return self._sender.refused.get(run_id)

    def server_id(self, run_id: str) -> str:
        """The server's id of a run logged as ``run_id`` (they differ only for a server that ignores the SDK's)."""
        return self._sender.run_ids.get(run_id, run_id)

    def artifacts_queued(self, run_id: str) -> bool:
        """Whether artifact uploads of this run wait in the queue (a new one must queue behind them)."""
        return self._artifacts_queued.get(run_id, 0) > 0

    # ----------------------------------------------------------------------------------------------- waits
    def wait_for(
        self,
        seq: int,
        *,
        timeout_s: float | None = None,
        stall_s: float | None = None,
        until_unreachable: bool = False,
        raise_errors: bool = True,
    ) -> bool:
        """Wait until every record up to ``seq`` is stored; False if it gave up first.

        Args:
            seq: a sequence number from ``add_record`` (or the last one queued).
            timeout_s: give up after this long.
            stall_s: give up after this long without a record stored.
            until_unreachable: give up as soon as an attempt made after this call fails (the server is away).
            raise_errors: raise a permanent failure recorded since the last raise.

        Raises:
            ShipyardError: with ``raise_errors``, records were refused for a reason retrying cannot fix.
        """
        start = time.monotonic()
        self._wake.set()  # a sender backing off retries now
        with self._cond:
            failures = self._failures
            self._waiters += 1
            try:
                while self._done_seq < seq and not (raise_errors and self._errors):
                    now = time.monotonic()
                    if until_unreachable and self._failures > failures:
                        return False
                    if timeout_s is not None and now - start >= timeout_s:
                        return False
                    if stall_s is not None and now - max(start, self._progress_at) >= stall_s:
                        return False
                    if self._closed:
                        return False
                    self._cond.wait(0.05)
            finally:
                self._waiters -= 1
            if raise_errors and self._errors:
                error, self._errors = self._errors[0], []
                raise error
        return True

    def flush(self, timeout_s: float | None = None) -> None:
        """Block until every record queued before this call has been stored.

        Raises:
            ShipyardError: records were refused for a reason retrying cannot fix.
            TimeoutError: the records could not be delivered within ``timeout_s``.
        """
        if not self.wait_for(self._last_seq, timeout_s=timeout_s):
            raise TimeoutError(f"{self.pending} queued records not yet delivered after {timeout_s}s")

    def close(self, timeout_s: float = 10.0) -> int:
        """Send what is queued while the backend makes progress (giving up after ``timeout_s`` without any),
        then stop, leaving what is left in the journal. The number of records left there."""
        if os.getpid() != self._pid or self._closed:  # a forked child does not own the parent's queue
            return 0
        try:
            if self.wait_for(self._last_seq, stall_s=timeout_s, raise_errors=False):
                self._replayed.wait(timeout_s)  # the server is there: let an earlier process's journal finish too
        finally:
            kept = self._shut()
        _LOGGERS.discard(self)
        return kept

    def _shut(self) -> int:
        with self._lock:
            self._closed = True
            self._stopping.set()
            self._wake.set()
            with self._cond:
                done = self._done_seq
                self._cond.notify_all()
            inflight = [r for r in self._inflight if r[0] > done]
            # Records in flight that came from the journal (or were spilled) are in the file already; the rest,
            # and the queue, are newer than anything in it, so appending keeps the file in order.
            unsent = ([] if self._inflight_journaled else inflight) + list(self._queue)
            self._queue.clear()
            kept = len(unsent) + self._journal_unread + (len(inflight) if self._inflight_journaled else 0)
            if not kept:
                if self._journal is not None:
                    self._journal.remove()
                return 0
            try:
                journal = self._open_journal()
                journal.append(unsent)
                journal.ack(done)
                journal.sync()
                journal.close()
            except OSError as exc:
                print(f"shipyard: {kept} unsent logging records lost: cannot write a journal: {exc}", file=sys.stderr)
                return 0
            return kept

    # --------------------------------------------------------------------------------------------- journal
    def _open_journal(self) -> Journal:
        """This process's journal, created on first need (call with the lock held)."""
        if self._journal is None:
            if self.journal_dir is None:
                raise OSError("no journal folder is configured")
            self._journal = Journal.create(self.journal_dir, self.tracking_label)
            for logged, server in self._sender.run_ids.items():
                self._journal.add_map(logged, server)
            self._journal_offset = self._journal_base = self._journal.size
        return self._journal

    def _journal_map(self, logged_id: str, server_id: str) -> None:
        # Called by the sender thread: later records in the journal need the mapping to be replayed elsewhere.
        with self._lock:
            if self._journal is not None and not self._closed:
                self._journal.add_map(logged_id, server_id)

    def _spill(self) -> bool:
        """Move the oldest queued records to the journal until the queue is within half its bound."""
        with self._lock:
            if self._closed or self._journal_broken:
                return False
            queued = self.queued_bytes()
            if queued <= self._max_bytes // 2:
                return False
            keep = len(self._queue) * (self._max_bytes // 2) // queued  # records that fit in half the bound
            records = [self._queue.popleft() for _ in range(len(self._queue) - keep)]
            if not records:
                return False
            try:
                journal = self._open_journal()
                if self._inflight and not self._inflight_journaled and self._inflight[-1][0] > self._journal_last:
                    # The records being sent are older than these: write them first, so the file stays in order
                    # (reading back starts after them; they are acknowledged when their send succeeds).
                    journal.append(self._inflight)
                    self._inflight_journaled = True
                    if not self._journal_unread:
                        self._journal_offset = journal.size
                journal.append(records, sync=True)
            except OSError as exc:
                self._queue.extendleft(reversed(records))
                self._journal_broken = True
                _log.error("shipyard: cannot spill the logging queue to disk (%s); it will grow in memory", exc)
                return False
            self._journal_unread += len(records)
            self._journal_last = records[-1][0]
            self._check_at = len(self._queue) + self._check_step
            _log.info("shipyard: %d queued records spilled to %s", len(records), journal.path)
            return True

    # ---------------------------------------------------------------------------------------------- worker
    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                if self.queued_bytes() > self._max_bytes:
                    self._spill()
                self._drain()
            except Exception:  # never let the thread die: the records stay queued
                _log.exception("shipyard: the background logger failed; retrying")

    def _limit(self) -> int:
        # The embedded store takes big batches; a server gets MLflow-sized requests (the backend splits).
        return max(self._backend.max_metrics_per_batch, 10_000)

    def _take(self) -> list[Record]:
        with self._lock:
            if self._closed:
                return []
            limit = self._limit()
            if self._journal_unread and self._journal is not None:
                records, self._journal_offset = self._journal.read_from(self._journal_offset, limit)
                self._journal_unread = max(0, self._journal_unread - len(records)) if records else 0
                journaled = True
            else:
                records = []
                points = 0
                queue = self._queue
                while queue and points < limit:
                    record = queue.popleft()
                    records.append(record)
                    points += record_points(record)
                self._check_at = min(self._check_at, len(queue) + self._check_step)
                journaled = False
            self._inflight = records
            self._inflight_journaled = journaled
            return records

    def _drain(self) -> None:
        while not self._stopping.is_set():
            records = self._take()
            if not records:
                return
            for segment in self._sender.segments(records):
                if not self._deliver(segment):
                    return
            with self._lock:
                self._inflight = []
                self._inflight_journaled = False
                journal = self._journal
                if journal is not None and not self._closed and not self._journal_unread:
                    with self._cond:
                        drained = self._done_seq >= self._journal_last
                    if drained and journal.size > self._journal_base:
                        journal.reset()  # all acknowledged: start the file afresh, keeping the run-id mappings
                        for logged, server in self._sender.run_ids.items():
                            journal.add_map(logged, server)
                        self._journal_offset = self._journal_base = journal.size

    def _deliver(self, segment: list[Record]) -> bool:
        """Send one segment, retrying transient failures with back-off; False if the logger stopped first."""
        failures = 0
        while True:
            if self._stopping.is_set():
                return False
            try:
                errors, blobs = self._sender.send(segment)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                failures += 1
                self._failed(exc, len(segment))
                self._pause(_BACKOFF.delay_s(failures))
                continue
            self._delivered(segment, errors, blobs)
            return True

    def _failed(self, exc: BaseException, records: int) -> None:
        with self._cond:
            self._failures += 1
            first = self._offline_since is None
            if first:
                self._offline_since = time.monotonic()
            self._cond.notify_all()
        if first:
            _log.warning(
                "shipyard: tracking backend unavailable (%s); logging continues, %d records queued, retrying",
                exc,
                self.pending or records,
            )
        if not isinstance(exc, ShipyardError):
            _log.debug("shipyard: unexpected error while sending", exc_info=exc)

    def _delivered(self, segment: list[Record], errors: list[ShipyardError], blobs: list[Path]) -> None:
        last = segment[-1][0]
        with self._lock:
            if self._closed:  # the exit path has written what was in flight to the journal: leave it as is
                return
            if self._journal is not None and self._journal_last >= segment[0][0]:
                self._journal.ack(last)
            for blob in blobs:
                blob.unlink(missing_ok=True)
        with self._cond:
            if self._offline_since is not None:
                _log.warning(
                    "shipyard: tracking backend back after %.0fs; sending queued records",
                    time.monotonic() - self._offline_since,
                )
                self._offline_since = None
            self._done_seq = max(self._done_seq, last)
            self._progress_at = time.monotonic()
            self._errors.extend(errors)
            for record in segment:
                if record[1] == ARTIFACT:
                    self._artifacts_queued[record[2]] = self._artifacts_queued.get(record[2], 1) - 1
            self._cond.notify_all()

    def _pause(self, delay: float) -> None:
        """Back off for ``delay`` seconds; a waiter cuts it short, a request to spill is served meanwhile."""
        end = time.monotonic() + (min(delay, _WAITED_BACKOFF_S) if self._waiters else delay)
        while not self._stopping.is_set():
            remaining = end - time.monotonic()
            if remaining <= 0 or not self._wake.wait(remaining):
                return
            self._wake.clear()
            if not (self.queued_bytes() > self._max_bytes and self._spill()):
                return

    # ------------------------------------------------------------------------------------ earlier journals
    def _replay_leftovers(self) -> None:
        """Send the journals earlier processes left for this tracking URI (one process at a time each)."""
        try:
            self._replay_journals()
        finally:
            self._replayed.set()

    def _replay_journals(self) -> None:
        assert self.journal_dir is not None
        try:
            paths = leftover_journals(self.journal_dir)
        except OSError:
            return
        for path in paths:
            if self._stopping.is_set():
                return
            if self._journal is not None and path == self._journal.path:
                continue
            journal = Journal.open_leftover(path)
            if journal is None:
                continue  # a live process owns it, or another is replaying it
            try:
                stats = replay(journal, Sender(self._backend), retry=self._replay_retry)
            except Exception as exc:
                _log.warning("shipyard: journal %s not fully sent yet (%s); it is kept", path, exc)
                return
            _log.warning(
                "shipyard: sent %d records (%d metric points) left by an earlier process in %s",
                stats.records,
                stats.points,
                path,
            )

    def _replay_retry(self, _exc: BaseException, attempt: int) -> bool:
        self._stopping.wait(_BACKOFF.delay_s(attempt + 1))
        return not self._stopping.is_set()


_LOGGERS: weakref.WeakSet[BackgroundLogger] = weakref.WeakSet()


def close_and_report(logger: BackgroundLogger, timeout_s: float) -> int:
    """Close a logger as the exit hook does: send while progress is made, keep the rest, and say so in one line."""
    kept = logger.close(timeout_s)
    if kept:
        print(
            f"shipyard: {kept} logging records could not be sent to {logger.tracking_label} and are kept in "
            f"{logger.journal_dir}; the next Shipyard process logging there sends them, or run: "
            f"shipyard sync --tracking-uri {logger.tracking_label}",
            file=sys.stderr,
        )
    return kept


@atexit.register
def _flush_all_at_exit() -> None:
    for logger in list(_LOGGERS):
        try:
            close_and_report(logger, logger.exit_timeout_s)
        except Exception as exc:  # an exit hook must not raise
            _log.error("shipyard: logging queue not closed cleanly at exit: %s", exc)
