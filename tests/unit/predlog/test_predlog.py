"""The prediction log and feedback: segments rolled by rows, bytes, age and schema; drops counted; reads and joins."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.artifacts import LocalArtifactStore
from shipyard.errors import InvalidParameter
from shipyard.predlog._writer import (
    MAX_FEEDBACK_ITEMS,
    FeedbackLog,
    FeedbackRecord,
    PredictionLog,
    PredictionLogConfig,
    PredictionRecord,
    join_feedback,
    parse_feedback,
    read_feedback,
    read_predictions,
)

GENEROUS_S = 10.0  # a bound no healthy run comes near; only a hang or a lost wake-up crosses it
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY_MS = 86_400_000
DEPLOYMENT = "churn"


def wait_until(predicate: Callable[[], bool], timeout_s: float = GENEROUS_S) -> bool:
    """Poll ``predicate`` until it holds; False if it never did within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def record(
    index: int,
    rows: int = 2,
    *,
    time_ms: int | None = None,
    variant: str = "blue",
    inputs: Any = None,
    outputs: Any = None,
    deployment: str = DEPLOYMENT,
    shadow: bool = False,
) -> PredictionRecord:
    """Request ``r<index>``: ``rows`` rows with inputs ``x = index*100 + row`` and predictions ``2x``."""
    x = np.arange(rows, dtype=np.int64) + index * 100
    frame = pd.DataFrame({"x": x, "name": [f"n{v}" for v in x]}) if inputs is None else inputs
    return PredictionRecord(
        request_id=f"r{index}",
        time_ms=T0_MS + index if time_ms is None else time_ms,
        deployment=deployment,
        variant=variant,
        model_name="churn-model",
        model_version="3",
        inputs=frame,
        outputs=x * 2.0 if outputs is None else outputs,
        latency_ms=1.5,
        shadow=shadow,
    )


def segment_files(root: Path, kind: str = "predictions") -> list[Path]:
    return sorted((root / kind).rglob("*.parquet"))


@pytest.fixture
def make_log(tmp_path: Path) -> Iterator[Callable[..., PredictionLog]]:
    """Build prediction logs on ``tmp_path/log``; each is closed at the end of the test."""
    logs: list[PredictionLog] = []

    def make(store: LocalArtifactStore | None = None, **settings: Any) -> PredictionLog:
        log = PredictionLog(PredictionLogConfig(uri=str(tmp_path / "log"), **settings), store=store)
        logs.append(log)
        return log

    yield make
    for log in logs:
        log.close()


class GatedStore(LocalArtifactStore):
    """A real local store whose writes wait until the test opens the gate, so the writer thread falls behind."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.gate = threading.Event()
        self.writing = threading.Event()

    def write_bytes(self, path: str, data: bytes) -> tuple[int, str]:
        self.writing.set()
        assert self.gate.wait(GENEROUS_S), "the test never opened the gate"
        return super().write_bytes(path, data)


# Public surface


def test_all_names_each_public_name_once_and_resolves() -> None:
    from shipyard import predlog

    names = predlog.__all__
    assert (len(names), True) == (len(set(names)), all(hasattr(predlog, name) for name in names))


# Configuration


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"uri": ""}, "uri"),
        ({"max_segment_rows": 0}, "max_segment_rows"),
        ({"max_segment_bytes": -1}, "max_segment_bytes"),
        ({"max_queued_records": True}, "max_queued_records"),
        ({"max_segment_age_s": 0}, "max_segment_age_s"),
        ({"max_segment_age_s": float("inf")}, "max_segment_age_s"),
    ],
)
def test_config_refuses_bad_values_naming_the_setting(settings: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidParameter, match=named):
        PredictionLogConfig(**{"uri": "/tmp/predlog", **settings})


def test_disabled_log_keeps_nothing_and_counts_nothing(tmp_path: Path) -> None:
    log = PredictionLog(PredictionLogConfig(uri=str(tmp_path / "log"), enabled=False))
    accepted = log.append(record(0))
    log.close()
    assert (False, 0, False) == (accepted, log.dropped, (tmp_path / "log").exists())


# Writing and reading back


def test_close_drains_every_record_with_its_values(make_log: Callable[..., PredictionLog], tmp_path: Path) -> None:
    log = make_log()
    for index in range(25):
        assert log.append(record(index, rows=3))
    assert log.close()
    table = read_predictions(str(tmp_path / "log"), DEPLOYMENT)
    frame = table.to_pandas().sort_values("input.x").reset_index(drop=True)
    x = sorted(index * 100 + row for index in range(25) for row in range(3))
    assert (75, 25, 75, 0, 0) == (table.num_rows, log.written_records, log.written_rows, log.dropped, log.failed)
    assert {
        "request_id": [f"r{v // 100}" for v in x],
        "row": [v % 100 for v in x],
        "input.x": x,
        "input.name": [f"n{v}" for v in x],
        "prediction": [v * 2.0 for v in x],
    } == {name: frame[name].tolist() for name in ("request_id", "row", "input.x", "input.name", "prediction")}


def test_log_rows_carry_the_request_columns(make_log: Callable[..., PredictionLog], tmp_path: Path) -> None:
    log = make_log()
    log.append(record(7, rows=2, time_ms=T0_MS + 1234, variant="green", shadow=True))
    log.close()
    table = read_predictions(str(tmp_path / "log"), DEPLOYMENT)
    assert {
        "request_id": ["r7", "r7"],
        "row": [0, 1],
        "time": [pd.Timestamp(T0_MS + 1234, unit="ms", tz="UTC")] * 2,
        "deployment": [DEPLOYMENT] * 2,
        "variant": ["green"] * 2,
        "model_name": ["churn-model"] * 2,
        "model_version": ["3"] * 2,
        "shadow": [True, True],
        "latency_ms": [1.5, 1.5],
    } == {name: table.column(name).to_pylist() for name in list(table.column_names)[:9]}
    assert (pa.int32(), pa.timestamp("ms", tz="UTC")) == (
        table.schema.field("row").type,
        table.schema.field("time").type,
    )


def test_segments_are_named_by_deployment_date_start_pid_and_sequence(
    make_log: Callable[..., PredictionLog], tmp_path: Path
) -> None:
    log = make_log()
    log.append(record(0, time_ms=T0_MS + 5))
    log.append(record(1, time_ms=T0_MS + DAY_MS + 9))
    log.close()
    names = [p.relative_to(tmp_path / "log").as_posix() for p in segment_files(tmp_path / "log")]
    pattern = rf"predictions/churn/date=(2026-01-0[12])/(\d+)-{os.getpid()}-\d+\.parquet"
    assert [("2026-01-01", str(T0_MS + 5)), ("2026-01-02", str(T0_MS + DAY_MS + 9))] == [
        re.fullmatch(pattern, name).groups()
        for name in names  # type: ignore[union-attr]
    ]


def test_file_uri_is_a_local_folder(tmp_path: Path) -> None:
    uri = (tmp_path / "log").as_uri()
    with PredictionLog(PredictionLogConfig(uri=uri)) as log:
        log.append(record(0))
    assert 2 == read_predictions(uri, DEPLOYMENT).num_rows == len(segment_files(tmp_path / "log")) * 2


@pytest.mark.parametrize(
    ("outputs", "columns"),
    [
        (np.array([[0.1, 0.9], [0.8, 0.2]]), {"prediction.0": [0.1, 0.8], "prediction.1": [0.9, 0.2]}),
        (
            pd.DataFrame({"label": ["a", "b"], "p": [0.5, 0.7]}),
            {"prediction.label": ["a", "b"], "prediction.p": [0.5, 0.7]},
        ),
        (pd.Series([3, 4], name="anything"), {"prediction": [3, 4]}),
        (["yes", "no"], {"prediction": ["yes", "no"]}),
        (
            {"label": np.array([1, 0]), "score": [0.3, 0.4]},
            {"prediction.label": [1, 0], "prediction.score": [0.3, 0.4]},
        ),
        ([{"text": "hi", "n": 1}, {"text": "yo", "n": 2}], {"prediction.text": ["hi", "yo"], "prediction.n": [1, 2]}),
    ],
    ids=["2d-array", "dataframe", "series", "list", "dict", "records"],
)
def test_each_output_shape_becomes_prediction_columns(
    make_log: Callable[..., PredictionLog], tmp_path: Path, outputs: Any, columns: dict[str, list[Any]]
) -> None:
    log = make_log()
    log.append(record(0, rows=2, outputs=outputs))
    log.close()
    table = read_predictions(str(tmp_path / "log"), DEPLOYMENT)
    assert columns == {name: table.column(name).to_pylist() for name in table.column_names if name.startswith("pred")}


def test_a_record_whose_output_rows_do_not_match_is_counted_failed_and_others_are_kept(
    make_log: Callable[..., PredictionLog], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = make_log()
    log.append(record(0, rows=2, outputs=np.array([1.0, 2.0, 3.0])))
    log.append(record(1, rows=2))
    with caplog.at_level(logging.WARNING, logger="shipyard.serving"):
        log.close()
    assert (1, 1, ["r1", "r1"]) == (
        log.failed,
        log.written_records,
        read_predictions(str(tmp_path / "log"), DEPLOYMENT).column("request_id").to_pylist(),
    )
    assert "request 'r0' cannot be logged: the model returned 3 rows for 2 input rows" in caplog.text


def test_a_record_with_an_invalid_deployment_name_is_counted_failed(make_log: Callable[..., PredictionLog]) -> None:
    log = make_log()
    log.append(record(0, deployment="../escape"))
    log.append(record(1))
    log.close()
    assert (1, 1) == (log.failed, log.written_records)


# Rolling


def test_segments_roll_by_rows_between_records(make_log: Callable[..., PredictionLog], tmp_path: Path) -> None:
    log = make_log(max_segment_rows=10)
    for index in range(12):
        log.append(record(index, rows=3))
    log.close()
    rows = [pq.ParquetFile(p).metadata.num_rows for p in segment_files(tmp_path / "log")]
    assert (36, 12, True) == (sum(rows), log.written_records, all(r <= 10 and r % 3 == 0 for r in rows))
    assert 4 == len(rows) == log.segments


def test_a_record_larger_than_a_segment_gets_a_segment_of_its_own(
    make_log: Callable[..., PredictionLog], tmp_path: Path
) -> None:
    log = make_log(max_segment_rows=4)
    log.append(record(0, rows=1))
    log.append(record(1, rows=9))
    log.append(record(2, rows=1))
    log.close()
    segments = [pq.read_table(p).column("request_id").to_pylist() for p in segment_files(tmp_path / "log")]
    assert [["r0"], ["r1"] * 9, ["r2"]] == sorted(segments)


def test_segments_roll_by_estimated_bytes(make_log: Callable[..., PredictionLog], tmp_path: Path) -> None:
    log = make_log(max_segment_bytes=4096)
    for index in range(10):  # about 1.1 KiB of Arrow buffers per one-row record
        log.append(record(index, rows=1, inputs=pd.DataFrame({"text": ["x" * 1000]})))
    log.close()
    rows = [pq.ParquetFile(p).metadata.num_rows for p in segment_files(tmp_path / "log")]
    assert (10, True, True) == (sum(rows), len(rows) >= 3, max(rows) <= 4)


def test_an_idle_segment_is_written_once_it_is_old_enough(
    make_log: Callable[..., PredictionLog], tmp_path: Path
) -> None:
    log = make_log(max_segment_age_s=0.2)
    started_s = time.monotonic()
    log.append(record(0))
    assert wait_until(lambda: log.segments == 1), "the old segment was never written"
    assert (True, 1) == (time.monotonic() - started_s >= 0.2, len(segment_files(tmp_path / "log")))


def test_a_record_with_other_columns_rolls_the_segment_and_reads_unify(
    make_log: Callable[..., PredictionLog], tmp_path: Path
) -> None:
    log = make_log()
    log.append(record(0, rows=1, inputs=pd.DataFrame({"x": [1]})))
    log.append(record(1, rows=1, inputs=pd.DataFrame({"x": [2.5], "y": ["new"]})))
    log.close()
    files = [pq.read_table(p) for p in segment_files(tmp_path / "log")]
    table = read_predictions(str(tmp_path / "log"), DEPLOYMENT).sort_by("request_id")
    assert [["input.x"], ["input.x", "input.y"]] == sorted(
        [n for n in f.column_names if n.startswith("input")] for f in files
    )
    assert {"request_id": ["r0", "r1"], "input.x": [1.0, 2.5], "input.y": [None, "new"]} == table.select(
        ["request_id", "input.x", "input.y"]
    ).to_pydict()


def test_a_column_whose_type_changed_beyond_widening_reads_as_text(
    make_log: Callable[..., PredictionLog], tmp_path: Path
) -> None:
    log = make_log()
    log.append(record(0, rows=1, outputs=np.array([0.5])))
    log.append(record(1, rows=1, outputs=np.array(["yes"])))
    log.close()
    table = read_predictions(str(tmp_path / "log"), DEPLOYMENT)
    values = dict(zip(table.column("request_id").to_pylist(), table.column("prediction").to_pylist(), strict=True))
    assert {"r0": "0.5", "r1": "yes"} == values


# Falling behind and failing


def test_a_full_queue_drops_without_waiting_and_counts_exactly(tmp_path: Path) -> None:
    store = GatedStore(tmp_path / "log")
    log = PredictionLog(
        PredictionLogConfig(uri=str(tmp_path / "log"), max_segment_rows=1, max_queued_records=5), store=store
    )
    try:
        log.append(record(0, rows=1))
        assert store.writing.wait(GENEROUS_S), "the writer never started writing"
        queued = [log.append(record(index, rows=1)) for index in range(1, 6)]
        started_s = time.monotonic()
        refused = [log.append(record(index, rows=1)) for index in range(6, 9)]
        refused_s = time.monotonic() - started_s
        assert ([True] * 5, [False] * 3, 3, 5) == (queued, refused, log.dropped, log.queued)
        assert refused_s < 0.5, f"append waited {refused_s:.3f} s on a full queue"
    finally:
        store.gate.set()
        log.close()
    assert (6, 3) == (log.written_records, log.dropped)
    assert [f"r{i}" for i in range(6)] == sorted(read_predictions(store, DEPLOYMENT).column("request_id").to_pylist())


def test_a_failed_write_is_counted_and_the_log_goes_on(
    make_log: Callable[..., PredictionLog], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = make_log()  # creates the store's folder
    (tmp_path / "log" / "predictions").write_text("a file where the log's folder must be")
    log.append(record(0, rows=2))
    with caplog.at_level(logging.ERROR, logger="shipyard.serving"):
        assert log.flush()
    failed_then = (log.failed, log.segments)
    (tmp_path / "log" / "predictions").unlink()
    log.append(record(1, rows=2))
    assert log.flush()
    assert ((1, 0), (1, 1, 1)) == (failed_then, (log.failed, log.segments, log.written_records))
    assert "could not write predictions/churn/date=2026-01-01/" in caplog.text
    assert "1 records (2 rows) are lost" in caplog.text


def test_close_is_idempotent_and_later_records_are_dropped(make_log: Callable[..., PredictionLog]) -> None:
    log = make_log()
    log.append(record(0))
    assert (True, True) == (log.close(), log.close())
    assert (False, 1, 1) == (log.append(record(1)), log.dropped, log.written_records)


def test_flush_writes_what_is_buffered_now(make_log: Callable[..., PredictionLog], tmp_path: Path) -> None:
    log = make_log()
    log.append(record(0))
    log.append(record(1))
    assert log.flush()
    assert (1, 4) == (
        len(segment_files(tmp_path / "log")),
        read_predictions(str(tmp_path / "log"), DEPLOYMENT).num_rows,
    )


def test_readers_see_whole_segments_while_the_log_writes(tmp_path: Path) -> None:
    uri = str(tmp_path / "log")
    counts: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def read_in_a_loop() -> None:
        while not done.is_set():
            try:
                counts.append(read_predictions(uri, DEPLOYMENT).num_rows)
            except BaseException as exc:  # collected and asserted on below
                errors.append(exc)

    with PredictionLog(PredictionLogConfig(uri=uri, max_segment_rows=3)) as log:
        reader = threading.Thread(target=read_in_a_loop)
        reader.start()
        for index in range(60):
            log.append(record(index, rows=3, inputs=pd.DataFrame({"text": ["y" * 5000] * 3})))
            if index % 10 == 0:
                log.flush()
    done.set()
    reader.join(GENEROUS_S)
    assert ([], True, 180) == (errors, all(n % 3 == 0 for n in counts), read_predictions(uri, DEPLOYMENT).num_rows)


def test_readers_skip_in_flight_and_foreign_files(make_log: Callable[..., PredictionLog], tmp_path: Path) -> None:
    log = make_log()
    log.append(record(0))
    log.close()
    folder = segment_files(tmp_path / "log")[0].parent
    (folder / ".shipyard-tmp-abc123").write_bytes(b"PAR1 half a segment")
    (folder / "notes.txt").write_text("not a segment")
    assert 2 == read_predictions(str(tmp_path / "log"), DEPLOYMENT).num_rows


# Reading


def test_read_filters_by_time_window_and_variant(make_log: Callable[..., PredictionLog], tmp_path: Path) -> None:
    log = make_log()
    for index, (offset_ms, variant) in enumerate(
        [(0, "blue"), (DAY_MS, "green"), (2 * DAY_MS, "blue"), (3 * DAY_MS, "blue")]
    ):
        log.append(record(index, rows=1, time_ms=T0_MS + offset_ms, variant=variant))
    log.close()
    uri = str(tmp_path / "log")
    window = read_predictions(uri, DEPLOYMENT, start_ms=T0_MS + DAY_MS, end_ms=T0_MS + 3 * DAY_MS)
    blue = read_predictions(uri, DEPLOYMENT, variant="blue", start_ms=T0_MS + 1)
    assert (["r1", "r2"], ["r2", "r3"]) == (
        sorted(window.column("request_id").to_pylist()),
        sorted(blue.column("request_id").to_pylist()),
    )


def test_reading_a_deployment_never_logged_gives_an_empty_table(tmp_path: Path) -> None:
    table = read_predictions(str(tmp_path), "nothing-here")
    assert (0, "request_id") == (table.num_rows, table.column_names[0])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"deployment": "../etc"}, "Invalid deployment name"),
        ({"deployment": DEPLOYMENT, "start_ms": 10, "end_ms": 5}, "end_ms"),
    ],
)
def test_read_refuses_bad_arguments(tmp_path: Path, arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        read_predictions(str(tmp_path), **arguments)


# Feedback


def test_parse_feedback_reads_one_label() -> None:
    assert [FeedbackRecord("r1", "yes", 2, "churned")] == parse_feedback(
        b'{"request_id": "r1", "label": "yes", "row": 2, "outcome": "churned"}'
    )


def test_parse_feedback_reads_a_list_in_order() -> None:
    body = b'{"feedback": [{"request_id": "a", "label": 1.5}, {"request_id": "b", "label": true, "row": 0}]}'
    assert [FeedbackRecord("a", 1.5), FeedbackRecord("b", True, 0)] == parse_feedback(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "The feedback body is not valid JSON"),
        (b'{"request_id": "r", "label": NaN}', "The feedback body is not valid JSON: NaN is not a JSON number"),
        (b"\xff\xfe", "The feedback body is not valid JSON"),
        (b'["r1", 1]', re.escape('The feedback body must be a JSON object, got ["r1", 1]')),
        (b'{"label": 1}', "^request_id is missing.$"),
        (b'{"request_id": "r"}', "^label is missing.$"),
        (b'{"request_id": 7, "label": 1}', "^request_id must be a string of 1 to 256 characters, got 7.$"),
        (b'{"request_id": "", "label": 1}', 'request_id must be a string of 1 to 256 characters, got ""'),
        (b'{"request_id": "r", "label": null}', "label must be a string of at most 4096 characters, a number or a"),
        (b'{"request_id": "r", "label": [1]}', r"label must be .* got \[1\]"),
        (b'{"request_id": "r", "label": 1, "row": -1}', "row must be a whole number from 0 to 2147483647, got -1"),
        (b'{"request_id": "r", "label": 1, "row": 1.5}', "row must be a whole number .* got 1.5"),
        (b'{"request_id": "r", "label": 1, "row": true}', "row must be a whole number .* got true"),
        (b'{"request_id": "r", "label": 1, "outcome": ""}', "outcome must be a string of 1 to 128 characters"),
        (b'{"request_id": "r", "label": 1, "rows": 1}', "^rows is not a feedback field; expected request_id, label"),
        (b'{"feedback": {"request_id": "r"}}', "feedback must be a JSON array of objects"),
        (b'{"feedback": []}', "feedback is empty; expected 1 to 10,000 objects"),
        (b'{"feedback": [], "extra": 1}', "unknown field 'extra' beside 'feedback'"),
        (b'{"feedback": [{"request_id": "a", "label": 1}, 3]}', r"^feedback\[1\] must be a JSON object"),
        (b'{"feedback": [{"request_id": "a", "label": 1}, {"label": 1}]}', r"^feedback\[1\]\.request_id is missing\.$"),
        (b'{"feedback": [{"request_id": "a", "label": {}}]}', r"^feedback\[0\]\.label must be"),
    ],
)
def test_parse_feedback_names_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        parse_feedback(body)


def test_parse_feedback_refuses_too_many_items() -> None:
    items = ",".join(['{"request_id": "r", "label": 1}'] * (MAX_FEEDBACK_ITEMS + 1))
    with pytest.raises(InvalidParameter, match="feedback holds 10,001 items; at most 10,000 are allowed"):
        parse_feedback(f'{{"feedback": [{items}]}}')


def test_feedback_is_written_and_read_back_with_its_types(tmp_path: Path) -> None:
    uri = str(tmp_path / "log")
    with FeedbackLog(PredictionLogConfig(uri=uri)) as feedback:
        labels = parse_feedback(
            b'{"feedback": [{"request_id": "a", "label": "yes", "row": 1, "outcome": "churned"},'
            b' {"request_id": "b", "label": true}, {"request_id": "c", "label": 2.5}]}'
        )
        assert feedback.append(labels, deployment=DEPLOYMENT, time_ms=T0_MS)
    table = read_feedback(uri, DEPLOYMENT)
    assert {
        "request_id": ["a", "b", "c"],
        "row": [1, None, None],
        "time": [pd.Timestamp(T0_MS, unit="ms", tz="UTC")] * 3,
        "label": ['"yes"', "true", "2.5"],
        "label_value": [None, 1.0, 2.5],
        "outcome": ["churned", None, None],
    } == table.to_pydict()
    assert (3, 1) == (feedback.written_records, len(segment_files(tmp_path / "log", "feedback")))


def test_a_full_feedback_queue_counts_every_label_dropped(tmp_path: Path) -> None:
    store = GatedStore(tmp_path / "log")
    feedback = FeedbackLog(
        PredictionLogConfig(uri=str(tmp_path / "log"), max_segment_rows=1, max_queued_records=1), store=store
    )
    try:
        feedback.append([FeedbackRecord("a", 1)], deployment=DEPLOYMENT)
        assert store.writing.wait(GENEROUS_S)
        accepted = feedback.append([FeedbackRecord("b", 1)], deployment=DEPLOYMENT)
        refused = feedback.append([FeedbackRecord("c", 1), FeedbackRecord("d", 0)], deployment=DEPLOYMENT)
    finally:
        store.gate.set()
        feedback.close()
    assert (True, False, 2, 2) == (accepted, refused, feedback.dropped, feedback.written_records)


# Joining


def test_join_applies_row_and_request_labels_latest_wins_and_missing_is_null(tmp_path: Path) -> None:
    uri = str(tmp_path / "log")
    with PredictionLog(PredictionLogConfig(uri=uri)) as log:
        for index in range(3):
            log.append(record(index, rows=2))
    with FeedbackLog(PredictionLogConfig(uri=uri)) as feedback:
        feedback.append([FeedbackRecord("r0", "no", row=1)], deployment=DEPLOYMENT, time_ms=T0_MS + 10)
        feedback.append([FeedbackRecord("r0", "yes")], deployment=DEPLOYMENT, time_ms=T0_MS + 20)  # both rows
        feedback.append([FeedbackRecord("r1", 5, row=0)], deployment=DEPLOYMENT, time_ms=T0_MS + 30)
        feedback.append([FeedbackRecord("r1", 7, row=0)], deployment=DEPLOYMENT, time_ms=T0_MS + 40)  # re-posted
        feedback.append([FeedbackRecord("r1", "late", row=1)], deployment=DEPLOYMENT, time_ms=T0_MS + 60)
        feedback.append([FeedbackRecord("r1", "early")], deployment=DEPLOYMENT, time_ms=T0_MS + 50)
        feedback.append([FeedbackRecord("nobody", 1)], deployment=DEPLOYMENT, time_ms=T0_MS + 70)
    joined = join_feedback(read_predictions(uri, DEPLOYMENT), read_feedback(uri, DEPLOYMENT))
    joined = joined.sort_values(["request_id", "row"]).reset_index(drop=True)
    assert [
        ("r0", 0, "yes", None),
        ("r0", 1, "yes", None),
        ("r1", 0, "early", None),
        ("r1", 1, "late", None),
        ("r2", 0, None, None),
        ("r2", 1, None, None),
    ] == [
        (r.request_id, r.row, r.label, None if np.isnan(r.label_value) else r.label_value) for r in joined.itertuples()
    ]
    assert 6 == len(joined)


def test_join_keeps_numeric_labels_as_numbers_and_filters_by_outcome(tmp_path: Path) -> None:
    uri = str(tmp_path / "log")
    with PredictionLog(PredictionLogConfig(uri=uri)) as log:
        log.append(record(0, rows=1))
    with FeedbackLog(PredictionLogConfig(uri=uri)) as feedback:
        feedback.append([FeedbackRecord("r0", 3, outcome="spend")], deployment=DEPLOYMENT, time_ms=T0_MS + 1)
        feedback.append([FeedbackRecord("r0", True, outcome="churned")], deployment=DEPLOYMENT, time_ms=T0_MS + 2)
    predictions, labels = read_predictions(uri, DEPLOYMENT), read_feedback(uri, DEPLOYMENT)
    spend = join_feedback(predictions, labels, outcome="spend")
    latest = join_feedback(predictions, labels)
    assert ((3, 3.0, "spend"), (True, 1.0, "churned")) == (
        (spend["label"][0], spend["label_value"][0], spend["outcome"][0]),
        (latest["label"][0], latest["label_value"][0], latest["outcome"][0]),
    )


def test_every_record_from_concurrent_threads_is_written_or_counted_dropped(
    make_log: Callable[..., PredictionLog], tmp_path: Path
) -> None:
    log = make_log(max_queued_records=20, max_segment_rows=100)
    accepted = [0] * 4

    def serve(thread: int) -> None:
        for index in range(500):
            accepted[thread] += log.append(record(thread * 1000 + index, rows=1))

    threads = [threading.Thread(target=serve, args=(thread,)) for thread in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(GENEROUS_S)
    log.close()
    rows = read_predictions(str(tmp_path / "log"), DEPLOYMENT).num_rows
    assert (2000, sum(accepted), sum(accepted)) == (sum(accepted) + log.dropped, log.written_records, rows)
