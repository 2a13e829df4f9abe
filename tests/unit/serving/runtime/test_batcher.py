"""The adaptive batcher: merging, splitting back, the no-wait policy for lone requests, overload and shutdown."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import InternalError, InvalidParameter, Overloaded
from shipyard.serving.runtime._batcher import AdaptiveBatcher, BatchingConfig

T = TypeVar("T")
GENEROUS_S = 5.0  # a bound no healthy run comes near; only a hang or a wrong wait crosses it


class DoublingModel:
    """Returns each row's ``row_id`` times two, so a row handed to the wrong caller shows.

    Every call records the frame it got and blocks until ``release`` is set (set it up front for a model that
    never blocks), so a test decides when a batch finishes.
    """

    def __init__(self, output: str = "ndarray", *, blocked: bool = True) -> None:
        self.output = output
        self.release = threading.Event()
        if not blocked:
            self.release.set()
        self.calls: list[pd.DataFrame] = []

    def predict(self, frame: pd.DataFrame) -> Any:
        self.calls.append(frame)
        assert self.release.wait(GENEROUS_S), "the test never released the model"
        assert not frame.isna().to_numpy().any(), "columns of different requests were mixed"
        doubled = frame["row_id"].to_numpy() * 2
        if self.output == "ndarray":
            return doubled
        if self.output == "ndarray2d":
            return np.column_stack([doubled, doubled + 1])
        if self.output == "series":
            return pd.Series(doubled, name="prediction")
        if self.output == "frame":
            return pd.DataFrame({"prediction": doubled, "plus_one": doubled + 1})
        if self.output == "dict":
            return {"prediction": doubled, "plus_one": list(doubled + 1)}
        return list(doubled)

    def rows_per_call(self) -> list[int]:
        return [len(frame) for frame in self.calls]


def run(test: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(asyncio.wait_for(test(), GENEROUS_S))


def frame_of(start: int, rows: int, **extra: list[Any]) -> pd.DataFrame:
    return pd.DataFrame({"row_id": list(range(start, start + rows)), **extra})


def requests_of(sizes: list[int]) -> list[pd.DataFrame]:
    frames, start = [], 1000
    for size in sizes:
        frames.append(frame_of(start, size))
        start += size
    return frames


def doubled(frame: pd.DataFrame) -> list[int]:
    return [int(v) * 2 for v in frame["row_id"]]


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.001)


async def start_busy(batcher: AdaptiveBatcher, rows: int = 3) -> asyncio.Task[Any]:
    """Send one request and return once the model is running it, so the next requests queue behind it."""
    task = asyncio.ensure_future(batcher.predict(frame_of(0, rows)))
    await until(lambda: batcher.snapshot().in_flight_rows == rows)
    return task


async def queue_all(batcher: AdaptiveBatcher, frames: list[pd.DataFrame]) -> list[asyncio.Task[Any]]:
    before = batcher.snapshot().queued_requests
    tasks = [asyncio.ensure_future(batcher.predict(frame)) for frame in frames]
    await until(lambda: batcher.snapshot().queued_requests == before + len(frames))
    return tasks


def test_lone_request_is_dispatched_at_once_unbatched() -> None:
    model = DoublingModel(blocked=False)
    frame = frame_of(0, 4)

    async def scenario() -> Any:
        # A minute of max wait: had the lone request waited for company, the GENEROUS_S timeout would fire.
        batcher = AdaptiveBatcher(model.predict, BatchingConfig(max_wait_ms=60_000))
        first = await batcher.predict(frame)
        second = await batcher.predict(frame)  # the first found no dispatcher yet; this one finds it idle
        stats = batcher.snapshot()
        await batcher.close()
        return (
            [first.tolist(), second.tolist()],
            model.calls[1] is frame,
            stats.immediate_dispatches,
            stats.waited_dispatches,
        )

    assert ([doubled(frame)] * 2, True, 2, 0) == run(scenario)


def test_concurrent_requests_are_merged_into_one_predict_call() -> None:
    model = DoublingModel()
    frames = requests_of([1 + i % 4 for i in range(50)])

    async def scenario() -> list[int]:
        batcher = AdaptiveBatcher(model.predict)
        busy = await start_busy(batcher, rows=3)
        tasks = await queue_all(batcher, frames)
        model.release.set()
        await asyncio.gather(busy, *tasks)
        await batcher.close()
        return model.rows_per_call()

    assert [3, sum(len(f) for f in frames)] == run(scenario)


@pytest.mark.parametrize("output", ["ndarray", "ndarray2d", "series", "frame", "list", "dict"])
def test_each_caller_gets_exactly_its_own_rows(output: str) -> None:
    model = DoublingModel(output)
    frames = requests_of([1 + (i * 7) % 5 for i in range(50)])
    alone = DoublingModel(output, blocked=False)
    expected = [alone.predict(frame) for frame in frames]

    async def scenario() -> list[Any]:
        batcher = AdaptiveBatcher(model.predict)
        busy = await start_busy(batcher)
        tasks = await queue_all(batcher, frames)
        model.release.set()
        await busy
        results = await asyncio.gather(*tasks)
        await batcher.close()
        return results

    actual = run(scenario)
    assert 2 == len(model.calls)
    for want, got in zip(expected, actual, strict=True):
        if isinstance(want, dict):
            assert {k: list(np.asarray(v)) for k, v in want.items()} == {k: list(np.asarray(v)) for k, v in got.items()}
        elif isinstance(want, pd.DataFrame | pd.Series):
            assert want.equals(got)
        else:
            assert np.asarray(want).tolist() == np.asarray(got).tolist()


def test_batches_never_exceed_max_batch_rows() -> None:
    model = DoublingModel()
    frames = requests_of([3] * 20)

    async def scenario() -> tuple[list[int], list[list[int]]]:
        batcher = AdaptiveBatcher(model.predict, BatchingConfig(max_batch_rows=10))
        busy = await start_busy(batcher, rows=1)
        tasks = await queue_all(batcher, frames)
        model.release.set()
        await busy
        results = await asyncio.gather(*tasks)
        await batcher.close()
        return model.rows_per_call(), [r.tolist() for r in results]

    rows_per_call, results = run(scenario)
    assert ([1] + [9] * 6 + [6], [doubled(f) for f in frames]) == (rows_per_call, results)


def test_request_larger_than_max_batch_rows_runs_alone_unsplit() -> None:
    model = DoublingModel()
    frames = [frame_of(100, 2), frame_of(200, 15), frame_of(300, 2)]

    async def scenario() -> list[int]:
        batcher = AdaptiveBatcher(model.predict, BatchingConfig(max_batch_rows=10))
        busy = await start_busy(batcher, rows=1)
        tasks = await queue_all(batcher, frames)
        model.release.set()
        await asyncio.gather(busy, *tasks)
        await batcher.close()
        return model.rows_per_call()

    assert [1, 2, 15, 2] == run(scenario)


async def _merge_two_requests(batcher: AdaptiveBatcher, model: DoublingModel) -> None:
    """Leave the batcher just after a merged batch: the state in which it expects company."""
    busy = await start_busy(batcher, rows=1)
    tasks = await queue_all(batcher, [frame_of(10, 1), frame_of(20, 1)])
    model.release.set()
    await asyncio.gather(busy, *tasks)


def test_lone_request_after_a_merged_batch_waits_for_company_at_most_max_wait() -> None:
    model = DoublingModel()

    async def scenario() -> tuple[float, int, int]:
        batcher = AdaptiveBatcher(model.predict, BatchingConfig(max_wait_ms=50))
        await _merge_two_requests(batcher, model)
        started = time.perf_counter()
        await batcher.predict(frame_of(30, 1))
        elapsed_s = time.perf_counter() - started
        stats = batcher.snapshot()
        await batcher.close()
        return elapsed_s, stats.waited_dispatches, stats.batches

    elapsed_s, waited, batches = run(scenario)
    assert (1, 3) == (waited, batches)
    assert elapsed_s < GENEROUS_S


def test_only_the_first_lone_request_after_load_pays_the_wait() -> None:
    model = DoublingModel()

    async def scenario() -> tuple[int, int]:
        batcher = AdaptiveBatcher(model.predict, BatchingConfig(max_wait_ms=20))
        await _merge_two_requests(batcher, model)
        await batcher.predict(frame_of(30, 1))
        before = batcher.snapshot().waited_dispatches
        await batcher.predict(frame_of(40, 1))
        after = batcher.snapshot().waited_dispatches
        await batcher.close()
        return before, after

    assert (1, 1) == run(scenario)


def test_waiting_for_company_ends_once_a_full_batch_is_queued() -> None:
    model = DoublingModel()

    async def scenario() -> list[int]:
        # A minute of max wait: only a full batch can end the wait before the GENEROUS_S timeout.
        batcher = AdaptiveBatcher(model.predict, BatchingConfig(max_wait_ms=60_000, max_batch_rows=4))
        await _merge_two_requests(batcher, model)
        await asyncio.gather(*(batcher.predict(frame_of(50 + i, 1)) for i in range(4)))
        await batcher.close()
        return model.rows_per_call()

    assert [1, 2, 4] == run(scenario)


def test_queue_past_its_bound_answers_overloaded_with_retry_after() -> None:
    model = DoublingModel()

    async def scenario() -> tuple[Overloaded, int, list[list[int]]]:
        batcher = AdaptiveBatcher(model.predict, BatchingConfig(max_queued_rows=10))
        busy = await start_busy(batcher)
        tasks = await queue_all(batcher, [frame_of(100, 5), frame_of(200, 5)])
        with pytest.raises(Overloaded) as refused:
            await batcher.predict(frame_of(300, 1))
        model.release.set()
        await busy
        results = [r.tolist() for r in await asyncio.gather(*tasks)]
        rejections = batcher.snapshot().overload_rejections
        await batcher.close()
        return refused.value, rejections, results

    error, rejections, results = run(scenario)
    assert (503, "TEMPORARILY_UNAVAILABLE", True, 1, [doubled(frame_of(100, 5)), doubled(frame_of(200, 5))]) == (
        error.http_status,
        error.error_code,
        error.retry_after_s >= 1,
        rejections,
        results,
    )


def test_request_larger_than_the_queue_bound_is_admitted_to_an_empty_queue() -> None:
    model = DoublingModel()

    async def scenario() -> list[int]:
        batcher = AdaptiveBatcher(model.predict, BatchingConfig(max_queued_rows=10))
        busy = await start_busy(batcher)
        big = asyncio.ensure_future(batcher.predict(frame_of(100, 25)))
        await until(lambda: batcher.snapshot().queued_rows == 25)
        model.release.set()
        await busy
        result = (await big).tolist()
        await batcher.close()
        return result

    assert doubled(frame_of(100, 25)) == run(scenario)


def test_batching_off_makes_one_predict_call_per_request() -> None:
    model = DoublingModel()
    frames = requests_of([2, 1, 3, 2, 1])

    async def scenario() -> tuple[list[int], bool]:
        batcher = AdaptiveBatcher(model.predict, BatchingConfig(enabled=False))
        busy = await start_busy(batcher, rows=1)
        tasks = await queue_all(batcher, frames)
        model.release.set()
        await asyncio.gather(busy, *tasks)
        await batcher.close()
        return model.rows_per_call(), all(a is b for a, b in zip(model.calls[1:], frames, strict=True))

    assert ([1, 2, 1, 3, 2, 1], True) == run(scenario)


def test_predict_error_reaches_only_the_callers_of_that_batch() -> None:
    class PoisonModel(DoublingModel):
        def predict(self, frame: pd.DataFrame) -> Any:
            result = super().predict(frame)
            if (frame["row_id"] < 0).any():
                raise ValueError("negative row id")
            return result

    model = PoisonModel()
    frames = [frame_of(-10, 2), frame_of(100, 2), frame_of(200, 2), frame_of(300, 2)]

    async def scenario() -> list[Any]:
        batcher = AdaptiveBatcher(model.predict, BatchingConfig(max_batch_rows=4))
        busy = await start_busy(batcher, rows=1)
        tasks = await queue_all(batcher, frames)
        model.release.set()
        outcomes = await asyncio.gather(busy, *tasks, return_exceptions=True)
        await batcher.close()
        return [o if isinstance(o, BaseException) else o.tolist() for o in outcomes]

    outcomes = run(scenario)
    assert [1, 4, 4] == model.rows_per_call()
    assert ["ok", "ValueError", "ValueError", "ok", "ok"] == [
        type(o).__name__ if isinstance(o, BaseException) else "ok" for o in outcomes
    ]
    assert [doubled(frame_of(200, 2)), doubled(frame_of(300, 2))] == outcomes[3:]


def test_request_with_other_columns_runs_apart_and_does_not_poison_the_batch() -> None:
    model = DoublingModel()
    same_a, other, same_b = frame_of(100, 2), frame_of(200, 3, extra=[1, 2, 3]), frame_of(300, 2)
    retyped = pd.DataFrame({"row_id": [400.0, 401.0]})

    async def scenario() -> list[list[int]]:
        batcher = AdaptiveBatcher(model.predict)
        busy = await start_busy(batcher, rows=1)
        tasks = await queue_all(batcher, [same_a, other, same_b, retyped])
        model.release.set()
        await busy
        results = [r.tolist() for r in await asyncio.gather(*tasks)]
        await batcher.close()
        return results

    results = run(scenario)
    assert [1, 4, 3, 2] == model.rows_per_call()
    assert [doubled(same_a), doubled(other), doubled(same_b), [800, 802]] == results


def test_output_not_one_per_row_fails_that_batch_with_a_clear_error() -> None:
    model = DoublingModel()

    def summing(frame: pd.DataFrame) -> Any:
        return np.asarray(model.predict(frame)[:1])

    async def scenario() -> BaseException:
        batcher = AdaptiveBatcher(summing)
        busy = await start_busy(batcher, rows=1)
        tasks = await queue_all(batcher, [frame_of(10, 2), frame_of(20, 2)])
        model.release.set()
        await busy
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        await batcher.close()
        assert outcomes[0] is outcomes[1]
        assert isinstance(outcomes[0], BaseException)
        return outcomes[0]

    error = run(scenario)
    assert (InternalError, True) == (type(error), "1 rows for a batch of 4 rows" in str(error))


def test_cancelled_caller_rows_are_never_predicted() -> None:
    model = DoublingModel()

    async def scenario() -> tuple[list[int], int]:
        batcher = AdaptiveBatcher(model.predict)
        busy = await start_busy(batcher, rows=1)
        gone, kept = await queue_all(batcher, [frame_of(10, 5), frame_of(20, 2)])
        gone.cancel()
        model.release.set()
        await busy
        await kept
        await batcher.close()
        return model.rows_per_call(), batcher.snapshot().queued_rows

    assert ([1, 2], 0) == run(scenario)


def test_close_finishes_queued_work_then_refuses_new_requests() -> None:
    model = DoublingModel()
    frames = requests_of([2, 3, 1])

    async def scenario() -> tuple[list[list[int]], str, str]:
        batcher = AdaptiveBatcher(model.predict, BatchingConfig(max_wait_ms=60_000), name="churn")
        busy = await start_busy(batcher)
        tasks = await queue_all(batcher, frames)
        closing = asyncio.ensure_future(batcher.close())
        await until(lambda: batcher.closed)
        with pytest.raises(Overloaded) as during:
            await batcher.predict(frame_of(500, 1))
        model.release.set()
        await closing
        results = [r.tolist() for r in await asyncio.gather(busy, *tasks)]
        with pytest.raises(Overloaded) as after:
            await batcher.predict(frame_of(600, 1))
        return results, during.value.message, after.value.message

    results, during, after = run(scenario)
    expected_message = "Model 'churn' is shutting down and accepts no new requests."
    assert ([doubled(frame_of(0, 3)), *[doubled(f) for f in frames]], expected_message, expected_message) == (
        results,
        during,
        after,
    )


def test_snapshot_reports_queue_depth_in_flight_rows_and_batch_sizes() -> None:
    model = DoublingModel()

    async def scenario() -> tuple[tuple[int, int, int], tuple[int, int, int, int, int]]:
        batcher = AdaptiveBatcher(model.predict)
        busy = await start_busy(batcher, rows=3)
        tasks = await queue_all(batcher, [frame_of(10, 3), frame_of(20, 4)])
        during = batcher.snapshot()
        model.release.set()
        await asyncio.gather(busy, *tasks)
        after = batcher.snapshot()
        await batcher.close()
        histogram = dict(after.batch_rows_histogram)
        return (
            (during.queued_requests, during.queued_rows, during.in_flight_rows),
            (after.batches, after.requests, after.rows, histogram[4], histogram[8]),
        )

    assert ((2, 7, 3), (2, 3, 10, 1, 2)) == run(scenario)


@pytest.mark.parametrize(
    "config",
    [{"max_batch_rows": 0}, {"max_wait_ms": -1}, {"max_wait_ms": float("inf")}, {"max_queued_rows": 0}],
)
def test_config_rejects_impossible_bounds(config: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameter):
        BatchingConfig(**config)
