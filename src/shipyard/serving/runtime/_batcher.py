"""The adaptive batcher: merges concurrent predict requests into one model call without taxing a lone request.

Policy (one batcher per model, per event loop; the model runs one batch at a time in its own thread):

1. **Idle model, empty queue: dispatch at once.** A request that finds nothing queued and the model idle is
   sent to ``predict`` immediately, as its own DataFrame: batching adds no wait and no copy.
2. **Busy model: queue, then send everything as the next batch.** Requests that arrive while a batch runs
   wait for it (they would have waited without batching too: the model runs in one thread), and the moment
   it finishes they leave together, up to ``max_batch_rows`` rows, in arrival order. This is where batching
   pays under load, and it needs no timer.
3. **Waiting for company only when company is expected.** When the most recent batch merged several
   requests (the server is under concurrent load), a request that finds the model idle waits up to
   ``max_wait_ms`` for others to join it, or less if a full batch gathers first. Once a batch goes out with
   a single request the load has passed and the next lone request is dispatched at once again, so at most
   one request per burst pays the wait, and never more than ``max_wait_ms``.

Batches are counted in rows, not requests. A request larger than ``max_batch_rows`` runs alone, never
split. Only requests with the same columns and dtypes share a batch: a request that differs waits for the
next batch instead of changing what its neighbours' rows look like to the model. Past ``max_queued_rows``
rows waiting, new requests get :class:`~shipyard.errors.Overloaded` (HTTP 503 with ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.errors import InternalError, InvalidParameter, Overloaded
from shipyard.serving.protocols._matrix import RowMatrix

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BATCH_ROWS_BUCKETS", "AdaptiveBatcher", "BatcherStats", "BatchingConfig"]

BATCH_ROWS_BUCKETS: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
"""Upper bounds (rows) of the batch-size histogram in :class:`BatcherStats`; a final ``+Inf`` bucket follows."""

_MAX_RETRY_AFTER_S = 60
_EWMA_WEIGHT = 0.2  # how fast the per-row predict time (the Retry-After estimate) follows the model


@dataclass(frozen=True)
class BatchingConfig:
    """How a model's requests are batched.

    Attributes:
        enabled: False sends every request to ``predict`` on its own (still one at a time, in order).
        max_batch_rows: the most rows one ``predict`` call receives (a larger single request runs alone).
        max_wait_ms: the longest a request that finds the model idle waits for others to join it; only
            spent when the previous batch merged several requests. 0 never waits.
        max_queued_rows: rows allowed to wait for the model; a request past this bound is refused with
            ``Overloaded`` (a request that finds the queue empty is always admitted).
    """

    enabled: bool = True
    max_batch_rows: int = 256
    max_wait_ms: float = 2.0
    max_queued_rows: int = 16_384

    def __post_init__(self) -> None:
        if self.max_batch_rows < 1:
            raise InvalidParameter(f"max_batch_rows must be at least 1, got {self.max_batch_rows}.")
        if not (self.max_wait_ms >= 0 and math.isfinite(self.max_wait_ms)):
            raise InvalidParameter(f"max_wait_ms must be a finite number >= 0, got {self.max_wait_ms}.")
        if self.max_queued_rows < 1:
            raise InvalidParameter(f"max_queued_rows must be at least 1, got {self.max_queued_rows}.")


@dataclass(frozen=True)
class BatcherStats:
    """A point-in-time copy of a batcher's counters, for ``/metrics``.

    Attributes:
        batches: ``predict`` calls made so far.
        requests: requests sent to ``predict`` so far.
        rows: rows sent to ``predict`` so far (the sum of the batch-size histogram).
        failed_batches: ``predict`` calls that raised (or whose output could not be split back).
        immediate_dispatches: batches sent the moment the model was free, adding no wait.
        waited_dispatches: batches held back up to ``max_wait_ms`` for company.
        overload_rejections: requests refused because the queue was past ``max_queued_rows``.
        queued_requests: requests waiting for the model now.
        queued_rows: rows waiting for the model now (the queue depth).
        in_flight_rows: rows in the ``predict`` call running now (0 when the model is idle).
        batch_rows_histogram: cumulative ``(upper bound in rows, batches of at most that many rows)`` pairs,
            Prometheus-style, over ``BATCH_ROWS_BUCKETS`` and a final ``math.inf`` bucket equal to ``batches``.
    """

    batches: int
    requests: int
    rows: int
    failed_batches: int
    immediate_dispatches: int
    waited_dispatches: int
    overload_rejections: int
    queued_requests: int
    queued_rows: int
    in_flight_rows: int
    batch_rows_histogram: tuple[tuple[float, int], ...]


@dataclass(eq=False)
class _Pending:
    frame: Any
    rows: int
    future: asyncio.Future[Any]
    arrived_s: float
    _signature: Hashable = None

    @property
    def signature(self) -> Hashable:
        """What must match for two requests to share a batch: column labels, their order and their dtypes."""
        if self._signature is None:  # computed only when there is someone to compare with: lone requests skip it
            if isinstance(self.frame, RowMatrix):
                self._signature = ("matrix", self.frame.columns)
            else:
                self._signature = (tuple(self.frame.columns), tuple(self.frame.dtypes))
        return self._signature


class AdaptiveBatcher:
    """Merges concurrent ``predict`` requests for one model into batches (see the module docstring for the policy).

    Each request is a pandas DataFrame; requests in a batch are concatenated, the model is called once in a
    dedicated thread, and its output (a numpy array, a pandas Series or DataFrame, a list, or a dict of
    those) is split back by row counts, so every caller gets exactly its own rows, in order. A request that
    ran alone gets the model's output untouched. Pandas outputs of a merged batch come back with a fresh
    ``RangeIndex``. If ``predict`` raises, every caller in that batch gets the exception and no one else.

    Use one batcher per model and per event loop, and ``await close()`` on shutdown.

    Example:
        >>> batcher = AdaptiveBatcher(model.predict, BatchingConfig(max_batch_rows=512), name="churn/3")
        >>> predictions = await batcher.predict(frame)
        >>> await batcher.close()
    """

    def __init__(
        self,
        predict: Callable[[Any], Any],
        config: BatchingConfig | None = None,
        *,
        name: str = "model",
        predict_matrix: Callable[[Any], Any] | None = None,
    ) -> None:
        """Wrap ``predict`` (a function of one DataFrame); nothing starts until the first request.

        ``predict_matrix``, when given, predicts `RowMatrix` requests from their numpy values directly.
        """
        self._predict = predict
        self._predict_matrix = predict_matrix
        self.config = config or BatchingConfig()
        self.name = name
        self._max_wait_s = self.config.max_wait_ms / 1000
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"shipyard-predict-{name}")
        self._queue: deque[_Pending] = deque()
        self._in_flight: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._last_batch_requests = 0
        self._s_per_row = 0.0
        # counters (see BatcherStats)
        self._queued_rows = 0
        self._in_flight_rows = 0
        self._batches = 0
        self._requests = 0
        self._rows = 0
        self._failed_batches = 0
        self._immediate = 0
        self._waited = 0
        self._overload_rejections = 0
        self._bucket_counts = [0] * (len(BATCH_ROWS_BUCKETS) + 1)

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called: new requests are refused."""
        return self._closed

    async def predict(self, frame: pd.DataFrame) -> Any:
        """Predict on ``frame``'s rows, batched with whatever else is waiting; returns only this frame's output.

        Raises:
            Overloaded: more than ``max_queued_rows`` rows are already waiting, or the batcher is closed.
            Exception: whatever the model raised on the batch this request was part of.
        """
        if self._closed:
            raise Overloaded(f"Model '{self.name}' is shutting down and accepts no new requests.", retry_after_s=1)
        rows = len(frame)
        limit = self.config.max_queued_rows
        if self._queued_rows and self._queued_rows + rows > limit:
            self._overload_rejections += 1
            raise Overloaded(
                f"Model '{self.name}' is overloaded: {self._queued_rows} rows are waiting and the bound is {limit}; "
                "retry later.",
                retry_after_s=self._retry_after_s(),
            )
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():  # done: it died of a bug; a new one serves on
            self._task = loop.create_task(self._dispatch_forever(), name=f"shipyard-batcher-{self.name}")
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append(_Pending(frame, rows, future, loop.time()))
        self._queued_rows += rows
        self._wakeup.set()
        return await future

    async def close(self) -> None:
        """Finish the running batch and everything queued, then refuse new requests. Safe to call twice."""
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            await asyncio.shield(self._task)
        self._executor.shutdown(wait=False)

    def snapshot(self) -> BatcherStats:
        """The counters as they are now."""
        cumulative: list[tuple[float, int]] = []
        running = 0
        for bound, count in zip((*BATCH_ROWS_BUCKETS, math.inf), self._bucket_counts, strict=True):
            running += count
            cumulative.append((bound, running))
        return BatcherStats(
            batches=self._batches,
            requests=self._requests,
            rows=self._rows,
            failed_batches=self._failed_batches,
            immediate_dispatches=self._immediate,
            waited_dispatches=self._waited,
            overload_rejections=self._overload_rejections,
            queued_requests=len(self._queue),
            queued_rows=self._queued_rows,
            in_flight_rows=self._in_flight_rows,
            batch_rows_histogram=tuple(cumulative),
        )

    async def _dispatch_forever(self) -> None:
        try:
            while True:
                arrived_while_idle = False
                while not self._queue:
                    if self._closed:
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    arrived_while_idle = True
                waited = arrived_while_idle and self._expects_company()
                if waited:
                    await self._gather_company()
                batch = self._take_batch()
                if batch:
                    await self._run(batch, waited=waited)
        finally:
            # Only reached early if the task is cancelled (the loop is going away): nobody may hang.
            gone = Overloaded(f"Model '{self.name}' stopped before answering.", retry_after_s=1)
            for pending in (*self._in_flight, *self._queue):
                if not pending.future.done():
                    pending.future.set_exception(gone)
            self._queue.clear()
            self._queued_rows = 0

    def _expects_company(self) -> bool:
        return (
            self.config.enabled
            and self._max_wait_s > 0
            and self._last_batch_requests > 1
            and not self._closed
            and self._queued_rows < self.config.max_batch_rows
        )

    async def _gather_company(self) -> None:
        deadline = self._queue[0].arrived_s + self._max_wait_s
        try:
            async with asyncio.timeout_at(deadline):
                while self._queued_rows < self.config.max_batch_rows and not self._closed:
                    self._wakeup.clear()
                    await self._wakeup.wait()
        except TimeoutError:
            pass

    def _take_batch(self) -> list[_Pending]:
        """The next batch: the oldest live request, then later ones with its columns while rows fit."""
        queue = self._queue
        head: _Pending | None = None
        while queue and head is None:
            candidate = queue.popleft()
            self._queued_rows -= candidate.rows
            if not candidate.future.done():  # a cancelled caller's rows are dropped unseen
                head = candidate
        if head is None:
            return []
        batch, rows = [head], head.rows
        if not self.config.enabled:
            return batch
        skipped: list[_Pending] = []
        while queue and rows < self.config.max_batch_rows:
            pending = queue.popleft()
            if pending.future.done():
                self._queued_rows -= pending.rows
            elif pending.signature != head.signature:
                skipped.append(pending)  # other columns: it leads the next batch instead
            elif rows + pending.rows > self.config.max_batch_rows:
                queue.appendleft(pending)
                break
            else:
                self._queued_rows -= pending.rows
                batch.append(pending)
                rows += pending.rows
        queue.extendleft(reversed(skipped))
        return batch

    async def _run(self, batch: list[_Pending], *, waited: bool) -> None:
        loop = asyncio.get_running_loop()
        frames = [pending.frame for pending in batch]
        counts = [pending.rows for pending in batch]
        total = sum(counts)
        self._in_flight, self._in_flight_rows = batch, total
        self._record(len(batch), total, waited=waited)
        started_s = loop.time()
        try:
            outputs = await loop.run_in_executor(self._executor, self._predict_batch, frames, counts)
        except Exception as exc:
            self._failed_batches += 1
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
        else:
            for pending, output in zip(batch, outputs, strict=True):
                if not pending.future.done():
                    pending.future.set_result(output)
        # On cancellation _in_flight stays set, so _dispatch_forever can answer these callers.
        self._in_flight, self._in_flight_rows = [], 0
        per_row_s = (loop.time() - started_s) / max(total, 1)
        self._s_per_row = (
            per_row_s if not self._s_per_row else self._s_per_row + _EWMA_WEIGHT * (per_row_s - self._s_per_row)
        )

    def _predict_batch(self, frames: list[Any], counts: list[int]) -> list[Any]:
        """Runs in the model's thread: concatenate, predict once, split back."""
        if isinstance(frames[0], RowMatrix):  # the fast path: one numpy concatenate, one DataFrame per batch
            merged = frames[0] if len(frames) == 1 else RowMatrix.concat(frames)
            if self._predict_matrix is not None:
                output = self._predict_matrix(merged.values)
            else:
                output = self._predict(merged.to_frame())
            return [output] if len(frames) == 1 else _split(output, counts)
        if len(frames) == 1:
            return [self._predict(frames[0])]
        import pandas as pd

        output = self._predict(pd.concat(frames, ignore_index=True))
        return _split(output, counts)

    def _record(self, requests: int, rows: int, *, waited: bool) -> None:
        self._batches += 1
        self._requests += requests
        self._rows += rows
        self._last_batch_requests = requests
        if waited:
            self._waited += 1
        else:
            self._immediate += 1
        bucket = next((i for i, bound in enumerate(BATCH_ROWS_BUCKETS) if rows <= bound), len(BATCH_ROWS_BUCKETS))
        self._bucket_counts[bucket] += 1

    def _retry_after_s(self) -> int:
        """Seconds until the queue has likely drained, from the recent predict time per row (1 to 60)."""
        estimate = math.ceil((self._queued_rows + self._in_flight_rows) * self._s_per_row)
        return min(max(estimate, 1), _MAX_RETRY_AFTER_S)


def _split(output: Any, counts: Sequence[int]) -> list[Any]:
    """Cut a merged batch's output into one piece per request, by row counts."""
    import numpy as np

    if isinstance(output, dict):
        per_key = {key: _split(value, counts) for key, value in output.items()}
        return [{key: pieces[i] for key, pieces in per_key.items()} for i in range(len(counts))]
    total = sum(counts)
    if isinstance(output, np.ndarray) and output.ndim == 0:
        raise InternalError(f"The model returned a single value for a batch of {total} rows; expected one per row.")
    if not isinstance(output, np.ndarray | list | tuple) and not hasattr(output, "iloc"):
        raise InternalError(
            f"The model returned a {type(output).__name__}, which cannot be split back into requests; expected a "
            "numpy array, a pandas Series or DataFrame, a list, or a dict of those."
        )
    if len(output) != total:
        raise InternalError(f"The model returned {len(output)} rows for a batch of {total} rows; expected one per row.")
    pieces: list[Any] = []
    start = 0
    for count in counts:
        stop = start + count
        if hasattr(output, "iloc"):
            pieces.append(output.iloc[start:stop].reset_index(drop=True))
        else:
            pieces.append(output[start:stop])
        start = stop
    return pieces
