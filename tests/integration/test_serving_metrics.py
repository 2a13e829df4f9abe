"""`shipyard serve`'s `/metrics`: request counts, latency, errors by kind and batching, scraped after real traffic."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.support.servers import serving_server

NAME = "adder"
COLUMNS = ["a", "b", "c"]
INFER = "/v2/models/{name}/infer"
VERSIONED_INFER = "/v2/models/{name}/versions/{version}/infer"
INVOCATIONS = "/invocations"
TRITON_ROWS = [1, 3, 5]  # one tritonclient request per entry
VERSIONED_ROWS = 2
INVOCATION_ROWS = [4, 6]


@dataclass(frozen=True)
class Scrape:
    """One `/metrics` answer, parsed: ``{sample name: [(labels, value), ...]}``."""

    content_type: str
    samples: dict[str, list[tuple[dict[str, str], float]]]

    def values(self, name: str, **labels: str) -> list[float]:
        return [
            value
            for sample_labels, value in self.samples.get(name, [])
            if all(sample_labels.get(k) == v for k, v in labels.items())
        ]

    def value(self, name: str, **labels: str) -> float:
        values = self.values(name, **labels)
        assert len(values) == 1, (name, labels, values)
        return values[0]


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, 3)), columns=COLUMNS)


def _send_traffic(url: str) -> None:
    """The traffic every test below reads the metrics of."""
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url.removeprefix("http://"))
    for seed, rows in enumerate(TRITON_ROWS):
        frame = _frame(rows, seed)
        inputs = []
        for column in COLUMNS:
            tensor = triton.InferInput(column, [rows], "FP64")
            tensor.set_data_from_numpy(frame[column].to_numpy(dtype=np.float64))
            inputs.append(tensor)
        client.infer(NAME, inputs)
    matrix = {"inputs": [{"name": "input", "shape": [VERSIONED_ROWS, 3], "datatype": "FP64", "data": [1.0] * 6}]}
    with httpx.Client(base_url=url, timeout=30) as http:
        assert 200 == http.post(f"/v2/models/{NAME}/versions/1/infer", json=matrix).status_code
        for seed, rows in enumerate(INVOCATION_ROWS):
            body = {"dataframe_split": _frame(rows, 10 + seed).to_dict(orient="split")}
            assert 200 == http.post(INVOCATIONS, json=body).status_code
        bad = http.post(f"/v2/models/{NAME}/infer", content=b"{not json", headers={"Content-Type": "application/json"})
        unknown = http.post("/v2/models/nope/infer", json=matrix)
    assert (400, 404) == (bad.status_code, unknown.status_code)


@pytest.fixture(scope="module")
def scrape(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scrape]:
    from prometheus_client.parser import text_string_to_metric_families
    from sklearn.linear_model import LinearRegression

    from shipyard.models import save_model

    root: Path = tmp_path_factory.mktemp("serving-metrics")
    frame = _frame(100, seed=0)
    model = LinearRegression().fit(frame, frame["a"] * 2 + frame["b"] - frame["c"])
    save_model(model, root / NAME, input_example=frame.head(3))
    with serving_server(root / NAME, root / "server") as server:
        _send_traffic(server.url)
        answer = httpx.get(f"{server.url}/metrics", timeout=30)
        assert 200 == answer.status_code, answer.text
        samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(answer.text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
        yield Scrape(answer.headers["content-type"], samples)


def test_metrics_are_served_in_the_prometheus_text_format(scrape: Scrape) -> None:
    assert scrape.content_type.startswith("text/plain")


def test_requests_are_counted_by_route_template_and_status(scrape: Scrape) -> None:
    counted = {
        (INFER, "200"): scrape.value("shipyard_serving_requests_total", route=INFER, status="200"),
        (INFER, "400"): scrape.value("shipyard_serving_requests_total", route=INFER, status="400"),
        (INFER, "404"): scrape.value("shipyard_serving_requests_total", route=INFER, status="404"),
        (VERSIONED_INFER, "200"): scrape.value("shipyard_serving_requests_total", route=VERSIONED_INFER, status="200"),
        (INVOCATIONS, "200"): scrape.value("shipyard_serving_requests_total", route=INVOCATIONS, status="200"),
    }

    assert {
        (INFER, "200"): len(TRITON_ROWS),
        (INFER, "400"): 1,
        (INFER, "404"): 1,
        (VERSIONED_INFER, "200"): 1,
        (INVOCATIONS, "200"): len(INVOCATION_ROWS),
    } == counted


def test_request_labels_carry_the_model_and_only_route_templates(scrape: Scrape) -> None:
    labels = [sample_labels for sample_labels, _ in scrape.samples["shipyard_serving_requests_total"]]

    # "" is the version of requests that never reached a model (here: the one for an unknown model name)
    assert ({NAME}, {"", "1"}, True) == (
        {label["model"] for label in labels},
        {label["version"] for label in labels},
        all("nope" not in label["route"] and NAME not in label["route"] for label in labels),
    )


def test_errors_are_counted_by_kind(scrape: Scrape) -> None:
    errors = {
        (labels["route"], labels["kind"]): value for labels, value in scrape.samples["shipyard_serving_errors_total"]
    }

    assert {(INFER, "bad_request"): 1, (INFER, "not_found"): 1} == errors


def test_latency_histogram_counts_every_request_of_its_route(scrape: Scrape) -> None:
    routes = {labels["route"] for labels, _ in scrape.samples["shipyard_serving_requests_total"]}
    requests = {route: sum(scrape.values("shipyard_serving_requests_total", route=route)) for route in routes}
    timed = {
        route: sum(scrape.values("shipyard_serving_request_duration_seconds_count", route=route)) for route in routes
    }
    infinite = {
        route: sum(scrape.values("shipyard_serving_request_duration_seconds_bucket", route=route, le="+Inf"))
        for route in routes
    }

    assert (requests, requests) == (timed, infinite)


def test_batch_metrics_add_up_to_the_rows_predicted(scrape: Scrape) -> None:
    batches = scrape.value("shipyard_serving_batches_total")
    rows_predicted = sum(TRITON_ROWS) + VERSIONED_ROWS + sum(INVOCATION_ROWS)
    predicted_requests = len(TRITON_ROWS) + 1 + len(INVOCATION_ROWS)

    assert (True, rows_predicted, batches, batches, predicted_requests) == (
        batches >= 1,
        scrape.value("shipyard_serving_batch_rows_sum"),
        scrape.value("shipyard_serving_batch_rows_count"),
        scrape.value("shipyard_serving_batch_rows_bucket", le="+Inf"),
        scrape.value("shipyard_serving_batch_requests_total"),
    )


def test_batch_rows_buckets_are_cumulative(scrape: Scrape) -> None:
    buckets = [value for _, value in scrape.samples["shipyard_serving_batch_rows_bucket"]]

    assert sorted(buckets) == buckets


def test_queue_is_empty_at_rest(scrape: Scrape) -> None:
    assert (0, 0, 0, 0) == (
        scrape.value("shipyard_serving_queue_depth_rows", model=NAME),
        scrape.value("shipyard_serving_queued_requests", model=NAME),
        scrape.value("shipyard_serving_in_flight_rows", model=NAME),
        scrape.value("shipyard_serving_overload_rejections_total", model=NAME),
    )


def test_prediction_log_drops_read_zero(scrape: Scrape) -> None:
    assert 0 == scrape.value("shipyard_serving_prediction_log_dropped_total", model=NAME)
