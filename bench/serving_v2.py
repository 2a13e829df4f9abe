"""The v2 ``infer`` route against ``/invocations`` on one Shipyard server: request bodies, answers and the table.

``serving_speed.py`` uses this for its parity section (scenario **P**, or ``--parity-only``): the same model and
the same server process take, at 64 connections, one row per request as

* ``/invocations`` with a ``dataframe_split`` JSON body (the baseline),
* v2 ``infer`` JSON, one FP64 tensor per column (``[1]`` each) and one ``[1, 10]`` FP64 tensor,
* the same two layouts with the binary tensor data extension: a JSON header (its length in
  ``Inference-Header-Content-Length``), the little-endian float64 data after it, and ``binary_data_output`` on,
  so the prediction comes back binary too (tritonclient's default).

The cases run in rounds, each round in a rotated order, so every case sees the same machine conditions; a
case's figures are the sums over its rounds. Targets: every v2 case within 1.2x of ``/invocations`` in server CPU
per request and in requests/s.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

HEADER_LENGTH = "Inference-Header-Content-Length"
V2_VS_INVOCATIONS = 1.2  # at most this much more CPU per request, at least 1/this of the requests/s


@dataclass(frozen=True)
class Body:
    """One request as wrk sends it: the bytes and the headers that go with them."""

    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """One way of asking the same server for the same rows."""

    label: str
    path: str
    body: Callable[[pd.DataFrame], Body]
    answer: Callable[[bytes, Mapping[str, str]], list[Any]]  # response body and headers -> the predictions


def _columns_json(frame: pd.DataFrame) -> Body:
    inputs = [{"name": c, "shape": [len(frame)], "datatype": "FP64", "data": frame[c].tolist()} for c in frame]
    return Body(json.dumps({"inputs": inputs}).encode(), {"Content-Type": "application/json"})


def _matrix_json(frame: pd.DataFrame) -> Body:
    values = frame.to_numpy(dtype=np.float64)
    inputs = [{"name": "input-0", "shape": list(values.shape), "datatype": "FP64", "data": values.ravel().tolist()}]
    return Body(json.dumps({"inputs": inputs}).encode(), {"Content-Type": "application/json"})


def _binary(tensors: list[tuple[str, np.ndarray[Any, Any]]]) -> Body:
    inputs, chunks = [], []
    for name, values in tensors:
        raw = np.ascontiguousarray(values, dtype="<f8").tobytes()
        inputs.append(
            {
                "name": name,
                "shape": list(values.shape),
                "datatype": "FP64",
                "parameters": {"binary_data_size": len(raw)},
            }
        )
        chunks.append(raw)
    head = json.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}}).encode()
    headers = {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(head))}
    return Body(b"".join([head, *chunks]), headers)


def _columns_binary(frame: pd.DataFrame) -> Body:
    return _binary([(c, frame[c].to_numpy()) for c in frame])


def _matrix_binary(frame: pd.DataFrame) -> Body:
    return _binary([("input-0", frame.to_numpy(dtype=np.float64))])


def _invocations(frame: pd.DataFrame) -> Body:
    split = {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}
    return Body(json.dumps({"dataframe_split": split}).encode(), {"Content-Type": "application/json"})


def _invocations_answer(content: bytes, _headers: Mapping[str, str]) -> list[Any]:
    return list(json.loads(content)["predictions"])


def _v2_answer(content: bytes, headers: Mapping[str, str]) -> list[Any]:
    """The first output's values, from a JSON answer or a binary one (JSON header, then the tensors' bytes)."""
    length = headers.get(HEADER_LENGTH) or headers.get(HEADER_LENGTH.lower())
    if length is None:
        return list(json.loads(content)["outputs"][0]["data"])
    head = json.loads(content[: int(length)])
    output = head["outputs"][0]
    dtype = {"INT64": "<i8", "INT32": "<i4", "FP64": "<f8", "FP32": "<f4", "BOOL": "bool"}[output["datatype"]]
    size = output["parameters"]["binary_data_size"]
    return list(np.frombuffer(content[int(length) : int(length) + size], dtype=dtype).tolist())


def cases(model_name: str) -> tuple[Case, ...]:
    """The parity cases, ``/invocations`` first (the baseline of every ratio)."""
    infer = f"/v2/models/{model_name}/infer"
    return (
        Case("/invocations dataframe_split", "/invocations", _invocations, _invocations_answer),
        Case("v2 JSON, a tensor per column", infer, _columns_json, _v2_answer),
        Case("v2 JSON, one [n, k] tensor", infer, _matrix_json, _v2_answer),
        Case("v2 binary, a tensor per column", infer, _columns_binary, _v2_answer),
        Case("v2 binary, one [n, k] tensor", infer, _matrix_binary, _v2_answer),
    )


def rotated(items: tuple[Case, ...], round_number: int) -> list[Case]:
    """``items`` starting at position ``round_number`` (mod their count), so no case always runs first or last."""
    shift = round_number % len(items)
    return [*items[shift:], *items[:shift]]


@dataclass
class Tally:
    """A case's sums over its rounds, and each round's own figures."""

    requests: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    failed: int = 0
    p50_ms: list[float] = field(default_factory=list)
    per_round: list[tuple[float, float]] = field(default_factory=list)  # (requests/s, CPU ms per request)

    def add(self, *, requests: int, seconds: float, cpu_s: float, failed: int, p50_ms: float) -> None:
        self.requests += requests
        self.seconds += seconds
        self.cpu_s += cpu_s
        self.failed += failed
        self.p50_ms.append(p50_ms)
        per_s = requests / seconds if seconds else 0.0
        self.per_round.append((per_s, cpu_s * 1e3 / requests if requests else float("nan")))

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_s * 1e3 / self.requests if self.requests else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": self.seconds,
            "per_s": self.per_s,
            "cpu_ms_per_request": self.cpu_ms_per_request,
            "failed": self.failed,
            "p50_ms_per_round": self.p50_ms,
            "per_s_and_cpu_ms_per_round": self.per_round,
        }


def median_round_ratios(tally: Tally, base: Tally) -> tuple[float, float]:
    """The medians, over the rounds, of (requests/s, CPU per request) divided by the baseline's in the same round."""
    pairs = list(zip(tally.per_round, base.per_round, strict=False))
    speed = [mine[0] / theirs[0] for mine, theirs in pairs if theirs[0]]
    cpu = [mine[1] / theirs[1] for mine, theirs in pairs if theirs[1]]
    return (statistics.median(speed) if speed else math.nan, statistics.median(cpu) if cpu else math.nan)


def report(
    tallies: dict[str, Tally], all_cases: tuple[Case, ...], say: Callable[[str], None], title: str
) -> list[tuple[str, str]]:
    """Print the parity table and each v2 case's two verdicts; returns ``(text, "met" | "MISSED" | "n/a")``."""
    say("")
    say(title)
    say(
        f"{'case':<34} {'requests':>9} {'req/s':>9} {'CPU ms/req':>11} {'failed':>7} "
        f"{'req/s ratio':>12} {'CPU ratio':>10} {'median of rounds (req/s, CPU)':>30}"
    )
    base = tallies.get(all_cases[0].label)
    verdicts: list[tuple[str, str]] = []
    for case in all_cases:
        tally = tallies.get(case.label)
        if tally is None:
            say(f"{case.label:<34} not measured")
            continue
        speed = tally.per_s / base.per_s if base and base.per_s else math.nan
        cpu = tally.cpu_ms_per_request / base.cpu_ms_per_request if base and base.requests else math.nan
        median_speed, median_cpu = median_round_ratios(tally, base) if base else (math.nan, math.nan)
        say(
            f"{case.label:<34} {tally.requests:>9,} {tally.per_s:>9,.0f} {tally.cpu_ms_per_request:>11.3f} "
            f"{tally.failed:>7} {speed:>11.2f}x {cpu:>9.2f}x {median_speed:>20.2f}x, {median_cpu:.2f}x"
        )
    if base is None or not base.requests:
        return [("P: no /invocations figure", "n/a")]
    for case in all_cases[1:]:
        tally = tallies.get(case.label)
        if tally is None:
            verdicts.append((f"P {case.label}: not measured", "n/a"))
            continue
        cpu = tally.cpu_ms_per_request / base.cpu_ms_per_request
        speed = base.per_s / tally.per_s if tally.per_s else float("inf")
        bound = V2_VS_INVOCATIONS
        verdicts.append(
            (f"P {case.label}: CPU/request {cpu:.2f}x /invocations' (target <= {bound:g}x)", _word(cpu <= bound))
        )
        verdicts.append(
            (
                f"P {case.label}: req/s {1 / speed:.2f}x /invocations' (target >= {1 / bound:.2f}x)",
                _word(speed <= bound and tally.failed == 0),
            )
        )
    for text, word in verdicts:
        say(f"  {text}: {word}")
    return verdicts


def _word(ok: bool) -> str:
    return "met" if ok else "MISSED"
