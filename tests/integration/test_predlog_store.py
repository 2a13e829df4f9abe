"""The prediction and feedback logs on S3 (moto's S3-compatible server): segments uploaded whole, read and joined."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.artifacts import S3ArtifactStore
from shipyard.predlog._writer import (
    FeedbackLog,
    FeedbackRecord,
    PredictionLog,
    PredictionLogConfig,
    PredictionRecord,
    join_feedback,
    read_feedback,
    read_predictions,
)
from tests.support.servers import MotoS3, moto_s3_server

pytest.importorskip("moto.server", reason="moto is not installed (pip install 'shipyard[dev]')")

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    """moto's S3 server for this module."""
    with moto_s3_server() as server:
        yield server


@pytest.fixture
def bucket(moto: MotoS3) -> str:
    """A fresh, empty bucket."""
    name = f"predlog-{uuid.uuid4().hex[:16]}"
    moto.client().create_bucket(Bucket=name)
    return name


def _record(index: int) -> PredictionRecord:
    frame = pd.DataFrame({"x": [index, index + 1], "city": ["Oslo", "Lima"]})
    return PredictionRecord(
        f"r{index}", T0_MS + index, "churn", "blue", "churn", "3", frame, np.array([0.25, 0.75]), 2.0
    )


def test_segments_land_in_s3_and_join_with_feedback(moto: MotoS3, bucket: str) -> None:
    store = S3ArtifactStore(bucket, "team/predlog", client=moto.client())
    config = PredictionLogConfig(uri=f"s3://{bucket}/team/predlog", max_segment_rows=4)
    with PredictionLog(config, store=store) as log:
        for index in range(5):
            assert log.append(_record(index))
    with FeedbackLog(config, store=store) as feedback:
        assert feedback.append([FeedbackRecord("r3", 1, row=1)], deployment="churn", time_ms=T0_MS + 100)
    keys = [item["Key"] for item in moto.client().list_objects_v2(Bucket=bucket)["Contents"]]
    joined = join_feedback(read_predictions(store, "churn"), read_feedback(store, "churn"))
    labelled = joined[joined["label"].notna()]
    assert (3, 1, 10) == (log.segments, feedback.segments, len(joined))
    assert [("r3", 1, 1, 4)] == [(r.request_id, r.row, r.label, r["input.x"]) for _, r in labelled.iterrows()]
    assert all(key.startswith("team/predlog/") and key.endswith(".parquet") for key in keys)


def test_an_s3_uri_with_an_endpoint_is_opened_from_the_config(
    moto: MotoS3, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in moto.env.items():  # boto3 takes credentials from its usual sources
        monkeypatch.setenv(name, value)
    uri = f"s3://{bucket}/predlog"
    with PredictionLog(PredictionLogConfig(uri=uri, s3_endpoint_url=moto.endpoint_url)) as log:
        log.append(_record(0))
    table: Any = read_predictions(uri, "churn", s3_endpoint_url=moto.endpoint_url)
    assert (["Oslo", "Lima"], 1) == (table.column("input.city").to_pylist(), log.written_records)
