"""The prediction log and ground-truth feedback: Parquet segments in the artifact store, written off the request path.

Every prediction a server makes becomes one `PredictionRecord`; `PredictionLog.append` puts it in a bounded
queue and returns at once. A daemon thread turns queued records into Arrow tables (one log row per predicted
row) and writes them as Parquet segments to
``{uri}/predictions/{deployment}/date=YYYY-MM-DD/{start_ms}-{pid}-{seq}.parquet``, rolled by rows, estimated
bytes, age and schema. A segment appears whole or not at all (the artifact store writes atomically). When the
thread falls behind, `append` drops the record and counts it in `PredictionLog.dropped`; it never waits.

Labels posted later (``POST /v1/feedback``, checked by `parse_feedback`) go through a `FeedbackLog` the same
way, to ``{uri}/feedback/...``. `read_predictions`, `read_feedback` and `join_feedback` bring them together.

Example:
    >>> log = PredictionLog(PredictionLogConfig(uri="/data/predlog"))  # doctest: +SKIP
    >>> record = PredictionRecord("r1", now_ms, "churn", "blue", "churn", "3", frame, preds, 4.2)  # doctest: +SKIP
    >>> log.append(record)  # doctest: +SKIP
    True
    >>> log.close()  # doctest: +SKIP
    True
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterator, Sequence
from typing import Any, NamedTuple

from shipyard.artifacts import ArtifactStore
from shipyard.predlog._arrow import Blocks, blocks, prediction_table
from shipyard.predlog._feedback import MAX_FEEDBACK_ITEMS, FeedbackRecord, feedback_table, parse_feedback
from shipyard.predlog._read import join_feedback, read_feedback, read_predictions
from shipyard.predlog._segments import Part, PredictionLogConfig, SegmentLog, day

__all__ = [
    "MAX_FEEDBACK_ITEMS",
    "FeedbackLog",
    "FeedbackRecord",
    "PredictionLog",
    "PredictionLogConfig",
    "PredictionRecord",
    "join_feedback",
    "parse_feedback",
    "read_feedback",
    "read_predictions",
]


class PredictionRecord(NamedTuple):
    """One served request, as the prediction log keeps it. Cheap to build: nothing is copied or converted.

    Attributes:
        request_id: the id the server gave the request; feedback names it.
        time_ms: when the request arrived, in milliseconds since the epoch.
        deployment: the deployment's name (letters, digits, ``_``, ``.``, ``-``); it names the log's folder.
        variant: the variant (route) that answered.
        model_name: the registered model's name.
        model_version: its version.
        inputs: the model's input, usually a pandas DataFrame (a numpy array or a dict of arrays also works).
            It is not copied: do not change it after `PredictionLog.append`.
        outputs: what the model returned, one entry per input row: a numpy array (1-D or 2-D), a pandas Series
            or DataFrame, a list, or a dict of those.
        latency_ms: how long the request took.
        shadow: whether this was a shadow prediction (made, logged, not returned to the caller).
    """

    request_id: str
    time_ms: int
    deployment: str
    variant: str
    model_name: str
    model_version: str
    inputs: Any
    outputs: Any
    latency_ms: float
    shadow: bool = False


class PredictionLog(SegmentLog[PredictionRecord]):
    """The prediction log of a serving process: `append` on the request path, Parquet segments off it.

    Log rows have the columns ``request_id``, ``row`` (the row's index in its request, int32), ``time`` (UTC, ms),
    ``deployment``, ``variant``, ``model_name``, ``model_version``, ``shadow``, ``latency_ms``, then one
    ``input.<column>`` per input column and ``prediction`` (1-D output) or ``prediction.<i>`` /
    ``prediction.<name>`` (2-D or DataFrame output). A record whose columns or types differ from the open
    segment's starts a new segment. Counters for ``/metrics``: `dropped`, `failed`, `written_records`,
    `written_rows`, `segments`, `queued`.

    Example:
        >>> with PredictionLog(PredictionLogConfig(uri="s3://bucket/predlog")) as log:  # doctest: +SKIP
        ...     log.append(PredictionRecord("r1", now_ms, "churn", "blue", "churn", "3", frame, preds, 4.2))
        True
    """

    kind = "predictions"

    def __init__(self, config: PredictionLogConfig, *, store: ArtifactStore | None = None) -> None:
        """Open the store and start the writer thread (unless ``config.enabled`` is False).

        Args:
            config: where and how to write.
            store: the artifact store to write to instead of opening ``config.uri`` (one shared with the server,
                or one with its own client).

        Raises:
            InvalidParameter: ``config.uri`` is not a usable artifact store URI.
            MissingExtra: pyarrow is not installed (``pip install 'shipyard[serving]'``), or boto3 for ``s3://``.
        """
        super().__init__(config, store=store)

    def append(self, record: PredictionRecord) -> bool:
        """Queue ``record`` for the log; never waits, converts or copies anything.

        Returns:
            True if queued; False if the queue is full or the log closed (the record is counted in `dropped`),
            or the log is disabled.
        """
        return self._put(record, 1)

    def _count(self, item: PredictionRecord) -> int:
        return 1

    def _convert(self, items: list[PredictionRecord]) -> Iterator[Part]:
        groups: dict[tuple[str, str, Hashable, Hashable], list[tuple[PredictionRecord, int, Blocks, Blocks]]] = {}
        for record in items:
            try:
                inputs, outputs = blocks(record.inputs, "input"), blocks(record.outputs, "prediction")
                rows = outputs[2] if inputs[2] is None else inputs[2]
                if outputs[2] != rows:
                    raise ValueError(f"the model returned {outputs[2]} rows for {rows} input rows")
                key = (str(record.deployment), day(record.time_ms), inputs[0], outputs[0])
            except Exception as exc:  # any model output can turn up here: a bad one costs only its own record
                self._lose(1, f"request {str(record.request_id)[:80]!r} cannot be logged: {exc}")
                continue
            groups.setdefault(key, []).append((record, rows or 0, inputs, outputs))
        for (deployment, day_, _, _), group in groups.items():
            try:
                yield Part(deployment, day_, _table(group), _ends(group))
            except Exception:  # mixed types within the group: convert one by one to keep the good records
                for one in group:
                    try:
                        table = _table([one])
                    except Exception as exc:
                        self._lose(1, f"request {str(one[0].request_id)[:80]!r} cannot be logged: {exc}")
                        continue
                    yield Part(deployment, day_, table, [one[1]])


class _FeedbackBatch(NamedTuple):
    """What `FeedbackLog.append` queues: the labels of one request."""

    deployment: str
    time_ms: int
    records: Sequence[FeedbackRecord]


class FeedbackLog(SegmentLog[_FeedbackBatch]):
    """The feedback log: labels from ``POST /v1/feedback``, written as segments beside the predictions.

    Log rows have the columns ``request_id``, ``row`` (null: every row of the request), ``time`` (when the label
    was received), ``label`` (JSON text, so ``"yes"`` and ``3.5`` both keep their type), ``label_value``
    (float64 for numbers and booleans, else null) and ``outcome``. It counts labels the way `PredictionLog`
    counts records.

    Example:
        >>> feedback = FeedbackLog(PredictionLogConfig(uri="/data/predlog"))  # doctest: +SKIP
        >>> feedback.append(parse_feedback(body), deployment="churn")  # doctest: +SKIP
        True
    """

    kind = "feedback"

    def __init__(self, config: PredictionLogConfig, *, store: ArtifactStore | None = None) -> None:
        """Open the store and start the writer thread; see `PredictionLog`."""
        super().__init__(config, store=store)

    def append(self, records: Sequence[FeedbackRecord], *, deployment: str, time_ms: int | None = None) -> bool:
        """Queue the labels of one request body; never waits.

        Args:
            records: the labels, as `parse_feedback` returns them.
            deployment: the deployment they are for.
            time_ms: when they were received; now by default.

        Returns:
            True if queued; False if the queue is full or the log closed (each label is counted in `dropped`;
            a server answers 503 so that the client sends them again), or the log is disabled.
        """
        received_ms = int(time.time() * 1000) if time_ms is None else time_ms
        return self._put(_FeedbackBatch(deployment, received_ms, records), len(records))

    def _count(self, item: _FeedbackBatch) -> int:
        return len(item.records)

    def _convert(self, items: list[_FeedbackBatch]) -> Iterator[Part]:
        groups: dict[tuple[str, str], list[tuple[int, FeedbackRecord]]] = {}
        for batch in items:
            labels = groups.setdefault((batch.deployment, day(batch.time_ms)), [])
            labels.extend((batch.time_ms, record) for record in batch.records)
        for (deployment, day_), labels in groups.items():
            yield Part(deployment, day_, feedback_table(labels), list(range(1, len(labels) + 1)))


def _table(group: list[tuple[PredictionRecord, int, Blocks, Blocks]]) -> Any:
    return prediction_table([g[0] for g in group], [g[1] for g in group], [g[2] for g in group], [g[3] for g in group])


def _ends(group: list[tuple[PredictionRecord, int, Blocks, Blocks]]) -> list[int]:
    ends, total = [], 0
    for _, rows, _, _ in group:
        total += rows
        ends.append(total)
    return ends
