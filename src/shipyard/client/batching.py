"""Background metric logging: the training loop only appends to a queue; a thread sends batches."""

from __future__ import annotations

import atexit
import itertools
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable

from shipyard.client._backend import Backend
from shipyard.errors import ShipyardError, StoreUnavailable
from shipyard.tracking.validation import MetricColumns

__all__ = ["BackgroundLogger"]

_log = logging.getLogger("shipyard.client")
_MAX_BACKOFF_S = 10.0


class BackgroundLogger:
    """Queues metric points and sends them in batches from a daemon thread.

    Points are flushed on a timer, when ``flush()`` is called (run end does), and at interpreter exit.
    A transient failure (server down, store busy) is retried with exponential back-off, keeping the points;
    since the store ignores an identical point logged twice, a retried batch never duplicates data.
    A permanent failure (bad data, deleted run) is kept and raised by the next ``flush()``.

    Args:
        backend: where batches go.
        flush_interval_s: the timer.
        sleep: the back-off sleeper (tests may shorten it).
    """

    def __init__(
        self, backend: Backend, *, flush_interval_s: float = 1.0, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._backend = backend
        self._interval = flush_interval_s
        self._sleep = sleep
        # One entry per logging call: (sequence number, run id, timestamp_ms, step, {key: value}).
        self._queue: deque[tuple[int, str, int, int, dict[str, float]]] = deque()
        self._seq = itertools.count(1)
        self._last_seq = 0
        self._done_seq = 0
        self._errors: list[ShipyardError] = []
        self._cond = threading.Condition()
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="shipyard-logger", daemon=True)
        self._thread.start()
        _LOGGERS.add(self)

    def add(self, run_id: str, timestamp_ms: int, step: int, values: dict[str, float]) -> None:
        """Queue the points of one logging call (cheap: one append; ``values`` must not be changed after)."""
        seq = next(self._seq)
        self._queue.append((seq, run_id, timestamp_ms, step, values))
        self._last_seq = seq
        if len(self._queue) >= 20_000:
            self._wake.set()

    @property
    def pending(self) -> int:
        """Points queued and not yet confirmed by the backend."""
        return len(self._queue)

    def flush(self, timeout_s: float | None = None) -> None:
        """Block until every point queued before this call has been stored.

        Raises:
            ShipyardError: a batch was refused for a reason retrying cannot fix.
            TimeoutError: the points could not be delivered within ``timeout_s``.
        """
        target = self._last_seq
        self._wake.set()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while self._done_seq < target and not self._errors:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"{self.pending} metric points not yet delivered after {timeout_s}s")
                self._cond.wait(0.05 if remaining is None else min(remaining, 0.05))
                self._wake.set()
            if self._errors:
                error, self._errors = self._errors[0], []
                raise error

    def close(self, timeout_s: float = 60.0) -> None:
        """Flush what is queued (waiting at most ``timeout_s``) and stop the thread."""
        try:
            self.flush(timeout_s)
        finally:
            self._stopping = True
            self._wake.set()
            self._thread.join(timeout=5)
            _LOGGERS.discard(self)

    # ---------------------------------------------------------------------------------------------- worker
    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._drain()

    def _take(self, limit: int) -> tuple[int, dict[str, dict[str, MetricColumns]]]:
        """Pop calls until about ``limit`` points are taken; return the last sequence number and columns by run."""
        by_run: dict[str, dict[str, MetricColumns]] = {}
        queue = self._queue
        taken = 0
        last = 0
        while queue and taken < limit:
            last, run_id, stamp, step, values = queue.popleft()
            groups = by_run.get(run_id)
            if groups is None:
                groups = by_run[run_id] = {}
            for key, value in values.items():
                columns = groups.get(key)
                if columns is None:
                    columns = groups[key] = ([], [], [])
                columns[0].append(step)
                columns[1].append(stamp)
                columns[2].append(value)
            taken += len(values)
        return last, by_run

    def _drain(self) -> None:
        # The embedded store takes big batches; a remote server gets MLflow-sized requests (the backend splits).
        limit = max(self._backend.max_metrics_per_batch, 10_000)
        while self._queue:
            last, by_run = self._take(limit)
            for run_id, columns in by_run.items():
                self._send(run_id, columns)
            with self._cond:
                self._done_seq = max(self._done_seq, last)
                self._cond.notify_all()

    def _send(self, run_id: str, columns: dict[str, MetricColumns]) -> None:
        delay = 0.2
        points = sum(len(c[0]) for c in columns.values())
        while True:
            try:
                self._backend.log_metric_columns(run_id, columns)
                return
            except StoreUnavailable as exc:
                _log.warning("tracking backend unavailable, retrying %d points in %.1fs: %s", points, delay, exc)
                self._sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF_S)
            except ShipyardError as exc:
                _log.error("dropping %d metric points of run %s: %s", points, run_id, exc)
                with self._cond:
                    self._errors.append(exc)
                    self._cond.notify_all()
                return


_LOGGERS: weakref.WeakSet[BackgroundLogger] = weakref.WeakSet()


@atexit.register
def _flush_all_at_exit() -> None:
    for logger in list(_LOGGERS):
        try:
            logger.close(timeout_s=120.0)
        except (ShipyardError, TimeoutError) as exc:
            _log.error("shipyard: metrics not delivered at exit: %s", exc)
